#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Readahead of cold sequential reads (lib/cache/readahead.c), with every
# GET made to take 0.5 s by the fault file (1 s on the S3 servers, whose
# own time for 1 MiB GETs in parallel must stay small next to it), and
# the GETs counted from the fault wrapper's log:
#   1. a reader with one request in flight reading 16 chunks in order
#      (256 KiB requests, readahead=8M) takes far less than 16 GET times,
#      each chunk was fetched once, and at most 8 chunks were fetched
#      past the last one read;
#   2. two readers (1 MiB requests) on two connections at once, each in
#      its own part of the device, are both followed (8 stream trackers
#      per device) and still fetch each chunk once; with the default
#      readahead (16M) a window grows to 16 chunks;
#   3. random reads fetch nothing ahead: as many GETs as chunks read;
#   4. readahead=0: one GET time per chunk again, and no GET more.
#   5. a reader whose requests come a little out of order (chunks 0, 1,
#      3, 2, 5, 4 ...: nbdkit's threads start a deep queue's requests
#      in any order) is one stream all the same: its window grows to 8
#      chunks, and each chunk is fetched once;
#   6. two readers close together, read by turns (chunks 0, 6, 1, 7 ...):
#      each keeps its own stream, whose window grows to 8 chunks.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 64M
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
: > "$faults"
: > "$log"
export log faults
if [ "$ZEROFS_TEST_BACKEND" = dir ]; then get_ms=500; else get_ms=1000; fi
export get_ms
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.fault=1 -D zerofs.readahead=1 "$PLUGIN" \
                        "${zargs[@]}" export=disk fault-file="$faults" \
                        "$@" 2>>"$log"; }

# 48 chunks of data, then a cold cache: every chunk only in the store.
serve
client <<'EOF2'
for i in range(48):
    h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
h.flush()
EOF2
stop_server

# run [PARAMS...]: a server on an empty cache with GETs of 0.5 s, the
# Python script on stdin run against it.
run () {
    rm -rf "$cachedir"
    serve "$@"
    printf 'delay get %sms\n' "$get_ms" > "$faults"
    sleep 0.3
    cat > "$tmpdir/script.py"
    client disk "exec(open('$tmpdir/functions.py').read())
exec(open('$tmpdir/script.py').read())"
    : > "$faults"
    stop_server
}
cat > "$tmpdir/functions.py" <<'EOF2'
import os, re, time
M = 1 << 20
GET = int(os.environ["get_ms"]) / 1000
def mark():
    return os.path.getsize(os.environ["log"])
