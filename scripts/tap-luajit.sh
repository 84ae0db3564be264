#!/bin/sh
# tap-luajit.sh -- the same Lua specs under LuaJIT 2.1 (the Lua of LÖVE and
# Defold) with build/luajit/layerdb.so, as TAP on stdout. spec/lua54_spec.lua
# holds what only Lua 5.4 has (<close>, __pairs) in 5.4 syntax and is left
# out. Exits non-zero when a spec fails.
set -u
cd "$(dirname "$0")/.."
for f in build/luajit/layerdb.so build/layerdb-run; do
    [ -f "$f" ] || { echo "1..1"; echo "not ok 1 - $f is built (run make lua)"; exit 1; }
done
export LAYERDB_EXPECT_LUA="Lua 5.1" LAYERDB_EXPECT_JIT=1 LAYERDB_RUN="$PWD/build/layerdb-run"
exec luajit /usr/bin/busted -o TAP --cpath="$PWD/build/luajit/?.so" \
    --exclude-pattern=lua54_spec spec
