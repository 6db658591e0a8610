#!/usr/bin/env bash
# scripts/compose-smoke.sh: runs docker-compose.yml for real, under podman, and checks it from
# the host: the gateway, the replicas, events, Prometheus and a replica's death.
#
# Steps (each printed as it starts, with the seconds since the start):
#   1. installs missing Debian packages (scripts/lib/services.sh: ensure_packages) and builds
#      the host's propctl and propload in BUILD_DIR;
#   2. configures podman for this machine with its own containers.conf (CONTAINERS_CONF) under
#      .local/compose-smoke/: no default ulimits, cgroupfs, runc, netavark;
#   3. builds the images that cannot be pulled here: a Debian bookworm base (debootstrap,
#      tagged debian:bookworm and debian:bookworm-slim; only when missing), then the
#      stand-ins for postgres:15, redis:7 and prom/prometheus from deploy/standins/
#      (podman's layer cache makes a repeated build take seconds);
#   4. starts `podman system service` on a private socket and points DOCKER_HOST at it;
#      runs `podman healthcheck run` for every container of the stack every 2 s in the
#      background (podman leaves health checks to systemd timers, absent here);
#   5. `docker-compose up -d --build` with a fresh AUTH_SECRET, under its own project name;
#   6. waits until every container with a health check (each replica, the gateway,
#      PostgreSQL, Redis) is healthy;
#   7. from the host, through the gateway on 127.0.0.1:PROPGATE_PORT: health, create, get,
#      list (propctl, with a token from `propctl token`);
#   8. a 5 s propload run through the gateway, which must see no error;
#   9. an event: `propctl watch` (propsub) inside a replica dials every replica's events port
#      (the name `propertyd` resolves to each) while the host creates properties;
#  10. Prometheus (127.0.0.1:PROMETHEUS_PORT): every replica and the gateway scraped with
#      up == 1, every alert of deploy/alerts.yml loaded and none failing;
#  11. SIGKILLs one replica and checks that calls through the gateway go on;
#  and always, also on failure or Ctrl-C: `docker-compose down -v`, then the podman service
#  and every background process stopped.
#
# Usage: scripts/compose-smoke.sh [BUILD_DIR]     run it (as root: rootful podman)
#        scripts/compose-smoke.sh --check         exit 0 when podman can run here, else print
#                                                 why not and exit 3 (for scripts/test.sh)
#   BUILD_DIR (or env PD_BUILD_DIR; default: build) is a CMake build tree of this checkout.
#   SMOKE_PROJECT=propertyd-smoke   compose project name (containers, network, volumes)
#   PROPGATE_PORT=7700, PROMETHEUS_PORT=9090   host loopback ports (docker-compose.yml)
#   DEBIAN_MIRROR=URL               mirror for debootstrap (default: the one apt uses)
#   SMOKE_TIMEOUT_S=240             longest wait for the stack to become healthy
# Logs of every step stay in .local/compose-smoke/ (ignored by git).
# Exit status: 0 all checks passed; 1 a check failed; 2 usage or environment error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

STATE="$ROOT/.local/compose-smoke"
PROJECT=${SMOKE_PROJECT:-propertyd-smoke}
export PROPGATE_PORT=${PROPGATE_PORT:-7700}
export PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
SMOKE_TIMEOUT_S=${SMOKE_TIMEOUT_S:-240}
BASE_IMAGE=docker.io/library/debian:bookworm
BASE_IMAGE_SLIM=docker.io/library/debian:bookworm-slim
# deploy/standins/<dir> is built under <tag>; the tags are the images docker-compose.yml names.
STANDINS=("postgres docker.io/library/postgres:15 postgres:15"
	"redis docker.io/library/redis:7 redis:7"
	"prometheus docker.io/prom/prometheus:v2.45.0 prom/prometheus:v2.45.0")
OWNER=smoke-owner

T0=$SECONDS
STEP=0
say() { printf '%s\n' "$*"; }
step() {
	STEP=$((STEP + 1))
	printf '\n==> [%3ds] %d. %s\n' $((SECONDS - T0)) "$STEP" "$*"
}
ok() { printf '    ok: %s\n' "$*"; }
# fail MESSAGE: a check failed: say what, show the stack's state, exit 1 (the trap cleans up).
fail() {
	printf '\nFAILED (step %d, %ds): %s\n' "$STEP" $((SECONDS - T0)) "$*" >&2
	diagnostics >&2 || true
	exit 1
}
# die MESSAGE: cannot run here (usage, environment): exit 2.
die() {
	printf 'compose-smoke: %s\n' "$*" >&2
	exit 2
}

