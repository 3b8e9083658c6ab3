#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Randomized crashes: a writer on two connections does random writes,
# WRITE_ZEROES, TRIM and FLUSH; the server is killed (SIGKILL) at a
# random moment and started again, with the same cache-dir or, with
# durability=remote, an emptied one; then the whole device is read back
# and checked against the NBD contract by crash-random.py (what a
# completed FLUSH covered must be there, anything else may be lost but
# never be noise).  Round after round, each starting from what the last
# one read; an emptied cache-dir may also give back older values of
# what the killed server served but never stored (written in an earlier
# life and not flushed with durability=remote since: crash-random.py
# keeps them).  The flush journal is on (the default): scattered writes
# reach the store through it, and an emptied cache-dir means a replay;
# the test checks that both happened.
#
#   ZEROFS_CRASH_ROUNDS   rounds (default 10; make check-soak: 200)
#   ZEROFS_CRASH_SECONDS  stop starting rounds after this long (default
#                         100; the soak sets no bound)
#   ZEROFS_CRASH_SEED     the random seed (printed, for reproducing)
#   ZEROFS_CRASH_DEBUG    more nbdkit flags, e.g. "-D zerofs.lease=1"
#   ZEROFS_KEEP_DIR       copy the test's directory there at the end
#                         (the whole nbdkit log, the store, the cache)
#
# Judged on the directory store and Swift only: s3rver is not
# crash-atomic (see s3-servers.sh).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import nbd'

rounds=${ZEROFS_CRASH_ROUNDS:-10}
budget=${ZEROFS_CRASH_SECONDS:-100}
# Decimal, whatever its leading zeros: bash reads "0189" as a bad octal
# number, and a seed it cannot read would not reproduce the run.
seed=$(( 10#${ZEROFS_CRASH_SEED:-$(( RANDOM * 32768 + RANDOM ))} ))
echo "$0: seed $seed, $rounds rounds"
RANDOM=$seed

start_volume
zdev create disk 16M
uri="nbd+unix:///disk?socket=$sock"
log=$tmpdir/ops.log
baseline=$tmpdir/baseline.json
py=$srcdir/crash-random.py

serve () { start_server -D zerofs.flush=1 ${ZEROFS_CRASH_DEBUG:-} "$PLUGIN" "${zargs[@]}" export=disk \
                        durability="$1" 2>>"$tmpdir/nbdkit.log"; }
cleanup_fn sh -c "tail -n 60 '$tmpdir/nbdkit.log' 2>/dev/null || :"
[ -z "${ZEROFS_KEEP_DIR:-}" ] || cleanup_fn cp -a "$tmpdir" "$ZEROFS_KEEP_DIR"

durability=remote
emptied=0
serve $durability
start=$SECONDS
for (( round = 1; round <= rounds; round++ )); do
    if [ "$budget" -gt 0 ] && [ $(( SECONDS - start )) -ge "$budget" ]; then
        echo "$0: time budget reached after $(( round - 1 )) rounds"
        break
    fi
    : > "$log"
    rm -f "$log.ready"
    /usr/bin/python3 "$py" write "$uri" "$log" "$RANDOM" "$round" &
    writer=$!
    for (( i = 0; i < 300; i++ )); do
        [ -e "$log.ready" ] && break
        sleep 0.05
    done
    # Kill at a random moment between 0.1 and 3 s into the writing.
    sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))"
    sleep 0.1
    stop_server -9
    wait $writer
    # The next server: durability=local keeps its cache; with remote,
    # one round in three starts from an emptied cache-dir (a new host).
    how=same
    if [ "$durability" = remote ] && (( RANDOM % 3 == 0 )); then
        rm -rf "$cachedir"
        how=emptied
        [ "$(count_journal disk)" -gt 0 ] && emptied=$(( emptied + 1 ))
    fi
    killed_durability=$durability
    durability=remote
    (( RANDOM % 3 == 0 )) && durability=local
    serve $durability
    echo "round $round ($how cache, next durability=$durability):"
    /usr/bin/python3 "$py" verify "$uri" "$log" "$baseline" "$how" \
                     "$killed_durability"
done
stop_server
# The journal was in play (-D zerofs.flush=1 logs its objects).
grep -q 'flush: journaled ' "$tmpdir/nbdkit.log"
if [ "$emptied" -gt 0 ]; then      # a replay was due
    grep -q 'replayed [0-9]* journal objects' "$tmpdir/nbdkit.log"
fi
