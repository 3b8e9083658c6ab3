#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A real kernel filesystem on a zerofs device: nbdfuse exposes the device
# as a file, a loop device mounts ext4 on it.  Files written, unmounted,
# nbdkit restarted with an EMPTY cache-dir (so every block now comes from
# the store), mounted again: checksums match and fsck finds nothing.
set -e
source "${srcdir:-.}/functions.sh"
requires_loop_fs

start_volume
zdev create fs 64M

fuse=$tmpdir/fuse
mnt=$tmpdir/mnt
mkdir -p "$fuse" "$mnt"

mount_fs ()
{
    start_server "$PLUGIN" "${zargs[@]}" export=fs
    nbdfuse -P "$tmpdir/fuse.pid" "$fuse/disk" \
            "nbd+unix:///fs?socket=$sock" &
    fuse_pid=$!
    local i
    for (( i = 0; i < 100; i++ )); do
        [ -s "$tmpdir/fuse.pid" ] && [ -f "$fuse/disk" ] && break
        sleep 0.1
    done
    test -f "$fuse/disk"
    cleanup_fn fusermount3 -u -z "$fuse"
}

unmount_fs ()
{
    if mountpoint -q "$mnt"; then umount "$mnt"; fi
    fusermount3 -u "$fuse"
    wait $fuse_pid
    stop_server
}
cleanup_fn umount -l "$mnt"

mount_fs
mkfs.ext4 -q -F "$fuse/disk"
if ! mount -o loop "$fuse/disk" "$mnt"; then
    echo "$0: test skipped: cannot mount a loop device here"
    unmount_fs
    exit 77
fi
mkdir "$mnt/dir"
head -c 5M /dev/urandom > "$mnt/dir/random"
seq 1 200000 > "$mnt/numbers"
dd if=/dev/urandom of="$mnt/odd" bs=3333 count=77 status=none
( cd "$mnt" && sha256sum dir/random numbers odd ) > "$tmpdir/sums"
umount "$mnt"
unmount_fs

rm -rf "$cachedir"
mount_fs
fsck.ext4 -f -n "$fuse/disk"
mount -o loop,ro "$fuse/disk" "$mnt"
( cd "$mnt" && sha256sum -c "$tmpdir/sums" )
umount "$mnt"
unmount_fs
