#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Random data written at unaligned offsets (across chunk boundaries and
# into the short last chunk) reads back exactly, from a warm cache, after
# a restart with the same cache, and after a restart with an empty cache
# (everything then comes from the store).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
# 5 MiB + 12 KiB: five whole chunks and a short one.
zdev create disk 5255168

cat > "$tmpdir/model.py" <<'PY'
import os, random, sys
# The server advertises a minimum block size of 1 byte (1 MiB, a chunk,
# is the preferred size), so these unaligned requests are valid; the
# plugin read-modify-writes their partial 4 KiB sectors.  libnbd's
# alignment check is off all the same, so that they reach the server
# whatever it advertises.
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
size = h.get_size()
assert size == 5255168, size
rng = random.Random(int(os.environ.get("SEED", "1")))
model = bytearray(size)
writes = [(0, 1), (1048575, 2), (1048576 - 100, 300), (4096 * 3 + 7, 9000),
          (size - 5, 5), (size - 1048576 - 10, 20), (2 * 1048576 - 1, 1048578)]
for _ in range(60):
    off = rng.randrange(size)
    writes.append((off, rng.randrange(1, min(300000, size - off) + 1)))
for off, n in writes:
    buf = rng.randbytes(n)
    h.pwrite(buf, off)
    model[off:off + n] = buf
# A few reads at unaligned places before any flush.
for _ in range(50):
    off = rng.randrange(size)
    n = rng.randrange(1, min(200000, size - off) + 1)
    assert h.pread(n, off) == bytes(model[off:off + n]), (off, n)
h.flush()
open(os.environ["MODEL"], "wb").write(model)
PY

cat > "$tmpdir/check.py" <<'PY'
import os
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
model = open(os.environ["MODEL"], "rb").read()
size = h.get_size()
got = bytearray()
off = 0
while off < size:
    n = min(1 << 20, size - off)
    got += h.pread(n, off)
    off += n
if bytes(got) != model:
    first = next(i for i in range(size) if got[i] != model[i])
    raise SystemExit("mismatch at byte %d" % first)
# Unaligned reads too.
import random
rng = random.Random(2)
for _ in range(100):
    o = rng.randrange(size)
    n = rng.randrange(1, min(70000, size - o) + 1)
    assert h.pread(n, o) == model[o:o + n], (o, n)
PY
export MODEL=$tmpdir/model

nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "exec(open(\"'"$tmpdir"'/model.py\").read())"'

# Warm cache.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "exec(open(\"'"$tmpdir"'/check.py\").read())"'

# Cold cache: only the store is left.
rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "exec(open(\"'"$tmpdir"'/check.py\").read())"'

# The data went to the store as 6 chunk objects (every chunk was written).
test "$(count_chunks disk)" = 6
