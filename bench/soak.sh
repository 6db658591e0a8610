#!/usr/bin/env bash
# bench/soak.sh: a bounded fault soak. Starts its own PostgreSQL and Redis, three propertyd
# instances sharing them, a workload + subscriber + checker (bench/soak/soak.py, the Python
# client), and a randomized, seeded fault loop (SIGKILL an instance and restart it, restart
# PostgreSQL, restart Redis, freeze Redis). When the time is up the faults stop, the system
# settles and the checker proves (a) every acknowledged write is in PostgreSQL, (b) one event
# per committed change with gap-free seqs, (c) the subscriber got each event once, in order,
# (d) no read older than an acknowledged write beyond the contract's bound. Prints counts;
# exits 0 only when no check found a violation. See bench/README.md ("Fault soak").
#
# Knobs: SOAK_SECONDS (180), SOAK_SEED (random, printed), SOAK_WRITERS (3), SOAK_READERS (2),
# SOAK_STALE_SLACK_MS (250), SOAK_SETTLE_S (90), BUILD (build), OUT (bench/out; the soak
# writes to $OUT/soak), SOAK_FAULTS (kill,pg,redis,freeze). SOAK_SELFTEST=1: after the run,
# plant one fault per check (a changed row, a lost seq, a duplicated delivery, a stale read)
# and pass only when every check reports its own.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
OUT=${OUT:-$ROOT/bench/out}
SOAK_DIR=$OUT/soak
SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
SOAK_FAULTS=${SOAK_FAULTS:-kill,pg,redis,freeze}
PYTHON=${PYTHON:-/usr/bin/python3}
N=3

# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"

if [ ! -x "$BUILD/bin/propertyd" ] || [ ! -x "$BUILD/bin/propload" ] ||
	[ ! -f "$BUILD/clients/python/propertyd/__init__.py" ]; then
	pd_log "building $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
		cmake --build "$BUILD" -j2 >/dev/null || exit 2
fi
"$PYTHON" -c 'import google.protobuf' 2>/dev/null || {
	pd_err "$PYTHON lacks protobuf (apt-get install python3-protobuf)"
	exit 2
}

# ---- processes we own, stopped on exit ------------------------------------------------
PIDS=() # propertyd instance i -> PID ("" while down)
CHECKER_PID=""
CLEANED=0
cleanup() {
	[ "$CLEANED" = 1 ] && return
	CLEANED=1
	local p i
	[ -n "$CHECKER_PID" ] && kill -TERM "$CHECKER_PID" 2>/dev/null
	for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}" $CHECKER_PID; do
		[ -n "$p" ] || continue
		for i in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "${PD_REDIS_CTL:-}" ] && "$PD_REDIS_CTL" resume >/dev/null 2>&1
	stop_services
}
trap cleanup EXIT
trap 'pd_log interrupted; exit 130' INT
trap 'exit 143' TERM

rm -rf "$SOAK_DIR"
mkdir -p "$SOAK_DIR"
unset DATABASE_URL REDIS_URL
start_services "$SOAK_DIR/stack" || exit 2
PSQL=$(pd__pg_bindir)/psql
export PSQL DATABASE_URL REDIS_URL
AUTH_SECRET=$(openssl rand -hex 32)
export AUTH_SECRET

# ---- the three instances: fixed ports for the whole run (restarts reuse them) ---------
declare -a RPC EV HTTP
used=" "
port() {
	local p
	while :; do
		p=$(pd__free_port) || return 1
		case $used in *" $p "*) continue ;; esac
		used="$used$p "
		echo "$p"
		return 0
	done
}
for ((i = 0; i < N; i++)); do
	p=$(port) && RPC[i]=$p && used="$used$p "
	p=$(port) && EV[i]=$p && used="$used$p "
	p=$(port) && HTTP[i]=$p && used="$used$p " || exit 2
	PIDS[i]=""
done

