#!/usr/bin/env bash
# bench/flood.sh: one caller floods propertyd with worst-case requests; what is left for
# another caller.
#
# On a fresh private PostgreSQL + Redis: LOG_EVENTS creates fill the event log (none of them
# a delete), SEED properties are seeded and read once (cached). Then, for DURATION seconds
# each, caller B's cached GetProperty (-c 4) and Health/Check (-c 2) are measured alone, and
# again while caller A (one token subject, "flooder") keeps FLOOD_C ReadEvents calls in flight
# whose type prefix "property.deleted" matches nothing in the log (each walks it to its end)
# with a 300 s deadline. The per-caller limit (MAX_INFLIGHT_PER_CALLER, 64) answers A's
# surplus 8 RESOURCE_EXHAUSTED. Prints B's rps and p50/p99/max both ways, and A's codes.
#
# Environment: DURATION (8), FLOOD_C (256), LOG_EVENTS (20000), SEED (200), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init
DURATION=${DURATION:-8}
FLOOD_C=${FLOOD_C:-256}
LOG_EVENTS=${LOG_EVENTS:-20000}
SEED=${SEED:-200}

bench_stack
bench_start_propertyd
"$PROPLOAD" -q -u "$RPC_URL" --mix create=100 --owners 100 -c 16 -n "$LOG_EVENTS" >/dev/null
"$PROPLOAD" seed -u "$RPC_URL" --properties "$SEED" --owners 20 -c 8 --ids "$OUT/flood-ids.txt" \
	>/dev/null
flood_token=$("$BUILD/bin/propctl" token --sub flooder --ttl 3600)

caller_b() { # LABEL: B's gets and Health checks at once, for DURATION
	"$PROPLOAD" -q -u "$RPC_URL" --mix get=100 --owners 20 --ids "$OUT/flood-ids.txt" -c 4 \
		-d "${DURATION}s" --json "$OUT/flood-get-$1.json" &
	local g=$!
	"$PROPLOAD" -q -u "$RPC_URL" --call /grpc.health.v1.Health/Check -c 2 -d "${DURATION}s" \
		--json "$OUT/flood-health-$1.json"
	wait "$g"
}
row() { # LABEL WHAT
	local j=$OUT/flood-$2-$1.json
	printf '%-8s %-7s %9s %9s %9s %9s\n' "$1" "$2" \
		"$(json_get "$j" '.summary.throughput_rps | floor')" \
		"$(json_get "$j" '.summary.latency_us.p50 | floor')" \
		"$(json_get "$j" '.summary.latency_us.p99 | floor')" \
		"$(json_get "$j" '.summary.latency_us.max | floor')"
}

"$PROPLOAD" -q -u "$RPC_URL" --mix get=100 --owners 20 --ids "$OUT/flood-ids.txt" -c 4 -n 2000 \
	>/dev/null # every seeded property cached
caller_b alone
"$PROPLOAD" -q -u "$RPC_URL" --token "$flood_token" --call /property.v1.EventService/ReadEvents \
	--data '{"afterSeq":"0","limit":1000,"typePrefix":"property.deleted"}' --timeout 300s \
	-c "$FLOOD_C" -d "$((DURATION + 4))s" --json "$OUT/flood-a.json" &
flood=$!
sleep 2
caller_b flooded
wait "$flood" || true
{
	echo
	echo "caller B next to a flood of $FLOOD_C worst-case ReadEvents by caller A (log: $LOG_EVENTS events)"
	printf '%-8s %-7s %9s %9s %9s %9s\n' when what rps p50_us p99_us max_us
	row alone get
	row alone health
	row flooded get
	row flooded health
	echo "caller A: $(json_get "$OUT/flood-a.json" '.summary.codes | to_entries | map("\(.key)=\(.value)") | join(" ")')," \
		"$(json_get "$OUT/flood-a.json" '.summary.throughput_rps | floor') replies/s"
} | tee "$OUT/flood.txt"
