#!/usr/bin/env bash
# bench/rpc_overhead.sh: what propertyd's RPC layer costs over bare nng, in one run.
#
# Health/Check through propertyd's full RPC layer (envelope, metadata, handler table, health
# service; no database on the request path) versus bench/echo_server echoing a ~300-byte
# message, both driven by propload (closed loop) at c=1, 16, 64. Prints rps, p50, p99 and each
# server's CPU per 1,000 requests (from /proc/PID/stat).
#
# Environment: DURATION (5 s per run), CONCURRENCY ("1 16 64"), BUILD, OUT (bench/out).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}

bench_stack # propertyd needs PostgreSQL to start and to report SERVING
bench_start_propertyd

echo_port=$(pd__free_port)
ECHO_URL="tcp://127.0.0.1:$echo_port"
"$BUILD/bin/echo_server" "$ECHO_URL" 64 2>"$OUT/echo_server.log" &
ECHO_PID=$!
BENCH_PIDS+=("$ECHO_PID")
sleep 0.3

ROWS=()
measure() { # NAME PID c LOADFLAGS...
	local name=$1 pid=$2 c=$3
	shift 3
	local json=$OUT/overhead-$name-c$c.json t0 t1
	"$PROPLOAD" -q -c "$c" -d 1 "$@" >/dev/null || true # warm-up: connections, caches
	t0=$(cpu_ticks "$pid")
	"$PROPLOAD" -q -c "$c" -d "$DURATION" --json "$json" --label "$name c=$c" "$@" || true
	t1=$(cpu_ticks "$pid")
	ROWS+=("$(printf '%-22s %4s %9s %9s %9s %10s' "$name" "$c" \
		"$(json_get "$json" '.summary.throughput_rps | floor')" \
		"$(json_get "$json" '.summary.latency_us.p50 | floor')" \
		"$(json_get "$json" '.summary.latency_us.p99 | floor')" \
		"$(cpu_ms_per_1k "$t0" "$t1" "$(json_get "$json" .summary.requests)")")")
	printf '%s\n' "${ROWS[-1]}" >&2
}

for c in $CONCURRENCY; do
	measure propertyd-health "$PROPERTYD_PID" "$c" -u "$RPC_URL" --call /grpc.health.v1.Health/Check
	measure bare-echo-300B "$ECHO_PID" "$c" -u "$ECHO_URL" --echo 300
done
{
	echo
	printf '%-22s %4s %9s %9s %9s %10s\n' server c rps p50_us p99_us cpu_ms/1k
	printf '%s\n' "${ROWS[@]}"
	echo "(cpu_ms/1k: the server's user+system CPU per 1,000 requests; same client, same run)"
} | tee "$OUT/rpc_overhead.txt"
