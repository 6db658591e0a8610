#!/usr/bin/env bash
# scripts/test.sh: everything CI checks, in one command.
#
#   1. installs missing Debian packages (scripts/lib/services.sh: ensure_packages);
#   2. starts a private PostgreSQL and Redis under .local/test-<pid> (unless DATABASE_URL /
#      REDIS_URL are set), stopped and removed at exit, also on failure or Ctrl-C;
#   3. builds `build` (RelWithDebInfo) and `build-asan` (Debug, ASan + UBSan) and runs CTest in
#      each, each suite on a fresh database and its own Redis db number;
#   4. static checks: clang-format, cppcheck, library symbol prefixes, docker-compose config,
#      promtool;
#   5. compose: the compose stack run for real under podman (scripts/compose-smoke.sh), or
#      recorded as skipped, with the reason, where podman cannot run.
# Prints one line per stage, then `N passed, N failed`; exits non-zero when a stage failed.
#
# Usage: scripts/test.sh [ctest args...]          e.g. scripts/test.sh -R store_
#   TEST_ONLY=normal|asan|fuzz|static|compose       run only those groups (comma-separated;
#                                                   default: all)
#   FUZZ_RUNS=n                                     executions per fuzz target (10000)
#   CTEST_TIMEOUT=seconds                           per-test limit for tests without their own
#   CTEST_PARALLEL_LEVEL=n                          run tests in parallel (CTest reads it)
#   DATABASE_URL, REDIS_URL                         use these servers instead of private ones
set -uo pipefail
# shellcheck disable=SC2317 # stage functions are called through `stage`

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

# A hung test must not hang CI: CTest kills a test after this long (it may set its own).
CTEST_TIMEOUT=${CTEST_TIMEOUT:-300}
JOBS=$(nproc 2>/dev/null || echo 2)

TEST_ONLY=${TEST_ONLY:-normal,asan,fuzz,static,compose}
for g in ${TEST_ONLY//,/ }; do
	case $g in
	normal | asan | fuzz | static | compose) ;;
	*)
		pd_err "TEST_ONLY: unknown group '$g' (expected normal, asan, fuzz, static, compose)"
		exit 2
		;;
	esac
done
want() { [[ ",$TEST_ONLY," == *",$1,"* ]]; }

# ---- stage bookkeeping -------------------------------------------------------------------
STAGE_LINES=()
PASSED=0
FAILED=0
record() { # record NAME pass|fail|skip [note]
	STAGE_LINES+=("$(printf '%-16s %-5s %s' "$1" "$2" "${3:-}")")
	case $2 in
	pass) PASSED=$((PASSED + 1)) ;;
	fail) FAILED=$((FAILED + 1)) ;;
	esac
}
stage() { # stage NAME command...: runs it, records the outcome, returns its status
	local name=$1 rc
	shift
	printf '\n==== %s\n' "$name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then record "$name" pass; else record "$name" fail "exit $rc"; fi
	return $rc
}
summary() {
	printf '\n==== summary\n'
	printf '%s\n' "${STAGE_LINES[@]}"
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
}
finish() {
	summary
	[ "$FAILED" -eq 0 ]
	exit $?
}

# ---- stages ------------------------------------------------------------------------------
build_tree() { # build_tree DIR cmake-args...
	local dir=$1
	shift
	# -UPD_SUBDIRS: a developer's subset build must not make CI test less than everything.
	cmake -S . -B "$dir" -UPD_SUBDIRS "$@" && cmake --build "$dir" -j"$JOBS"
}

