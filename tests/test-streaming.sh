#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Streaming write-back and max-dirty (lib/cache/writeback.c), with every
# PUT made slow by the fault wrapper:
#
# 1. A 32 MiB sequential write (1 MiB writes, 20 ms apart) then a
#    FLUSH: the chunks are uploaded while the writing goes on (as soon
#    as the writer has moved past each), not after the write-back delay
#    or at the flush; so most uploads start before the flush is sent,
#    and the flush takes far less than 32 PUT times.
# 2. A chunk rewritten whole again and again, alternately with the next
#    one (so that the writer keeps "moving past" it), is uploaded at most
#    once per write-back delay (5 s), not at every rewrite.
# 3. max-dirty: a writer faster than the uploads waits for them (and
#    does not fail, though retry-time is shorter than the wait, since
#    the uploads make progress), then everything reads back.
# 4. The uploaders' buffers (common/hugebuf.c): advised as huge pages
#    while uploads go on, and given back once the uploaders have been
#    idle for 5 s, as nbdkit's /proc/PID/smaps shows.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 64M
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
: > "$faults"
export log
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.fault=1 -D zerofs.flush=1 "$PLUGIN" \
                        "${zargs[@]}" export=disk fault-file="$faults" \
                        "$@" 2>>"$log"; }

# 1.
printf 'delay put 300ms\n' > "$faults"
: > "$log"
serve
client <<'EOF2'
import os, re, time
M = 1 << 20
for i in range(32):
    h.pwrite(bytes([i + 1]) * M, i * M)
    time.sleep(0.02)
# The write-back may be a moment behind (a dispatch commits the index
# first); far less than the 200 ms "left alone" rule.
time.sleep(0.15)
before = open(os.environ["log"]).read()
print("write-back before the flush:",
      re.findall(r"write-back: (\d+) chunks", before))
t = time.monotonic()
h.flush()
took = time.monotonic() - t
started = len(re.findall(r"fault: delaying PUT devices/disk/chunks/", before))
done = len(re.findall(r"fault: request PUT devices/disk/chunks/[0-9a-f/]*: ok",
                      before))
print("before the flush: %d chunk PUTs started, %d done; flush %.2f s"
      % (started, done, took))
assert started >= 16, \
    "only %d of 32 chunk uploads started before the flush" % started
assert took < 8 * 0.3, \
    "the flush took %.2f s: it should wait only for the tail" % took
EOF2
stop_server

# 2.
printf 'delay put 200ms\n' > "$faults"
: > "$log"
serve
client <<'EOF2'
import time
M = 1 << 20
end = time.monotonic() + 12
i = 0
while time.monotonic() < end:
    h.pwrite(bytes([i % 251 + 1]) * M, (2 + i % 2) * M)
    i += 1
    time.sleep(0.05)
EOF2
uploads=$(grep -c 'flush: uploaded devices/disk/chunks/0000000000000002' "$log" || :)
echo "uploads of the hot whole chunk in 12 s: $uploads"
if [ "$uploads" -gt 3 ]; then
    echo "$0: a chunk rewritten whole continuously was uploaded $uploads" \
         "times in 12 s (at most once per 5 s write-back delay expected)"
    exit 1
fi
stop_server

# 3.  Two uploads at a time of 300 ms each: 6.7 MiB/s.  With 4 MiB of
#     room, writing 24 MiB takes at least (24 - 4) / 6.7 = 3 s.
printf 'delay put 300ms\n' > "$faults"
: > "$log"
serve writeback-threads=2 max-dirty=4M retry-time=1
client <<'EOF2'
import time
M = 1 << 20
t = time.monotonic()
for i in range(24):
    h.pwrite(bytes([i + 101]) * M, i * M)
took = time.monotonic() - t
print("24 MiB written in %.2f s with max-dirty=4M" % took)
assert took >= 2.5, "the writer did not wait at max-dirty (%.2f s)" % took
h.flush()
for i in range(24):
    assert h.pread(M, i * M) == bytes([i + 101]) * M
EOF2
stop_server
if server_error "could not be written\|cache is full" "$log"; then
    echo "$0: a write or an upload failed"
    exit 1
fi
rm -rf "$cachedir"
serve
client <<'EOF2'
M = 1 << 20
for i in range(24):
    assert h.pread(M, i * M) == bytes([i + 101]) * M
EOF2
stop_server

# 4.
huge_kb () {
    # The anonymous memory of nbdkit's mappings advised MADV_HUGEPAGE.
    awk '/^[0-9a-f]+-[0-9a-f]+ / { size = 0; next }
         /^Size:/ { size = $2 }
         /^VmFlags:.* hg/ { kb += size }
         END { print kb + 0 }' "/proc/$server_pid/smaps"
}
if [ ! -d /sys/kernel/mm/transparent_hugepage ]; then
    echo "$0: part 4 skipped: this kernel has no transparent huge pages"
elif [ -n "${ZEROFS_TEST_VALGRIND:-}" ]; then
    echo "$0: part 4 skipped: valgrind keeps its own mappings"
else
    printf 'delay put 300ms\n' > "$faults"
    : > "$log"
    serve writeback-threads=4
    before=$(huge_kb)
    client <<'EOF2'
M = 1 << 20
for i in range(8):
    h.pwrite(bytes([i + 201]) * M, i * M)
h.flush()
EOF2
    busy=$(huge_kb)
    sleep 7
    idle=$(huge_kb)
    echo "huge-page advised kB: before $before, after uploads $busy," \
         "7 s later $idle"
    # 4 uploaders, each 2 MiB + 4 KiB.
    if [ "$busy" -lt $(( before + 4 * 2052 )) ]; then
        echo "$0: the 4 uploaders do not hold huge-page buffers"
        exit 1
    fi
    if [ "$idle" -gt "$before" ]; then
        echo "$0: idle uploaders kept their buffers"
        exit 1
    fi
    # One chunk at a time goes to the uploader that went idle last:
    # the same one each time, so one buffer in all.
    client <<'EOF2'
M = 1 << 20
for i in range(6):
    h.pwrite(bytes([i + 211]) * M, i * M)
    h.flush()
EOF2
    one=$(huge_kb)
    echo "huge-page advised kB after 6 uploads one at a time: $one"
    if [ "$one" -ne $(( before + 2052 )) ]; then
        echo "$0: uploads one at a time went to more than one uploader"
        exit 1
    fi
    stop_server
fi
