#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install what the tests need, build with warnings as errors, and run the
# whole test suite ("make check"): unit tests, then every integration test
# on a directory volume, on s3rver and on OpenStack Swift's s3api.
#
#   scripts/test.sh                the build in the source tree, and
#                                  "make install" checked too
#   scripts/test.sh --sanitizers   the same suite built with ASan and
#                                  UBSan (./configure --enable-sanitizers)
#                                  in a copy of the sources in build-asan/
#                                  ($SANITIZERS_BUILD_DIR), so that the
#                                  source tree's own build is untouched
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sanitizers=false
case "${1:-}" in
    --sanitizers) sanitizers=true ;;
    '') ;;
    *) echo "usage: $0 [--sanitizers]" >&2; exit 2 ;;
esac
"$top/scripts/install-deps.sh" --test
if $sanitizers; then
    build=${SANITIZERS_BUILD_DIR:-$top/build-asan}
    mkdir -p "$build"
    source "$top/scripts/copy-sources.sh"
    copy_sources "$top" "$build/src"
    # s3rver, as install-deps.sh installed it.
    ln -sfn "$top/tests/node_modules" "$build/src/tests/node_modules"
    cd "$build/src"
    if [ ! -f Makefile ] || [ configure.ac -nt Makefile ]; then
        autoreconf -fi
        ./configure --enable-sanitizers --enable-werror
    fi
    make -j"$(nproc)"
    label="sanitizers: tests"
else
    "$top/scripts/build.sh" --enable-werror
    cd "$top"
    label=tests
fi
status=0
make -j"$(nproc)" check || status=$?

install_pass=0 install_fail=0
if ! $sanitizers; then
    # "make install" works and installs a plugin that nbdkit loads.
    dest=$(mktemp -d)
    if make install DESTDIR="$dest" > "$dest.log" 2>&1 &&
       plugin=$(find "$dest" -name nbdkit-zerofs-plugin.so) &&
       [ -n "$plugin" ] &&
       nbdkit "$plugin" --dump-plugin | grep -q '^name=zerofs$' &&
       [ -x "$dest/usr/local/bin/zerofs-dev" ]; then
        echo "PASS: make install"
        install_pass=1
    else
        echo "FAIL: make install (log: $dest.log)"
        install_fail=1
        status=1
    fi
    rm -rf "$dest"
fi
# What did not pass, then one summary line.  A test's log is mostly
# nbdkit's debug lines (every server runs with -v); first the rest of
# each failing test's log, whose end says why it failed, then the end of
# test-suite.log as it is.
if [ $status -ne 0 ] && [ -f tests/test-suite.log ]; then
    for trs in tests/*.trs; do
        grep -qE '^:test-result: (FAIL|ERROR)' "$trs" || continue
        log=${trs%.trs}.log
        echo "=== ${log#tests/}, without debug lines, its last 120:"
        grep -v ': debug: ' "$log" | tail -n 120
    done
    tail -n 300 tests/test-suite.log
fi
count () { sed -n "s/^# $1: *//p" tests/test-suite.log 2>/dev/null | head -n1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); skip=$(count SKIP)
echo "$label: $(( ${pass:-0} + install_pass )) passed," \
     "$(( ${fail:-0} + ${err:-0} + install_fail )) failed, ${skip:-0} skipped"
[ -n "$pass" ] || { echo "$label: no test ran"; exit 1; }
exit $status
