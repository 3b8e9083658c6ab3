#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A slow uplink: s3rver behind a forwarder that lets 256 KiB/s through
# from zerofs to the store (2 Mbit/s, shared by every connection).  A
# 64 MiB write and a FLUSH: 64 chunk PUTs, 16 at a time (the write-back
# threads).  6 chunks are incompressible (whole 1 MiB PUTs), the other
# 58 hold 16 KiB of random bytes each (what crosses the link is what
# zstd leaves, so that the test takes about 30 s rather than the 256 s
# of 64 incompressible MiB): about 7 MiB in all.  Each PUT shares the
# link with 15 others, so the big ones take far longer than timeout=10.
# Every request must succeed at the first attempt: a request is abandoned
# when it stalls, not when it is merely slow (a whole-request timeout
# made every one of them time out and retry forever: the bound on a PUT,
# write-timeout, is left at its default, 120 s).  The data is then
# read back through a fresh cache.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import asyncio'
ZEROFS_TEST_BACKEND=s3rver
s3_write_timeout=()             # the default, 120 s: time for 16 PUTs
start_volume
zdev create disk 64M

start_slow_link 262144
log=$tmpdir/nbdkit.log
cleanup_fn sh -c "grep -v debug $log | tail -20"

start_server -D zerofs.s3=1 "$PLUGIN" "${zargs[@]}" endpoint="$slow" \
             export=disk timeout=10 2>"$log"
start=$SECONDS
client <<'EOF2'
import hashlib, os
sums = []
for i in range(64):
    if i % 11 == 0:
        chunk = os.urandom(1 << 20)
    else:
        chunk = os.urandom(16 << 10) + bytes((1 << 20) - (16 << 10))
    sums.append(hashlib.sha256(chunk).hexdigest())
    h.pwrite(chunk, i << 20)
h.flush()
open(os.environ["tmpdir"] + "/sums", "w").write("\n".join(sums))
EOF2
echo "64 MiB and a flush over the slow link: $(( SECONDS - start )) s"
stop_server
# The store holds every chunk, and they read back right.
test "$(count_chunks disk)" -eq 64
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" cache-dir="$tmpdir/c2" \
       endpoint="$slow" export=disk -r --run 'nbdsh -u "$uri" -c "
import hashlib, os
sums = open(os.environ[\"tmpdir\"] + \"/sums\").read().split()
for i in range(64):
    assert hashlib.sha256(h.pread(1 << 20, i << 20)).hexdigest() == sums[i], i
"'
if grep -q 'retrying\|failed after' "$log"; then
    echo "$0: requests over the slow link failed and were retried:"
    grep 'retrying\|failed after' "$log" | head
    exit 1
fi
[ $(( SECONDS - start )) -ge 10 ] ||
    { echo "$0: the link was not slow (the forwarder is not in the way?)"; exit 1; }
