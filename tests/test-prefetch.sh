#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Cold data in parallel: with every GET taking 1 s, an NBD_CMD_CACHE of
# 8 stored chunks and an 8 MiB read of 8 others start all their GETs at
# once (they took a GET's time per chunk, one after another), and what
# CACHE brought in is then read with no GET at all.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 32M
faults=$tmpdir/faults
: > "$faults"
export faults
serve () { start_server "$PLUGIN" "${zargs[@]}" export=disk \
                        fault-file="$faults"; }
serve
client <<'EOF2'
for i in range(16):
    h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
h.flush()
EOF2
stop_server
rm -rf "$cachedir"                 # all 16 chunks only in the store
serve
printf 'delay get 1s\n' > "$faults"
sleep 0.3
client <<'EOF2'
import os, time
M = 1 << 20
start = time.monotonic()
h.cache(8 * M, 0)
took = time.monotonic() - start
print("CACHE of 8 chunks, 1 s a GET: %.1f s" % took)
assert took < 4, "the GETs of CACHE ran one after another (%.1f s)" % took
start = time.monotonic()
data = h.pread(8 * M, 8 * M)
took = time.monotonic() - start
print("8 MiB read of 8 other chunks: %.1f s" % took)
assert took < 4, "the GETs of the read ran one after another (%.1f s)" % took
for i in range(8, 16):
    assert data[(i - 8) * M:(i - 7) * M] == bytes([i + 1]) * M
# What CACHE brought in needs no GET any more.
open(os.environ["faults"], "w").write("fail get EIO\n")
time.sleep(0.3)
for i in range(8):
    assert h.pread(M, i * M) == bytes([i + 1]) * M
EOF2
: > "$faults"
stop_server