# The chunks GET since MARK, each with its count.
def gets(since):
    with open(os.environ["log"], "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    n = {}
    for k in re.findall(r"fault: request GET devices/disk/chunks/([0-9a-f]+): ok",
                        text):
        n[int(k, 16)] = n.get(int(k, 16), 0) + 1
    return n
def check(i, data):
    assert data == bytes([i + 1]) * len(data), "chunk %d: wrong data" % i
EOF2

# 1.  One sequential reader, 256 KiB at a time.
run readahead=8M <<'EOF2'
m = mark()
start = time.monotonic()
for off in range(0, 16 * M, 256 << 10):
    check(off // M, h.pread(256 << 10, off))
took = time.monotonic() - start
time.sleep(2 * GET)      # the last windows' GETs end
n = gets(m)
print("16 chunks read in order: %.1f s (%d GET times), GETs %s"
      % (took, round(took / GET), sorted(n.items())))
assert took < 6 * GET, "no readahead: %.1f s for 16 chunks" % took
assert all(n.get(i) == 1 for i in range(16)), "not one GET a chunk: %s" % n
assert max(n.values()) == 1, n
# Ahead of the reader, never more than the window (8 chunks).
assert max(n) <= 15 + 8, n
EOF2
grep -q "readahead: disk: stream at byte .*: window 8 chunks" "$log"

# 2.  Two sequential readers at once, on two connections, in chunks
# 0-15 and 24-39, with the default readahead (16M).
m2=$(stat -c %s "$log")
run <<'EOF2'
import nbd, threading
h2 = nbd.NBD()
h2.connect_uri("nbd+unix:///disk?socket=" + os.environ["sock"])
m = mark()
took = {}
def reader(handle, first):
    start = time.monotonic()
    for i in range(first, first + 16):
        check(i, handle.pread(M, i * M))
    took[first] = time.monotonic() - start
t = threading.Thread(target=reader, args=(h2, 24))
t.start()
reader(h, 0)
t.join()
time.sleep(2 * GET)
n = gets(m)
print("two readers of 16 chunks: %.1f s and %.1f s" % (took[0], took[24]))
# The pool (16 threads with the default 16M) serves both windows: each
# reader is slower than alone, still far from a GET time per chunk.
assert took[0] < 10 * GET and took[24] < 10 * GET, took
assert all(n.get(i) == 1 for i in list(range(16)) + list(range(24, 40))), n
assert max(n.values()) == 1, n
h2.shutdown()
EOF2
# The default window: 16 chunks.
# (Not "tail | grep -q": grep would exit at the match while tail still
# writes, and pipefail would see tail die of SIGPIPE.)
tail -c +"$((m2 + 1))" "$log" > "$tmpdir/log2"
grep -q "readahead: disk: stream at byte .*: window 16 chunks" "$tmpdir/log2"

# 3.  Random reads (no read starts where another ended): no readahead.
run <<'EOF2'
import random
chunks = list(range(0, 48, 3))
random.shuffle(chunks)
m = mark()
for i in chunks:
    off = random.randrange(0, 255) * 4096
    check(i, h.pread(4096, i * M + off))
time.sleep(3 * GET)
n = gets(m)
print("random 4 KiB reads of %d chunks: GETs %s" % (len(chunks), sorted(n)))
assert sorted(n) == sorted(chunks), "GETs of chunks not read: %s" % n
assert max(n.values()) == 1, n
EOF2

# 4.  readahead=0: a GET time per chunk, one after another.
run readahead=0 <<'EOF2'
m = mark()
start = time.monotonic()
for i in range(8):
    check(i, h.pread(M, i * M))
took = time.monotonic() - start
n = gets(m)
print("8 chunks in order, readahead=0: %.1f s, GETs %s" % (took, sorted(n)))
assert took > 8 * GET * 0.9, "something read ahead: %.1f s" % took
assert sorted(n) == list(range(8)) and max(n.values()) == 1, n
EOF2

# 5.  Out of order by one: 0, 1, 3, 2, 5, 4, ... 15, 14.
run readahead=8M <<'EOF2'
m = mark()
start = time.monotonic()
order = [0, 1] + [i + d for i in range(2, 16, 2) for d in (1, 0)]
for i in order:
    check(i, h.pread(M, i * M))
took = time.monotonic() - start
time.sleep(2 * GET)
n = gets(m)
with open(os.environ["log"], "rb") as f:
    f.seek(m)
    windows = [int(w) for w in re.findall(
        rb"readahead: disk: stream at byte \d+: window (\d+) chunks", f.read())]
print("16 chunks, pairs swapped: %.1f s, windows %s, GETs %s"
      % (took, windows, sorted(n.items())))
assert 8 in windows, "the window never grew to 8 chunks: %s" % windows
assert took < 6 * GET, "%.1f s for 16 chunks" % took
assert all(n.get(i) == 1 for i in range(16)), "not one GET a chunk: %s" % n
assert max(n.values()) == 1 and max(n) <= 15 + 8, n
EOF2

# 6.  Two streams 6 chunks apart, by turns: 0, 6, 1, 7, ... 5, 11.
run readahead=8M <<'EOF2'
m = mark()
for i in range(6):
    check(i, h.pread(M, i * M))
    check(6 + i, h.pread(M, (6 + i) * M))
with open(os.environ["log"], "rb") as f:
    f.seek(m)
    windows = re.findall(
        rb"readahead: disk: stream at byte (\d+): window (\d+) chunks", f.read())
time.sleep(2 * GET)
n = gets(m)
windows = [(int(b) // M, int(w)) for b, w in windows]
print("two streams by turns: windows (chunk, size) %s, GETs %s"
      % (windows, sorted(n.items())))
for first in (0, 6):
    grown = [w for b, w in windows if first < b <= first + 6]
    assert grown[:3] == [2, 4, 8], \
        "the stream from chunk %d: windows %s" % (first, grown)
assert all(n.get(i) == 1 for i in range(12)), "not one GET a chunk: %s" % n
assert max(n.values()) == 1, n
EOF2
