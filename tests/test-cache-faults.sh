#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The cache engine on a bad day (each part failed before its fix):
#
# 1. A chunk whose store object is deleted because it became all zeros,
#    with a kill right after the DELETE: the index must not be left
#    wanting to merge with the object that is gone (reads of the chunk
#    failed with EIO, and every later FLUSH of the device, forever).
# 2. A chunk written continuously is uploaded once per write-back delay,
#    not at every round (it kept its first dirty time after an upload).
# 3. Small ones: a bad default export refused at start-up; the maximum
#    request advertised is what nbdkit serves; the cache-dir lock names
#    the serving process; retry-time=0 does not make writers wait forever
#    for cache space.
# 4. A rollback (an older, genuine version of a chunk object put back in
#    the store) is refused, not returned as data.
# 5. A slow GET holds no lock that cached I/O of its stripe needs.
# 6. A write torn by a power loss (the torn_write debug flag) reads back
#    as old or new in 512-byte pieces, never as noise.
# 7. A device's first open (a listing of the store) does not hold up
#    other devices' opens.
# 8. The index's map grows instead of failing commits.
# 9. A GET that races a trim and its DELETE is looked at again, not an
#    EIO.
# 10. A fetched copy is used only while it is the chunk's.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 32M
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
: > "$faults"
export log
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.flush=1 "$PLUGIN" "${zargs[@]}" \
                        export=disk fault-file="$faults" "$@" 2>>"$log"; }
M=$(( 1 << 20 ))

# 1.  Chunk 0 (Y) and chunk 1 (X) are stored; X with data in sector 0.
serve
client <<'EOF2'
h.pwrite(b"Y" * 4096, 0)
h.pwrite(b"A" * 4096, 1 << 20)
h.flush()
EOF2
stop_server
rm -rf "$cachedir"                  # both chunks now only in the store
serve writeback-threads=1
printf 'delay put 1500ms\ncrash delete\n' > "$faults"
sleep 0.3
# X's sector 0 is zeroed, then Y's written: both dirty and partial (the
# rest of each still in the store), Y the newer.  After the write-back
# delay one round takes both: its first commit records X as partial, then
# it uploads Y first (a slow PUT: the round's thread is busy, so no
# periodic commit happens meanwhile).  During that PUT the rest of X is
# zeroed: X's turn finds it all zeros and deletes its object, and the
# fault file kills the server right after that DELETE.
client <<'EOF2' || :
import os, time
M = 1 << 20
h.zero(4096, M)
h.pwrite(b"Z" * 4096, 0)
for _ in range(1000):
    if "write-back: 2 chunks" in open(os.environ["log"]).read():
        break
    time.sleep(0.01)
time.sleep(0.2)
h.zero(M - 4096, M + 4096)
EOF2
server_died "the fault file's crash after the DELETE"
: > "$faults"
serve
client <<'EOF2'
M = 1 << 20
assert h.pread(M, M) == bytes(M), "chunk 1 should read as zeros"
assert h.pread(4096, 0) == b"Z" * 4096
h.flush()
EOF2
stop_server
rm -rf "$cachedir"
serve
client <<'EOF2'
M = 1 << 20
assert h.pread(M, M) == bytes(M)
assert h.pread(M, 0) == b"Z" * 4096 + bytes(M - 4096)
EOF2
stop_server

# 2.  A 4 KiB write every 50 ms to one chunk for 12 s, PUTs taking
#     200 ms, no flush: the write-back delay is 5 s, so 2 or 3 uploads.
printf 'delay put 200ms\n' > "$faults"
: > "$log"
serve
client <<'EOF2'
import time
end = time.monotonic() + 12
i = 0
while time.monotonic() < end:
    h.pwrite(bytes([i % 251 + 1]) * 4096, 2 << 20)
    i += 1
    time.sleep(0.05)
EOF2
uploads=$(grep -c 'flush: uploaded devices/disk/chunks/0000000000000002' "$log" || :)
echo "uploads of the hot chunk in 12 s: $uploads"
if [ "$uploads" -gt 3 ]; then
    echo "$0: a chunk written continuously was uploaded $uploads times" \
         "in 12 s (at most once per 5 s write-back delay expected)"
    exit 1
fi
stop_server