T0=$(date +%s.%N)
now() { date +%s.%N; }
rel() { awk -v a="$1" -v b="$T0" 'BEGIN { printf "+%.1fs", a - b }'; }
flog() { # one timestamped line of the fault log (also on stderr)
	local t
	t=$(now)
	printf '%s %s %s\n' "$(date -u -d "@$t" +%H:%M:%S.%3N)" "$(rel "$t")" "$*" | tee -a "$SOAK_DIR/faults.log" >&2
}

start_instance() { # i: starts instance i on its ports and waits until it answers
	local i=$1 t
	LOG_REQUESTS=0 RPC_URL="tcp://127.0.0.1:${RPC[i]}" EVENTS_URL="tcp://127.0.0.1:${EV[i]}" \
		HTTP_ADDR="127.0.0.1:${HTTP[i]}" WORKERS=2 \
		"$BUILD/bin/propertyd" >>"$SOAK_DIR/propertyd-$i.log" 2>&1 &
	PIDS[i]=$!
	for t in $(seq 1 150); do
		if "$BUILD/bin/propload" -q -u "tcp://127.0.0.1:${RPC[i]}" --call /grpc.health.v1.Health/Check \
			-n 1 --timeout 1s >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "${PIDS[i]}" 2>/dev/null || break
		sleep 0.2
	done
	pd_err "instance $i (pid ${PIDS[i]}) did not start, see $SOAK_DIR/propertyd-$i.log"
	tail -n 5 "$SOAK_DIR/propertyd-$i.log" >&2
	return 1
}

for ((i = 0; i < N; i++)); do
	start_instance "$i" || exit 2
	pd_log "instance $i: pid ${PIDS[i]} rpc ${RPC[i]} events ${EV[i]} http ${HTTP[i]}"
done

rpc_urls=""
ev_urls=""
for ((i = 0; i < N; i++)); do
	rpc_urls+="tcp://127.0.0.1:${RPC[i]},"
	ev_urls+="tcp://127.0.0.1:${EV[i]},"
done

pd_log "soak: ${SOAK_SECONDS}s, seed $SOAK_SEED, faults $SOAK_FAULTS, output in $SOAK_DIR"
SOAK_DIR=$SOAK_DIR RPC_URLS=$rpc_urls EVENTS_URLS=$ev_urls SOAK_SEED=$SOAK_SEED SOAK_T0=$T0 \
	PYTHONPATH="$BUILD/clients/python" PYTHONDONTWRITEBYTECODE=1 \
	"$PYTHON" "$ROOT/bench/soak/soak.py" >"$SOAK_DIR/report.txt" 2>"$SOAK_DIR/soak.log" &
CHECKER_PID=$!
for _ in $(seq 1 100); do
	[ -f "$SOAK_DIR/ready" ] && break
	kill -0 "$CHECKER_PID" 2>/dev/null || break
	sleep 0.1
done
[ -f "$SOAK_DIR/ready" ] || {
	pd_err "the workload did not start, see $SOAK_DIR/soak.log"
	tail -n 20 "$SOAK_DIR/soak.log" >&2
	exit 2
}

# ---- the fault loop ---------------------------------------------------------------------
RANDOM=$SOAK_SEED
IFS=, read -ra KINDS <<<"$SOAK_FAULTS"
declare -A FAULTS=([kill]=0 [pg]=0 [redis]=0 [freeze]=0)
HARNESS_FAIL=0
rnd() { # LO HI (tenths of a second) -> seconds with one decimal
	local v=$(($1 + RANDOM % ($2 - $1 + 1)))
	printf '%d.%d' $((v / 10)) $((v % 10))
}
window() { printf '%s\t%s\t%s\n' "$1" "$(now)" "$2" >>"$SOAK_DIR/faults.tsv"; }

