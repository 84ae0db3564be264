#!/bin/sh
# tap-rockspec.sh -- prove the rockspec works offline: install the rock with
# `luarocks --lua-version 5.4 --tree TMP make rockspec/layerdb-scm-1.rockspec`
# (the build runs lua.mk's rock targets into build/rock), then load the
# module with lua5.4 from that tree alone, run the installed layerdb-run,
# and remove the rock again. Prints TAP; exits non-zero on a failed step.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; failed=0
step() { # step NAME COMMAND...: one TAP line per step, output as comments
    name=$1; shift; n=$((n + 1))
    if out=$("$@" 2>&1); then echo "ok $n - $name"
    else echo "not ok $n - $name"; echo "$out" | sed 's/^/# /'; failed=$((failed + 1)); fi
}
rocks="luarocks --lua-version 5.4 --tree $tmp/tree"
# Only the tree's own paths: nothing from the build directory or the system.
tree_env="env LUA_PATH=$tmp/tree/share/lua/5.4/?.lua LUA_CPATH=$tmp/tree/lib/lua/5.4/?.so"
check_lua='local l = require("layerdb")
assert(package.searchpath("layerdb", package.cpath):find(os.getenv("TREE"), 1, true), "not the tree'"'"'s module")
local db = l.load(os.getenv("TREE") .. "/r.db")
db:set("rock", "ok") db:close()
assert(l.load(os.getenv("TREE") .. "/r.db"):get("rock") == "ok")
print(l._VERSION)'

echo "1..7"
step "luarocks lint accepts the rockspec" luarocks lint rockspec/layerdb-scm-1.rockspec
step "luarocks make builds and installs the rock offline into a temporary tree" \
    $rocks make rockspec/layerdb-scm-1.rockspec
step "the tree holds the module and the layerdb-run binary" \
    test -f "$tmp/tree/lib/lua/5.4/layerdb.so" -a -x "$tmp/tree/bin/layerdb-run"
step "lua5.4 -e 'require(\"layerdb\")' loads the module from the tree and stores data" \
    $tree_env TREE="$tmp/tree" lua5.4 -e "$check_lua"
step "the installed layerdb-run runs a script with layerdb built in" \
    sh -c "cd '$tmp' && env -u LUA_CPATH '$tmp/tree/bin/layerdb-run' -e 'print(require(\"layerdb\").version)' | grep -qx '$(sed -n 's/^#define LAYERDB_VERSION "\(.*\)"/\1/p' src/layerdb.h)'"
step "luarocks list shows layerdb scm-1" sh -c "$rocks list --porcelain | grep -q '^layerdb	scm-1'"
step "luarocks remove takes the module and layerdb-run away" \
    sh -c "$rocks remove layerdb && test ! -e '$tmp/tree/lib/lua/5.4/layerdb.so' -a ! -e '$tmp/tree/bin/layerdb-run'"
[ "$failed" -eq 0 ]
