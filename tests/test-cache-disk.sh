#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A cache-dir on a small filesystem (a 24 MiB tmpfs): the cache reserves
# its space at start-up, so a cache-size the filesystem cannot hold is
# refused then, naming the free space needed, and a cache that fits never
# turns reads or writes into ENOSPC later (the slot file used to be
# sparse: reads of stored chunks failed at the 23rd chunk).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

small=$tmpdir/small
mkdir -p "$small"
if ! mount -t tmpfs -o size=24m zerofs-test "$small" 2>/dev/null; then
    echo "$0: test skipped: cannot mount a tmpfs here (needs root)"
    exit 77
fi
cleanup_fn umount -l "$small"

start_volume
zdev create disk 48M
# 40 MiB of data in the store, written through a cache elsewhere.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "
for i in range(40):
    h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
h.flush()
"'

smallargs=("${zargs[@]/#cache-dir=*/cache-dir=$small/cache}")
if nbdkit -v -U - "$PLUGIN" "${smallargs[@]}" export=disk cache-size=64M \
          --run true 2>"$tmpdir/err"; then
    echo "$0: a 64 MiB cache on a 24 MiB filesystem was accepted"
    exit 1
fi
server_error 'not enough free space: cache-size=64M needs 64 MiB' \
             "$tmpdir/err"

# A cache that fits: reads of 40 stored chunks and 16 MiB of writes.
nbdkit -v -U - "$PLUGIN" "${smallargs[@]}" export=disk cache-size=16M \
       --run 'nbdsh -u "$uri" -c "
for i in range(40):
    assert h.pread(1 << 20, i << 20) == bytes([i + 1]) * (1 << 20), i
for i in range(16):
    h.pwrite(b\"N\" * (1 << 20), (32 + i % 16) << 20)
h.flush()
assert h.pread(1 << 20, 47 << 20) == b\"N\" * (1 << 20)
"'
