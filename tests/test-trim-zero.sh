#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# TRIM and WRITE_ZEROES over whole chunks delete their objects (counted in
# the store), partial ones write zeros and keep the rest; reads return
# zeros; BLOCK_STATUS (nbdinfo --map) reports the deleted chunks as holes;
# FAST_ZERO is refused only where zeroing would not be fast; and all of it
# survives a restart with an empty cache.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires nbdinfo --version

start_volume
zdev create disk 8M

nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
M = 1 << 20
data = os.urandom(8 * M)
h.pwrite(data, 0)
h.flush()
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
test "$(count_chunks disk)" = 8

nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
M = 1 << 20
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
def zero(off, n):
    data[off:off + n] = bytes(n)
h.trim(M, 2 * M); zero(2 * M, M)                       # whole chunk 2
h.zero(2 * M, 4 * M); zero(4 * M, 2 * M)               # whole chunks 4, 5
h.zero(8192, 6 * M + 4096); zero(6 * M + 4096, 8192)   # part of chunk 6
h.trim(1000, 7 * M + 12345); zero(7 * M + 12345, 1000) # unaligned, chunk 7
h.zero(4096, 3 * M, nbd.CMD_FLAG_FAST_ZERO); zero(3 * M, 4096)
try:
    h.zero(100, 3 * M + 10, nbd.CMD_FLAG_FAST_ZERO)
    raise SystemExit("unaligned fast zero should be refused")
except nbd.Error as ex:
    assert ex.errno == "ENOTSUP", ex.errno
assert h.pread(8 * M, 0) == bytes(data)
h.flush()
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
test "$(count_chunks disk)" = 5

# Holes where the chunks were deleted, data elsewhere.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdinfo --map --json "$uri"' > "$tmpdir/map.json"
cat "$tmpdir/map.json"
/usr/bin/python3 - "$tmpdir/map.json" <<'EOF'
import json, sys
M = 1 << 20
ext = json.load(open(sys.argv[1]))
def type_at(off):
    for e in ext:
        if e["offset"] <= off < e["offset"] + e["length"]:
            return e["type"]
    raise SystemExit("no extent at %d" % off)
for chunk in (2, 4, 5):
    assert type_at(chunk * M) == 3 and type_at(chunk * M + M - 1) == 3, chunk
for chunk in (0, 1, 3, 6, 7):
    assert type_at(chunk * M) == 0, chunk
EOF

# Cold cache: the store alone gives the same bytes and the same holes.
rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/data", "rb").read()
assert h.pread(len(data), 0) == data
EOF
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdinfo --map --json "$uri"' > "$tmpdir/map2.json"
cmp "$tmpdir/map.json" "$tmpdir/map2.json"
