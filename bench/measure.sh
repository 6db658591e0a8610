# shellcheck shell=bash
# Shared by floors.sh, events.sh, obs_overhead.sh, anchor_node.sh (sourced after lib.sh).
#
#   measure JSON PROPLOAD_ARGS...   runs propload (with -q and --json JSON) against whatever the
#                                   args say, and sets from the result and /proc:
#                                   M_N (measured calls), M_RPS, M_P50, M_P99 (µs), M_ERR (calls
#                                   that were not OK), M_CODES (codes other than OK, or "-"),
#                                   M_SRV (ms of CPU per 1k calls of $PROPERTYD_PID), M_PG (of
#                                   PostgreSQL), M_REDIS (of Redis), M_WALL (seconds).
#   warm PROPLOAD_ARGS...           an unmeasured run of WARMUP seconds (default 2).
#   ratio A B                       A/B with two decimals ("-" when B is 0 or empty).
#   median VALUES...                the median (the mean of the middle two for an even count).

# shellcheck disable=SC2034 # M_* are read by the scripts that source this file
measure() {
	local json=$1
	shift
	local t0 t1 p0 p1 r0 r1
	t0=$(cpu_ticks "$PROPERTYD_PID")
	p0=$(pg_ticks)
	r0=$(redis_ticks)
	"$PROPLOAD" -q --json "$json" "$@" || true
	t1=$(cpu_ticks "$PROPERTYD_PID")
	p1=$(pg_ticks)
	r1=$(redis_ticks)
	M_N=$(json_get "$json" .summary.requests)
	M_RPS=$(json_get "$json" '.summary.throughput_rps | floor')
	M_P50=$(json_get "$json" '.summary.latency_us.p50 | floor')
	M_P99=$(json_get "$json" '.summary.latency_us.p99 | floor')
	M_ERR=$(json_get "$json" .summary.errors)
	M_CODES=$(json_get "$json" '[.summary.codes | to_entries[] | select(.key != "OK") | "\(.key)=\(.value)"] | join(",") | if . == "" then "-" else . end')
	M_WALL=$(json_get "$json" .summary.elapsed_s)
	M_SRV=$(cpu_ms_per_1k "$t0" "$t1" "$M_N")
	M_PG=$(cpu_ms_per_1k "$p0" "$p1" "$M_N")
	M_REDIS=$(cpu_ms_per_1k "$r0" "$r1" "$M_N")
	if [ "$M_ERR" != 0 ]; then
		pd_err "$json: $M_ERR calls failed ($M_CODES):"
		jq -r '.errors[] | "  \(.name) \(.code_name) x\(.count): \(.message)"' "$json" >&2 || true
	fi
}

warm() {
	[ "${WARMUP:-2}" = 0 ] || "$PROPLOAD" -q -d "${WARMUP:-2}" "$@" >/dev/null 2>&1 || true
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "") printf "%.2f", a / b; else print "-" }'
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Waits until the 1-minute load average is at most LOAD_MAX (default 3), for up to
# LOAD_WAIT_S seconds (default 300); then goes on with a warning.
wait_quiet() {
	local max=${LOAD_MAX:-3} waited=0 l
	while :; do
		l=$(cut -d' ' -f1 /proc/loadavg)
		awk -v l="$l" -v m="$max" 'BEGIN { exit !(l <= m) }' && return 0
		if [ "$waited" -ge "${LOAD_WAIT_S:-300}" ]; then
			pd_log "warning: load average $l > $max after ${waited}s of waiting; measuring anyway"
			return 0
		fi
		pd_log "load average $l > $max: waiting"
		sleep 20
		waited=$((waited + 20))
	done
}