# ---- podman for this sandbox ---------------------------------------------------------------
write_containers_conf() {
	mkdir -p "$STATE"
	# default_ulimits = []: setting RLIMIT_NOFILE/NPROC is not permitted in this sandbox.
	# cgroupfs and runc: there is no systemd, and crun refuses the hybrid cgroup layout.
	# netavark (with aardvark-dns): compose networks with DNS, so containers find each
	# other by service name and `propertyd` resolves to every replica.
	cat >"$STATE/containers.conf" <<-'EOF'
		# Written by scripts/compose-smoke.sh; CONTAINERS_CONF points podman here.
		[containers]
		default_ulimits = []

		[engine]
		cgroup_manager = "cgroupfs"
		runtime = "runc"

		[network]
		network_backend = "netavark"
	EOF
	export CONTAINERS_CONF="$STATE/containers.conf"
}

# Prints why podman cannot run the stack here, or nothing when it can.
podman_problem() {
	local c
	[ "$(id -u)" -eq 0 ] || {
		echo "needs root (rootful podman)"
		return
	}
	for c in podman runc debootstrap docker-compose curl jq openssl; do
		command -v "$c" >/dev/null 2>&1 || {
			echo "$c is not installed"
			return
		}
	done
	write_containers_conf
	if ! podman info >"$STATE/podman-info.log" 2>&1; then
		echo "podman info fails: $(grep -m1 -i error "$STATE/podman-info.log" || tail -n 1 "$STATE/podman-info.log")"
		return
	fi
}

if [ "${1:-}" = --check ]; then
	reason=$(podman_problem)
	if [ -n "$reason" ]; then
		echo "$reason"
		exit 3
	fi
	echo "podman usable"
	exit 0
fi
case ${1:-} in -h | --help)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac
[ $# -le 1 ] || die "usage: scripts/compose-smoke.sh [BUILD_DIR] | --check"
BUILD=${1:-${PD_BUILD_DIR:-build}}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PROPCTL="$BUILD/bin/propctl"
PROPLOAD="$BUILD/bin/propload"

# ---- cleanup: on every way out -------------------------------------------------------------
SERVICE_PID=""
HEALTH_PID=""
WATCH_PID=""
STACK_UP=0
SOCK=""
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	printf '\n==> [%3ds] cleanup\n' $((SECONDS - T0))
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
	if [ "$STACK_UP" = 1 ]; then
		say "    docker-compose down -v"
		timeout 180 docker-compose "${DC_ARGS[@]}" down -v --remove-orphans -t 10 \
			>>"$STATE/compose-down.log" 2>&1 || say "    docker-compose down failed: see $STATE/compose-down.log"
	fi
	if [ -n "$HEALTH_PID" ]; then
		kill "$HEALTH_PID" 2>/dev/null
		wait "$HEALTH_PID" 2>/dev/null
	fi
	if [ -n "$SERVICE_PID" ]; then
		say "    stopping podman system service (pid $SERVICE_PID)"
		kill "$SERVICE_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$SERVICE_PID" 2>/dev/null
		wait "$SERVICE_PID" 2>/dev/null
	fi
	[ -n "$SOCK" ] && rm -f "$SOCK"
	if [ $rc -eq 0 ]; then
		printf '\ncompose smoke test passed in %ds\n' $((SECONDS - T0))
	else
		printf '\ncompose smoke test FAILED (exit %d) after %ds; logs in %s\n' "$rc" \
			$((SECONDS - T0)) "$STATE" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dc() { docker-compose "${DC_ARGS[@]}" "$@"; }
DC_ARGS=(-f "$ROOT/docker-compose.yml" --project-directory "$ROOT" -p "$PROJECT")

# What the stack looks like, for a failure message.
diagnostics() {
	[ "$STACK_UP" = 1 ] || return 0
	echo "---- containers"
	podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
		--format '{{.Names}}  {{.Status}}' 2>&1
	echo "---- last log lines of each service"
	dc logs --no-color --tail=15 2>&1 | tail -n 120
}

# ---- 1. packages and host binaries ---------------------------------------------------------
step "packages and the host's propctl/propload in $BUILD"
ensure_packages || die "could not install the packages"
reason=$(podman_problem)
[ -z "$reason" ] || die "podman cannot run here: $reason"
mkdir -p "$STATE"
exec 9>"$STATE/lock"
flock -n 9 || die "another compose-smoke run holds $STATE/lock"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$STATE/cmake.log" 2>&1 ||
		die "cmake configure of $BUILD failed: see $STATE/cmake.log"
fi
cmake --build "$BUILD" --target propctl propload -j"$(nproc 2>/dev/null || echo 2)" \
	>"$STATE/cmake-build.log" 2>&1 || die "building propctl/propload in $BUILD failed: see $STATE/cmake-build.log"
ok "$PROPCTL, $PROPLOAD"

# ---- 2. podman -----------------------------------------------------------------------------
step "podman with $STATE/containers.conf"
write_containers_conf # (podman_problem wrote it too, but in a subshell: export it here)
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Host.NetworkBackend}}' |
	sed 's/^/    runtime, cgroups, network: /'

