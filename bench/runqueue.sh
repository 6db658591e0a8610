#!/usr/bin/env bash
# bench/runqueue.sh: how long propertyd's threads wait for a CPU under load.
#
# On a fresh private PostgreSQL + Redis: propertyd, 1,000 properties seeded, then closed-loop
# propload (MIX, default cached GetProperty over the seeded ids) at c=CONC for DURATION s.
# Over the measured window it reads /proc/<pid>/task/<tid>/schedstat of every propertyd
# thread and of Redis: time on a CPU, time runnable but waiting in the run queue, and
# scheduling slices, each per request. When the client and the server share the machine's
# cores, the wait in the run queue is what a latency percentile is made of beyond the
# service time.
#
# Environment: CONC (64), DURATION (8), WARMUP (3), MIX ("get=1"), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
CONC=${CONC:-64}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-3}
MIX=${MIX:-get=1}

wait_quiet
bench_stack
bench_start_propertyd
"$PROPLOAD" seed -u "$RPC_URL" --properties 1000 --owners 100 -c 32 --ids "$OUT/rq-ids.txt" >/dev/null
args=(-u "$RPC_URL" --ids "$OUT/rq-ids.txt" --owners 100 --mix "$MIX" -c "$CONC")
"$PROPLOAD" -q "${args[@]}" -d "$WARMUP" >/dev/null 2>&1 || true

# snap: KIND THREAD ON_CPU_NS RUNQUEUE_NS SLICES, one line per thread
snap() {
	local t
	for t in /proc/"$PROPERTYD_PID"/task/*; do
		echo "propertyd $(tr ' ' _ <"$t/comm") $(cat "$t/schedstat")"
	done
	for t in /proc/"$(cat "$OUT/stack/redis/redis.pid")"/task/*; do
		echo "redis $(tr ' ' _ <"$t/comm") $(cat "$t/schedstat")"
	done
}
snap >"$OUT/rq-s0.txt"
"$PROPLOAD" -q --json "$OUT/rq-run.json" "${args[@]}" -d "$DURATION" >/dev/null 2>&1 || true
snap >"$OUT/rq-s1.txt"

ok=$(jq -r '.summary.ok' "$OUT/rq-run.json")
rps=$(jq -r '.summary.throughput_rps' "$OUT/rq-run.json")
printf 'mix %s c=%s: %.0f rps, p50 %.0f us, p99 %.0f us\n' "$MIX" "$CONC" "$rps" \
	"$(jq -r '.summary.latency_us.p50' "$OUT/rq-run.json")" \
	"$(jq -r '.summary.latency_us.p99' "$OUT/rq-run.json")"
# Threads (summed by name) that ran at least 0.05 us per request.
awk -v ok="$ok" -v rps="$rps" '
	FNR == NR { run0[$1 " " $2] += $3; wait0[$1 " " $2] += $4; sl0[$1 " " $2] += $5; next }
	{ run[$1 " " $2] += $3; wait[$1 " " $2] += $4; sl[$1 " " $2] += $5 }
	END {
		wall_ns = ok / rps * 1e9
		printf "%-28s %10s %12s %8s %10s\n", "thread", "cpu us/req", "queue us/req", "queue %", "slices/req"
		for (k in run) {
			r = (run[k] - run0[k]) / 1e3 / ok
			if (r < 0.05) continue
			w = wait[k] - wait0[k]
			printf "%-28s %10.2f %12.2f %7.1f%% %10.3f\n", k, r, w / 1e3 / ok, 100 * w / wall_ns, (sl[k] - sl0[k]) / ok
		}
	}' "$OUT/rq-s0.txt" "$OUT/rq-s1.txt"
