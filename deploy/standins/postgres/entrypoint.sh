#!/bin/bash
# Entrypoint of the postgres:15 stand-in (see Dockerfile): initialises PGDATA on first start
# from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, then runs the server in the
# foreground as the `postgres` user, passing on the arguments after `postgres`.
# Any other command (e.g. `bash`) runs as given.
set -euo pipefail

if [ "${1:-postgres}" != postgres ] && [ "${1:0:1}" != - ]; then
	exec "$@"
fi
[ "${1:-}" = postgres ] && shift

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
	echo "postgres stand-in: POSTGRES_PASSWORD is not set (password logins need one)" >&2
	exit 1
fi

as_pg() { runuser -u postgres -- "$@"; }

# The socket directory lives on the container's /run, which starts empty.
mkdir -p /run/postgresql "$PGDATA"
chown postgres:postgres /run/postgresql "$PGDATA"
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	echo "postgres stand-in: initialising $PGDATA for user $POSTGRES_USER" >&2
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	as_pg initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 \
		--locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		# A private server on the socket only, for the one statement.
		as_pg pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
		# From stdin: psql interpolates :"db" (quoted as an identifier) only there, not in -c.
		echo 'create database :"db"' | as_pg psql -X -q -v ON_ERROR_STOP=1 \
			-U "$POSTGRES_USER" -d postgres -v db="$POSTGRES_DB"
		as_pg pg_ctl -D "$PGDATA" -m fast -w -s stop
	fi
fi

# setpriv execs (runuser would stay as PID 1 and not pass SIGINT on): postgres gets the signals.
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
