#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Cold reads answered from the fetched copy (lib/cache/chunk-io.c:
# centry_fetch_shared, struct fetch_serve), against writes and trims of
# the same chunk while its GET is under way (every GET takes 2 s, by
# the fault file).  NBD lets a read that overlaps a write still in
# flight return the old or the new bytes, per sector here; but a read
# issued after a write completed must return what it wrote, and a read
# issued after a trim completed must return zeros.  Every read below is
# checked against a model of the device:
#   1. writes to a chunk not cached (no GET), then a read of the whole
#      chunk: its GET's copy goes straight into the read's buffer, and
#      the written sectors must come from the slot, not from the copy;
#      the same for an unaligned read of part of a chunk;
#   2. a read starts the GET; a write to the chunk completes while the
#      GET is under way; then reads of the whole chunk and of an
#      unaligned part of it, which wait for that GET and are answered
#      from its copy, must see the write; the first read may see either
#      (per sector, nothing else); one GET in all;
#   3. the same with a trim of the whole chunk: the waiting reads are
#      zeros;
#   4. a sequential reader with readahead: chunks ahead of it are
#      written while readahead fetches them, and the reader, answered
#      by the readahead threads' copies or the slot, sees the writes.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 16M
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
: > "$faults"
: > "$log"
export log faults
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.fault=1 "$PLUGIN" "${zargs[@]}" \
                        export=disk fault-file="$faults" "$@" 2>>"$log"; }

# 16 chunks of random data in the store; the model keeps them.
serve
client <<EOF2
import random
rng = random.Random(7)
model = rng.randbytes(16 << 20)
h.pwrite(model, 0)
h.flush()
open("$tmpdir/model", "wb").write(model)
EOF2
stop_server

# run [PARAMS...]: a server on an empty cache with slow chunk GETs (not
# the lease's, read at the first write), the Python
# script on stdin run against it with the model in "model".
run () {
    rm -rf "$cachedir"
    serve "$@"
    printf 'delay get:/chunks/ 2s\n' > "$faults"
    sleep 0.3
    cat > "$tmpdir/script.py"
    client disk "exec(open('$tmpdir/functions.py').read())
exec(open('$tmpdir/script.py').read())"
    : > "$faults"
    stop_server
}
cat > "$tmpdir/functions.py" <<EOF2
import os, re, time, nbd
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
M = 1 << 20
S = 4096
GET = 2.0
model = bytearray(open("$tmpdir/model", "rb").read())
def mark():
    return os.path.getsize(os.environ["log"])
def gets(since):
    with open(os.environ["log"], "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return re.findall(r"fault: request GET devices/disk/chunks/([0-9a-f]+): ok",
                      text)
def write(off, n, seed):
    data = bytes([(seed + i) % 251 for i in range(n)])
    h.pwrite(data, off)
    model[off:off + n] = data
def trim(off, n):
    h.trim(n, off)
    model[off:off + n] = bytes(n)
def check(what, got, off):
    want = bytes(model[off:off + len(got)])
    if got != want:
        i = next(i for i in range(len(got)) if got[i] != want[i])
        raise SystemExit("%s: byte %d of the read (device byte %d) is "
                         "wrong" % (what, i, off + i))
def aio_read(n, off):
    buf = nbd.Buffer(n)
    return buf, h.aio_pread(buf, off)
def wait(cookie):
    while not h.aio_command_completed(cookie):
        h.poll(-1)
EOF2

# 1.  Written sectors, then the GET: whole chunk and unaligned part.
run readahead=0 <<'EOF2'
m = mark()
write(0 * M + 10 * S, 3 * S, 1)
write(1 * M + 3 * S, 2 * S, 2)
write(1 * M + 200 * S, S, 3)
check("whole chunk 0 after writes", h.pread(M, 0), 0)
off = 1 * M + 2 * S + 100
check("part of chunk 1 after writes", h.pread(4 * S, off), off)
check("chunk 1 again", h.pread(M, M), M)
n = gets(m)
print("1: GETs %s" % n)
assert sorted(n) == ["0000000000000000", "0000000000000001"], n
EOF2

# 2.  A write completes while the GET is under way; reads issued after
# it wait for the GET and must see it.
run readahead=0 <<'EOF2'
m = mark()
old = bytes(model[2 * M:3 * M])
start = time.monotonic()
abuf, a = aio_read(M, 2 * M)             # the GET starts
time.sleep(0.2)
write(2 * M + 5 * S, 2 * S, 4)            # no GET: aligned sectors
wrote = time.monotonic() - start
assert wrote < GET * 0.8, "the write took %.2f s" % wrote
assert not h.aio_command_completed(a), "the GET was too quick"
bbuf, b = aio_read(M, 2 * M)
off = 2 * M + 4 * S + 1000
cbuf, cc = aio_read(3 * S, off)
for x in (a, b, cc):
    wait(x)
took = time.monotonic() - start
check("whole chunk 2, issued after the write", bytes(bbuf.to_bytearray()),
      2 * M)
check("part of chunk 2, issued after the write",
      bytes(cbuf.to_bytearray()), off)
# The read issued before the write: each sector old or new.
got = bytes(abuf.to_bytearray())
for k in range(256):
    sec = got[k * S:(k + 1) * S]
    assert sec in (old[k * S:(k + 1) * S],
                   bytes(model[2 * M + k * S:2 * M + (k + 1) * S])), \
        "chunk 2, read issued before the write: sector %d is neither" % k
check("chunk 2 read again", h.pread(M, 2 * M), 2 * M)
n = gets(m)
print("2: %.2f s, GETs %s" % (took, n))
assert n == ["0000000000000002"], n
assert took < 2 * GET, "the waiting reads did not share the GET"
EOF2

# 3.  A trim completes while the GET is under way: zeros after it.
run readahead=0 <<'EOF2'
abuf, a = aio_read(M, 3 * M)
time.sleep(0.2)
trim(3 * M, M)
assert not h.aio_command_completed(a), "the GET was too quick"
bbuf, b = aio_read(M, 3 * M)
off = 3 * M + 7 * S + 5
cbuf, cc = aio_read(2 * S, off)
for x in (a, b, cc):
    wait(x)
check("chunk 3, issued after the trim", bytes(bbuf.to_bytearray()), 3 * M)
check("part of chunk 3, issued after the trim", bytes(cbuf.to_bytearray()),
      off)
check("chunk 3 read again", h.pread(M, 3 * M), 3 * M)
EOF2

# 4.  A sequential reader with readahead; chunks ahead of it are
# written while they are being read ahead.
run readahead=8M <<'EOF2'
m = mark()
check("chunk 4", h.pread(M, 4 * M), 4 * M)
check("chunk 5", h.pread(M, 5 * M), 5 * M)    # the window opens
for i in range(6, 12):
    write(i * M + (i % 4) * S, S, i)
    write(i * M + M - 2 * S, 2 * S, 3 * i)
for i in range(6, 14):
    check("chunk %d, read after writes" % i, h.pread(M, i * M), i * M)
n = gets(m)
print("4: GETs %s" % n)
assert len(n) == len(set(n)), "a chunk was fetched twice: %s" % n
EOF2
