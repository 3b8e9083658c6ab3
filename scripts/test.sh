#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install what the tests need, build with warnings as errors, and run the
# whole test suite ("make check"): unit tests, then every integration test
# on a directory volume, on s3rver and on OpenStack Swift's s3api.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
"$top/scripts/build.sh" --enable-werror
cd "$top"
status=0
make -j"$(nproc)" check || status=$?

# "make install" works and installs a plugin that nbdkit loads.
dest=$(mktemp -d)
if make install DESTDIR="$dest" > "$dest.log" 2>&1 &&
   plugin=$(find "$dest" -name nbdkit-zerofs-plugin.so) &&
   [ -n "$plugin" ] && nbdkit "$plugin" --dump-plugin | grep -q '^name=zerofs$' &&
   [ -x "$dest/usr/local/bin/zerofs-dev" ]; then
    echo "PASS: make install"
    install_pass=1 install_fail=0
else
    echo "FAIL: make install (log: $dest.log)"
    install_pass=0 install_fail=1
    status=1
fi
rm -rf "$dest"
# The logs of whatever did not pass, then one summary line.
if [ $status -ne 0 ] && [ -f tests/test-suite.log ]; then
    tail -n 300 tests/test-suite.log
fi
count () { sed -n "s/^# $1: *//p" tests/test-suite.log 2>/dev/null | head -n1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); skip=$(count SKIP)
echo "tests: $(( ${pass:-0} + install_pass )) passed," \
     "$(( ${fail:-0} + ${err:-0} + install_fail )) failed, ${skip:-0} skipped"
[ -n "$pass" ] || { echo "tests: no test ran"; exit 1; }
exit $status
