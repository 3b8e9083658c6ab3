#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fencing a server that lost its lease to a forced takeover: nothing it
# still has under way lands over the new holder's objects (lib/lease.h,
# lib/store/retry.c).
#
# 1. A's chunk PUTs fail (a transient error, retried for up to
#    retry-time) when B takes the device with force and writes the same
#    chunk.  Then the store would take A's PUTs again: A must not send
#    one more attempt once it knows the lease is lost, its flush fails
#    with EIO, and the chunk read back through B (with a new cache) is
#    B's.
# 2. The inherited journal floor of a two-takeover chain (lease.h,
#    "Stale journal objects").  A holds the device; B takes it with force
#    and dies right after its take (a crash point on the lease object
#    itself, not on its probe: put:/lease$), before it recorded its
#    journal floor; C takes it from B.  A's journal object that was
#    under way lands after C wrote the same sectors: a later replay (D)
#    must apply C's data, not A's, and say that A's object is stale.
# 3. A holder whose journal floor could not be recorded (its lease PUT
#    failing right then): its flushes fail until the floor is recorded
#    (a later holder would judge its objects by the floor it inherited),
#    and what it flushed then survives the loss of its cache.
# 5. A fenced device's dirty chunks (its uploads failing when B took it)
#    do not count against max-dirty once its lease is known lost:
#    writes to another device of A's cache go on, and the stop says
#    that the fenced chunks stay.
# 7. Those chunks keep their slots, so the other devices may make dirty
#    only three quarters of the slots left: with 4 of 16 slots set
#    aside, 9 (not 12, three quarters of 16), and a chunk read while
#    their uploads are slow finds a clean slot to be cached in.
# 6. The store failing the lease's GET with EBADMSG (a malformed answer)
#    is a store error, not an unreadable lease: the holder's flush fails
#    and it goes on once the store answers (not fenced for good), and
#    force=true does not replace the lease.
# 4. S3 only: write-timeout bounds a PUT that makes progress.  Over a
#    64 KiB/s link a 1 MiB PUT would take 16 s: with write-timeout=2 it
#    is abandoned after 2 s, and a forced take waits 1 + 2 + 2 s.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

lease_force=0                   # force=true only for the takeovers
start_volume
zdev create disk 64M
log=$tmpdir/nbdkit.log
: > "$log"
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"
faults=$tmpdir/faults
: > "$faults"
serve () { start_server -D zerofs.lease=1 -D zerofs.fault=1 "$PLUGIN" \
                        "${zargs[@]}" export=disk fault-file="$faults" \
                        "$@" 2>>"$log"; }
# write-timeout=1: the takeovers wait 4 s, not 123.
wt=write-timeout=1

# 1.  Retries of a failing PUT stop at the takeover.
serve journal-max-bytes=0 retry-time=120 $wt
client disk 'h.pwrite(b"a" * (1 << 20), 0); h.flush()'
printf 'fail put:/chunks/ EAGAIN\n' > "$faults"
sleep 0.3
client > "$tmpdir/a1.out" 2>&1 <<'EOF' &
import time
t = time.time()
h.pwrite(b"A" * (1 << 20), 0)
try:
    h.flush()
    print("flush returned")
except Exception as e:
    print("flush failed after %.1f s: %s" % (time.time() - t, e))
EOF
client_a=$!
wait_for_line "fault: failing PUT devices/disk/chunks/" "$log" ||
    { echo "FAIL: A's PUT was not failing"; exit 1; }
start_second "$tmpdir/cache-b1" force=true $wt
client2 'h.pwrite(b"B" * (1 << 20), 0); h.flush()'
# B has written the chunk: from now on a PUT of A's would land.
lines=$(wc -l < "$log")
: > "$faults"
wait $client_a || :
cat "$tmpdir/a1.out"
grep -q "flush failed.*Input/output error" "$tmpdir/a1.out" ||
    { echo "FAIL: A's flush did not fail with EIO"; exit 1; }
# Longer than the retry layer's longest sleep (5 s): an attempt A still
# made would have reached the store by now.
sleep 6
if tail -n +"$lines" "$log" | grep "fault: request PUT devices/disk/chunks/"
then
    echo "FAIL: A sent a PUT of a chunk after it lost the lease"; exit 1
