#!/usr/bin/env bash
# bench/harness_check.sh: is propload fast enough to measure with?
#
# In one run, against one bench/echo_server: bench/simple_client (C threads blocking in
# nng_send/nng_recv, the simplest possible client loop) and propload --echo 300 at the same
# concurrency. propload should reach at least 90% of the simple client's throughput; the
# script exits 1 when it does not.
#
# Environment: C (64), DURATION (5 s), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init
C=${C:-64}
DURATION=${DURATION:-5}

trap bench_cleanup EXIT
port=$(pd__free_port)
URL="tcp://127.0.0.1:$port"
"$BUILD/bin/echo_server" "$URL" 64 2>"$OUT/echo_server.log" &
BENCH_PIDS+=("$!")
sleep 0.3

simple=$("$BUILD/bin/simple_client" "$URL" "$C" "$DURATION" 300)
echo "$simple"
simple_rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$simple")
"$PROPLOAD" -q -u "$URL" --echo 300 -c "$C" -d "$DURATION" --json "$OUT/harness_check.json"
pl_rps=$(json_get "$OUT/harness_check.json" '.summary.throughput_rps | floor')
echo "propload c=$C rps=$pl_rps p50_us=$(json_get "$OUT/harness_check.json" '.summary.latency_us.p50 | floor') p99_us=$(json_get "$OUT/harness_check.json" '.summary.latency_us.p99 | floor') cpu=$(json_get "$OUT/harness_check.json" '.harness.cpu_percent | floor')%"
pct=$((pl_rps * 100 / (simple_rps > 0 ? simple_rps : 1)))
echo "propload reaches ${pct}% of the simple client (want >= 90%)"
[ "$pct" -ge 90 ]