# A fresh database per suite, so a suite never sees what the previous one left behind.
# Only for servers we started; with a user's DATABASE_URL the suites share it.
suite_env() { # suite_env SUITE REDIS_DB: sets SUITE_DATABASE_URL, SUITE_REDIS_URL
	SUITE_DATABASE_URL=$DATABASE_URL
	SUITE_REDIS_URL=$REDIS_URL
	if [ -n "$PD__STARTED_PG_CTL" ]; then
		local db="propertyd_$1" base=${DATABASE_URL%/*}
		PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$base/postgres" \
			-c "drop database if exists $db" -c "create database $db" || return 1
		SUITE_DATABASE_URL="$base/$db"
	fi
	if [ -n "$PD__STARTED_REDIS_CTL" ]; then
		SUITE_REDIS_URL="${REDIS_URL%/*}/$2"
	fi
}

CTEST_NOTE=""
run_ctest() { # run_ctest SUITE DIR REDIS_DB [ctest args]
	local suite=$1 dir=$2 rdb=$3 log rc
	shift 3
	suite_env "$suite" "$rdb" || return 1
	log="$dir/ctest-summary.log"
	# No stdin: a test that reads it must fail, not hang (CI has none either).
	env DATABASE_URL="$SUITE_DATABASE_URL" REDIS_URL="$SUITE_REDIS_URL" \
		PD_BIN_DIR="$ROOT/$dir/bin" \
		ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
		LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0" \
		UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
		ctest --test-dir "$dir" --output-on-failure --no-tests=error \
		--timeout "$CTEST_TIMEOUT" "$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	CTEST_NOTE=$(grep -E 'tests passed|No tests were found' "$log" | tail -n 1)
	return "$rc"
}

suite() { # suite NAME DIR REDIS_DB cmake-args... -- ctest-args...
	local name=$1 dir=$2 rdb=$3 cargs=() rc
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cargs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	if ! stage "build:$name" build_tree "$dir" "${cargs[@]}"; then
		record "test:$name" skip "(not run: build failed)"
		return
	fi
	printf '\n==== test:%s\n' "$name"
	run_ctest "$name" "$dir" "$rdb" "$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		record "test:$name" pass "$CTEST_NOTE"
	else
		record "test:$name" fail "${CTEST_NOTE:-exit $rc}"
	fi
}

c_files() { # tracked and new (not ignored) C sources; a plain find outside git
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard -- '*.c' '*.h' | while read -r f; do
			[ -f "$f" ] && echo "$f" # listed but deleted in the work tree
		done
	else
		find . \( -path ./.git -o -path ./.local -o -path './build*' \) -prune -o \
			-type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||'
	fi
}

check_format() {
	local files
	mapfile -t files < <(c_files)
	if [ ${#files[@]} -eq 0 ]; then
		echo "no C files"
		return 0
	fi
	echo "clang-format: ${#files[@]} files"
	clang-format --dry-run --Werror "${files[@]}"
}

check_cppcheck() {
	# jansson.h is included up front so cppcheck knows its foreach macros.
	local dirs=() d
	for d in src clients; do [ -d "$d" ] && dirs+=("$d"); done
	[ ${#dirs[@]} -eq 0 ] && return 0
	cppcheck --enable=warning,performance,portability --inline-suppr --error-exitcode=1 -q \
		--std=c11 -j"$JOBS" -I include -I src --suppress=missingIncludeSystem \
		--include=/usr/include/jansson.h \
		"${dirs[@]}"
}

# Every global symbol of a static library carries the library's prefix (scripts/check-
# symbols.sh, with scripts/symbol-allowlist.txt for what is not renamed yet). It needs the
# libraries: they are built in `build` (a no-op when the normal group built it already).
check_symbols() {
	local targets
	mapfile -t targets < <(scripts/check-symbols.sh --targets)
	cmake -S . -B build -UPD_SUBDIRS -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROPERTYD_SANITIZE=OFF \
		>/dev/null &&
		cmake --build build -j"$JOBS" --target "${targets[@]}" >/dev/null &&
		scripts/check-symbols.sh build
}

# The file is valid with AUTH_SECRET set, and refuses to run without it, naming it. An empty
# env file instead of .env: a developer's own settings must not change the outcome.
check_compose() {
	local envf out rc=0
	envf=$(mktemp) || return 1
	if ! AUTH_SECRET=compose-config-check docker-compose -f docker-compose.yml \
		--env-file "$envf" config -q; then
		rc=1
	elif out=$(env -u AUTH_SECRET docker-compose -f docker-compose.yml --env-file "$envf" \
		config -q 2>&1); then
		pd_err "docker-compose config accepts a missing AUTH_SECRET"
		rc=1
	elif ! grep -q 'AUTH_SECRET is not set' <<<"$out"; then
		pd_err "docker-compose config without AUTH_SECRET fails for another reason: $out"
		rc=1
	else
		echo "docker-compose.yml is valid and refuses to start without AUTH_SECRET"
	fi
	rm -f "$envf"
	return "$rc"
}

# The compose stack for real (scripts/compose-smoke.sh, with the host's clients from
# `build`), where podman can run; otherwise the stage is recorded as skipped with the reason.
# Host ports: the compose file's 7700 and 9090 unless something else holds them.
compose_port() { # compose_port DEFAULT: DEFAULT when free, else a free loopback port
	if pd__port_busy "$1"; then pd__free_port; else echo "$1"; fi
}
run_compose_smoke() {
	local reason
	if ! reason=$(scripts/compose-smoke.sh --check 2>&1); then
		printf '\n==== compose\nskipped: podman cannot run here: %s\n' "$reason"
		record compose skip "(podman: $reason)"
		return 0
	fi
	PROPGATE_PORT=${PROPGATE_PORT:-$(compose_port 7700)} \
		PROMETHEUS_PORT=${PROMETHEUS_PORT:-$(compose_port 9090)} \
		stage compose scripts/compose-smoke.sh build
}

check_prom_rules() {
	promtool check rules deploy/alerts.yml || return 1
	if [ -f deploy/alerts_test.yml ]; then
		(cd deploy && promtool test rules alerts_test.yml)
	fi
}

# ---- main --------------------------------------------------------------------------------
if ! stage packages ensure_packages; then
	finish
fi

if want normal || want asan; then
	WORK=".local/test-$$"
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd -P)
	# Stopped and removed on every way out, Ctrl-C included.
	install_service_traps 'rm -rf "$WORK" ${PD_PG_DIR:+"$PD_PG_DIR"}'
	if ! PD_PG_FAST=1 stage services start_services "$WORK"; then
		finish
	fi
	if want normal; then
		suite normal build 0 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROPERTYD_SANITIZE=OFF -- "$@"
	fi
	if want asan; then
		suite asan build-asan 1 -DCMAKE_BUILD_TYPE=Debug -DPROPERTYD_SANITIZE=ON -- "$@"
	fi
fi

# Every libFuzzer target of fuzz/ runs FUZZ_RUNS executions from its seed corpus (a crash,
# leak or sanitizer report fails the stage; docs/fuzzing.md). Long runs: scripts/fuzz.sh.
if want fuzz; then
	stage fuzz scripts/fuzz.sh --runs "${FUZZ_RUNS:-10000}" 300
fi

if want static; then
	stage clang-format check_format
	stage cppcheck check_cppcheck
	stage symbols check_symbols
	stage compose:config check_compose
	stage promtool:config promtool check config deploy/prometheus.yml
	stage promtool:rules check_prom_rules
fi

if want compose; then
	run_compose_smoke
fi

finish