# 3.  Small ones.
# A default export that can never be served is refused at startup,
# naming the rule (it used to fail only when a client connected).
for bad in ../x a/b .hidden "$(printf 'x%.0s' {1..65})"; do
    if nbdkit -U - "$PLUGIN" "${zargs[@]}" export="$bad" --run true \
              2>"$tmpdir/err"; then
        echo "$0: export=$bad was accepted"
        exit 1
    fi
    grep -q 'device name' "$tmpdir/err" || {
        echo "$0: export=$bad: no message naming the rule:"
        cat "$tmpdir/err"
        exit 1
    }
done
# The advertised maximum request is one nbdkit serves (64 MiB).
max=$(nbdkit -U - "$PLUGIN" "${zargs[@]}" export=disk \
             --run 'nbdinfo --json "$uri"' |
      sed -n 's/.*"block_size_maximum": *\([0-9]*\).*/\1/p')
echo "advertised maximum block size: $max"
[ -n "$max" ] && [ "$max" -le $(( 64 << 20 )) ] && [ "$max" -ge $(( 1 << 20 )) ]
# The cache-dir lock names the process that serves, not the parent that
# took the lock before nbdkit forked into the background (so this server
# is started the way users start it: without -f).
rm -f "$sock"
nbdkit -v -U "$sock" -P "$tmpdir/bg.pid" "$PLUGIN" "${zargs[@]}" \
       export=disk 2>>"$log"
# The parent may exit before the child has written the pidfile.
for (( i = 0; i < 300; i++ )); do
    [ -s "$tmpdir/bg.pid" ] && [ -S "$sock" ] && break
    sleep 0.1
done
bgpid=$(cat "$tmpdir/bg.pid")
cleanup_fn kill -9 "$bgpid"
if nbdkit -U - "$PLUGIN" "${zargs[@]}" export=disk --run true \
          2>"$tmpdir/err"; then
    echo "$0: a second server on the same cache-dir was accepted"
    exit 1
fi
grep -q "in use by another zerofs process (pid $bgpid)" "$tmpdir/err" || {
    echo "$0: the refusal does not name the serving process $bgpid:"
    cat "$tmpdir/err"
    exit 1
}
kill "$bgpid"
for (( i = 0; i < 300; i++ )); do
    kill -0 "$bgpid" 2>/dev/null || break
    sleep 0.1
done
# retry-time=0 (no retries): a writer waiting for cache space while the
# store takes nothing gives up after timeout=, instead of waiting forever.
printf 'fail put:/chunks/ EIO\n' > "$faults"  # the store takes no chunk
serve cache-size=16M retry-time=0 timeout=2
if timeout 120 nbdsh -u "nbd+unix:///disk?socket=$sock" \
           -c 'h.pwrite(b"W" * (16 << 20), 0)' 2>"$tmpdir/err"; then
    echo "$0: 16 MiB of writes into a 16 slot cache with a dead store succeeded?"
    exit 1
fi
status=$?
[ $status != 124 ] || { echo "$0: the writer waited forever"; exit 1; }
grep -q 'Input/output error' "$tmpdir/err"
: > "$faults"
stop_server -9

# 4.  A chunk object replaced in the store by an older, genuine version
#     of itself (a rollback) is an EIO naming the key, never data.
if [ "$ZEROFS_TEST_BACKEND" = dir ]; then
    obj=$tmpdir/store/devices/disk/chunks/0000000000000005
    serve
    # Whole chunks: a flush uploads them (scattered writes would go to
    # the journal).
    client <<'EOF2'
h.pwrite(b"1" * (1 << 20), 5 << 20)
h.flush()
EOF2
    cp "$obj" "$tmpdir/old-object"
    client <<'EOF2'
h.pwrite(b"2" * (1 << 20), 5 << 20)
h.flush()
EOF2
    stop_server -9                  # unclean: cached copies are dropped
    cp "$tmpdir/old-object" "$obj"
    : > "$log"
    serve
    client <<'EOF2'
try:
    h.pread(4096, 5 << 20)
    assert False, "an old version of the chunk was returned as data"
except nbd.Error:
    pass
EOF2
    stop_server
    server_error 'devices/disk/chunks/0000000000000005 holds write sequence' \
                 "$log"
fi

