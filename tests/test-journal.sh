#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The flush journal (lib/cache/journal.c):
#
# 1. 256 4 KiB writes in 256 distinct chunks, then FLUSH: one journal
#    PUT, no chunk PUT.  A second FLUSH sends nothing; a small FUA write
#    is one small journal PUT.  Requests are counted by the fault
#    wrapper's log.
# 2. With the cache lost after a SIGKILL, a restart replays the journal:
#    every flushed byte reads back.  The history makes the replay skip
#    records older than their chunk's object (a chunk uploaded whole
#    after it was journaled), apply trims (a chunk deleted after it was
#    journaled) and apply every record of one capture (they share a
#    sequence).  Also when the replay itself is killed half way.  A
#    read-only server refuses to open the device instead.
# 3. Once the device is idle the write-back uploads the chunks and the
#    journal/ prefix becomes empty.
# 4. (directory store) A tampered, truncated or swapped journal object
#    fails the open with a message naming it, and loses nothing: with
#    the object put back, the next start replays it.
# 9. zerofs-dev resize --shrink is refused while the device has journal
#    objects (their records past the new end would come back if it grew
#    again), and let in once a server has stored and retired them.
# 10. writeback-max-age: a chunk whose flushed write only the cache
#    (durability=local) or the journal holds is uploaded once it is that
#    old, though its device stays busy; with the default (60 s) it
#    waits the while.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 400M
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
: > "$faults"
: > "$log"
export log
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.flush=1 -D zerofs.fault=1 "$PLUGIN" \
                        "${zargs[@]}" export=disk fault-file="$faults" \
                        "$@" 2>>"$log"; }
# Requests of kind $1 under devices/disk/$2/ logged since line $3.
requests () {
    tail -n +"$3" "$log" |
        grep -c "fault: request $1 devices/disk/$2/[0-9a-f]*: ok" || :
}
mark () { echo $(( $(wc -l < "$log") + 1 )); }

# 1.  Counting, from the server's log, in one connection (opening one
# reads the device's meta object).
serve
client <<'EOF'
import os, re, time
M = 1 << 20
log = os.environ["log"]
def mark():
    return os.path.getsize(log)
def requests(since, op, where):
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    pat = r"fault: request %s devices/disk/%s[^ :]*: ok" % (op, where)
    return len(re.findall(pat, text))
data = {}
for i in range(256):
    b = os.urandom(4096)
    h.pwrite(b, i * M + i * 4096)
    data[i] = b
open(os.environ["tmpdir"] + "/expect1", "wb").write(
    b"".join(data[i] for i in range(256)))
m = mark()
h.flush()
assert requests(m, "PUT", "journal/") == 1, requests(m, "PUT", "journal/")
assert requests(m, "PUT", "chunks/") == 0, requests(m, "PUT", "chunks/")
m = mark()
h.flush()
time.sleep(0.2)
# (Not the lease's renewal, which may fall in this window.)
assert requests(m, "[A-Z]+", "(?:chunks|journal)/") == 0, \
    "a flush with nothing to do sent requests"
m = mark()
h.pwrite(b"F" * 4096, 7 * M, nbd.CMD_FLAG_FUA)
assert requests(m, "PUT", "journal/") == 1
assert requests(m, "PUT", "chunks/") == 0
EOF
stop_server -9          # before the write-back: only the journal has it
test "$(count_chunks disk)" = 0
test "$(count_journal disk)" = 2

# 2.  Replay with the cache lost.  First a history: chunk 300 uploaded
# whole, then journaled (A), then uploaded whole again (B) after that
# journal: the replay must not put A back.  Chunk 301 journaled, then
# trimmed: the replay must leave zeros.
rm -rf "$cachedir"
serve
client <<'EOF'
import os
M = 1 << 20
t = os.environ["tmpdir"]
e1 = open(t + "/expect1", "rb").read()
for i in range(256):
    assert h.pread(4096, i * M + i * 4096) == e1[i * 4096:(i + 1) * 4096], i
