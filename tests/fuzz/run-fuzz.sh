#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run fuzz targets, $FUZZ_JOBS at a time ("make fuzz"; see Makefile.am).
#
#   run-fuzz.sh SEED-DIR TARGET...
#
# Each TARGET (a libFuzzer binary in the current directory, fuzz-NAME)
# runs for $FUZZ_SECONDS seconds (default 60), starting from
# SEED-DIR/NAME/ and the inputs that earlier runs kept in work/TARGET/
# (new ones go there, never into SEED-DIR), with $FUZZ_FLAGS added to
# its command line.  Its log is logs/TARGET.log, and a crashing input
# goes to artifacts/.  Leaks in the third-party code that lsan.supp
# (beside this script) lists are not reported.
#
# A target fails when libFuzzer reports anything (crash, leak, sanitizer
# report, timeout, out of memory) or a check of the target aborts; all
# targets run anyway, then one line each says how long it ran and how
# many inputs it executed, and the exit status is 1 if any failed.
#
# FUZZ_JOBS targets run at once (default: the number of processors),
# each on one core: libFuzzer's own -jobs would split one target's time
# instead, and the CI's time is bounded by the sum.
set -u
seeds=$1
shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
# Leaks in third-party libraries (see the file).
here=$(cd "$(dirname "$0")" && pwd)
supp=suppressions=$here/lsan.supp:print_suppressions=0
export LSAN_OPTIONS=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
mkdir -p work artifacts logs
rm -f logs/*.result logs/*.failure

# The targets inherit descriptors 3 and 4 open on a pipe with nothing
# in it and a writer (this shell), as make -j's jobserver leaves them:
# an input that reads one (password=-3) must not hang (fuzz_init).
pipe=$(mktemp -u "${TMPDIR:-/tmp}/run-fuzz.XXXXXX")
mkfifo "$pipe"
exec 3<>"$pipe" 4<>"$pipe"
rm -f "$pipe"

# Run TARGET; its summary line goes to logs/TARGET.result, and what a
# failure printed to logs/TARGET.failure.
run_target () {
    local target=$1 name log start status took runs rate result line input
    name=${target#fuzz-}
    log=logs/$target.log
    mkdir -p "work/$target"
    rm -f "artifacts/$target-"*
    start=$(date +%s)
    # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
    "./$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target-" \
        ${FUZZ_FLAGS:-} "work/$target" "$seeds/$name" > "$log" 2>&1
    status=$?
    took=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    if [ $status -eq 0 ] &&
           ! grep -q -e 'runtime error:' -e '^==[0-9]*==ERROR' "$log"; then
        result=PASS
    else
        result=FAIL
        {
            echo "=== $target failed (exit status $status): the end of $log"
            tail -n 60 "$log"
            for input in "artifacts/$target-"*; do
                [ -e "$input" ] && echo "  input: $input"
            done
        } > "logs/$target.failure"
    fi
    line=$(printf '%-4s %-22s %4d s  %10s executions  (%s/s)' \
                  "$result" "$target" "$took" "${runs:-?}" "${rate:-?}")
    echo "$line"
    echo "$line" > "logs/$target.result"
}

running=0
for target in "$@"; do
    target=${target%.exe}
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$target" &
    running=$((running + 1))
done
wait

failed=0
for target in "$@"; do
    target=${target%.exe}
    if [ -f "logs/$target.failure" ]; then
        cat "logs/$target.failure"
        failed=1
    fi
    [ -f "logs/$target.result" ] || { echo "FAIL $target: no result"; failed=1; }
done
echo "=== fuzzing summary (${seconds} s a target, $jobs at a time)"
for target in "$@"; do
    cat "logs/${target%.exe}.result" 2>/dev/null
done
exit $failed