# 5.  No GET under a lock that cached I/O needs: while a slow GET fills
#     chunk 7 (its sector 5 is read, only sector 0 is cached), cached
#     reads and writes of the same chunk's stripe go on at once (they
#     waited for the whole GET and its retries).
: > "$faults"
serve
client <<'EOF2'
h.pwrite(b"S" * (1 << 20), 7 << 20)
h.flush()
EOF2
stop_server
rm -rf "$cachedir"
serve
client <<'EOF2'
h.pwrite(b"W" * 4096, 7 << 20)    # cached; the rest is only in the store
EOF2
printf 'delay get 4s\n' > "$faults"
sleep 0.3
client <<'EOF2' &
assert h.pread(4096, (7 << 20) + 5 * 4096) == b"S" * 4096
EOF2
slow=$!
sleep 0.7
client <<'EOF2'
import time
M = 1 << 20
start = time.monotonic()
assert h.pread(4096, 7 * M) == b"W" * 4096
h.pwrite(b"V" * 4096, 7 * M + 4096)
took = time.monotonic() - start
print("cached I/O during a 4 s GET of its chunk took %.2f s" % took)
assert took < 2, "cached I/O waited for the GET (%.2f s)" % took
EOF2
wait $slow
client <<'EOF2'
M = 1 << 20
assert h.pread(3 * 4096, 7 * M) == b"W" * 4096 + b"V" * 4096 + b"S" * 4096
EOF2
: > "$faults"
stop_server

# 6.  A torn write: half of a 4 KiB sector reaches the cache disk, then
#     the power goes.  The sector held bytes a FLUSH acknowledged (with
#     durability=local: only the cache has them).  It must read back as
#     old or new in each 512-byte piece, never as noise (the cache was
#     encrypted in 4 KiB units, so the whole sector decrypted to noise,
#     which recovery then uploaded).
printf 'fail put:/chunks/ EIO\n' > "$faults"  # only the cache holds chunk 9
serve durability=local
client <<'EOF2'
h.pwrite(b"A" * 4096, 9 << 20)
h.flush()
EOF2
stop_server -9
: > "$log"
start_server -D zerofs.torn_write=1 "$PLUGIN" "${zargs[@]}" export=disk \
             fault-file="$faults" durability=local 2>>"$log"
client <<'EOF2' || :
h.pwrite(b"B" * 4096, 9 << 20)
EOF2
server_died "the torn write"
grep -q 'tearing the write' "$log"
: > "$faults"
serve
client <<'EOF2'
data = h.pread(4096, 9 << 20)
pieces = [data[i:i + 512] for i in range(0, 4096, 512)]
print("after the torn write:", "".join(p[:1].decode("latin-1") if p in (b"A" * 512, b"B" * 512) else "?" for p in pieces))
assert all(p in (b"A" * 512, b"B" * 512) for p in pieces), "noise in the torn sector"
h.flush()
EOF2
stop_server

# 7.  Opening one device does not wait for another device's first open,
#     which lists that device in the store (it held the service lock).
zdev create other 8M
rm -rf "$cachedir"                 # a new cache: no device listed yet
serve
client other <<'EOF2'
h.pwrite(b"O" * 4096, 0)           # "other" is now listed in this cache
EOF2
stop_server
serve
client other 'pass'                # opened once: its journal is listed
printf 'delay list 4s\n' > "$faults"
sleep 0.3
client disk <<'EOF2' &
assert h.get_size() == 32 << 20    # the first open of "disk": a slow LIST
EOF2
lister=$!
sleep 0.7
nbdsh -c - <<'EOF2'
import os, time
start = time.monotonic()
h.connect_uri("nbd+unix:///other?socket=" + os.environ["sock"])
assert h.pread(4096, 0) == b"O" * 4096
took = time.monotonic() - start
print("opening other during the listing of disk took %.2f s" % took)
assert took < 2, "the open waited for another device's listing"
EOF2
wait $lister
: > "$faults"
stop_server

# 8.  The index's map grows as the index does: a device with 150,000
#     stored chunks surveyed into a cache whose map starts at 8 MiB (the
#     survey commits 4,096 records at a time; without growth a later
#     batch failed with MDB_MAP_FULL).
if [ "$ZEROFS_TEST_BACKEND" = dir ]; then
    zdev create many 200G
    /usr/bin/python3 - "$tmpdir/store/devices/many/chunks" <<'EOF2'
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for i in range(150000):
    open(os.path.join(d, "%016x" % (i * 1 + 7)), "w").close()
