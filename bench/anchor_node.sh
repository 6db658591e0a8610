#!/usr/bin/env bash
# bench/anchor_node.sh: propertyd next to a Node.js anchor (the seed-node service: Fastify +
# pg (pool 16) + ioredis, HTTP/JSON, whose folder ANCHOR names), the same operations measured
# in one run.
#
#   1. The anchor, copied to $OUT/seed-node (its folder is read-only; node_modules is kept
#      there between runs; `npm ci` from its lock file when missing), started by its up.sh on
#      free ports (its own PostgreSQL with fsync on and Redis), measured by its load.js
#      (autocannon) one case and concurrency at a time: get_by_id (cache hits over 1,000 ids),
#      create, list_by_owner (cached first pages of 100 owners) at c=16 and c=64, WARMUP s
#      warm-up then DURATION s. CPU of node, its PostgreSQL and Redis over autocannon's
#      measured window (bench/cpu_sampler.pl samples /proc every 0.2 s). Stopped by down.sh.
#   2. propertyd on a fresh private PostgreSQL + Redis (lib.sh; durable defaults as well),
#      1,000 properties over 100 owners seeded through the API like the anchor's, then
#      propload: cached GetProperty over the 1,000 ids, CreateProperty (1,000 owners),
#      ListPropertiesByOwner (first pages of 20, 100 owners, cached) at c=16 and c=64.
# Not the same client: autocannon (one Node process, HTTP/1.1 keep-alive) vs propload (C,
# nng); both share the 2 cores with the server. Compare server CPU per 1k requests as well.
#
# Environment: DURATION (10), WARMUP (2), CONCURRENCY ("16 64"), ANCHOR (the seed-node
# folder to copy), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
bench_init
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONCURRENCY=${CONCURRENCY:-"16 64"}
ANCHOR=${ANCHOR:-}
if [ -z "$ANCHOR" ] || [ ! -d "$ANCHOR" ]; then
	pd_err "set ANCHOR to the seed-node folder (with its up.sh, down.sh and load.js)"
	exit 2
fi
HERE=$ROOT/bench
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	pd_err "node and npm are needed (Node.js 20)"
	exit 1
fi

AD=$OUT/seed-node
SAMPLER_PID=
anchor_down() {
	[ -z "$SAMPLER_PID" ] || bench_stop_pid "$SAMPLER_PID"
	SAMPLER_PID=
	[ ! -d "$AD/run" ] || "$AD/down.sh" >/dev/null 2>&1 || true
}
trap 'anchor_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. the anchor -------------------------------------------------------------------------
wait_quiet
mkdir -p "$AD"
[ ! -d "$AD/run" ] || "$AD/down.sh" >/dev/null 2>&1 || true
# Refresh the sources, keep node_modules.
(cd "$ANCHOR" && tar cf - --exclude=node_modules --exclude=run --exclude=results .) | (cd "$AD" && tar xf -)
chmod -R u+w "$AD"
if [ ! -d "$AD/node_modules" ]; then
	pd_log "npm ci in $AD"
	(cd "$AD" && npm ci --no-audit --no-fund --loglevel=error) || {
		pd_err "npm ci failed in $AD: the anchor cannot run"
		exit 1
	}
	touch "$AD/node_modules"
fi
PG_PORT=$(pd__free_port)
REDIS_PORT=$(pd__free_port)
HTTP_PORT=$(pd__free_port)
export PG_PORT REDIS_PORT HTTP_PORT
pd_log "anchor up.sh (postgres $PG_PORT, redis $REDIS_PORT, http $HTTP_PORT)"
"$AD/up.sh" >"$OUT/anchor-up.log" 2>&1 || {
	pd_err "the anchor's up.sh failed:"
	tail -n 20 "$OUT/anchor-up.log" >&2
	exit 1
}
NODE_PID=$(cat "$AD/run/server.pid")
APG_PID=$(cat "$AD/run/postgres.pid")
AREDIS_PID=$(cat "$AD/run/redis.pid")
perl "$HERE/cpu_sampler.pl" 0.2 "$NODE_PID" "tree:$APG_PID" "$AREDIS_PID" >"$OUT/anchor-cpu.txt" &
SAMPLER_PID=$!
BENCH_PIDS+=("$SAMPLER_PID")

# ticks_between FILE T0 T1 COL: the counter's growth from the last sample at or before T0 to
# the first at or after T1.
ticks_between() {
	awk -v a="$2" -v b="$3" -v c="$4" '
		$1 <= a { x = $c } $1 >= b && y == "" { y = $c }
		END { if (x == "" || y == "") print 0; else print y - x }' "$1"
}
iso_to_s() { date -d "$1" +%s.%N; }

