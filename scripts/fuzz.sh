#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of fuzz/ and runs each of them in turn.
#
# Usage: scripts/fuzz.sh [--runs N] [--jobs N] [SECONDS] [TARGET...]
#   SECONDS     time per target (-max_total_time); default 60
#   --runs N    also stop each target after N executions (-runs=N): with a large SECONDS it
#               demands at least N executions, e.g. `scripts/fuzz.sh --runs 10000 600`
#   --jobs N    build parallelism (default: nproc)
#   TARGET...   only these targets (envelope envscan pbscan pagetoken jwt pbjson propsub
#               promtext config urls; default: all)
#
# Builds into build-fuzz/ (clang, -fsanitize=fuzzer-no-link,address,undefined on every
# library), copies each target's seed corpus (fuzz/corpus/<target>) to a scratch folder
# under build-fuzz/fuzz-work/ (the repository's corpus is never written), runs the target
# with leak detection on, and prints one line per target with its execution count.
# Exits non-zero when a target crashed, leaked, timed out, hit a sanitizer report, or ran
# fewer than --runs executions; the crash input is kept under build-fuzz/fuzz-crashes/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD="$ROOT/build-fuzz"
ALL_TARGETS=(envelope envscan pbscan pagetoken jwt pbjson propsub promtext config urls)

SECONDS_PER=60
RUNS=""
JOBS=$(nproc 2>/dev/null || echo 2)
TARGETS=()
while [ $# -gt 0 ]; do
	case $1 in
	--runs)
		RUNS=${2:?--runs needs a number}
		shift 2
		;;
	--jobs)
		JOBS=${2:?--jobs needs a number}
		shift 2
		;;
	-h | --help)
		sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	[0-9]*)
		SECONDS_PER=$1
		shift
		;;
	*)
		TARGETS+=("$1")
		shift
		;;
	esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
	case " ${ALL_TARGETS[*]} " in
	*" $t "*) ;;
	*)
		echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2
		exit 2
		;;
	esac
done
if [[ ! $SECONDS_PER =~ ^[0-9]+$ ]] || [[ -n $RUNS && ! $RUNS =~ ^[0-9]+$ ]]; then
	echo "fuzz.sh: SECONDS and --runs take whole numbers" >&2
	exit 2
fi

# ---- build -----------------------------------------------------------------------------
# Only the folders the targets need (and the fuzz folder), so that the build is short.
SUBDIRS="src/base;src/obs;src/rpc;src/property;src/cache;src/app;clients/common;clients/sub;fuzz"
echo "fuzz.sh: building into $BUILD"
mkdir -p "$BUILD"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	-DPROPERTYD_FUZZ=ON "-DPD_SUBDIRS=$SUBDIRS" >"$BUILD/configure.log" 2>&1 || {
	cat "$BUILD/configure.log" >&2
	exit 1
}
build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=("fuzz_$t"); done
if ! cmake --build "$BUILD" -j"$JOBS" --target "${build_targets[@]}" >"$BUILD/build.log" 2>&1; then
	tail -n 40 "$BUILD/build.log" >&2
	echo "fuzz.sh: build failed (full log: $BUILD/build.log)" >&2
	exit 1
fi

# ---- run -------------------------------------------------------------------------------
WORK="$BUILD/fuzz-work"
CRASHES="$BUILD/fuzz-crashes"
mkdir -p "$WORK" "$CRASHES"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"

failed=()
for t in "${TARGETS[@]}"; do
	corpus="$WORK/$t/corpus"
	log="$WORK/$t/fuzz.log"
	rm -rf "${WORK:?}/$t"
	mkdir -p "$corpus" "$CRASHES/$t"
	if [ -d "$ROOT/fuzz/corpus/$t" ]; then
		cp -R "$ROOT/fuzz/corpus/$t/." "$corpus/"
	fi
	args=(-max_total_time="$SECONDS_PER" -timeout=30 -rss_limit_mb=2048 -detect_leaks=1
		-print_final_stats=1 -artifact_prefix="$CRASHES/$t/")
	[ -n "$RUNS" ] && args+=(-runs="$RUNS")
	[ -f "$ROOT/fuzz/dict/$t.dict" ] && args+=(-dict="$ROOT/fuzz/dict/$t.dict")
	start=$(date +%s)
	rc=0
	(cd "$WORK/$t" && "$BUILD/bin/fuzz_$t" "${args[@]}" "$corpus") </dev/null >"$log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	[ -z "$runs" ] && runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	[ -z "$runs" ] && runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	runs=${runs:-0}
	problem=""
	if [ $rc -ne 0 ]; then
		problem="exit $rc"
	elif grep -qE '^==[0-9]+==ERROR|runtime error:|FUZZ_ASSERT|LeakSanitizer|ERROR: libFuzzer' "$log"; then
		problem="sanitizer report"
	elif [ -n "$RUNS" ] && [ "$runs" -lt "$RUNS" ]; then
		problem="only $runs of $RUNS runs in ${SECONDS_PER}s"
	fi
	if [ -z "$problem" ]; then
		printf 'fuzz %-10s ok    %10s runs %5ss\n' "$t" "$runs" "$took"
	else
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		cp "$log" "$CRASHES/$t/fuzz.log"
		printf 'fuzz %-10s FAIL  %10s runs %5ss  %s; log %s%s\n' "$t" "$runs" "$took" \
			"$problem" "$CRASHES/$t/fuzz.log" "${artifact:+; input $artifact}"
		grep -m 3 -E 'FUZZ_ASSERT|runtime error:|^==[0-9]+==ERROR|^SUMMARY' "$log" | sed 's/^/    /' || true
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz.sh: ${#TARGETS[@]} target(s) ok"
