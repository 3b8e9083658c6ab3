#!/usr/bin/env bash
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
# The logs of whatever did not pass, then one summary line.
if [ $status -ne 0 ] && [ -f tests/test-suite.log ]; then
    tail -n 300 tests/test-suite.log
fi
count () { sed -n "s/^# $1: *//p" tests/test-suite.log 2>/dev/null | head -n1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); skip=$(count SKIP)
echo "tests: ${pass:-0} passed, $(( ${fail:-0} + ${err:-0} )) failed, ${skip:-0} skipped"
[ -n "$pass" ] || { echo "tests: no test ran"; exit 1; }
exit $status
