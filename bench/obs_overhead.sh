#!/usr/bin/env bash
# bench/obs_overhead.sh: what observability costs on the cheapest request, in one run.
#
# Cached GetProperty (1,000 hot ids, warmed) at c=16 and c=64 against two configurations
# of propertyd on the same fresh PostgreSQL + Redis and the same seeded data:
#   observed: the defaults, OBSERVE=1 LOG_REQUESTS=1 (per-request metrics and one access-log
#             line per request), stderr to a file ($OUT/propertyd-observed.log);
#   bare:     OBSERVE=0 LOG_REQUESTS=0.
# One instance at a time, alternated ROUNDS times (2): observed, bare, observed, bare. For
# each configuration and concurrency: the median rps and the median propertyd CPU ms per 1k
# requests, and the overhead: 1 - rps(observed)/rps(bare), cpu(observed)/cpu(bare) - 1.
#
# Environment: DURATION (10), WARMUP (2), ROUNDS (2), CONCURRENCY ("16 64"), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-2}
CONCURRENCY=${CONCURRENCY:-"16 64"}

wait_quiet
bench_stack
start() { # CONFIG
	if [ "$1" = observed ]; then
		OBSERVE=1 LOG_REQUESTS=1 PROPERTYD_LOG=$OUT/propertyd-observed.log bench_start_propertyd
	else
		OBSERVE=0 LOG_REQUESTS=0 PROPERTYD_LOG=$OUT/propertyd-bare.log bench_start_propertyd
	fi
}
start bare
pd_log "seeding 2000 properties"
"$PROPLOAD" seed -u "$RPC_URL" --properties 2000 --owners 100 -c 32 --ids "$OUT/obs-ids.txt" >/dev/null
bench_stop_pid "$PROPERTYD_PID"

declare -A RPS CPU
ROWS=()
for round in $(seq 1 "$ROUNDS"); do
	for cfg in observed bare; do
		start "$cfg"
		for c in $CONCURRENCY; do
			args=(-u "$RPC_URL" --ids "$OUT/obs-ids.txt" --owners 100 --mix get=1 --keys 1000 -c "$c")
			warm "${args[@]}"
			measure "$OUT/obs-$cfg-c$c-r$round.json" "${args[@]}" -d "$DURATION" --label "$cfg c=$c round $round"
			RPS[$cfg$c]="${RPS[$cfg$c]:-} $M_RPS"
			CPU[$cfg$c]="${CPU[$cfg$c]:-} $M_SRV"
			ROWS+=("$(printf '%-9s %4s %5s %8s %8s %8s %7s %8s' "$cfg" "$c" "$round" "$M_RPS" "$M_P50" "$M_P99" "$M_ERR" "$M_SRV")")
			printf '%s\n' "${ROWS[-1]}" >&2
		done
		bench_stop_pid "$PROPERTYD_PID"
	done
done
log_lines=$(wc -l <"$OUT/propertyd-observed.log")
log_bytes=$(wc -c <"$OUT/propertyd-observed.log")
# shellcheck disable=SC2086 # word lists
{
	echo
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), $(nproc) cores, ${DURATION}s runs, cached GetProperty"
	printf '%-9s %4s %5s %8s %8s %8s %7s %8s\n' config c round rps p50_us p99_us errors cpu/1k
	printf '%s\n' "${ROWS[@]}"
	echo
	printf '%4s %14s %14s %10s %16s %16s %10s\n' c rps_observed rps_bare rps_cost cpu/1k_observed cpu/1k_bare cpu_cost
	for c in $CONCURRENCY; do
		ro=$(median ${RPS[observed$c]})
		rb=$(median ${RPS[bare$c]})
		co=$(median ${CPU[observed$c]})
		cb=$(median ${CPU[bare$c]})
		printf '%4s %14s %14s %9s%% %16s %16s %9s%%\n' "$c" "$ro" "$rb" \
			"$(awk -v o="$ro" -v b="$rb" 'BEGIN { printf "%.1f", (b > 0 ? (1 - o / b) * 100 : 0) }')" "$co" "$cb" \
			"$(awk -v o="$co" -v b="$cb" 'BEGIN { printf "%.1f", (b > 0 ? (o / b - 1) * 100 : 0) }')"
	done
	echo "(medians of $ROUNDS rounds; rps_cost = 1 - observed/bare; cpu_cost = observed/bare - 1;"
	echo " the last observed instance wrote $log_lines log lines, $log_bytes bytes, to its stderr file)"
} | tee "$OUT/obs_overhead.txt"