assert h.pread(4096, 7 * M) == b"F" * 4096
# The later history, on chunks 290 to 299 (not used above).
h.pwrite(b"0" * M, 290 * M); h.flush()          # uploaded whole
h.pwrite(b"A" * 4096, 290 * M); h.flush()       # journaled
h.pwrite(b"B" * M, 290 * M); h.flush()          # uploaded whole again
h.pwrite(b"C" * 4096, 291 * M + 8192); h.flush()  # journaled
h.trim(M, 291 * M); h.flush()                   # trimmed: deleted
h.pwrite(b"D" * 4096, 292 * M); h.flush()       # journaled
h.pwrite(b"E" * 8192, 292 * M + 4096); h.flush()  # journaled again
h.pwrite(b"P" * 4096, 293 * M)                  # two runs of one chunk,
h.pwrite(b"Q" * 4096, 293 * M + 65536)          # one capture: two
h.flush()                                       # records, one sequence
EOF
stop_server -9
test "$(count_journal disk)" -ge 4
cp -a "$tmpdir/store" "$tmpdir/store.saved" 2>/dev/null || :
check_replay='
import os
M = 1 << 20
e1 = open(os.environ["tmpdir"] + "/expect1", "rb").read()
for i in range(256):
    assert h.pread(4096, i * M + i * 4096) == e1[i * 4096:(i + 1) * 4096], i
assert h.pread(4096, 7 * M) == b"F" * 4096
assert h.pread(M, 290 * M) == b"B" * M, "an older record was replayed"
assert h.pread(M, 291 * M) == bytes(M), "a trimmed chunk came back"
assert h.pread(12288, 292 * M) == b"D" * 4096 + b"E" * 8192
assert h.pread(4096, 293 * M) == b"P" * 4096
assert h.pread(4096, 293 * M + 65536) == b"Q" * 4096
assert h.pread(4096, 294 * M) == bytes(4096)
'
# A read-only server does not replay (that would write to the store):
# the open fails, saying why.
rm -rf "$cachedir"
start_server -r "$PLUGIN" "${zargs[@]}" export=disk 2>>"$log"
client disk 'h.pread(512, 0)' 2>/dev/null && exit 1
server_error "a read-only open does not replay" "$log"
stop_server
# Killed during the replay (at its third GET), then replayed again.
rm -rf "$cachedir"
serve
printf 'crash get 3\n' > "$faults"
sleep 0.3
client disk 'h.pread(512, 0)' 2>/dev/null && exit 1
server_died "replay should have been killed"
: > "$faults"
m=$(mark)
serve
client disk "$check_replay"
tail -n +"$m" "$log" > "$tmpdir/log2"
grep -q 'replayed [0-9]* journal objects' "$tmpdir/log2"
stop_server -9
# A cache that knows the device replays nothing; data still there.
serve
m=$(mark)
client disk "$check_replay"
test "$(requests GET journal "$m")" = 0

# 3.  Idle: the write-back uploads the chunks and retires the journal.
for (( i = 0; i < 150; i++ )); do
    [ "$(count_journal disk)" = 0 ] && break
    sleep 0.2
done
test "$(count_journal disk)" = 0
test "$(count_chunks disk)" -ge 259
stop_server
rm -rf "$cachedir"
serve
client disk "$check_replay"
stop_server

# 4.  Bad journal objects (directory store only: it edits files).
if [ "$ZEROFS_TEST_BACKEND" != dir ]; then
    exit 0
