# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, never run).
#
#   bench_init               ROOT, BUILD (env BUILD, default build/), OUT (bench/out), builds
#                            what is missing, checks tools.
#   bench_stack              a fresh PostgreSQL + Redis (scripts/lib/services.sh) under $OUT/stack,
#                            stopped on exit.
#   bench_start_propertyd    build/bin/propertyd on free ports with LOG_REQUESTS=0 (unless the
#                            caller sets LOG_REQUESTS) and a fresh AUTH_SECRET; exports RPC_URL,
#                            PROPERTYD_EVENTS_URL, PROPERTYD_PID; stderr to PROPERTYD_LOG
#                            ($OUT/propertyd.log); stopped on exit. Other settings (OBSERVE,
#                            RELAY, WORKERS...) pass through the environment.
#   bench_stop_pid PID       stops one process the bench started (TERM, then KILL after 10 s).
#   pg_ticks                 CPU ticks of the bench's PostgreSQL: the postmaster, its live
#                            children and the children it reaped (backends that exited).
#   redis_ticks              CPU ticks of the bench's Redis.
#   cpu_ticks PID            utime+stime of PID in clock ticks (/proc/PID/stat fields 14, 15).
#   cpu_ms_per_1k T0 T1 N    server CPU milliseconds per 1,000 requests.
#   json_get FILE JQ         a value from a propload result.

bench_init() {
	ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
	BUILD=${BUILD:-$ROOT/build}
	OUT=${OUT:-$ROOT/bench/out}
	mkdir -p "$OUT"
	# shellcheck source=scripts/lib/services.sh
	. "$ROOT/scripts/lib/services.sh"
	command -v jq >/dev/null || {
		pd_err "jq is needed to read propload's JSON (apt-get install jq)"
		return 1
	}
	if [ ! -x "$BUILD/bin/propload" ] || [ ! -x "$BUILD/bin/propertyd" ] || [ ! -x "$BUILD/bin/echo_server" ]; then
		pd_log "building $BUILD"
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
			cmake --build "$BUILD" -j"$(nproc)" >/dev/null || return 1
	fi
	PROPLOAD=$BUILD/bin/propload
	BENCH_PIDS=()
}

# Stops what the bench started (by PID), then the services.
bench_cleanup() {
	local p
	for p in "${BENCH_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${BENCH_PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	BENCH_PIDS=()
}

bench_stack() {
	# propertyd first, then the servers it uses.
	trap 'bench_cleanup; stop_services' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ "${BENCH_REUSE_SERVICES:-0}" != 1 ]; then
		unset DATABASE_URL REDIS_URL
		# A fresh cluster each run: nothing cached, no rows left from before.
		rm -rf "$OUT/stack"
	fi
	start_services "$OUT/stack"
}

bench_start_propertyd() {
	local rpc_port ev_port http_port i
	rpc_port=$(pd__free_port) && ev_port=$(pd__free_port) && http_port=$(pd__free_port) || return 1
	export RPC_URL="tcp://127.0.0.1:$rpc_port"
	AUTH_SECRET=${AUTH_SECRET:-$(openssl rand -hex 32)}
	export AUTH_SECRET
	export PROPERTYD_EVENTS_URL="tcp://127.0.0.1:$ev_port"
	LOG_REQUESTS=${LOG_REQUESTS:-0} EVENTS_URL="$PROPERTYD_EVENTS_URL" HTTP_ADDR="127.0.0.1:$http_port" \
		"$BUILD/bin/propertyd" ${PROPERTYD_FLAGS:-} >"${PROPERTYD_LOG:-$OUT/propertyd.log}" 2>&1 &
	PROPERTYD_PID=$!
	BENCH_PIDS+=("$PROPERTYD_PID")
	for i in $(seq 1 150); do
		if "$PROPLOAD" -q -u "$RPC_URL" --call /grpc.health.v1.Health/Check -n 1 --timeout 1s \
			>/dev/null 2>&1; then
			pd_log "propertyd $PROPERTYD_PID ready on $RPC_URL"
			return 0
		fi
		kill -0 "$PROPERTYD_PID" 2>/dev/null || break
		sleep 0.2
	done
	pd_err "propertyd did not become ready, see ${PROPERTYD_LOG:-$OUT/propertyd.log}"
	tail -n 20 "${PROPERTYD_LOG:-$OUT/propertyd.log}" >&2
	return 1
}

bench_stop_pid() {
	local p=$1 i keep=()
	kill -TERM "$p" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for i in "${BENCH_PIDS[@]}"; do
		[ "$i" = "$p" ] || keep+=("$i")
	done
	BENCH_PIDS=("${keep[@]}")
}

# Fields after "PID (comm) ": [11] utime [12] stime [13] cutime [14] cstime; sum of FIRST..LAST.
stat_fields() { # PID FIRST LAST
	local s f t=0 i
	s=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	read -ra f <<<"${s##*) }"
	for ((i = $2; i <= $3; i++)); do t=$((t + f[i])); done
	echo "$t"
}

pg_ticks() {
	local pm t c
	pm=$(head -n 1 "$PD_PG_DIR/data/postmaster.pid" 2>/dev/null) || {
		echo 0
		return
	}
	t=$(stat_fields "$pm" 11 14)
	for c in $(ps -o pid= --ppid "$pm"); do t=$((t + $(stat_fields "$c" 11 12))); done
	echo "$t"
}

redis_ticks() {
	stat_fields "$(cat "$OUT/stack/redis/redis.pid" 2>/dev/null || echo 0)" 11 12
}

cpu_ticks() {
	# Fields 14 and 15 counted after the ")" that ends the command name.
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

cpu_ms_per_1k() {
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { if (n > 0) printf "%.1f", (b - a) / hz * 1000 / (n / 1000); else print "-" }'
}

json_get() {
	jq -r "$2" "$1"
}
