#!/usr/bin/env bash
# scripts/run.sh: build propertyd and run it in the foreground, with everything it needs.
#
#   1. installs missing Debian packages;
#   2. builds `build` (RelWithDebInfo);
#   3. starts a private PostgreSQL (data kept in .local/pg) and Redis (.local/redis), unless
#      DATABASE_URL / REDIS_URL are set; both stop when propertyd exits or on Ctrl-C;
#   4. uses the token secret in .local/auth_secret (created on first run), unless AUTH_SECRET
#      is set or --auth-secret-file is given;
#   5. prints ready-to-paste propctl commands and runs build/bin/propertyd "$@".
#
# Usage: scripts/run.sh [propertyd flags...]      e.g. scripts/run.sh --workers 4
set -euo pipefail

CALLER_PWD=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

ensure_packages
pd_log "building build/"
cmake -S . -B build -UPD_SUBDIRS -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
if [ ! -x build/bin/propertyd ]; then
	pd_err "build/bin/propertyd was not built (is src/app in the tree?)"
	exit 1
fi

mkdir -p .local
install_service_traps ""
start_services "$ROOT/.local"

# The secret: the user's --auth-secret-file or AUTH_SECRET wins; else one kept in .local.
secret_args=()
secret_file=""
prev=""
for a in "$@"; do
	case $a in --auth-secret-file=*) secret_file=${a#--auth-secret-file=} ;; esac
	[ "$prev" = --auth-secret-file ] && secret_file=$a
	prev=$a
done
# propertyd runs from the caller's directory, so a relative path means what the caller meant.
[ -z "$secret_file" ] || secret_file=$(cd "$CALLER_PWD" && realpath -m -- "$secret_file")
if [ -z "$secret_file" ] && [ -z "${AUTH_SECRET:-}" ]; then
	secret_file="$ROOT/.local/auth_secret"
	if [ ! -s "$secret_file" ]; then
		(
			umask 077
			openssl rand -hex 32 >"$secret_file"
		)
		pd_log "created a token secret in .local/auth_secret"
	fi
	secret_args=(--auth-secret-file "$secret_file")
fi

# Where clients find it: the --rpc-url flag, else RPC_URL, else the contract's default.
rpc_url=${RPC_URL:-tcp://127.0.0.1:7700}
prev=""
for a in "$@"; do
	case $a in --rpc-url=*) rpc_url=${a#--rpc-url=} ;; esac
	[ "$prev" = --rpc-url ] && rpc_url=$a
	prev=$a
done
url_arg=""
[ "$rpc_url" = tcp://127.0.0.1:7700 ] || url_arg=" --url $rpc_url"

# propctl signs tokens with the secret in AUTH_SECRET, like propertyd reads it.
if [ -n "$secret_file" ]; then
	token_cmd="AUTH_SECRET=\$(cat $(printf '%q' "$secret_file")) build/bin/propctl token --sub alice"
else
	token_cmd="build/bin/propctl token --sub alice"
fi
# Never print a password that is part of a URL.
mask() { sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#' <<<"$1"; }
cat <<EOF

propertyd is starting. In another terminal, from $ROOT$([ -n "$secret_file" ] || printf '\n(with the same AUTH_SECRET exported there)'):

  T=\$($token_cmd)
  build/bin/propctl health$url_arg
  build/bin/propctl call$url_arg /property.v1.PropertyService/CreateProperty '{"title":"Sunny flat","location":{"address":"1 Rue de Rivoli","city":"Paris","country_code":"FR","latitude":48.8606,"longitude":2.3376},"price_cents":45000000,"currency":"EUR","bedrooms":2,"status":"PROPERTY_STATUS_LISTED"}' --token "\$T"

  DATABASE_URL=$(mask "$DATABASE_URL")
  REDIS_URL=$(mask "${REDIS_URL:-redis://127.0.0.1:6379/0}")
  metrics: http://${HTTP_ADDR:-127.0.0.1:7702}/metrics  (Ctrl-C stops propertyd, PostgreSQL and Redis)

EOF

# Not exec: the EXIT trap must stop PostgreSQL and Redis once propertyd is gone. From the
# caller's directory, so that relative paths in "$@" (ipc:// URLs, files) mean what they said.
status=0
cd "$CALLER_PWD"
DATABASE_URL=$DATABASE_URL REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0} \
	"$ROOT/build/bin/propertyd" "${secret_args[@]}" "$@" || status=$?
exit "$status"
