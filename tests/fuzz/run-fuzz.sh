#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run fuzz targets one after another ("make fuzz"; see Makefile.am).
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
set -u
seeds=$1
shift
seconds=${FUZZ_SECONDS:-60}
# Leaks in third-party libraries (see the file).
here=$(cd "$(dirname "$0")" && pwd)
supp=suppressions=$here/lsan.supp:print_suppressions=0
export LSAN_OPTIONS=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
mkdir -p work artifacts logs
summary=()
failed=0

for target in "$@"; do
    target=${target%.exe}
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
        failed=1
        echo "=== $target failed (exit status $status): the end of $log"
        tail -n 60 "$log"
        for input in "artifacts/$target-"*; do
            [ -e "$input" ] && echo "  input: $input"
        done
    fi
    line=$(printf '%-4s %-22s %4d s  %10s executions  (%s/s)' \
                  "$result" "$target" "$took" "${runs:-?}" "${rate:-?}")
    echo "$line"
    summary+=("$line")
done

echo "=== fuzzing summary (${seconds} s a target)"
printf '%s\n' "${summary[@]}"
exit $failed
