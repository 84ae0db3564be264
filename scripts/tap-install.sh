#!/bin/sh
# tap-install.sh -- prove `make install` gives a usable library: install into
# a temporary prefix, build the quickstart example with
# `cc app.c $(pkg-config --cflags --libs layerdb)` against the shared and the
# static library, run both, and check that only layerdb_ symbols are
# exported. Prints TAP.
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
echo "1..6"
step "make install puts the header, libraries and layerdb.pc under PREFIX" \
    make -s install PREFIX="$tmp/usr" B=build
export PKG_CONFIG_PATH="$tmp/usr/lib/pkgconfig"
step "pkg-config finds layerdb" pkg-config --exists layerdb
step "an app builds against the shared library with pkg-config flags" \
    sh -c "cc -std=c11 examples/quickstart.c \$(pkg-config --cflags --libs layerdb) -o '$tmp/app'"
step "the app runs and its data survives a reopen" \
    sh -c "LD_LIBRARY_PATH='$tmp/usr/lib' '$tmp/app' '$tmp/q.db' | grep -q 'score:1 = 4200, temp gone'"
step "an app links the static library with pkg-config --static" \
    sh -c "cc -std=c11 -static-libgcc examples/quickstart.c \$(pkg-config --cflags layerdb) '$tmp/usr/lib/liblayerdb.a' \$(pkg-config --libs-only-l --static layerdb | sed 's/-llayerdb//') -o '$tmp/app-static' && '$tmp/app-static' '$tmp/s.db' >/dev/null"
step "the shared library exports the layerdb_ API and nothing else" \
    sh -c "syms=\$(nm -D --defined-only '$tmp/usr/lib/liblayerdb.so.0' | awk '{print \$3}' | grep -v '^_'); echo \"\$syms\" | grep -qx layerdb_open && echo \"\$syms\" | grep -qx layerdb_scan && ! echo \"\$syms\" | grep -v '^layerdb_'"
[ "$failed" -eq 0 ]
