#!/usr/bin/env bash
# scripts/dev-certs.sh DIR [CLIENT_NAME...]: development certificates for mutual TLS
# (docs/security.md), made with the openssl command.
#
# In DIR (created if missing; keys mode 0600, certificates 0644):
#   ca.crt, ca.key            a development CA (10 years); the file every side trusts
#                             (TLS_CA_FILE on servers, PROPCTL_TLS_CA on clients)
#   server.crt, server.key    the server certificate (CN propertyd; SANs localhost, 127.0.0.1,
#                             ::1, propertyd, propgate, and the names of DEV_CERTS_SERVER_NAMES)
#   client.crt, client.key    client certificates (CN = the name; SAN DNS = the name):
#   propgate.crt, ...key      `client`, `propgate` (the gateway dialing instances), and one per
#                             CLIENT_NAME argument
#
# DEV_CERTS_SERVER_NAMES: extra server names, separated by commas or spaces; IPv4/IPv6
# addresses become IP SANs, anything else DNS SANs (e.g. "db.internal,10.0.0.5").
#
# Idempotent: what exists and is still right is kept (the CA always, once made); a
# certificate that is missing, no longer verifies against the CA, or (the server's) lacks a
# wanted name is made again. Prints one line per certificate: made or kept.
# Development only: the CA key sits unencrypted next to the certificates.
set -euo pipefail

usage() {
	echo "usage: $0 DIR [CLIENT_NAME...]   (env DEV_CERTS_SERVER_NAMES: extra server SANs)" >&2
	exit 2
}
[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; esac
dir=$1
shift
command -v openssl >/dev/null || {
	echo "$0: the openssl command is needed" >&2
	exit 1
}

DAYS_CA=3650
DAYS_LEAF=825 # the longest validity clients such as macOS accept for a leaf
name_re='^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'

clients=(client propgate)
for n in "$@"; do
	[[ $n =~ $name_re ]] || {
		echo "$0: client name '$n': use letters, digits, '.', '_', '-' (at most 63)" >&2
		exit 2
	}
	[[ " ${clients[*]} " == *" $n "* ]] || clients+=("$n")
done
for n in "${clients[@]}"; do
	case $n in ca | server)
		echo "$0: '$n' is taken by the CA or server files" >&2
		exit 2
		;;
	esac
done

# The server's SANs: the fixed ones, then DEV_CERTS_SERVER_NAMES.
sans=(DNS:localhost IP:127.0.0.1 IP:::1 DNS:propertyd DNS:propgate)
extra=${DEV_CERTS_SERVER_NAMES:-}
for n in ${extra//,/ }; do
	if [[ $n =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $n == *:* ]]; then
		s="IP:$n"
	elif [[ $n =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
		s="DNS:$n"
	else
		echo "$0: DEV_CERTS_SERVER_NAMES: '$n' is neither a host name nor an address" >&2
		exit 2
	fi
	[[ " ${sans[*]} " == *" $s "* ]] || sans+=("$s")
done

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077 # keys stay 0600; certificates are made 0644 below

say() { printf '%-5s %s  (%s)\n' "$1" "$2" "$3"; }

# A new RSA key (2048 bits: what nng's mbedTLS, Python and Node all take).
newkey() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# ---- the CA ----------------------------------------------------------------------------------
if [ -s "$dir/ca.crt" ] && [ -s "$dir/ca.key" ]; then
	say kept "$dir/ca.crt" "development CA"
else
	newkey "$tmp/ca.key"
	openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$DAYS_CA" \
		-subj "/O=propertyd development/CN=propertyd development CA" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$tmp/ca.crt" 2>/dev/null
	chmod 644 "$tmp/ca.crt"
	mv "$tmp/ca.key" "$dir/ca.key"
	mv "$tmp/ca.crt" "$dir/ca.crt"
	rm -f "$dir/ca.srl"
	say made "$dir/ca.crt" "development CA; key $dir/ca.key"
fi

# Whether NAME.crt/.key exist and the certificate still verifies against the CA.
usable() {
	[ -s "$dir/$1.crt" ] && [ -s "$dir/$1.key" ] &&
		openssl verify -CAfile "$dir/ca.crt" "$dir/$1.crt" >/dev/null 2>&1
}

# issue NAME CN EXTFILE: a key and a certificate signed by the CA.
issue() {
	newkey "$tmp/$1.key"
	openssl req -new -key "$tmp/$1.key" -subj "/O=propertyd development/CN=$2" \
		-out "$tmp/$1.csr" 2>/dev/null
	openssl x509 -req -in "$tmp/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAserial "$dir/ca.srl" -CAcreateserial -sha256 -days "$DAYS_LEAF" \
		-extfile "$3" -out "$tmp/$1.crt" 2>/dev/null
	chmod 644 "$tmp/$1.crt"
	mv "$tmp/$1.key" "$dir/$1.key"
	mv "$tmp/$1.crt" "$dir/$1.crt"
}

# ---- the server certificate --------------------------------------------------------------
want_sans=$(
	IFS=,
	echo "${sans[*]}"
)
server_ok=false
if usable server; then
	server_ok=true
	for s in "${sans[@]}"; do
		case $s in
		IP:*) check=(-checkip "${s#IP:}") ;;
		*) check=(-checkhost "${s#DNS:}") ;;
		esac
		openssl x509 -in "$dir/server.crt" -noout "${check[@]}" 2>/dev/null |
			grep -q ' does match certificate' || server_ok=false
	done
fi
if $server_ok; then
	say kept "$dir/server.crt" "server; has $want_sans"
else
	cat >"$tmp/server.ext" <<-EOF
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectKeyIdentifier=hash
		authorityKeyIdentifier=keyid
		subjectAltName=$want_sans
	EOF
	issue server propertyd "$tmp/server.ext"
	say made "$dir/server.crt" "server: $want_sans; key $dir/server.key"
fi

# ---- client certificates -----------------------------------------------------------------
for n in "${clients[@]}"; do
	if usable "$n"; then
		say kept "$dir/$n.crt" "client identity $n"
		continue
	fi
	cat >"$tmp/$n.ext" <<-EOF
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=clientAuth
		subjectKeyIdentifier=hash
		authorityKeyIdentifier=keyid
		subjectAltName=DNS:$n
	EOF
	issue "$n" "$n" "$tmp/$n.ext"
	say made "$dir/$n.crt" "client identity $n; key $dir/$n.key"
done
