#!/bin/bash
# Entrypoint of the redis:7 stand-in (see Dockerfile): `redis-server ARGS...` (or just ARGS
# starting with `-`) runs Redis as the `redis` user on every interface, without protected
# mode, with ARGS after those defaults so they can override them. Any other command runs as given.
set -euo pipefail

if [ "${1:-redis-server}" != redis-server ] && [ "${1:0:1}" != - ]; then
	exec "$@"
fi
[ "${1:-}" = redis-server ] && shift

# setpriv execs, so redis-server itself is PID 1 and gets SIGTERM.
exec setpriv --reuid=redis --regid=redis --init-groups redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