fi
grep -q "PUT devices/disk/chunks/0000000000000000: not sent" "$log" ||
    { echo "FAIL: A's retry was not given up by the lease"; exit 1; }
stop_server -9
stop_second
rm -rf "$tmpdir/cache-b1"
start_second "$tmpdir/cache-b1"
client2 'assert h.pread(1 << 20, 0) == b"B" * (1 << 20), "A overwrote B"'
stop_second

# 2.  A -> B (dies before recording its floor) -> C -> D.
rm -rf "$cachedir"
: > "$log"
: > "$faults"
serve
client disk 'h.pwrite(b"o" * 4096, 7 << 20); h.flush()'
# A's journal PUTs take 12 s (the fault wrapper's delay comes after the
# lease's check: a request that lands late whatever its bound, as a
# store may apply one whose client gave up).
printf 'delay put:/journal/ 12s\n' > "$faults"
sleep 0.3
client > "$tmpdir/a2.out" 2>&1 <<'EOF' &
h.pwrite(b"S" * 4096, 7 << 20)
h.flush()
print("late flush returned")
EOF
client_a=$!
# Once A's PUT is past A's lease check (the fault wrapper delays it
# below the cache), however slowly A's client starts.
wait_for_line "fault: delaying PUT devices/disk/journal/" "$log"
# B dies as soon as its take reached the store, not at the probe of
# lease.probe before it.
printf 'crash put:/lease$\n' > "$tmpdir/faults-b"
start_second "$tmpdir/cache-b2" force=true $wt fault-file="$tmpdir/faults-b"
if client2 'h.pread(512, 0)' 2>/dev/null; then
    echo "FAIL: B did not die at its take"; exit 1
fi
b_pid=$pid2
for (( i = 0; i < 50; i++ )); do
    kill -0 "$b_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$b_pid" 2>/dev/null; then
    echo "FAIL: B did not die at its take"; exit 1
fi
stop_second KILL
zdev info disk > "$tmpdir/info"
grep -q "lease:.*pid $b_pid " "$tmpdir/info" ||
    { echo "FAIL: B's take is not the lease left"; cat "$tmpdir/info"; exit 1; }
start_second "$tmpdir/cache-c2" force=true $wt
client2 'h.pwrite(b"C" * 4096, 7 << 20); h.flush()'
wait $client_a || :
cat "$tmpdir/a2.out"
if grep -q "late flush returned" "$tmpdir/a2.out"; then
    echo "FAIL: a fenced server acknowledged a flush"; exit 1
fi
stop_server -9
stop_second KILL                # C's cache is lost
rm -rf "$cachedir"              # and A's (it holds the "S" A was fenced with)
: > "$log"
: > "$faults"
serve force=true $wt
client disk 'assert h.pread(4096, 7 << 20) == b"C" * 4096, "A\x27s late object won"'
grep -q "was written by a server that had lost the device's lease" "$log" ||
    { echo "FAIL: A's late journal object was not recognised"; exit 1; }
stop_server

# 3.  A holder whose floor could not be recorded at the open.  (A new
# device: the sequences of the parts above do not matter here.)
rm -rf "$cachedir"
zdev rm disk
zdev create disk 64M
: > "$log"
serve $wt
client disk 'h.pwrite(b"p" * 4096, 9 << 20); h.flush()'
stop_server -9                  # A's lease stays, with its floor
# B's lease PUTs fail from its take on (the take is the first of them,
# the floor the second): the rule is written while B waits after its
# take.
: > "$tmpdir/faults-b"
start_second "$tmpdir/cache-b3" force=true $wt fault-file="$tmpdir/faults-b"
(
    for (( i = 0; i < 200; i++ )); do
        grep -q "took its lease over" "$log2" && break
        sleep 0.05
    done
    printf 'fail put:/lease$ EIO\n' > "$tmpdir/faults-b"
) &
watcher=$!
# Its flush fails: nothing of B's reaches the store before its floor.
if client2 'h.pwrite(b"Q" * 4096, 9 << 20); h.flush()'; then
    echo "FAIL: B flushed without a journal floor"; exit 1
