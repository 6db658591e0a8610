# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, never run).
#
#   bench_init               ROOT, BUILD (env BUILD, default build/), OUT (bench/out), builds
#                            what is missing, checks tools.
#   bench_stack              a fresh PostgreSQL + Redis (scripts/lib/services.sh) under $OUT/stack,
#                            stopped on exit.
#   bench_start_propertyd    build/bin/propertyd on free ports with LOG_REQUESTS=0 and a fresh
#                            AUTH_SECRET; exports RPC_URL, PROPERTYD_PID; stopped on exit.
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
	LOG_REQUESTS=0 EVENTS_URL="tcp://127.0.0.1:$ev_port" HTTP_ADDR="127.0.0.1:$http_port" \
		"$BUILD/bin/propertyd" ${PROPERTYD_FLAGS:-} >"$OUT/propertyd.log" 2>&1 &
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
	pd_err "propertyd did not become ready, see $OUT/propertyd.log"
	tail -n 20 "$OUT/propertyd.log" >&2
	return 1
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