declare -A A_RPS A_P50 A_P99 A_OK A_SRV A_PG A_REDIS P_RPS P_P50 P_P99 P_ERR P_SRV P_PG P_REDIS
CASES="get_by_id create list_by_owner"
for op in $CASES; do
	for c in $CONCURRENCY; do
		res=$OUT/anchor-results/$op-c$c
		rm -rf "$res"
		mkdir -p "$OUT/anchor-results"
		CASES=$op CONNECTIONS=$c DURATION=$DURATION WARMUP=$WARMUP RESULTS_DIR=$res \
			BASE_URL="http://127.0.0.1:$HTTP_PORT" node "$AD/load.js" >"$res.log" 2>&1 || {
			pd_err "anchor load $op c=$c exited non-zero:"
			cat "$res.log" >&2
		}
		sleep 0.5 # one more sample after the window
		summary=$(ls "$res"/*/summary.json)
		raw=$(ls "$res"/*/"$op-c$c.json")
		t0=$(iso_to_s "$(jq -r .start "$raw")")
		t1=$(iso_to_s "$(jq -r .finish "$raw")")
		total=$(jq -r '.summary[0].total' "$summary")
		A_RPS[$op$c]=$(jq -r '.summary[0].rps | floor' "$summary")
		A_P50[$op$c]=$(jq -r '.summary[0].p50_ms * 1000 | floor' "$summary")
		A_P99[$op$c]=$(jq -r '.summary[0].p99_ms * 1000 | floor' "$summary")
		A_OK[$op$c]=$(jq -r '.summary[0] | "\(.ok)/\(.total)"' "$summary")
		A_SRV[$op$c]=$(cpu_ms_per_1k 0 "$(ticks_between "$OUT/anchor-cpu.txt" "$t0" "$t1" 2)" "$total")
		A_PG[$op$c]=$(cpu_ms_per_1k 0 "$(ticks_between "$OUT/anchor-cpu.txt" "$t0" "$t1" 3)" "$total")
		A_REDIS[$op$c]=$(cpu_ms_per_1k 0 "$(ticks_between "$OUT/anchor-cpu.txt" "$t0" "$t1" 4)" "$total")
		pd_log "anchor $op c=$c: $(grep -E "^$op" "$res.log" || echo '?') cpu/1k node ${A_SRV[$op$c]} pg ${A_PG[$op$c]} redis ${A_REDIS[$op$c]}"
	done
done
anchor_down

# ---- 2. propertyd ----------------------------------------------------------------------------
wait_quiet
bench_stack
bench_start_propertyd
pd_log "seeding 1000 properties over 100 owners"
"$PROPLOAD" seed -u "$RPC_URL" --properties 1000 --owners 100 -c 16 --ids "$OUT/anchor-ids.txt" >/dev/null
for op in $CASES; do
	for c in $CONCURRENCY; do
		case $op in
		get_by_id) args=(--mix get=1 --owners 100) ;;
		create) args=(--mix create=1 --owners 1000) ;;
		list_by_owner) args=(--mix list=1 --owners 100) ;;
		esac
		args+=(-u "$RPC_URL" --ids "$OUT/anchor-ids.txt" -c "$c")
		warm "${args[@]}"
		measure "$OUT/anchor-propertyd-$op-c$c.json" "${args[@]}" -d "$DURATION" --label "$op c=$c"
		P_RPS[$op$c]=$M_RPS P_P50[$op$c]=$M_P50 P_P99[$op$c]=$M_P99 P_ERR[$op$c]=$M_ERR
		P_SRV[$op$c]=$M_SRV P_PG[$op$c]=$M_PG P_REDIS[$op$c]=$M_REDIS
		pd_log "propertyd $op c=$c: $M_RPS rps p50 $M_P50 p99 $M_P99 errors $M_ERR cpu/1k $M_SRV pg $M_PG redis $M_REDIS"
	done
done
# The peak resident set of propertyd over the whole run.
HWM=$(awk '/^VmHWM/ {print $2, $3}' "/proc/$PROPERTYD_PID/status" 2>/dev/null || echo '?')

{
	echo
	echo "propertyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree) vs seed-node (Node $(node --version)), $(nproc) cores, ${DURATION}s runs after ${WARMUP}s warm-up"
	printf '%-14s %3s | %8s %7s %7s %11s %7s %7s %6s | %8s %7s %7s %6s %7s %7s %6s | %6s\n' \
		case c node_rps p50_us p99_us ok/total cpu/1k pg/1k rd/1k pd_rps p50_us p99_us errors cpu/1k pg/1k rd/1k pd/node
	for op in $CASES; do
		for c in $CONCURRENCY; do
			k=$op$c
			printf '%-14s %3s | %8s %7s %7s %11s %7s %7s %6s | %8s %7s %7s %6s %7s %7s %6s | %6s\n' "$op" "$c" \
				"${A_RPS[$k]}" "${A_P50[$k]}" "${A_P99[$k]}" "${A_OK[$k]}" "${A_SRV[$k]}" "${A_PG[$k]}" "${A_REDIS[$k]}" \
				"${P_RPS[$k]}" "${P_P50[$k]}" "${P_P99[$k]}" "${P_ERR[$k]}" "${P_SRV[$k]}" "${P_PG[$k]}" "${P_REDIS[$k]}" \
				"$(ratio "${P_RPS[$k]}" "${A_RPS[$k]}")"
		done
	done
	echo "(node_rps: autocannon's mean req/s; p50/p99 from its per-response times; cpu/1k: ms of CPU per"
	echo " 1,000 requests of the server (node / propertyd), pg/1k PostgreSQL, rd/1k Redis, over the"
	echo " measured window; pd/node: propertyd rps / anchor rps)"
	echo "propertyd peak RSS (VmHWM) over the run: $HWM; settings: IO_THREADS=${IO_THREADS:-cores} DB_BATCH_MAX=${DB_BATCH_MAX:-32}"
} | tee "$OUT/anchor_node.txt"
