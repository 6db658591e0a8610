#!/usr/bin/env bash
# bench/floors.sh: propertyd next to the floors of the servers it uses, in one run.
#
# On a fresh private PostgreSQL + Redis (lib.sh bench_stack; durable PostgreSQL defaults):
#   1. redis-benchmark GET of 300-byte values (100,000 random keys, SET first) at c=16 and c=64:
#      rps, p50, p99, Redis CPU per 1k requests;
#   2. pgbench running exactly the statement CreateProperty runs (bench/print_sql prop_create:
#      the CTE that inserts the property, its event_log row and NOTIFYs; no idempotency key)
#      with random values, -M prepared (propertyd prepares it too), against propertyd's
#      schema (src/store/migrations/*.sql applied by psql to a database of its own), at c=16
#      and c=64 for PG_SECONDS each: tps, mean latency, PostgreSQL CPU per 1k transactions;
#   3. propertyd (lib.sh defaults: LOG_REQUESTS=0, OBSERVE=1, RELAY=1) on the same servers:
#      propload cached GetProperty (1,000 hot ids, warmed) and CreateProperty at c=16, c=64,
#      with the CPU per 1k requests of propertyd, PostgreSQL (postmaster + backends) and
#      Redis over each measured window;
# and prints the ratios cached-get rps / redis GET rps and create rps / pgbench tps.
#
# Environment: DURATION (propload seconds, 10), WARMUP (2), PG_SECONDS (10), REDIS_N
# (requests per redis-benchmark run, 200000), CONCURRENCY ("16 64"), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PG_SECONDS=${PG_SECONDS:-10}
REDIS_N=${REDIS_N:-200000}
CONCURRENCY=${CONCURRENCY:-"16 64"}
for t in pgbench redis-benchmark psql; do
	command -v "$t" >/dev/null || {
		pd_err "$t is needed (postgresql-client, redis-tools)"
		exit 1
	}
done
[ -x "$BUILD/bin/print_sql" ] || cmake --build "$BUILD" --target print_sql >/dev/null

