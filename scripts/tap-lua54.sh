#!/bin/sh
# tap-lua54.sh -- the Lua specs (spec/*_spec.lua, busted) under Lua 5.4 with
# build/lua54/layerdb.so and build/layerdb-run, as TAP on stdout. Exits
# non-zero when a spec fails. Needs `make lua` first (scripts/check.sh and
# `make lua-check` do it).
set -u
cd "$(dirname "$0")/.."
for f in build/lua54/layerdb.so build/layerdb-run; do
    [ -f "$f" ] || { echo "1..1"; echo "not ok 1 - $f is built (run make lua)"; exit 1; }
done
export LAYERDB_EXPECT_LUA="Lua 5.4" LAYERDB_EXPECT_JIT=0 LAYERDB_RUN="$PWD/build/layerdb-run"
# Debian's /usr/bin/busted starts with "#!/usr/bin/env lua" (Lua 5.1): name 5.4.
exec lua5.4 /usr/bin/busted -o TAP --cpath="$PWD/build/lua54/?.so" spec
