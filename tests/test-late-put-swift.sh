#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A server killed with a chunk PUT under way, and restarted at once on
# the same cache-dir: the store may still apply the dead server's PUT a
# moment later, if it had its body whole.  The restart must leave the
# device's objects alone for that moment (lib/lease.h, "Restarts"), or
# its own upload of the chunk, newer, lands first and is replaced by the
# dead server's older copy.
#
# aws-router.py in mode late-put, in front of Swift, holds the first
# server's streamed upload of chunk 0, and lands it 1 s after the kill.
# A 4 KiB write to chunk 0 after that upload's snapshot, recorded by an
# index commit, makes the chunk dirty again: the restart's first flush
# uploads it.  A new cache-dir must then read what the restarted server
# served.  Without the wait, the restart's upload landed first and the
# store kept the chunk without the 4 KiB.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import http.server'
ZEROFS_TEST_BACKEND=swift
start_volume
zdev create disk 4M

export LATE_PUT_KEY=/devices/disk/chunks/0000000000000000
export LATE_PUT_RELEASE=$tmpdir/release
export LATE_PUT_SECONDS=1
start_router late-put 0
export log=$tmpdir/nbdkit.log rlog
: > "$log"
serve () { start_server -D zerofs.cache=1 -D zerofs.flush=1 \
                        -D zerofs.lease=1 "$PLUGIN" bucket="$bucket" \
                        password=+"$pwfile" cache-dir="$cachedir" \
                        endpoint="$main" region="$S3_REGION" export=disk \
                        "$@" 2>>"$log"; }
cleanup_fn sh -c "grep -v ' debug: nbdkit\\| debug: newstyle' '$log' | tail -n 40 2>/dev/null || :"

serve
client <<'EOF'
import os, time
M = 1 << 20
def wait_for(path, text, what):
    deadline = time.monotonic() + 30
    while text not in open(path).read():
        assert time.monotonic() < deadline, "no " + what + " in 30 s"
        time.sleep(0.01)
h.pwrite(b"1" * M, 0)
h.pwrite(b"2" * M, M)           # moves past chunk 0: streamed out now
wait_for(os.environ["rlog"], "held PUT", "held upload of chunk 0")
h.pwrite(b"3" * 4096, 8192)     # after that upload's snapshot
n = open(os.environ["log"]).read().count("cache: committed")
deadline = time.monotonic() + 30
while open(os.environ["log"]).read().count("cache: committed") <= n:
    assert time.monotonic() < deadline, "no index commit in 30 s"
    time.sleep(0.01)
EOF
stop_server -9
touch "$LATE_PUT_RELEASE"
# journal-max-bytes=0: the flush uploads the chunk at once (with the
# journal it would write a journal object, and upload it later).
serve journal-max-bytes=0
client <<'EOF'
import os, time
M = 1 << 20
want = b"1" * 8192 + b"3" * 4096 + b"1" * (M - 12288)
t = time.monotonic()
h.flush()
print("the restart's first flush took %.2f s" % (time.monotonic() - t))
assert h.pread(M, 0) == want, "the restart serves another chunk 0"
# Until both uploads of chunk 0 have landed: the held one, and the
# restart's.
deadline = time.monotonic() + 30
while (open(os.environ["rlog"]).read().count("landed PUT") < 1 or
       open(os.environ["log"]).read().count(
           "flush: uploaded devices/disk/chunks/" + "0" * 16) < 1):
    assert time.monotonic() < deadline, "chunk 0 not uploaded in 30 s"
    time.sleep(0.05)
EOF
stop_server
grep 'PUT .*/chunks/0\{16\}' "$rlog"
if ! grep -q "took this cache's own lease back" "$log"; then
    echo "$0: the restart did not take its own lease back"
    exit 1
fi

rm -rf "$cachedir"
serve
client <<'EOF'
M = 1 << 20
want = b"1" * 8192 + b"3" * 4096 + b"1" * (M - 12288)
got = h.pread(M, 0)
assert got == want, \
    "the store's chunk 0 is not what the restart served: %r at 8192" % \
    got[8192:8193]
EOF
stop_server
