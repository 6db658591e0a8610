#!/usr/bin/env bash
# bench/events.sh: the event stream under write load, and what publishing costs.
#
# On a fresh private PostgreSQL + Redis:
#   1. propertyd (RELAY=1, lib.sh defaults otherwise) with bench/events_latency subscribed
#      through propsub to its EVENTS_URL (gaps filled over its RPC_URL); propload creates at
#      the highest rate it can (closed loop, c=EVENTS_C) for DURATION seconds. Reported:
#      events received, events/s, and the latency (subscriber's receive wall clock -
#      event.occurred_at_us) p50/p90/p99/max. occurred_at_us is taken by PostgreSQL inside
#      the writing statement, before its commit: the latency includes the commit, the
#      NOTIFY, the relay's seq assignment and publication, and delivery.
#   2. the same at fixed open-loop rates (EVENTS_RATES, default "300"): latency without
#      the queueing of a saturated server.
#   3. the throughput cost of publishing: the same closed-loop create load against propertyd
#      with RELAY=1 and with RELAY=0 (this instance never claims or publishes events),
#      alternated ROUNDS times (2) on the same database, one instance at a time; create rps
#      and propertyd / PostgreSQL CPU per 1k for each, medians, and the ratio. Rows a RELAY=0
#      phase left unpublished are deleted (and event_log vacuumed) before the next RELAY=1
#      phase, so that phase does not start by publishing a backlog, nor walk the deleted
#      rows' index entries in every claim. The subscriber is attached in the RELAY=1 phases.
#
# Environment: DURATION (10), WARMUP (2), EVENTS_C (16), EVENTS_RATES ("300"), ROUNDS (2),
# BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
EVENTS_C=${EVENTS_C:-16}
EVENTS_RATES=${EVENTS_RATES:-300}
ROUNDS=${ROUNDS:-2}
[ -x "$BUILD/bin/events_latency" ] || cmake --build "$BUILD" --target events_latency >/dev/null

wait_quiet
bench_stack
PG_PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$DATABASE_URL")
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d propertyd)
LAT_ROWS=()
CMP_ROWS=()

