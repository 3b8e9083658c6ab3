#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# scripts/demo.sh, as the README's quick start runs it, but with --check
# (no waiting for ^C) and --no-install (this build, no packages), in a
# scratch ZEROFS_DEMO_DIR.  The first run makes ext4 on the new device,
# mounts it and writes the sample; the mount held it, the volume
# directory now holds chunk objects, and none has the sample's text in the
# clear.  The second run, with the cache emptied (so every block comes from
# the chunk objects), finds the same filesystem and the same sample.
set -e
source "${srcdir:-.}/functions.sh"
top_srcdir=${top_srcdir:-$srcdir/..}

if [ "$(id -u)" != 0 ]; then
    echo "$0: test skipped: the demo mounts a loop device, which needs root"
    exit 77
fi
if [ ! -c /dev/fuse ] || ! nbdfuse --version >/dev/null 2>&1 ||
   ! fusermount3 -V >/dev/null 2>&1; then
    echo "$0: test skipped: no FUSE here (/dev/fuse, nbdfuse, fusermount3)"
    exit 77
fi
if ! losetup -f >/dev/null 2>&1; then
    echo "$0: test skipped: no loop devices here (losetup -f)"
    exit 77
fi
requires mkfs.ext4 -V

export ZEROFS_DEMO_DIR=$tmpdir/demo
export ZEROFS_DEMO_PLUGIN=$PLUGIN ZEROFS_DEMO_DEV=$ZEROFS_DEV
vol=$ZEROFS_DEMO_DIR/volume
# If a run of the demo is killed before it cleans up: the filesystem,
# the FUSE file, then the server.
demo_leftovers ()
{
    local pid
    if findmnt -rn --mountpoint "$ZEROFS_DEMO_DIR/mnt" > /dev/null; then
        umount -l "$ZEROFS_DEMO_DIR/mnt"
    fi
    if findmnt -rn --mountpoint "$ZEROFS_DEMO_DIR/fuse" > /dev/null; then
        fusermount3 -u -z "$ZEROFS_DEMO_DIR/fuse"
    fi
    pid=$(cat "$ZEROFS_DEMO_DIR/nbdkit.pid" 2>/dev/null) || return 0
    kill -KILL "$pid" 2>/dev/null || :
}
cleanup_fn demo_leftovers

# run N: the demo, its output in $tmpdir/runN (and in the log).
run ()
{
    local status=0
    "$top_srcdir/scripts/demo.sh" --check --no-install \
        > "$tmpdir/run$1" 2>&1 || status=$?
    cat "$tmpdir/run$1"
    if [ $status -eq 77 ]; then
        echo "$0: test skipped: the demo cannot mount here (see above)"
        exit 77
    fi
    if [ $status -ne 0 ]; then
        echo "$0: run $1 of the demo exited with status $status"
        exit 1
    fi
    # Stopped and cleaned up.
    if findmnt -rn --mountpoint "$ZEROFS_DEMO_DIR/mnt" > /dev/null ||
       findmnt -rn --mountpoint "$ZEROFS_DEMO_DIR/fuse" > /dev/null; then
        echo "$0: run $1 left a mount behind"
        exit 1
    fi
    if [ -e "$ZEROFS_DEMO_DIR/nbdkit.pid" ]; then
        echo "$0: run $1 left nbdkit behind"
        exit 1
    fi
}
expect ()
{
    if ! grep -qF -- "$2" "$tmpdir/run$1"; then
        echo "$0: run $1 did not say: $2"
        exit 1
    fi
}

run 1
expect 1 "Made an ext4 filesystem on it."
expect 1 "Mounted at $ZEROFS_DEMO_DIR/mnt."
expect 1 "Wrote a sample in $ZEROFS_DEMO_DIR/mnt/sample:"
expect 1 "hello.txt: OK"
expect 1 "random.bin: OK"
expect 1 "runs.txt: run 1 of the demo"
first=$(grep -o 'written by the first run, on .*' "$tmpdir/run1")
test -n "$first"

# Chunk objects: the 4 MiB of random bytes alone fill four chunks.
chunks=$(find "$vol/devices/demo/chunks" -type f ! -name '.*' | wc -l)
echo "chunk objects: $chunks"
test "$chunks" -ge 5
# Encrypted: no object holds the sample's text.
if grep -rqF -- "$first" "$vol"; then
    echo "$0: the sample's text is in the volume in the clear"
    exit 1
fi

# Everything was uploaded: the second run starts with no cache.
rm -rf "$ZEROFS_DEMO_DIR/cache"
run 2
expect 2 "Found the ext4 filesystem of an earlier run."
expect 2 "The sample is there already, in $ZEROFS_DEMO_DIR/mnt/sample:"
expect 2 "hello.txt: OK"
expect 2 "random.bin: OK"
expect 2 "runs.txt: run 2 of the demo"
expect 2 "$first"
if grep -q "Made an ext4" "$tmpdir/run2"; then
    echo "$0: the second run made a new filesystem"
    exit 1
fi
