#!/bin/sh
# Makes throwaway self-signed certificates, then runs rpc_tls_test with them,
# and with propctl and propload when they were built next to it (build/bin).
# A second argument "loops" runs the servers on the own transport (OpenSSL).
set -eu
bin=$1
mode=${2:-nng}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for name in server client other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
done
bindir=$(dirname "$bin")
propctl=
propload=
[ -x "$bindir/propctl" ] && propctl="$bindir/propctl"
[ -x "$bindir/propload" ] && propload="$bindir/propload"
[ -n "$propctl" ] || echo "note: no propctl in $bindir: its TLS cases are skipped"
[ -n "$propload" ] || echo "note: no propload in $bindir: its TLS cases are skipped"
# The opt-out must say so on stderr; keep a copy of it to check.
"$bin" "$dir" "$propctl" "$propload" "$mode" 2>"$dir/test-stderr.txt" || {
	cat "$dir/test-stderr.txt" >&2
	exit 1
}
cat "$dir/test-stderr.txt" >&2
if grep -q "the TLS server is NOT verified (insecure_skip_verify)" "$dir/test-stderr.txt"; then
	echo "ok   insecure_skip_verify_warned"
else
	echo "FAIL insecure_skip_verify_warned"
	exit 1
fi