EOF2
    rm -rf "$cachedir"
    : > "$log"
    start_server -D zerofs.index_map_kib=8192 -D zerofs.cache=1 \
                 "$PLUGIN" "${zargs[@]}" export=many 2>>"$log"
    client many <<'EOF2'
import os, re, time
M = 1 << 20
h.pwrite(b"m" * 4096, 3 * M)      # not stored
assert h.pread(4096, 3 * M) == b"m" * 4096
h.flush()
end = time.monotonic() + 120
# (Chunk 3 too if its shard was listed after the flush uploaded it.)
while not re.search(r"survey done: 15000[01] chunk objects",
                    open(os.environ["log"]).read()):
    assert time.monotonic() < end, "the survey did not end"
    time.sleep(0.2)
EOF2
    stop_server
    grep -q 'map grown to' "$log"
fi

# 9.  A read and an unaligned write whose GET is under way when another
#     connection trims the chunk and flushes (its object is deleted):
#     both succeed (they failed with EIO, "missing from the store").
serve
client <<'EOF2'
h.pwrite(b"S" * (1 << 20), 3 << 20)
h.pwrite(b"T" * (1 << 20), 4 << 20)
h.flush()
EOF2
stop_server
rm -rf "$cachedir"                 # chunks 3 and 4 only in the store
serve
printf 'delay get 3s\n' > "$faults"
sleep 0.3
client <<'EOF2' &
assert h.pread(4096, (3 << 20) + 5 * 4096) in (b"S" * 4096, bytes(4096))
EOF2
reader=$!
client <<'EOF2' &
h.pwrite(b"x" * 10, (4 << 20) + 100)
EOF2
writer=$!
sleep 0.8
client <<'EOF2'
h.trim(1 << 20, 3 << 20)
h.trim(1 << 20, 4 << 20)
h.flush()
EOF2
wait $reader
wait $writer
: > "$faults"
client <<'EOF2'
d = h.pread(4096, 4 << 20)
assert d[100:110] == b"x" * 10 and d[:100] in (b"T" * 100, bytes(100))
EOF2
stop_server

# 10. An unaligned write keeps the store's copy it fetched only while it
#     holds its reference on the chunk: here it had to wait for cache
#     space meanwhile, the chunk was written by another connection,
#     uploaded and evicted, and the stale copy undid that write.
zdev create evict 64M
rm -rf "$cachedir"
start_server -D zerofs.flush=1 -D zerofs.cache=1 "$PLUGIN" "${zargs[@]}" \
             export=evict fault-file="$faults" cache-size=16M 2>>"$log"
client evict <<'EOF2'
for i in range(40):
    h.pwrite(bytes([65 + i]) * (1 << 20), i << 20)
h.flush()
EOF2
stop_server
rm -rf "$cachedir"                 # everything only in the store
start_server -D zerofs.flush=1 -D zerofs.cache=1 "$PLUGIN" "${zargs[@]}" \
             export=evict fault-file="$faults" cache-size=16M 2>>"$log"
printf 'delay get 2s\n' > "$faults"
sleep 0.3
client evict <<'EOF2' &
h.pwrite(b"x" * 10, 100)           # needs chunk 0 from the store
EOF2
t1=$!
sleep 0.5
# While that GET is slow: write sector 0 whole, and keep the cache full
# of trims whose DELETEs fail, so that the first writer waits for space.
printf 'delay get 2s\nfail delete EIO\n' > "$faults"
sleep 0.3
client evict <<'EOF2'
h.pwrite(b"B" * 4096, 0)
for i in range(20, 32):
    h.trim(1 << 20, i << 20)
EOF2
printf 'fail delete EIO\n' > "$faults"
sleep 4                            # chunk 0 uploaded by the write-back
client evict <<'EOF2'
for r in range(3):                 # evict chunk 0
    for i in range(1, 20):
        h.pread(4096, (i << 20) + 8192)
EOF2
: > "$faults"                      # deletes succeed: the first writer goes on
wait $t1
client evict <<'EOF2'
d = h.pread(4096, 0)
assert d == b"B" * 100 + b"x" * 10 + b"B" * (4096 - 110), \
    "a completed write was undone: %r" % d[:120]
EOF2
stop_server