deadline=$(($(date +%s) + SOAK_SECONDS))
flog "faults start, seed $SOAK_SEED"
while [ "$(date +%s)" -lt "$deadline" ]; do
	sleep "$(rnd 20 60)"
	[ "$(date +%s)" -lt "$deadline" ] || break
	kind=${KINDS[RANDOM % ${#KINDS[@]}]}
	t=$(now)
	case $kind in
	kill)
		i=$((RANDOM % N))
		pause=$(rnd 5 30)
		flog "kill: SIGKILL instance $i (pid ${PIDS[i]}), restart after ${pause}s"
		kill -KILL "${PIDS[i]}" 2>/dev/null
		wait "${PIDS[i]}" 2>/dev/null
		PIDS[i]=""
		sleep "$pause"
		if start_instance "$i"; then
			flog "kill: instance $i back (pid ${PIDS[i]})"
		else
			flog "kill: instance $i did NOT come back"
			HARNESS_FAIL=1
		fi
		;;
	pg)
		pause=$(rnd 10 40)
		flog "pg: stopping PostgreSQL for ${pause}s"
		"$PD_PG_CTL" stop || flog "pg: stop failed"
		sleep "$pause"
		"$PD_PG_CTL" start || {
			flog "pg: start FAILED"
			HARNESS_FAIL=1
		}
		flog "pg: PostgreSQL back"
		;;
	redis)
		pause=$(rnd 5 30)
		flog "redis: stopping Redis for ${pause}s"
		"$PD_REDIS_CTL" stop
		sleep "$pause"
		"$PD_REDIS_CTL" start || {
			flog "redis: start FAILED"
			HARNESS_FAIL=1
		}
		flog "redis: Redis back"
		;;
	freeze)
		pause=$(rnd 10 50)
		flog "freeze: SIGSTOP Redis for ${pause}s"
		"$PD_REDIS_CTL" pause
		sleep "$pause"
		"$PD_REDIS_CTL" resume
		flog "freeze: Redis resumed"
		;;
	*)
		pd_err "unknown fault kind $kind (SOAK_FAULTS: kill,pg,redis,freeze)"
		exit 2
		;;
	esac
	window "$t" "$kind"
	FAULTS[$kind]=$((FAULTS[$kind] + 1))
	# Every instance must be running between faults.
	for ((i = 0; i < N; i++)); do
		if [ -z "${PIDS[i]}" ] || ! kill -0 "${PIDS[i]}" 2>/dev/null; then
			flog "instance $i (pid ${PIDS[i]}) is not running: restarting it"
			HARNESS_FAIL=1
			start_instance "$i" || true
		fi
	done
done
flog "faults stop"

# ---- settle and check -------------------------------------------------------------------
touch "$SOAK_DIR/stop"
for _ in $(seq 1 3000); do # bounded: the checker settles within SOAK_SETTLE_S, then checks
	kill -0 "$CHECKER_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$CHECKER_PID" 2>/dev/null; then
	pd_err "the checker did not finish within 300 s"
	kill -TERM "$CHECKER_PID"
fi
wait "$CHECKER_PID"
rc=$?
CHECKER_PID=""
died=0
for ((i = 0; i < N; i++)); do
	kill -0 "${PIDS[i]}" 2>/dev/null || died=$((died + 1))
done

echo "== fault soak: ${SOAK_SECONDS}s, seed $SOAK_SEED, $N instances (logs in $SOAK_DIR)"
echo "faults injected:       kill ${FAULTS[kill]}, pg restart ${FAULTS[pg]}, redis restart ${FAULTS[redis]}, redis freeze ${FAULTS[freeze]}"
cat "$SOAK_DIR/report.txt"
echo "instances not running at the end: $died; harness failures (restart failed): $HARNESS_FAIL"
if [ "$rc" -ne 0 ] || [ "$died" -ne 0 ] || [ "$HARNESS_FAIL" -ne 0 ]; then
	[ "$rc" -eq 2 ] && tail -n 20 "$SOAK_DIR/soak.log" >&2
	echo "RESULT: FAIL (checker exit $rc; violations listed in $SOAK_DIR/violations.log)"
	exit 1
fi
echo "RESULT: PASS${SOAK_SELFTEST:+ (selftest)}"
