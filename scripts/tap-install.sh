#!/bin/sh
# tap-install.sh -- prove `make install` gives what C and Lua users expect:
# install into a temporary PREFIX, build the quickstart example with
# `cc app.c $(pkg-config --cflags --libs layerdb)` against the shared and the
# static library, run both, check that only layerdb_ symbols are exported,
# require the module from plain lua5.4 and LuaJIT, run a script with the
# installed layerdb-run, check a file with the installed layerdb tool,
# stage an install with DESTDIR and a directory variable, and check that
# `make uninstall` leaves no file behind.
# Prints TAP.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; failed=0
step() { # step NAME COMMAND...: one TAP line per step
    name=$1; shift; n=$((n + 1))
    if out=$("$@" 2>&1); then echo "ok $n - $name"
    else echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; failed=$((failed + 1)); fi
}
p="$tmp/usr"
version=$(sed -n 's/^#define LAYERDB_VERSION "\(.*\)"/\1/p' src/layerdb.h)
have_luajit=$(pkg-config --exists luajit && echo yes)
echo "1..14"
step "make install puts every program, library and module under PREFIX" \
    sh -c "make -s install PREFIX='$p' B=build && for f in include/layerdb.h lib/liblayerdb.a lib/liblayerdb.so.0 \
        lib/liblayerdb.so lib/pkgconfig/layerdb.pc bin/layerdb-run bin/layerdb lib/lua/5.4/layerdb.so \
        ${have_luajit:+lib/lua/5.1/layerdb.so}; do test -e '$p'/\$f || { echo missing \$f; exit 1; }; done"
export PKG_CONFIG_PATH="$p/lib/pkgconfig"
step "pkg-config finds layerdb" pkg-config --exists layerdb
step "an app builds against the shared library with pkg-config flags" \
    sh -c "cc -std=c11 examples/quickstart.c \$(pkg-config --cflags --libs layerdb) -o '$tmp/app'"
step "the app runs and its data survives a reopen" \
    sh -c "LD_LIBRARY_PATH='$p/lib' '$tmp/app' '$tmp/q.db' | grep -q 'score:1 = 4200, temp gone'"
step "an app links the static library with pkg-config --static" \
    sh -c "cc -std=c11 -static-libgcc examples/quickstart.c \$(pkg-config --cflags layerdb) '$p/lib/liblayerdb.a' \$(pkg-config --libs-only-l --static layerdb | sed 's/-llayerdb//') -o '$tmp/app-static' && '$tmp/app-static' '$tmp/s.db' >/dev/null"
step "the shared library exports the layerdb_ API and nothing else" \
    sh -c "syms=\$(nm -D --defined-only '$p/lib/liblayerdb.so.0' | awk '{print \$3}' | grep -v '^_'); echo \"\$syms\" | grep -qx layerdb_open && echo \"\$syms\" | grep -qx layerdb_scan && ! echo \"\$syms\" | grep -v '^layerdb_'"
# Only the installed module on the path: nothing from build/.
check_lua='local l = require("layerdb")
assert(package.searchpath("layerdb", package.cpath):find(os.getenv("P"), 1, true), "not the installed module")
local db = l.load(os.getenv("DB")) db:set("k", "v") db:close()
assert(l.load(os.getenv("DB")):get("k") == "v")
print(l.version)'
step "plain lua5.4 requires the installed module and stores data" \
    sh -c "env LUA_CPATH='$p/lib/lua/5.4/?.so' P='$p' DB='$tmp/l54.db' lua5.4 -e '$check_lua' | grep -qx '$version'"
if [ -n "$have_luajit" ]; then
    step "luajit requires the installed LuaJIT module and stores data" \
        sh -c "env LUA_CPATH='$p/lib/lua/5.1/?.so' P='$p' DB='$tmp/jit.db' luajit -e '$check_lua' | grep -qx '$version'"
else
    n=$((n + 1)); echo "ok $n - luajit requires the installed LuaJIT module # SKIP no LuaJIT headers"
fi
printf 'local db = require("layerdb").load(arg[1])\ndb:set("run", "yes")\ndb:close()\nprint(require("layerdb").load(arg[1]):get("run"))\n' > "$tmp/script.lua"
step "the installed layerdb-run runs a script with layerdb built in" \
    sh -c "cd '$tmp' && env -u LUA_CPATH '$p/bin/layerdb-run' script.lua '$tmp/run.db' | grep -qx yes"
step "the installed layerdb tool checks and exports the file the script wrote" \
    sh -c "'$p/bin/layerdb' check '$tmp/run.db' | grep -q 'Status: clean' && '$p/bin/layerdb' export --format jsonl '$tmp/run.db' | grep -qx '{\"db\":0,\"key\":\"run\",\"type\":\"string\",\"value\":\"yes\"}'"
step "make uninstall removes every file make install put there" \
    sh -c "make -s uninstall PREFIX='$p' B=build && left=\$(find '$p' ! -type d) && test -z \"\$left\" || { echo left: \$left; exit 1; }"
stage="$tmp/stage"
step "DESTDIR stages the install, and LUA_CMODDIR moves the Lua 5.4 module" \
    sh -c "make -s install PREFIX=/opt/ldb LUA_CMODDIR=/opt/mods DESTDIR='$stage' B=build && test -x '$stage/opt/ldb/bin/layerdb-run' && test -x '$stage/opt/ldb/bin/layerdb' && test -f '$stage/opt/mods/layerdb.so' && test ! -e '$stage/opt/ldb/lib/lua/5.4/layerdb.so'"
step "the staged layerdb.pc names the final PREFIX, not DESTDIR" \
    sh -c "grep -qx 'libdir=/opt/ldb/lib' '$stage/opt/ldb/lib/pkgconfig/layerdb.pc'"
step "make uninstall with the same variables empties the stage" \
    sh -c "make -s uninstall PREFIX=/opt/ldb LUA_CMODDIR=/opt/mods DESTDIR='$stage' B=build && left=\$(find '$stage' ! -type d) && test -z \"\$left\" || { echo left: \$left; exit 1; }"
[ "$failed" -eq 0 ]
