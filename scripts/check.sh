#!/bin/sh
# check.sh -- run every test suite and print one final line "N passed, N failed".
#
# Suites: the C tests (spec/c/*_test.c) built plainly; make install and
# uninstall (an app built with pkg-config, the Lua modules required from
# plain lua5.4 and LuaJIT, the installed layerdb-run); the Lua specs (busted, under Lua 5.4 and
# LuaJIT) and the LuaRocks install; the fast C tests under valgrind; then the
# C tests rebuilt and run under AddressSanitizer+UndefinedBehaviorSanitizer
# and under ThreadSanitizer (the writer thread). Every suite prints TAP; this script counts "ok" and
# "not ok" lines. A suite that dies without finishing its plan counts as one
# more failure, so a crash is never a pass.
# CHECK_SUITES="plain asan tsan" picks a subset (default: all).
set -u
cd "$(dirname "$0")/.."

SUITES=${CHECK_SUITES:-"plain install lua valgrind asan tsan"}
# Under valgrind: the suites that run in seconds natively (the 1.5M-key table
# test and the kill loops take minutes there; ASan covers them).
VALGRIND_TESTS="api_test recovery_test faults_test log_format_test fuzz_log_test writer_test paths_test snapshot_test"
passed=0; failed=0; skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_tap LABEL COMMAND...: run one TAP-printing program and count its lines.
run_tap() {
    label=$1; shift
    echo "# ---- $label"
    "$@" >"$log" 2>&1
    status=$?
    sed "s/^/    /" "$log"
    ok=$(grep -c '^ok ' "$log")
    skip=$(grep -c '^ok .*# SKIP' "$log")
    bad=$(grep -c '^not ok ' "$log")
    plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -1)
    passed=$((passed + ok - skip)); skipped=$((skipped + skip)); failed=$((failed + bad))
    if [ -z "$plan" ] || [ $((ok + bad)) -ne "$plan" ] || { [ $status -ne 0 ] && [ "$bad" -eq 0 ]; }; then
        echo "not ok - $label died (exit $status) before finishing its plan"
        failed=$((failed + 1))
    fi
}

# run_c_suites BUILD_DIR LABEL
run_c_suites() {
    for t in "$1"/test/*_test; do
        [ -x "$t" ] || continue
        run_tap "$2 $(basename "$t")" "$t"
    done
}

build() { # make TARGET quietly; a build failure is a failed suite
    if ! make -s "$@" >"$log" 2>&1; then
        cat "$log"; echo "not ok - build: make $*"; failed=$((failed + 1)); return 1
    fi
}

for suite in $SUITES; do
    case $suite in
    plain) build tests && run_c_suites build "c" ;;
    install) build all && run_tap "install" scripts/tap-install.sh ;;
    valgrind)
        build tests && for t in $VALGRIND_TESTS; do
            [ -x "build/test/$t" ] && run_tap "valgrind $t" valgrind -q --error-exitcode=99 \
                --leak-check=full --errors-for-leak-kinds=definite \
                --child-silent-after-fork=yes "build/test/$t"
        done ;;
    lua) # the Lua module's specs under Lua 5.4 and LuaJIT, and the rockspec
        if [ -f lua.mk ]; then
            build lua && for s in scripts/tap-lua54.sh scripts/tap-luajit.sh scripts/tap-rockspec.sh; do
                [ -x "$s" ] && run_tap "$(basename "$s" .sh)" "$s"
            done
        fi ;;
    asan)
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        build tests-asan && run_c_suites build-asan "asan+ubsan" ;;
    tsan)
        export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
        build tests-tsan && run_c_suites build-tsan "tsan" ;;
    esac
done

if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