# ---- 3. images -----------------------------------------------------------------------------
# The Debian mirror apt uses on this host for bookworm (debootstrap fetches from it, and the
# image's apt sources list the host's bookworm repositories, so containers use them too).
host_debian_repos() {
	# shellcheck disable=SC2016 # $(...) are apt's format fields, not the shell's
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
		awk '$2 ~ /^bookworm(-updates|-security)?$/' | sort -u
}

build_base_image() {
	local mirror dir=$STATE/rootfs
	mirror=${DEBIAN_MIRROR:-$(host_debian_repos | awk '$2 == "bookworm" {print $1; exit}')}
	[ -n "$mirror" ] || die "no Debian bookworm mirror in apt's sources; set DEBIAN_MIRROR"
	say "    debootstrap --variant=minbase bookworm from $mirror (about a minute)"
	rm -rf "$dir"
	debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$STATE/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: see $STATE/debootstrap.log"
	if [ -z "${DEBIAN_MIRROR:-}" ]; then
		host_debian_repos | awk '{printf "deb %s %s %s\n", $1, $2, $3}' >"$dir/etc/apt/sources.list"
	fi
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	tar -C "$dir" -c . | podman import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null ||
		fail "podman import of the base image failed"
	rm -rf "$dir"
}

step "images: Debian base and stand-ins (built only when missing or changed)"
if podman image exists "$BASE_IMAGE"; then
	ok "$BASE_IMAGE present"
else
	build_base_image
	ok "$BASE_IMAGE imported"
fi
podman tag "$BASE_IMAGE" "$BASE_IMAGE_SLIM"
for s in "${STANDINS[@]}"; do
	read -r dir tag short <<<"$s"
	grep -Eq "^[[:space:]]+image: ${short//./\\.}\$" docker-compose.yml ||
		fail "docker-compose.yml no longer names $short: update STANDINS in ${BASH_SOURCE[0]}"
	podman build --isolation chroot --format docker -t "$tag" "deploy/standins/$dir" \
		>"$STATE/build-$dir.log" 2>&1 || fail "building the $short stand-in failed: see $STATE/build-$dir.log"
	ok "$short  (deploy/standins/$dir)"
done

