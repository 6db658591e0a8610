#!/usr/bin/env bash
# The CTest test ts_client: installs the TypeScript client's dependencies (npm ci, when
# node_modules is missing or was installed from another package-lock.json), builds it
# (npm run build) and runs its tests (npm test) in place. node_modules/, dist/ and
# src/gen/ are git-ignored.
#
# The live tests start $PD_BIN_DIR/propertyd against DATABASE_URL and REDIS_URL; here they
# are required (PD_REQUIRE_LIVE=1): missing settings fail the test instead of skipping.
# Missing node, npm or protoc fail it too, with a message saying what to install.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cd "$here"

fail() {
	echo "ts_client: FAIL: $*" >&2
	exit 1
}

command -v node >/dev/null 2>&1 || fail "node not found on PATH: install Node.js 18 or later (Debian: nodejs and npm)"
command -v npm >/dev/null 2>&1 || fail "npm not found on PATH: install npm (Debian: npm; NodeSource's nodejs includes it)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || fail "node $(node --version) is too old: Node.js 18 or later is needed"
if [ -z "${PROTOC:-}" ]; then
	command -v protoc >/dev/null 2>&1 || fail "protoc not found on PATH: install protoc (Debian: protobuf-compiler) or set PROTOC"
fi
echo "ts_client: node $(node --version), npm $(npm --version), $(${PROTOC:-protoc} --version)"

# One build at a time in this folder (two build trees may run their CTest at once).
exec 9>"$here/.run-tests.lock"
flock 9

want=$(sha256sum package-lock.json | cut -d' ' -f1)
have=$(cat node_modules/.pd-lock-sha256 2>/dev/null || true)
if [ ! -d node_modules ] || [ "$want" != "$have" ]; then
	echo "ts_client: npm ci"
	npm ci --no-audit --no-fund
	echo "$want" >node_modules/.pd-lock-sha256
fi

npm run build
PD_REQUIRE_LIVE=${PD_REQUIRE_LIVE:-1} npm test