fi
wait $watcher
grep -q "device disk: writing its lease" "$log2" ||
    { echo "FAIL: B's floor was recorded after all"; cat "$log2"; exit 1; }
# The lease takes PUTs again: the floor is recorded at the next flush.
: > "$tmpdir/faults-b"
sleep 0.3
client2 'h.pwrite(b"Q" * 4096, 9 << 20); h.flush()'
stop_second KILL                # B's cache is lost
rm -rf "$cachedir"
: > "$log"
serve force=true $wt
client disk 'assert h.pread(4096, 9 << 20) == b"Q" * 4096, "B\x27s flush was lost"'
if grep -q "was written by a server that had lost" "$log"; then
    echo "FAIL: B's own journal object was taken as stale"; exit 1
fi
stop_server

# A serves disk (with the parameters given after B's cache-dir) and
# writes 4 chunks whose uploads fail; then B takes the device over with
# that cache-dir: A's chunks can never be uploaded.
lose_disk_with_4_dirty ()
{
    local cache_b=$1
    shift
    printf 'fail put:devices/disk/chunks/ EAGAIN\n' > "$faults"
    serve journal-max-bytes=0 $wt "$@"
    client disk 'for i in range(4): h.pwrite(b"A" * 4096, i << 20)'
    sleep 1                     # their uploads are failing
    start_second "$cache_b" force=true $wt
    client2 'h.pwrite(b"B" * 4096, 0); h.flush()'
    stop_second
}

# 5.  A fenced device's dirty chunks do not hold up the other devices.
rm -rf "$cachedir"
: > "$log"
zdev create other5 64M
lose_disk_with_4_dirty "$tmpdir/cache-b5" max-dirty=4M retry-time=20
# Four more chunks of the other device: past max-dirty with A's four,
# which never leave the cache.  Without the set-aside, the writes wait
# for room until retry-time (20 s) and fail.
client other5 > "$tmpdir/a5.out" 2>&1 <<'EOF' || :
import time
t = time.time()
try:
    for i in range(4):
        h.pwrite(b"O" * 4096, i << 20)
    h.flush()
    print("written in %.1f s" % (time.time() - t))
except Exception as e:
    print("failed after %.1f s: %s" % (time.time() - t, e))
EOF
cat "$tmpdir/a5.out"
grep -q "written in" "$tmpdir/a5.out" ||
    { echo "FAIL: the fenced device's chunks held up the other device"; exit 1; }
server_error "device disk: its 4 dirty chunks stay in the cache, not uploaded (this server lost the device's lease)" "$log" ||
    { echo "FAIL: no message for the chunks set aside"; exit 1; }
: > "$faults"
stop_server
server_error "4 dirty chunks of held or fenced devices .* stay in" "$log" ||
    { echo "FAIL: the set-aside chunks were not reported at the stop"; exit 1; }
rm -rf "$tmpdir/cache-b5"
start_second "$tmpdir/cache-b5"
client2 'assert h.pread(4096, 0) == b"B" * 4096, "A overwrote B"
for i in range(1, 4):
    assert h.pread(4096, i << 20) == bytes(4096), "A uploaded after its loss"'
stop_second
export2=other5 start_second "$tmpdir/cache-o5"
export2=other5 client2 'assert h.pread(4096, 3 << 20) == b"O" * 4096'
stop_second

# 7.  The slots of chunks set aside.  Chunk 20 of other7 is in the store
# only; then A (16 slots) loses the lease of disk with 4 dirty chunks.
rm -rf "$cachedir"
: > "$log"
: > "$faults"
zdev create other7 64M
start_server "$PLUGIN" "${zargs[@]}" export=other7 2>>"$log"
client other7 'h.pwrite(b"R" * 4096, 20 << 20); h.flush()'
stop_server
rm -rf "$cachedir" "$tmpdir/cache-b7"
lose_disk_with_4_dirty "$tmpdir/cache-b7" cache-size=16M retry-time=60
for (( i = 0; i < 100; i++ )); do
    server_error "device disk: its 4 dirty chunks stay in the cache" "$log" &&
        break
    sleep 0.1
done
server_error "device disk: its 4 dirty chunks stay in the cache" "$log" ||
    { echo "FAIL: A's chunks were not set aside"; exit 1; }