wait_quiet
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
bench_stack
PG_PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$DATABASE_URL")
REDIS_HOST_PORT=$(sed -E 's|redis://([^/]+)/.*|\1|' <<<"$REDIS_URL")
R_HOST=${REDIS_HOST_PORT%:*}
R_PORT=${REDIS_HOST_PORT#*:}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
declare -A V # results by name

# ---- 1. redis-benchmark ---------------------------------------------------------------
pd_log "redis-benchmark: SET to fill 100,000 keys, then GET"
redis-benchmark -h "$R_HOST" -p "$R_PORT" -t set -d 300 -r 100000 -n 200000 -c 16 -q >/dev/null
for c in $CONCURRENCY; do
	r0=$(redis_ticks)
	csv=$(redis-benchmark -h "$R_HOST" -p "$R_PORT" -t get -d 300 -r 100000 -c "$c" -n "$REDIS_N" --csv | tail -n 1)
	r1=$(redis_ticks)
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	read -r rps p50 p99 < <(tr -d '"' <<<"$csv" | awk -F, '{printf "%.0f %.0f %.0f\n", $2, $5 * 1000, $7 * 1000}')
	V[redis_$c]=$rps
	ROWS+=("$(printf '%-34s %4s %9s %8s %8s %8s %8s %8s %8s' "redis-benchmark GET -d 300" "$c" "$rps" "$p50" "$p99" 0 - - "$(cpu_ms_per_1k "$r0" "$r1" "$REDIS_N")")")
	printf '%s\n' "${ROWS[-1]}" >&2
done
redis-cli -h "$R_HOST" -p "$R_PORT" flushall >/dev/null

# ---- 2. pgbench with CreateProperty's statement ----------------------------------------
pd_log "pgbench: CreateProperty's statement on propertyd's schema (database pgfloor)"
"${PSQL[@]}" -d postgres -c 'DROP DATABASE IF EXISTS pgfloor' -c 'CREATE DATABASE pgfloor'
for f in "$ROOT"/src/store/migrations/*.sql; do
	"${PSQL[@]}" -d pgfloor -f "$f" >/dev/null
done
SCRIPT=$OUT/create_property.pgbench
{
	echo '\set o random(1, 1000)'
	echo '\set n random(1, 1000000000)'
	echo '\set lat 48.80 + random(0, 1000) / 10000.0'
	echo '\set lon 2.30 + random(0, 1000) / 10000.0'
	echo '\set price random(10000000, 90000000)'
	echo '\set bed random(0, 6)'
	# $1 owner $2 title $3 description $4 address $5 city $6 country $7 latitude $8 longitude
	# $9 price $10 currency $11 bedrooms $12 status $13 key (NULL: none) $14 request hash
	"$BUILD/bin/print_sql" prop_create | perl -pe '
		my %m = (1 => "(\x27d0c0ffee-0000-4000-8000-\x27 || lpad(to_hex((:o)::int), 12, \x270\x27))",
			2 => "(\x27Sunny two-bedroom flat near the park \x27 || (:n)::text)",
			3 => "\x27Bright flat with balcony, renovated kitchen and a view over the river. Close to shops, schools and the metro; quiet street.\x27",
			4 => "((:n)::text || \x27 Rue de la Paix\x27)", 5 => "\x27Paris\x27", 6 => "\x27FR\x27",
			7 => "(:lat)", 8 => "(:lon)", 9 => "(:price)", 10 => "\x27EUR\x27", 11 => "(:bed)",
			12 => "1", 13 => "NULL", 14 => "NULL");
		s/\$(\d+)/$m{$1}/g; s/\s*$/;\n/;'
} >"$SCRIPT"
for c in $CONCURRENCY; do
	"${PSQL[@]}" -d pgfloor -c 'TRUNCATE properties, event_log, event_seq, idempotency_keys' \
		-c 'UPDATE relay_state SET last_seq = 0, floor_ins = 0, hz_ins = NULL, hz_xid = NULL' -c CHECKPOINT
	p0=$(pg_ticks)
	out=$(pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$c" -j 2 -T "$PG_SECONDS" \
		-f "$SCRIPT" pgfloor 2>&1) || {
		pd_err "pgbench failed: $out"
		exit 1
	}
	sleep 0.3 # the postmaster reaps the exited backends
	p1=$(pg_ticks)
	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out" | awk 'NR == 1')
	lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
	n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
	fail=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out")
	V[pg_$c]=${tps%.*}
	ROWS+=("$(printf '%-34s %4s %9s %8s %8s %8s %8s %8s %8s' "pgbench CreateProperty stmt (tps)" "$c" "${tps%.*}" "avg$(awk -v l="$lat" 'BEGIN{printf "%.0f", l*1000}')" - "${fail:-0}" - "$(cpu_ms_per_1k "$p0" "$p1" "$n")" -)")
	printf '%s\n' "${ROWS[-1]}" >&2
done
"${PSQL[@]}" -d postgres -c 'DROP DATABASE pgfloor'

# ---- 3. propertyd on the same servers --------------------------------------------------
bench_start_propertyd
pd_log "seeding 2000 properties"
"$PROPLOAD" seed -u "$RPC_URL" --properties 2000 --owners 100 -c 32 --ids "$OUT/floors-ids.txt" >/dev/null
"${PSQL[@]}" -d propertyd -c CHECKPOINT
row() { # NAME C
	ROWS+=("$(printf '%-34s %4s %9s %8s %8s %8s %8s %8s %8s' "$1" "$2" "$M_RPS" "$M_P50" "$M_P99" "$M_ERR" "$M_SRV" "$M_PG" "$M_REDIS")")
	printf '%s\n' "${ROWS[-1]}" >&2
}
for c in $CONCURRENCY; do
	args=(-u "$RPC_URL" --ids "$OUT/floors-ids.txt" --owners 100 --mix get=1 --keys 1000 -c "$c")
	warm "${args[@]}"
	measure "$OUT/floors-get-c$c.json" "${args[@]}" -d "$DURATION" --label "cached get c=$c"
	V[get_$c]=$M_RPS
	row "propertyd GetProperty (cached)" "$c"
done
for c in $CONCURRENCY; do
	args=(-u "$RPC_URL" --ids "$OUT/floors-ids.txt" --owners 1000 --mix create=1 -c "$c")
	warm "${args[@]}"
	measure "$OUT/floors-create-c$c.json" "${args[@]}" -d "$DURATION" --label "create c=$c"
	V[create_$c]=$M_RPS
	row "propertyd CreateProperty" "$c"
done

{
	echo
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), $(nproc) cores, load avg at start $LOAD0"
	printf '%-34s %4s %9s %8s %8s %8s %8s %8s %8s\n' what c rps/tps p50_us p99_us errors srv/1k pg/1k redis/1k
	printf '%s\n' "${ROWS[@]}"
	echo "(x/1k: ms of CPU per 1,000 requests of propertyd, PostgreSQL (postmaster, helpers,"
	echo " live and exited backends), Redis, over each measured window; pgbench p50 column: mean)"
	echo
	for c in $CONCURRENCY; do
		echo "c=$c: cached get / redis GET = $(ratio "${V[get_$c]}" "${V[redis_$c]}")    create / pgbench same statement = $(ratio "${V[create_$c]}" "${V[pg_$c]}")"
	done
} | tee "$OUT/floors.txt"