fi
serve
client <<'EOF'
M = 1 << 20
h.pwrite(b"G" * 4096, 270 * M); h.flush()
h.pwrite(b"H" * 4096, 271 * M); h.flush()
EOF
stop_server -9
jdir=$tmpdir/store/devices/disk/journal
mapfile -t objs < <(ls "$jdir")
test "${#objs[@]}" = 2
cp "$jdir/${objs[0]}" "$tmpdir/j0"
cp "$jdir/${objs[1]}" "$tmpdir/j1"
check_gh='
M = 1 << 20
assert h.pread(4096, 270 * M) == b"G" * 4096
assert h.pread(4096, 271 * M) == b"H" * 4096
'
bad_open () {
    rm -rf "$cachedir"
    : > "$log"
    serve
    client disk 'h.pread(512, 0)' 2>/dev/null && exit 1
    server_error "${objs[$1]}" "$log"
    stop_server
}
# Tampered: one byte of the ciphertext flipped.
python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[40] ^= 1
open(p, "wb").write(b)' "$jdir/${objs[1]}"
bad_open 1
# Nothing lost: put it back, restart (the cache still has the device
# unlisted), the replay runs again.
cp "$tmpdir/j1" "$jdir/${objs[1]}"
serve
client disk "$check_gh"
stop_server -9
# Truncated.
rm -rf "$cachedir"
cp "$tmpdir/j0" "$jdir/${objs[0]}"
head -c 50 "$tmpdir/j0" > "$jdir/${objs[0]}"
bad_open 0
# Swapped: each object under the other's name.
cp "$tmpdir/j1" "$jdir/${objs[0]}"
cp "$tmpdir/j0" "$jdir/${objs[1]}"
bad_open 0
cp "$tmpdir/j0" "$jdir/${objs[0]}"
cp "$tmpdir/j1" "$jdir/${objs[1]}"
rm -rf "$cachedir"
serve
client disk "$check_gh"
stop_server

# 5.  Bounds.
rm -rf "$cachedir"
: > "$log"
serve journal-max-objects=16
client <<'EOF'
import os, re, time
M = 1 << 20
jdir = os.environ["tmpdir"] + "/store/devices/disk/journal"
# A new cache: until the survey of the device's chunks is done, a chunk
# that may exist is uploaded whole, not journaled (its sequence unknown).
h.pread(512, 0)
while "device disk: survey done" not in open(os.environ["log"]).read():
    time.sleep(0.05)
most = 0
start = time.monotonic()
for i in range(45):
    h.pwrite(os.urandom(4096), (330 + i) * M + 8192)
    h.flush()
    most = max(most, len(os.listdir(jdir)))
    time.sleep(0.08)              # never idle for the write-back's 5 s
took = time.monotonic() - start
log = open(os.environ["log"]).read()
print("at most %d journal objects; %.1f s" % (most, took))
assert most <= 16, "the journal grew past its bound: %d objects" % most
assert re.search(r"request PUT devices/disk/chunks/", log), \
    "no flush fell back to chunk uploads at the bound"
assert "journal: retired" in log, \
    "the write-back did not make room while the device was busy"
for i in range(45):
    assert h.pread(4096, (330 + i) * M + 8192) != bytes(4096)
EOF
stop_server

# 6.  Sequences behind the store's.  (export=seq: force=true, taking the
# lease of the server killed before, is for the export= device.)
zdev create seq 8M
serve_seq () { serve export=seq; }
for (( i = 0; i < 8; i++ )); do        # each start: +2^32 (4.3 s of ns)
    serve_seq
    client seq 'h.pwrite(b"x" * (1 << 20), 0); h.flush()'
    stop_server -9
done
serve_seq
client seq 'h.pwrite(b"O" * (1 << 20), 5 << 20); h.flush()'   # uploaded
stop_server -9
rm -rf "$cachedir"
serve_seq
client seq 'h.pwrite(b"N" * 4096, 5 << 20); h.flush()'
stop_server -9
rm -rf "$cachedir"
serve_seq
client seq 'assert h.pread(4096, 5 << 20) == b"N" * 4096, "a flushed write was lost"'
stop_server

# 7.  A replay bigger than the cache.  (export=big: as in 6.)
zdev create big 64M
rm -rf "$cachedir"
serve export=big
client big <<'EOF'
import os
M = 1 << 20
expect = {}
for i in range(40):
    b = os.urandom(4096)
    h.pwrite(b, i * M + 4096)
    expect[i] = b
h.flush()
open(os.environ["tmpdir"] + "/expect7", "wb").write(b"".join(expect[i] for i in range(40)))
EOF
stop_server -9
rm -rf "$cachedir"
serve export=big cache-size=16M
client big <<'EOF'
import os
M = 1 << 20
e = open(os.environ["tmpdir"] + "/expect7", "rb").read()
for i in range(40):
    assert h.pread(4096, i * M + 4096) == e[i * 4096:(i + 1) * 4096], i
EOF
stop_server

