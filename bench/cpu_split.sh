#!/usr/bin/env bash
# bench/cpu_split.sh: where the CPU of a create goes, thread by thread.
#
# On a fresh private PostgreSQL + Redis: propertyd (RELAY=1), bench/events_latency
# subscribed (unless SUB=0), then closed-loop CreateProperty at c=CONC for DURATION s. Over
# the measured window it reads /proc: every propertyd thread (by name: pd-io-N the event
# loops, pd-relay, pd-pub, pd-cachesync, nng:task ...), every PostgreSQL backend (named by
# the statement it was running at the end: the group-commit batch, the relay's claim, the
# cache sync's read, ...), PostgreSQL's own processes, Redis, and the subscriber. Prints
# CPU microseconds per create for each, largest first.
#
# Environment: DURATION (10), WARMUP (2), CONC (16), SUB (1), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONC=${CONC:-16}
SUB=${SUB:-1}
[ -x "$BUILD/bin/events_latency" ] || cmake --build "$BUILD" --target events_latency >/dev/null

wait_quiet
bench_stack
PG_PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$DATABASE_URL")
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d propertyd)
RELAY=1 bench_start_propertyd
"$PROPLOAD" seed -u "$RPC_URL" --properties 1000 --owners 1000 -c 32 --ids "$OUT/split-ids.txt" >/dev/null
if [ "$SUB" = 1 ]; then
	"$BUILD/bin/events_latency" -e "$PROPERTYD_EVENTS_URL" -r "$RPC_URL" -t property. \
		-d $((DURATION + WARMUP + 60)) --idle 3 >"$OUT/split-sub.txt" 2>&1 &
	SUB_PID=$!
	BENCH_PIDS+=("$SUB_PID")
	sleep 1
fi
args=(-u "$RPC_URL" --owners 1000 --mix create=1 -c "$CONC")
warm "${args[@]}"

# snap: one line per thread or process: KIND NAME ID TICKS
snap() {
	local t pm c
	for t in /proc/"$PROPERTYD_PID"/task/*; do
		echo "propertyd $(tr ' ' _ <"$t/comm") ${t##*/} $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
	done
	pm=$(head -n 1 "$PD_PG_DIR/data/postmaster.pid")
	echo "postgres postmaster $pm $(sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13}')"
	for c in $(ps -o pid= --ppid "$pm"); do
		echo "postgres $(ps -o args= -p "$c" | sed 's/^postgres: //; s/ .*//' | tr ' ' _) $c $(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}')"
	done
	echo "redis redis-server $(cat "$OUT/stack/redis/redis.pid") $(redis_ticks)"
	[ -z "${SUB_PID:-}" ] || echo "client subscriber $SUB_PID $(sed 's/.*) //' "/proc/$SUB_PID/stat" | awk '{print $12 + $13}')"
}
snap >"$OUT/split-s0.txt"
"$PROPLOAD" -q --json "$OUT/split-run.json" "${args[@]}" -d "$DURATION" >/dev/null 2>&1 || true
snap >"$OUT/split-s1.txt"
# What each client backend was running last names its role.
"${PSQL[@]}" -F ' ' -c "SELECT pid, CASE
	WHEN query LIKE 'WITH r AS (SELECT floor_ins%' THEN 'relay-claim'
	WHEN query LIKE 'SELECT s.seq, e.version%' THEN 'cache-sync-read'
	WHEN query LIKE 'WITH v AS (%unnest%' THEN 'create-batch'
	WHEN query LIKE 'WITH v AS (%' THEN 'create-single'
	WHEN query LIKE 'SELECT 1%' THEN 'readiness-probe'
	ELSE 'other' END
	FROM pg_stat_activity WHERE backend_type = 'client backend'" >"$OUT/split-roles.txt"
n=$(json_get "$OUT/split-run.json" .summary.requests)
rps=$(json_get "$OUT/split-run.json" '.summary.throughput_rps | floor')
hz=$(getconf CLK_TCK)
{
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), $(nproc) cores: CreateProperty closed loop c=$CONC, ${DURATION}s, $rps/s ($n creates), subscriber attached: $SUB"
	echo "CPU us per create, by thread or process (ticks of 1/$hz s from /proc; threads of one name summed):"
	join -1 3 -2 3 <(sort -k3,3 "$OUT/split-s0.txt") <(sort -k3,3 "$OUT/split-s1.txt") |
		awk -v roles="$OUT/split-roles.txt" -v n="$n" -v hz="$hz" '
		BEGIN { while ((getline l < roles) > 0) { split(l, f, " "); role[f[1]] = f[2] } }
		{ name = $3; if ($2 == "postgres" && ($1 in role)) name = name ":" role[$1]
		  key = $2 " " name; d[key] += $7 - $4 }
		END { for (k in d) if (d[k] > 0) printf "%-10s %-36s %8.1f\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), d[k] * 1e6 / hz / n }' |
		sort -k3 -nr
} | tee "$OUT/cpu_split.txt"
