#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs-dev rm against a server that holds no lease yet (the lease is
# taken at the first write, fence.c), and against a forced takeover:
#
# 1. A device that never had a lease: a client opens it read-write and
#    reads; zerofs-dev rm removes it (nothing refuses it: the server
#    holds no lease); the same client then writes and flushes.  The write
#    must fail (the device is gone: its data could never be read), with
#    a message saying so, and nothing of the device is left behind.
# 2. zerofs-dev rm's deletes are fenced by its lease: rm's listing is
#    late (8 s, as a large device's is); meanwhile a server with
#    force=true takes the device over (rm looked like a lost server),
#    writes chunk 0 whole and flushes it.  rm must stop rather than
#    delete that acknowledged chunk.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

lease_force=0
start_volume
log=$tmpdir/nbdkit.log
: > "$log"
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

# 1.  The client waits for $tmpdir/go between its read and its write.
zdev create gone 64M
start_server -D zerofs.lease=1 "$PLUGIN" "${zargs[@]}" 2>>"$log"
rm -f "$tmpdir/go" "$tmpdir/ready" "$tmpdir/result1"
client gone '
import os, time
assert h.pread(4096, 0) == bytes(4096)
open(os.environ["tmpdir"] + "/ready", "w").close()
while not os.path.exists(os.environ["tmpdir"] + "/go"):
    time.sleep(0.1)
try:
    h.pwrite(b"G" * 4096, 0)
    h.flush()
    r = "acknowledged"
except Exception as e:
    r = "refused: %s" % e
open(os.environ["tmpdir"] + "/result1", "w").write(r)
' &
cpid=$!
for (( i = 0; i < 100; i++ )); do [ -e "$tmpdir/ready" ] && break; sleep 0.1; done
zdev rm gone
touch "$tmpdir/go"
wait $cpid
echo "part 1: the write after rm was $(cat "$tmpdir/result1")"
grep -q "^refused" "$tmpdir/result1" ||
    { echo "FAIL: a write to a removed device was acknowledged"; exit 1; }
grep -q "device gone was removed since this server first opened it" "$log" ||
    { echo "FAIL: the refusal does not say why"; exit 1; }
stop_server
if [ "$ZEROFS_TEST_BACKEND" = dir ] && [ -d "$tmpdir/store/devices/gone" ] &&
       [ -n "$(find "$tmpdir/store/devices/gone" -type f)" ]; then
    echo "FAIL: objects of the removed device were written:"
    find "$tmpdir/store/devices/gone" -type f; exit 1
fi
zdev create gone 64M            # (nothing in the way)

# 2.
zdev create rmrace 64M
start_server "$PLUGIN" "${zargs[@]}" cache-dir="$tmpdir/cache2" \
             export=rmrace journal-max-bytes=0 2>>"$log"
client rmrace 'h.pwrite(b"0" * (1 << 20), 0); h.flush()'
stop_server
echo "stale list:/chunks/ 8s" > "$tmpdir/fault2"
zdev --fault-file="$tmpdir/fault2" rm rmrace 2> "$tmpdir/rm2" &
rmpid=$!
sleep 1
start_server "$PLUGIN" "${zargs[@]}" cache-dir="$tmpdir/cache2" \
             export=rmrace journal-max-bytes=0 force=true 2>>"$log"
client rmrace 'h.pwrite(b"A" * (1 << 20), 0); h.flush()'
if wait $rmpid; then
    echo "FAIL: rm went on after its lease was taken over"; exit 1
fi
cat "$tmpdir/rm2"
grep -q "not sent" "$tmpdir/rm2" ||
    { echo "FAIL: rm does not say its deletes were not sent"; exit 1; }
grep -q "device rmrace: zerofs-dev lost its lease to host .*: the command fails" "$tmpdir/rm2" ||
    { echo "FAIL: rm does not say it lost its lease"; exit 1; }
stop_server
export2=rmrace start_second "$tmpdir/cacheR" force=true journal-max-bytes=0
got=$(export2=rmrace client2 'print(bytes(h.pread(4096, 0)[:1]))')
stop_second
[ "$got" = "b'A'" ] ||
    { echo "FAIL: a flushed write after a forced take from rm reads back as $got"; exit 1; }
echo PASS
