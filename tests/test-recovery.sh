#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Crash recovery.  Writes that were never flushed are in the local cache
# when nbdkit is killed with SIGKILL; once the index has committed them
# (within a second), a restart with the same cache-dir uploads them:
# afterwards the store alone (cache deleted) has them.  Also with
# durability=local: a FLUSH then means "fsynced in the cache", and the
# data must survive SIGKILL right after the flush, then reach the store,
# also when that flush was the slot file's fdatasync alone.  And with
# durability=local a chunk rewritten and flushed while its device is
# busy is not uploaded at every write-back delay (5 s), but once the
# device has been idle that long.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 4M

check_store_has ()
{
    rm -rf "$cachedir"
    nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
           --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/data", "rb").read()
assert h.pread(len(data), 0) == data, "data did not reach the store"
EOF
}

# 1. Unflushed writes, SIGKILL, restart: uploaded on restart.
start_server "$PLUGIN" "${zargs[@]}" export=disk
client <<'EOF'
import os
# Three chunks, none written whole (a whole chunk left idle is uploaded
# after a second; a partial one waits for the write-back delay).
M = 1 << 20
data = bytearray(3 * M)
for i in range(3):
    piece = os.urandom(M - 4096)
    h.pwrite(piece, i * M)
    data[i * M:i * M + len(piece)] = piece
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
sleep 2.5                  # the periodic index commit (1 s) has run
stop_server -9
test "$(count_chunks disk)" = 0   # nothing was uploaded before the crash
start_server "$PLUGIN" "${zargs[@]}" export=disk
for (( i = 0; i < 100; i++ )); do
    [ "$(count_chunks disk)" = 3 ] && break
    sleep 0.2
done
test "$(count_chunks disk)" = 3
stop_server
check_store_has

# 2. durability=local: FLUSH returns once the cache is fsynced.
start_server "$PLUGIN" "${zargs[@]}" export=disk durability=local
client <<'EOF'
import os
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
new = os.urandom(1 << 20)
h.pwrite(new, 1 << 20)
h.flush()
data[1 << 20:2 << 20] = new
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
stop_server -9             # immediately after the flush
start_server "$PLUGIN" "${zargs[@]}" export=disk durability=local
client <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/data", "rb").read()
assert h.pread(len(data), 0) == data, "locally durable write lost"
EOF
stop_server                # a clean stop uploads what is dirty
check_store_has

# 3. durability=local, the same pages of a chunk that is already dirty
# in the index written and flushed again and again: each such FLUSH is
# the slot file's fdatasync alone (cache.c, rule 9), and what it made
# durable survives a SIGKILL right after it, before the next index
# commit, then reaches the store.
start_server "$PLUGIN" "${zargs[@]}" export=disk durability=local \
             -D zerofs.cache=1 2> "$tmpdir/local.log"
client <<'EOF'
import os
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
at = (2 << 20) + 8192
def write(piece, offset):
    h.pwrite(piece, offset)
    data[offset:offset + len(piece)] = piece
write(os.urandom(8192), at)       # chunk 2 dirty, two of its sectors
h.flush()
for i in range(20):
    write(os.urandom(4096), at + (i % 2) * 4096)
    h.flush()
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
stop_server -9
syncs=$(grep -c 'flush: slot file synced; the index already holds' \
             "$tmpdir/local.log" || :)
echo "flushes that were a slot sync alone: $syncs of 20"
test "$syncs" -ge 10
start_server "$PLUGIN" "${zargs[@]}" export=disk durability=local
client <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/data", "rb").read()
assert h.pread(len(data), 0) == data, "locally durable write lost"
EOF
stop_server
check_store_has

# 4. durability=local: the cache holds flushed writes durably, so a
# chunk that keeps being rewritten (a database's hot page) is not
# uploaded every 5 s while its device is busy, which would be a 1 MiB
# PUT per few KiB written; once the device has been idle for 5 s, it is.
# PUTs are counted by the fault wrapper's log.
: > "$tmpdir/faults"
start_server "$PLUGIN" "${zargs[@]}" export=disk durability=local \
             fault-file="$tmpdir/faults" -D zerofs.fault=1 \
             2> "$tmpdir/hot.log"
export hot_log="$tmpdir/hot.log"
client <<'EOF'
import os, re, time
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
at = (1 << 20) + 65536
def chunk_puts():
    return len(re.findall(r"fault: request PUT devices/disk/chunks/\S*: ok",
                          open(os.environ["hot_log"]).read()))
before = chunk_puts()
start = time.monotonic()
while time.monotonic() - start < 9:        # busy for almost twice 5 s
    piece = os.urandom(4096)
    h.pwrite(piece, at)
    data[at:at + 4096] = piece
    h.flush()
    time.sleep(0.25)
busy = chunk_puts() - before
print("chunk PUTs in 9 s of rewrites and flushes: %d" % busy)
assert busy == 0, "a locally durable chunk was uploaded while its device was busy"
deadline = time.monotonic() + 15
while chunk_puts() == before and time.monotonic() < deadline:
    time.sleep(0.2)
idle = chunk_puts() - before
print("chunk PUTs once idle: %d" % idle)
assert idle >= 1, "the chunk was not uploaded once its device was idle"
assert h.pread(len(data), 0) == data
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
stop_server
check_store_has