# ---- 4. podman's Docker API, health checks -------------------------------------------------
step "podman system service on a private socket"
SOCK="$STATE/podman.sock"
# A socket path is limited to 107 bytes.
[ ${#SOCK} -lt 100 ] || SOCK=$(mktemp -u /tmp/pd-podman.XXXXXX.sock)
rm -f "$SOCK"
# Its own session, so a Ctrl-C reaches us (and the cleanup) rather than the service first.
# BUILDAH_ISOLATION=chroot: the API's image builds run their RUN steps with chroot.
BUILDAH_ISOLATION=chroot setsid podman system service --time=0 "unix://$SOCK" \
	>"$STATE/podman-service.log" 2>&1 &
SERVICE_PID=$!
for ((i = 0; i < 150; i++)); do
	curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
	kill -0 "$SERVICE_PID" 2>/dev/null || fail "podman system service exited: see $STATE/podman-service.log"
	sleep 0.2
done
curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null || fail "podman's API did not answer on $SOCK"
export DOCKER_HOST="unix://$SOCK"
# docker-compose 1.29 builds through the API itself (no docker CLI, no BuildKit here).
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 COMPOSE_HTTP_TIMEOUT=300
ok "DOCKER_HOST=$DOCKER_HOST (pid $SERVICE_PID)"

health_loop() {
	set +e
	local c
	while :; do
		for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
			podman healthcheck run "$c" >/dev/null 2>&1 &
		done
		wait
		sleep 2
	done
}
health_loop >"$STATE/health-loop.log" 2>&1 &
HEALTH_PID=$!
ok "health checks every 2 s (pid $HEALTH_PID)"

# ---- 5. the stack --------------------------------------------------------------------------
AUTH_SECRET=$(openssl rand -hex 32)
POSTGRES_PASSWORD=$(openssl rand -hex 12)
export AUTH_SECRET POSTGRES_PASSWORD

step "docker-compose up -d --build (project $PROJECT)"
STACK_UP=1
# Whatever an interrupted earlier run left behind.
dc down -v --remove-orphans -t 5 >"$STATE/compose-down.log" 2>&1 || true
for p in "$PROPGATE_PORT" "$PROMETHEUS_PORT"; do
	if pd__port_busy "$p"; then
		fail "127.0.0.1:$p is in use; free it or set PROPGATE_PORT / PROMETHEUS_PORT"
	fi
done
REPLICAS=$(dc config | awk '/^  propertyd:/ {s = 1} s && /replicas:/ {print $2; exit}')
if [ -z "$REPLICAS" ] || [ "$REPLICAS" -lt 2 ]; then
	fail "need at least 2 propertyd replicas in docker-compose.yml (found '${REPLICAS}')"
fi
t=$SECONDS
if ! timeout 900 docker-compose "${DC_ARGS[@]}" up -d --build >"$STATE/compose-up.log" 2>&1; then
	tail -n 30 "$STATE/compose-up.log" >&2
	fail "docker-compose up failed: see $STATE/compose-up.log"
fi
ok "up in $((SECONDS - t))s ($REPLICAS propertyd replicas)"

step "waiting until every container with a health check is healthy"
health() { podman inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || echo gone; }
name() { podman inspect --format '{{.Name}}' "$1" 2>/dev/null || echo "$1"; }
t=$SECONDS
while :; do
	mapfile -t ids < <(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT")
	pending=()
	for c in "${ids[@]}"; do
		h=$(health "$c")
		case $h in
		healthy | "") ;; # "": no health check (prometheus)
		*) pending+=("$(name "$c"):$h") ;;
		esac
	done
	n_rep=$(dc ps -q propertyd | wc -l)
	[ ${#pending[@]} -eq 0 ] && [ "$n_rep" -eq "$REPLICAS" ] && break
	[ $((SECONDS - t)) -lt "$SMOKE_TIMEOUT_S" ] ||
		fail "not healthy after ${SMOKE_TIMEOUT_S}s: ${pending[*]} (replicas running: $n_rep)"
	sleep 2
done
ok "healthy after $((SECONDS - t))s: $(for c in "${ids[@]}"; do printf '%s ' "$(name "$c")"; done)"

# ---- 6. calls from the host through the gateway --------------------------------------------
export PROPCTL_URL="tcp://127.0.0.1:$PROPGATE_PORT"
unset PROPCTL_TOKEN PROPCTL_EVENTS_URL
step "from the host through the gateway ($PROPCTL_URL): health, create, get, list"
"$PROPCTL" health >"$STATE/health.out" 2>&1 || fail "propctl health: $(cat "$STATE/health.out")"
ok "health: $(cat "$STATE/health.out")"
TOKEN=$("$PROPCTL" token --sub "$OWNER" --ttl 3600) || fail "propctl token failed"
call() { # call METHOD JSON: the reply on stdout (compact JSON); the error on stderr
	"$PROPCTL" call "$1" "$2" --token "$TOKEN" --compact --timeout 5000
}
create() { # create TITLE: prints the new id
	local out
	out=$(call CreateProperty "{\"owner_id\":\"$OWNER\",\"title\":\"$1\",\"location\":{\"city\":\"Lyon\",\"country_code\":\"FR\",\"latitude\":45.76,\"longitude\":4.84},\"price_cents\":32000000,\"currency\":\"EUR\",\"bedrooms\":3}") ||
		return 1
	jq -er '.id' <<<"$out"
}
t=$SECONDS
ID=$(create "smoke flat") || fail "CreateProperty through the gateway failed"
ok "created $ID ($((SECONDS - t))s)"
out=$(call GetProperty "{\"id\":\"$ID\"}") || fail "GetProperty $ID failed"
[ "$(jq -r '.title' <<<"$out")" = "smoke flat" ] || fail "GetProperty $ID returned $out"
ok "got $ID back: $(jq -c '{title, owner_id, version}' <<<"$out")"
out=$(call ListPropertiesByOwner "{\"owner_id\":\"$OWNER\",\"page_size\":10}") || fail "ListPropertiesByOwner failed"
jq -e --arg id "$ID" '[.properties[].id] | index($id) != null' <<<"$out" >/dev/null ||
	fail "ListPropertiesByOwner does not list $ID: $out"
ok "listed: $(jq '.properties | length' <<<"$out") propert(y/ies) of $OWNER"

step "propload through the gateway: 5 s, 8 callers, get/list/create"
"$PROPLOAD" -u "$PROPCTL_URL" -c 8 -d 5s --prepare 100 --owners 20 \
	--mix get=80,list=10,create=10 --json "$STATE/propload.json" >"$STATE/propload.log" 2>&1 ||
	fail "propload failed: $(tail -n 5 "$STATE/propload.log")"
read -r reqs errs rps < <(jq -r '.summary | "\(.requests) \(.errors) \(.throughput_rps | floor)"' "$STATE/propload.json")
[ "$errs" = 0 ] || fail "propload: $errs of $reqs calls failed (see $STATE/propload.log)"
ok "$reqs calls, no errors, $rps calls/s"

# ---- 7. events -----------------------------------------------------------------------------
step "an event: propctl watch inside a replica, dialing every replica's events port"
# The name `propertyd` resolves to every replica; only the relay leader publishes, so a
# subscriber dials each address. ReadEvents (gap filling) goes through the gateway.
# shellcheck disable=SC2016 # expanded inside the container
watch_sh='urls=""
for ip in $(getent ahostsv4 propertyd | awk "{print \$1}" | sort -u); do urls="$urls --url tcp://$ip:7701"; done
echo "dialing:$urls" >&2
exec timeout 120 propctl watch $urls --rpc-url tcp://propgate:7700 --type property.created --count 1'
# podman exec rather than docker-compose exec: an exec through the API leaves its conmon
# waiting 5 minutes for a client to collect the exit status.
sub_in=$(dc ps -q propertyd | tail -n 1)
[ -n "$sub_in" ] || fail "no propertyd container to run the subscriber in"
podman exec "$sub_in" sh -c "$watch_sh" >"$STATE/watch.out" 2>"$STATE/watch.err" &
WATCH_PID=$!
created=()
got=""
for ((i = 1; i <= 30; i++)); do
	sleep 1
	if [ -s "$STATE/watch.out" ]; then
		got=$(head -n 1 "$STATE/watch.out")
		break
	fi
	kill -0 "$WATCH_PID" 2>/dev/null || fail "the watch ended without an event: $(cat "$STATE/watch.err")"
	id=$(create "smoke event $i") || fail "CreateProperty (event $i) failed"
	created+=("$id")
done
[ -n "$got" ] || fail "no event reached the subscriber in 30 s: $(cat "$STATE/watch.err")"
wait "$WATCH_PID" || fail "the watch failed: $(cat "$STATE/watch.err")"
WATCH_PID=""
n_urls=$(head -n 1 "$STATE/watch.err" | grep -o 'tcp://' | wc -l)
[ "$n_urls" -eq "$REPLICAS" ] || fail "the subscriber dialed $n_urls events URLs, not $REPLICAS: $(head -n 1 "$STATE/watch.err")"
ev_id=$(jq -r '.aggregate_id' <<<"$got")
ev_seq=$(jq -r '.seq' <<<"$got")
[[ " ${created[*]} $ID " == *" $ev_id "* ]] || fail "the event is not about a property created here: $got"
ok "event seq $ev_seq $(jq -r .type <<<"$got") for $ev_id, after ${#created[@]} create(s); $(head -n 1 "$STATE/watch.err")"

# ---- 8. Prometheus -------------------------------------------------------------------------
PROM="http://127.0.0.1:$PROMETHEUS_PORT"
prom_query() { # prom_query PROMQL: the first sample's value, or nothing
	curl -fsS --max-time 5 --get --data-urlencode "query=$1" "$PROM/api/v1/query" |
		jq -r '.data.result[0].value[1] // empty'
}
step "Prometheus ($PROM): every replica and the gateway scraped, alert rules loaded"
t=$SECONDS
while :; do
	n_up=$(prom_query 'count(up{job="propertyd"} == 1)' 2>/dev/null || true)
	g_up=$(prom_query 'count(up{job="propgate"} == 1)' 2>/dev/null || true)
	# The gateway's own view, in the family PropgateNoHealthyBackend reads.
	b_up=$(prom_query 'count(propgate_backend_up == 1)' 2>/dev/null || true)
	[ "${n_up:-0}" = "$REPLICAS" ] && [ "${g_up:-0}" -ge 1 ] && [ "${b_up:-0}" = "$REPLICAS" ] && break
	[ $((SECONDS - t)) -lt 120 ] ||
		fail "after 120 s Prometheus has ${n_up:-0} of $REPLICAS replicas and ${g_up:-0} gateway(s) up, and the gateway ${b_up:-0} healthy backends (see $PROM/targets)"
	sleep 3
done
ok "up == 1: $n_up propertyd targets, $g_up propgate target(s); propgate_backend_up == 1 for $b_up backends (after $((SECONDS - t))s)"
curl -fsS --max-time 5 "$PROM/api/v1/rules" >"$STATE/rules.json" || fail "GET $PROM/api/v1/rules failed"
mapfile -t want_rules < <(sed -n 's/^[[:space:]]*- alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' deploy/alerts.yml)
[ ${#want_rules[@]} -gt 0 ] || fail "no alert rules found in deploy/alerts.yml"
mapfile -t have_rules < <(jq -r '.data.groups[].rules[] | select(.type == "alerting") | .name' "$STATE/rules.json")
for r in "${want_rules[@]}"; do
	printf '%s\n' "${have_rules[@]}" | grep -qx "$r" || fail "alert rule $r is not loaded (see $STATE/rules.json)"
done
bad=$(jq -r '.data.groups[].rules[] | select(.health == "err") | "\(.name): \(.lastError)"' "$STATE/rules.json")
[ -z "$bad" ] || fail "alert rules failing to evaluate: $bad"
ok "${#want_rules[@]} alert rules loaded: ${want_rules[*]}"

# ---- 9. a replica dies ---------------------------------------------------------------------
step "SIGKILL one replica; calls through the gateway go on"
# awk reads every line: `head -n 1` could close the pipe early and, under pipefail, fail
# this step with SIGPIPE (141) when ps prints more than one id.
victim=$(dc ps -q propertyd | awk 'NR == 1')
[ -n "$victim" ] || fail "no propertyd container to kill"
vname=$(name "$victim")
podman kill -s KILL "$victim" >/dev/null || fail "podman kill $vname failed"
t=$SECONDS
ok_run=0
failed=0
calls=0
while [ $ok_run -lt 20 ]; do
	[ $((SECONDS - t)) -lt 30 ] ||
		fail "30 s after killing $vname: $failed of $calls calls failed and never 20 in a row succeeded"
	calls=$((calls + 1))
	if call GetProperty "{\"id\":\"$ID\"}" >/dev/null 2>>"$STATE/after-kill.err"; then
		ok_run=$((ok_run + 1))
	else
		failed=$((failed + 1))
		ok_run=0
	fi
	sleep 0.1
done
id=$(create "after the kill") || fail "CreateProperty after killing $vname failed"
ok "killed $vname; $calls gets, $failed failed, then 20 in a row succeeded; a create succeeded ($id)"
# restart: unless-stopped brings it back (podman restarts it when it exits); not a check.
say "    $vname is now: $(podman inspect --format '{{.State.Status}}' "$victim" 2>/dev/null || echo gone)"

step "done: tearing down"
