#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A device four times the size of the cache: writing all of it forces
# write-back while writing (the cache can hold only so much dirty data)
# and eviction of clean chunks; reading it back forces fetches and more
# evictions.  Checked with nbdcopy against a file, in both directions,
# and then again from an empty cache.  Also: nbdcopy skips the holes of a
# sparse source, and zero chunks never become objects.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdcopy --version
requires nbdsh --version

start_volume
zdev create disk 64M

# 64 MiB source: random data with holes (chunks 8-15 and 40-47 zero).
src=$tmpdir/src
head -c 64M /dev/urandom > "$src"
dd if=/dev/zero of="$src" bs=1M seek=8 count=8 conv=notrunc status=none
dd if=/dev/zero of="$src" bs=1M seek=40 count=8 conv=notrunc status=none

cargs=("${zargs[@]}" export=disk cache-size=16M)
nbdkit -v -U - "$PLUGIN" "${cargs[@]}" \
       --run 'nbdcopy "'"$src"'" "$uri"'
test "$(count_chunks disk)" = 48

nbdkit -v -U - "$PLUGIN" "${cargs[@]}" \
       --run 'nbdcopy "$uri" "'"$tmpdir/out1"'"'
cmp "$src" "$tmpdir/out1"

rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${cargs[@]}" \
       --run 'nbdcopy "$uri" "'"$tmpdir/out2"'"'
cmp "$src" "$tmpdir/out2"

# Random 4 KiB writes all over the device with the small cache, then
# read back through a fresh server.
nbdkit -v -U - "$PLUGIN" "${cargs[@]}" --run 'nbdsh -u "$uri" -c -' <<EOF
import random
rng = random.Random(7)
data = bytearray(open("$src", "rb").read())
for _ in range(3000):
    off = rng.randrange(0, len(data) // 4096) * 4096
    buf = rng.randbytes(4096)
    h.pwrite(buf, off)
    data[off:off + 4096] = buf
h.flush()
open("$tmpdir/expect", "wb").write(data)
EOF
rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${cargs[@]}" \
       --run 'nbdcopy "$uri" "'"$tmpdir/out3"'"'
cmp "$tmpdir/expect" "$tmpdir/out3"
