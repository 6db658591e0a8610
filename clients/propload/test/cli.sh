#!/bin/sh
# propload's command line without a server: no arguments print the usage on
# stderr and exit 2 (nothing is started); --help prints it on stdout and exits
# 0; --version prints the version. Usage: cli.sh PATH/TO/propload
p=$1
fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$p" >"$out" 2>"$err"; rc=$?
[ $rc -eq 2 ] || { echo "no arguments: status $rc, want 2"; fail=1; }
grep -q '^usage:' "$err" || { echo "no arguments: no usage on stderr"; fail=1; }
[ -s "$out" ] && { echo "no arguments: something on stdout"; fail=1; }
"$p" --help >"$out" 2>"$err"; rc=$?
[ $rc -eq 0 ] || { echo "--help: status $rc"; fail=1; }
grep -q '^usage:' "$out" || { echo "--help: no usage on stdout"; fail=1; }
"$p" --version >"$out" 2>"$err"; rc=$?
[ $rc -eq 0 ] && grep -q '^propload [0-9]' "$out" || { echo "--version: status $rc, '$(cat "$out")'"; fail=1; }
"$p" --no-such-flag >"$out" 2>"$err"; rc=$?
[ $rc -eq 2 ] || { echo "unknown flag: status $rc, want 2"; fail=1; }
# A method not compiled in is looked up through the server's reflection service;
# with no server there, the reason says so (and nothing hangs past --timeout).
"$p" -u tcp://127.0.0.1:1 --call /nope.Svc/X -n 1 --timeout 200ms >"$out" 2>"$err"; rc=$?
[ $rc -ne 0 ] && grep -q 'not compiled in, and reflection failed' "$err" ||
	{ echo "--call of an unknown method without a server: status $rc, '$(cat "$err")'"; fail=1; }
# Durations (base/duration.h): junk, overflow and out-of-range values are
# refused with the flag and the reason, before anything is dialed.
refuse() { # refuse WANT_IN_STDERR ARGS...
	want=$1; shift
	"$p" -u tcp://127.0.0.1:1 "$@" >"$out" 2>"$err"; rc=$?
	[ $rc -eq 2 ] && grep -qF -- "$want" "$err" ||
		{ echo "$*: status $rc, '$(cat "$err")', want '$want'"; fail=1; }
}
refuse '-d: bad duration "10x": unknown unit' -d 10x
refuse '--warmup: bad duration "-1s"' --warmup -1s
refuse '--timeout 0: wants 1ms..10m' --timeout 0
refuse '--timeout 11m: wants 1ms..10m' --timeout 11m
refuse 'too large' -d 99999999999999999999999h
refuse '-d 2h: wants 1ms..1h' -d 2h
"$p" --help | grep -q 'number is in seconds' || { echo "--help does not state the bare-number unit"; fail=1; }
[ $fail -eq 0 ] && echo "propload_cli: ok"
exit $fail
