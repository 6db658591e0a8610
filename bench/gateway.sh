#!/usr/bin/env bash
# bench/gateway.sh: what propgate costs, against dialing the instance directly, in one run.
#
# On a fresh private PostgreSQL + Redis: one propertyd, and propgate in front of it
# (--backend to that instance). SEED properties are seeded and read once (cached). Then for
# each concurrency in CONCS, cached GetProperty calls for DURATION seconds, ROUNDS times in
# alternating order: straight to propertyd, and through propgate. Prints per concurrency the
# median rps both ways and their ratio, and the server CPU per call from /proc (propertyd's,
# and propgate's own: what the gateway adds).
#
# Environment: CONCS ("1 16 64"), DURATION (5), ROUNDS (3), SEED (1000), MIX (get=100),
# BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init
[ -x "$BUILD/bin/propgate" ] || cmake --build "$BUILD" --target propgate >/dev/null
CONCS=${CONCS:-1 16 64}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SEED=${SEED:-1000}
MIX=${MIX:-get=100}

bench_stack
bench_start_propertyd
gport=$(pd__free_port)
ghttp=$(pd__free_port)
GATE_URL="tcp://127.0.0.1:$gport"
"$BUILD/bin/propgate" --listen "$GATE_URL" --backend "$RPC_URL" ${GATE_FLAGS:-} \
	--http-addr "127.0.0.1:$ghttp" >"$OUT/propgate.log" 2>&1 &
GATE_PID=$!
BENCH_PIDS+=("$GATE_PID")
for _ in $(seq 1 50); do
	"$PROPLOAD" -q -u "$GATE_URL" --call /grpc.health.v1.Health/Check -n 1 --timeout 1s \
		>/dev/null 2>&1 && break
	sleep 0.2
done
"$PROPLOAD" seed -u "$RPC_URL" --properties "$SEED" --owners 100 -c 16 --ids "$OUT/gate-ids.txt" \
	>/dev/null
"$PROPLOAD" -q -u "$RPC_URL" --mix get=100 --ids "$OUT/gate-ids.txt" -c 16 -n "$((SEED * 2))" \
	>/dev/null

one() { # WAY URL C ROUND: one measured run; prints rps pd_us gate_us
	local j=$OUT/gate-$1-c$3-r$4.json p0 p1 g0 g1 n
	p0=$(cpu_ticks "$PROPERTYD_PID")
	g0=$(cpu_ticks "$GATE_PID")
	"$PROPLOAD" -q -u "$2" --mix "$MIX" --owners 100 --ids "$OUT/gate-ids.txt" -c "$3" \
		-d "${DURATION}s" --json "$j" >/dev/null
	p1=$(cpu_ticks "$PROPERTYD_PID")
	g1=$(cpu_ticks "$GATE_PID")
	n=$(json_get "$j" '.summary.requests')
	echo "$(json_get "$j" '.summary.throughput_rps | floor') $(cpu_ms_per_1k "$p0" "$p1" "$n") $(cpu_ms_per_1k "$g0" "$g1" "$n") $(json_get "$j" '.summary.latency_us.p99 | floor') $(json_get "$j" '.summary.errors // 0')"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

rows=()
for c in $CONCS; do
	: >"$OUT/gate-c$c-direct.txt"
	: >"$OUT/gate-c$c-gate.txt"
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) -eq 1 ]; then order="direct gate"; else order="gate direct"; fi
		for way in $order; do
			url=$RPC_URL
			[ "$way" = gate ] && url=$GATE_URL
			one "$way" "$url" "$c" "$r" >>"$OUT/gate-c$c-$way.txt"
		done
	done
	d_rps=$(cut -d' ' -f1 "$OUT/gate-c$c-direct.txt" | median)
	g_rps=$(cut -d' ' -f1 "$OUT/gate-c$c-gate.txt" | median)
	d_pd=$(cut -d' ' -f2 "$OUT/gate-c$c-direct.txt" | median)
	g_pd=$(cut -d' ' -f2 "$OUT/gate-c$c-gate.txt" | median)
	g_gw=$(cut -d' ' -f3 "$OUT/gate-c$c-gate.txt" | median)
	d_p99=$(cut -d' ' -f4 "$OUT/gate-c$c-direct.txt" | median)
	g_p99=$(cut -d' ' -f4 "$OUT/gate-c$c-gate.txt" | median)
	errs=$(cut -d' ' -f5 "$OUT/gate-c$c-gate.txt" | paste -sd+ | bc)
	rows+=("$(printf '%-4s %10s %10s %6.2f %12s %12s %12s %9s %9s %6s' "$c" "$d_rps" "$g_rps" \
		"$(echo "$g_rps / $d_rps" | bc -l)" "$d_pd" "$g_pd" "$g_gw" "$d_p99" "$g_p99" "$errs")")
done
echo
echo "propgate vs direct, mix $MIX, ${DURATION}s x $ROUNDS rounds (medians); CPU in us per call"
printf '%-4s %10s %10s %6s %12s %12s %12s %9s %9s %6s\n' c direct_rps gate_rps ratio \
	pd_us_direct pd_us_gate gate_us p99_direct p99_gate errors
printf '%s\n' "${rows[@]}"
