#!/usr/bin/env bash
# bench/run.sh: propertyd's standard load scenarios against a fresh local stack.
#
# Starts a private PostgreSQL and Redis (scripts/lib/services.sh), propertyd with LOG_REQUESTS=0
# and a fresh AUTH_SECRET, seeds BENCH_PROPERTIES properties through the API, then runs each
# scenario closed-loop at concurrency 16 and 64 and open-loop at ~70% of the best closed-loop
# rate. Prints one table with the server's CPU per 1,000 requests (from /proc/PID/stat), and
# keeps JSON + HTML reports in bench/out/ (git-ignored).
#
# Scenarios: cached-get (1,000 hot ids, warmed), uncached-get (Redis flushed, each id once),
# create, list, search, mixed (get=90,list=5,create=4,update=1).
#
# Environment knobs:
#   BENCH_PROPERTIES  properties to seed (100000; e.g. 5000 for a smoke run)
#   DURATION          measured seconds per run (10)    WARMUP  unmeasured run first (2)
#   SCENARIOS         subset, e.g. "cached-get create"
#   BUILD             build directory (build/)          OUT     reports (bench/out)
#   BENCH_REUSE_SERVICES=1 with DATABASE_URL/REDIS_URL: use those servers instead
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

PROPS=${BENCH_PROPERTIES:-100000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SCENARIOS=${SCENARIOS:-"cached-get uncached-get create list search mixed"}
OWNERS=1000

bench_stack
bench_start_propertyd
# Let the runs see only what they do, not a backlog of earlier log lines.
pd_log "seeding $PROPS properties"
"$PROPLOAD" seed -u "$RPC_URL" --properties "$PROPS" --owners "$OWNERS" -c 32 --ids "$OUT/ids.txt"

scenario_flags() {
	case $1 in
	cached-get) echo "--mix get=1 --keys 1000" ;;
	uncached-get) echo "--mix get=1 --sequential" ;;
	create) echo "--mix create=1" ;;
	list) echo "--mix list=1" ;;
	search) echo "--mix search=1" ;;
	mixed) echo "--mix get=90,list=5,create=4,update=1" ;;
	*) return 1 ;;
	esac
}

flush_cache() {
	redis-cli -u "$REDIS_URL" flushdb >/dev/null
}

ROWS=()
# run NAME LOADFLAGS... : a warm-up run (unmeasured), then the measured run with server CPU.
run() {
	local name=$1 tag=$2
	shift 2
	local flags
	flags=$(scenario_flags "$name")
	# shellcheck disable=SC2086 # flags are words
	if [ "$name" = uncached-get ]; then
		flush_cache
	elif [ "$WARMUP" != 0 ]; then
		"$PROPLOAD" -q -u "$RPC_URL" $flags --ids "$OUT/ids.txt" --owners "$OWNERS" -d "$WARMUP" "$@" >/dev/null || true
	fi
	local t0 t1 json=$OUT/$name-$tag.json
	t0=$(cpu_ticks "$PROPERTYD_PID")
	# shellcheck disable=SC2086
	"$PROPLOAD" -q -u "$RPC_URL" $flags --ids "$OUT/ids.txt" --owners "$OWNERS" -d "$DURATION" \
		--label "$name $tag" --json "$json" --html "$OUT/$name-$tag.html" "$@" || true
	t1=$(cpu_ticks "$PROPERTYD_PID")
	local n rps p50 p99 p999 errs cpu
	n=$(json_get "$json" .summary.requests)
	rps=$(json_get "$json" '.summary.throughput_rps | floor')
	p50=$(json_get "$json" '.summary.latency_us.p50 | floor')
	p99=$(json_get "$json" '.summary.latency_us.p99 | floor')
	p999=$(json_get "$json" '.summary.latency_us.p999 | floor')
	errs=$(json_get "$json" .summary.errors)
	cpu=$(cpu_ms_per_1k "$t0" "$t1" "$n")
	ROWS+=("$(printf '%-13s %-9s %9s %9s %9s %9s %8s %10s' "$name" "$tag" "$rps" "$p50" "$p99" "$p999" "$errs" "$cpu")")
	printf '%s\n' "${ROWS[-1]}" >&2
	LAST_RPS=$rps
}

for s in $SCENARIOS; do
	scenario_flags "$s" >/dev/null || {
		pd_err "unknown scenario $s"
		exit 2
	}
	pd_log "scenario $s"
	run "$s" c16 -c 16
	best=$LAST_RPS
	run "$s" c64 -c 64
	[ "$LAST_RPS" -gt "$best" ] && best=$LAST_RPS
	rate=$((best * 7 / 10))
	[ "$rate" -gt 0 ] || rate=1
	# Open loop: up to 512 calls in flight; latency counts from each call's scheduled start.
	run "$s" "R$rate" -R "$rate" -c 512
done

{
	echo
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $PROPS properties, ${DURATION}s per run"
	printf '%-13s %-9s %9s %9s %9s %9s %8s %10s\n' scenario load rps p50_us p99_us p999_us errors cpu_ms/1k
	printf '%s\n' "${ROWS[@]}"
	echo "(cpu_ms/1k: propertyd's user+system CPU per 1,000 requests; reports in $OUT)"
} | tee "$OUT/summary.txt"