# Uploads of other7 take 4 s each: 12 whole chunks written at once stay
# dirty meanwhile, up to the limit.
printf 'fail put:devices/disk/chunks/ EAGAIN\ndelay put:devices/other7/chunks/ 4s\n' \
       > "$faults"
sleep 0.3
client other7 'for i in range(12): h.pwrite(b"W" * (1 << 20), i << 20)' &
writer=$!
sleep 1.5
client other7 'for i in range(3): assert h.pread(4096, 20 << 20) == b"R" * 4096'
wait "$writer"
gets=$(grep -c "fault: request GET devices/other7/chunks/0000000000000014" "$log")
echo "chunk 20 of other7: $gets GETs for 3 reads"
[ "$gets" = 1 ] ||
    { echo "FAIL: the chunk read was not cached: no clean slot was left"; exit 1; }
: > "$faults"
stop_server

# 6.  The store failing the lease's GET with EBADMSG (an answer it
# could not parse) is not a lease that cannot be read.
rm -rf "$cachedir"
: > "$log"
: > "$faults"
serve journal-max-bytes=0
client disk 'h.pwrite(b"e" * 4096, 0); h.flush()'
printf 'fail get:devices/disk/lease EBADMSG\n' > "$faults"
sleep 1.5                       # past the lease's confirmation (1 s)
client disk 'h.pwrite(b"f" * 4096, 4096); h.flush()' 2>/dev/null && {
    echo "FAIL: a flush went on without checking the lease"; exit 1; }
: > "$faults"
sleep 0.3                       # the fault file is looked at every 100 ms
client disk 'h.pwrite(b"g" * 4096, 8192); h.flush()
assert h.pread(12288, 0) == b"e" * 4096 + b"f" * 4096 + b"g" * 4096' || {
    echo "FAIL: a store error was taken for a lost lease"; exit 1; }
if grep -q "lease object was deleted or replaced" "$log"; then
    echo "FAIL: a store error was taken for a replaced lease"; exit 1
fi
stop_server
# Nor does force replace the lease when the store fails to return it.
printf 'fail get:devices/disk/lease EBADMSG\n' > "$faults"
: > "$log"
# (The server may not even start: its forced take comes first.)
if serve force=true; then
    client disk 'h.pwrite(b"h" * 4096, 0)' 2>/dev/null && {
        echo "FAIL: written without reading the lease"; exit 1; }
    stop_server || :            # (its close cannot read the lease either)
fi
if grep -q "replacing its lease object" "$log"; then
    echo "FAIL: force replaced a lease the store failed to return"; exit 1
fi
: > "$faults"

# 4.  The bound itself.
if [ "$ZEROFS_TEST_BACKEND" = s3rver ]; then
    requires /usr/bin/python3 -c 'import asyncio'
    start_slow_link 65536
    rm -rf "$cachedir"
    : > "$log"
    serve endpoint="$slow" write-timeout=2 retry-time=0 journal-max-bytes=0
    client disk > "$tmpdir/a4.out" 2>&1 <<'EOF' || :
import os, time
h.pwrite(os.urandom(1 << 20), 0)
t = time.time()
try:
    h.flush()
    print("flush returned")
except Exception as e:
    print("flush failed after %.1f s" % (time.time() - t))
EOF
    cat "$tmpdir/a4.out"
    grep -q "flush failed after [0-4]\\." "$tmpdir/a4.out" ||
        { echo "FAIL: the PUT was not abandoned at write-timeout"; exit 1; }
    server_error "PutObject devices/disk/chunks/0000000000000000: abandoned: it did not end within its time (write-timeout)" "$log" ||
        { echo "FAIL: no message for the abandoned PUT"; exit 1; }
    stop_server -9
    rm -rf "$cachedir"
    : > "$log"
    serve force=true write-timeout=2
    # (Not chunk 0: s3rver keeps what it got of a PUT its client gave
    # up, a truncated object that reads as an I/O error.  S3 does not.)
    client disk 'h.pread(512, 8 << 20)'
    server_error "waiting 5.0 s for its requests under way to end" "$log" ||
        { echo "FAIL: the forced take's wait is not 1 + 2 + 2 s"; exit 1; }
    stop_server
fi
echo "PASS"
