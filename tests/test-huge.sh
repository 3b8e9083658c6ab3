#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A device of 2^50 bytes (1 PiB) with a short last chunk: thin (creating
# it stores nothing), writable at both ends, block status over huge
# ranges reports holes, and it all survives a restart with an empty cache.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires nbdinfo --version

start_volume
size=$(( (1 << 50) - 4096 ))
zdev create huge $size
test "$(count_chunks huge)" = 0

nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=huge \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
size = h.get_size()
assert size == (1 << 50) - 4096, size
h.pwrite(b"first" * 1000, 0)
h.pwrite(b"L" * 4096, size - 4096)            # the very last sector
h.pwrite(b"m" * 8192, (1 << 49) - 4096)       # across a chunk boundary
h.flush()
EOF
test "$(count_chunks huge)" = 4

# A new cache-dir: read while its survey lists the chunks, then wait
# for the survey to end, so that the block status below is exact (until
# then every chunk may hold data).
rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=huge \
       --run 'nbdsh -u "$uri" -c - &&
    for i in $(seq 600); do
        grep -q "survey done" "'"$tmpdir/read.log"'" && break
        sleep 0.1
    done' 2> "$tmpdir/read.log" <<'EOF'
size = h.get_size()
assert h.pread(5000, 0) == b"first" * 1000
assert h.pread(4096, size - 4096) == b"L" * 4096
assert h.pread(8192, (1 << 49) - 4096) == b"m" * 8192
assert h.pread(4096, 1 << 48) == bytes(4096)
EOF
grep -q "survey done: 4 chunk objects" "$tmpdir/read.log" ||
    { echo "$0: the survey did not end"; tail "$tmpdir/read.log"; exit 1; }

# nbdinfo --map walks the whole PiB in 4 GiB requests (a 4 GiB hole is
# more than a 32-bit NBD extent can hold): 262144 of them, too many to
# log one by one (datapath=0).
nbdkit -v -D nbdkit.backend.datapath=0 -U - "$PLUGIN" "${zargs[@]}" \
       export=huge --run 'nbdinfo --map --totals "$uri"' > "$tmpdir/totals"
cat "$tmpdir/totals"
# 4 data chunks (the last one 4 KiB short), the rest holes.
grep -q "^ *4190208 .* 0 data$" "$tmpdir/totals"
grep -q "^ *1125899902648320 .* 3 hole,zero$" "$tmpdir/totals"

# Block status of the first 64 MiB: one data chunk, then a hole.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=huge \
       --run 'nbdsh --base-allocation -u "$uri" -c -' <<'EOF'
entries = []
def cb(metacontext, offset, e, err):
    entries.extend(e)
h.block_status(64 << 20, 0, cb)
# (length, flags) pairs: 1 MiB of data, then holes.
assert entries[0] == 1 << 20 and entries[1] == 0, entries[:4]
assert entries[3] & 3 == 3, entries[:4]
EOF