# sub_start FILE: events_latency in the background, until 3 s without events.
sub_start() {
	"$BUILD/bin/events_latency" -e "$PROPERTYD_EVENTS_URL" -r "$RPC_URL" -t property. \
		-d $((DURATION + WARMUP + 120)) --idle 3 >"$1" 2>"$1.err" &
	SUB_PID=$!
	BENCH_PIDS+=("$SUB_PID")
	sleep 1 # the dial is asynchronous: let it connect before the first event
}
sub_wait() { # FILE: waits for the subscriber, then KV holds its key=value pairs
	local i
	for i in $(seq 1 300); do
		kill -0 "$SUB_PID" 2>/dev/null || break
		sleep 0.1
	done
	bench_stop_pid "$SUB_PID"
	declare -gA KV=()
	local kv kvs
	read -ra kvs <"$1" || true
	for kv in "${kvs[@]}"; do KV[${kv%%=*}]=${kv#*=}; done
	if [ -s "$1.err" ] && grep -qv 'subscribed to' "$1.err"; then
		pd_err "events_latency said:"
		grep -v 'subscribed to' "$1.err" >&2
	fi
}
lat_row() { # LOAD
	LAT_ROWS+=("$(printf '%-26s %8s %8s %8s %9s %8s %8s %8s %8s %7s' "$1" "$M_RPS" "${KV[events]:--}" \
		"${KV[rate_eps]:--}" "${KV[p50_us]:--}" "${KV[p90_us]:--}" "${KV[p99_us]:--}" "${KV[max_us]:--}" \
		"${KV[reread]:--}" "$M_ERR")")
	printf '%s\n' "${LAT_ROWS[-1]}" >&2
}

# ---- 1 + 2: latency -----------------------------------------------------------------------
RELAY=1 bench_start_propertyd
pd_log "seeding 1000 properties (ids for nothing but a warm database)"
"$PROPLOAD" seed -u "$RPC_URL" --properties 1000 --owners 1000 -c 32 --ids "$OUT/events-ids.txt" >/dev/null
sleep 2 # let the relay publish the seed's events before anyone listens

sub_start "$OUT/events-closed.txt"
measure "$OUT/events-closed.json" -u "$RPC_URL" --owners 1000 --mix create=1 -c "$EVENTS_C" \
	-d "$DURATION" --label "create c=$EVENTS_C (events)"
sub_wait "$OUT/events-closed.txt"
lat_row "create closed c=$EVENTS_C"
for r in $EVENTS_RATES; do
	sub_start "$OUT/events-R$r.txt"
	measure "$OUT/events-R$r.json" -u "$RPC_URL" --owners 1000 --mix create=1 -R "$r" -c 512 \
		-d "$DURATION" --label "create R=$r (events)"
	sub_wait "$OUT/events-R$r.txt"
	lat_row "create open R=$r"
done
bench_stop_pid "$PROPERTYD_PID"

# ---- 3: RELAY=1 vs RELAY=0 -----------------------------------------------------------------
declare -A RPS SRV PG
for round in $(seq 1 "$ROUNDS"); do
	for relay in 1 0; do
		if [ "$relay" = 1 ]; then
			# What a RELAY=0 phase left unpublished would be published first: drop it.
			"${PSQL[@]}" -c 'DELETE FROM event_log e WHERE e.ins_id > (SELECT floor_ins FROM relay_state WHERE id = 1) AND NOT EXISTS (SELECT 1 FROM event_seq s WHERE s.ins_id = e.ins_id)'
			# The deleted rows' index entries lie above the relay's floor, where
			# every claim starts its scan: without a vacuum each claim of the
			# phase walks them (a cost of this script, not of publishing).
			"${PSQL[@]}" -c 'VACUUM event_log'
		fi
		RELAY=$relay PROPERTYD_LOG=$OUT/propertyd-relay$relay.log bench_start_propertyd
		args=(-u "$RPC_URL" --owners 1000 --mix create=1 -c "$EVENTS_C")
		warm "${args[@]}"
		[ "$relay" = 0 ] || sub_start "$OUT/events-relay-r$round.txt"
		"${PSQL[@]}" -c CHECKPOINT
		measure "$OUT/events-relay$relay-r$round.json" "${args[@]}" -d "$DURATION" \
			--label "create RELAY=$relay round $round"
		ev=-
		if [ "$relay" = 1 ]; then
			sub_wait "$OUT/events-relay-r$round.txt"
			ev="${KV[events]:-0} ev, p99 ${KV[p99_us]:--} us"
		fi
		RPS[$relay]="${RPS[$relay]:-} $M_RPS"
		SRV[$relay]="${SRV[$relay]:-} $M_SRV"
		PG[$relay]="${PG[$relay]:-} $M_PG"
		CMP_ROWS+=("$(printf '%-8s %5s %8s %8s %8s %7s %8s %8s  %s' "RELAY=$relay" "$round" "$M_RPS" "$M_P50" "$M_P99" "$M_ERR" "$M_SRV" "$M_PG" "$ev")")
		printf '%s\n' "${CMP_ROWS[-1]}" >&2
		bench_stop_pid "$PROPERTYD_PID"
	done
done
# shellcheck disable=SC2086 # word lists
{
	m1=$(median ${RPS[1]})
	m0=$(median ${RPS[0]})
	echo
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), $(nproc) cores, ${DURATION}s runs"
	echo "commit -> subscriber latency (receive wall clock - occurred_at_us, which PostgreSQL takes"
	echo "inside the INSERT, before the commit: includes commit, NOTIFY, relay, publish, delivery)"
	printf '%-26s %8s %8s %8s %9s %8s %8s %8s %8s %7s\n' load create/s events ev/s p50_us p90_us p99_us max_us reread errors
	printf '%s\n' "${LAT_ROWS[@]}"
	echo
	echo "publishing cost: create c=$EVENTS_C closed loop, RELAY=1 (subscriber attached) vs RELAY=0"
	printf '%-8s %5s %8s %8s %8s %7s %8s %8s  %s\n' config round rps p50_us p99_us errors srv/1k pg/1k events
	printf '%s\n' "${CMP_ROWS[@]}"
	echo "median create rps: RELAY=1 $m1, RELAY=0 $m0, ratio RELAY=1/RELAY=0 = $(ratio "$m1" "$m0")"
	echo "median CPU ms/1k: propertyd RELAY=1 $(median ${SRV[1]}) vs RELAY=0 $(median ${SRV[0]}); PostgreSQL $(median ${PG[1]}) vs $(median ${PG[0]})"
} | tee "$OUT/events.txt"
