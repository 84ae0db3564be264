#!/bin/sh
# deps.sh -- install the Debian packages layerdb needs that are missing.
#
# Build: a C compiler, make, pkg-config, libxxhash-dev; Lua 5.4 and LuaJIT
# with their headers, busted and LuaRocks for the Lua module. Tests and
# benchmarks only: Redis (the reference for differential tests), clang with
# its sanitizer and libFuzzer runtimes, valgrind, LMDB and SQLite (peers in
# the benchmark tables). Runs apt-get only when something is missing, through
# sudo when not root.
set -eu

PACKAGES="build-essential pkg-config libxxhash-dev
lua5.4 liblua5.4-dev lua-busted luarocks luajit libluajit-5.1-dev
redis-server redis-tools clang libclang-rt-14-dev valgrind
liblmdb-dev libsqlite3-dev"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi

echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
