#!/bin/sh
# Makes throwaway self-signed certificates, then runs rpc_tls_test with them.
set -eu
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for name in server client other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
done
"$bin" "$dir"