# 8.  Cached whole is not rewritten whole.
serve
client <<'EOF'
import os, re, time
M = 1 << 20
h.pwrite(b"v" * M, 380 * M)
h.flush()                            # uploaded, and cached whole
m = len(open(os.environ["log"]).read())
h.pwrite(b"w" * 4096, 380 * M)
h.flush()                            # journaled
for i in range(8):                   # busy: never idle for 5 s
    h.pwrite(b"b" * 4096, 381 * M)
    time.sleep(0.5)
log = open(os.environ["log"]).read()[m:]
assert not re.search(r"request PUT devices/disk/chunks/000000000000017c", log), \
    "a chunk cached whole was uploaded after a 4 KiB write"
EOF
stop_server

# 9.  No shrink while the journal holds flushed writes: its records of
# chunks past the new end would come back if the device grew again.
serve
client <<'EOF2'
for i in range(4):
    h.pwrite(b"J" * (1 << 20), (200 + i) << 20)
h.flush()                            # uploaded: their objects are known
for i in range(4):
    h.pwrite(b"j" * 4096, (200 + i) << 20)
h.flush()                            # journaled, not uploaded yet
EOF2
stop_server -9
n=$(count_journal disk)
test "$n" -ge 1
chunks=$(count_chunks disk)
if zdev resize --shrink --force disk 100M > "$tmpdir/out" 2>&1; then
    echo "$0: FAIL: shrunk with journal objects left"; exit 1
fi
cat "$tmpdir/out"
grep -q "device disk has $n journal objects: flushed writes not yet in its chunk objects" "$tmpdir/out"
test "$(count_journal disk)" = "$n"
test "$(count_chunks disk)" = "$chunks"
zdev info --json disk |
    /usr/bin/python3 -c 'import json, sys; assert json.load(sys.stdin)["size"] == 400 << 20'

# Served once (the same cache uploads the chunks), the journal goes, and
# the shrink is let in.
serve
for (( i = 0; i < 150; i++ )); do
    [ "$(count_journal disk)" = 0 ] && break
    sleep 0.2
done
stop_server
test "$(count_journal disk)" = 0
zdev resize --shrink disk 100M
zdev resize disk 400M
serve
client disk 'assert h.pread(4096, 200 << 20) == bytes(4096), "data came back"'
stop_server

# 10. writeback-max-age.  The client flushes a 4 KiB write to chunk C,
# then keeps the device busy (a write to chunk C+1 every 0.25 s, so it
# is never idle for 5 s) until C's PUT shows in the log, or for SECONDS.
# With writeback-max-age=2, C goes up while the device is busy, with
# durability=local and with the journal; with the default it does not.
max_age_client () {     # C SECONDS WANT(0|1) [UPLOADED-FIRST]
    MAX_AGE_ARGS="$*" client <<'EOF'
import os, time
M = 1 << 20
args = os.environ["MAX_AGE_ARGS"].split()
c, seconds, want = int(args[0]), float(args[1]), args[2] == "1"
if len(args) > 3:                    # its object known: later flushes journal
    h.pwrite(b"u" * M, c * M)
    h.flush()
log = os.environ["log"]
since = os.path.getsize(log)
h.pwrite(b"m" * 4096, c * M)
h.flush()
put = "fault: request PUT devices/disk/chunks/%016x: ok" % c
start = time.monotonic()
while time.monotonic() - start < seconds:
    h.pwrite(b"x" * 4096, (c + 1) * M)
    with open(log, "rb") as f:
        f.seek(since)
        if put.encode() in f.read():
            break
    time.sleep(0.25)
took = time.monotonic() - start
found = put.encode() in open(log, "rb").read()[since:]
print("chunk %d: uploaded %s after %.1f s" % (c, found, took))
assert found == want, "writeback-max-age: chunk %d uploaded: %s, expected %s" % (c, found, want)
assert h.pread(4096, c * M) == b"m" * 4096
EOF
}
serve durability=local
max_age_client 390 7 0
stop_server
serve durability=local writeback-max-age=2
max_age_client 392 30 1
stop_server
serve writeback-max-age=2
max_age_client 394 30 1 uploaded-first
stop_server
