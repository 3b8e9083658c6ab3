#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs --fuse, the wrapper, end to end with a real kernel filesystem:
# the device served as MOUNTDIR/fs by nbdfuse, ext4 made and mounted on
# it through a loop device, files written, unmounted.  With
# durability=local, flushes only reach the local cache, so the data is in
# the store only if the wrapper, on SIGTERM, unmounts and then waits for
# nbdkit to upload it: after that the wrapper must have exited 0, with
# nbdkit and the mount gone.  Then the device is served again with an
# EMPTY cache-dir (every block from the store): fsck finds nothing, the
# checksums match.  Also: nbdkit killed under nbdfuse (which cannot
# reconnect) makes the wrapper unmount and exit 1, saying why.
set -e
source "${srcdir:-.}/functions.sh"
requires test -x "${ZEROFS:-}"
requires_loop_fs

start_volume
zdev create fs 64M

fuse=$tmpdir/fuse
mnt=$tmpdir/mnt
mkdir -p "$fuse" "$mnt"
cleanup_fn umount -l "$mnt"
cleanup_fn fusermount3 -u -z "$fuse"

wargs=(--fuse --plugin="$PLUGIN" --durability=local)
for a in "${zargs[@]}"; do
    case $a in bucket=*) ;; *) wargs+=(--"$a") ;; esac
done

# Ready: the wrapper says so, and the file is there.
ready='grep -q "serving fs on" "$wrapper_log" && [ -f "$fuse/fs" ]'
wargs+=("$bucket" "$fuse" --export=fs)

# SIGTERM: exit status 0, nbdkit gone, the mount gone.
term_wrapper ()
{
    local pid status=0
    pid=$(wrapper_nbdkit)
    test -n "$pid"
    kill -TERM "$wrapper_pid"
    wait "$wrapper_pid" || status=$?
    wrapper_pid=
    if [ "$status" -ne 0 ]; then
        echo "$0: the wrapper exited with status $status"
        exit 1
    fi
    if kill -0 "$pid" 2>/dev/null; then
        echo "$0: nbdkit $pid outlived the wrapper"
        exit 1
    fi
    if mountpoint -q "$fuse"; then
        echo "$0: $fuse is still mounted"
        exit 1
    fi
}

start_wrapper "$ready" "${wargs[@]}"
mkfs.ext4 -q -F "$fuse/fs"
if ! mount -o loop "$fuse/fs" "$mnt"; then
    echo "$0: test skipped: cannot mount a loop device here"
    exit 77
fi
mkdir "$mnt/dir"
head -c 5M /dev/urandom > "$mnt/dir/random"
seq 1 200000 > "$mnt/numbers"
dd if=/dev/urandom of="$mnt/odd" bs=3333 count=77 status=none
( cd "$mnt" && sha256sum dir/random numbers odd ) > "$tmpdir/sums"
umount "$mnt"
term_wrapper
grep -q 'SIGTERM: stopping' "$wrapper_log"

# Everything came from the store.
rm -rf "$cachedir"
start_wrapper "$ready" "${wargs[@]}"
fsck.ext4 -f -n "$fuse/fs"
mount -o loop,ro "$fuse/fs" "$mnt"
( cd "$mnt" && sha256sum -c "$tmpdir/sums" )
umount "$mnt"

# nbdkit killed under nbdfuse: unmounted, exit status 1, with the reason.
pid=$(wrapper_nbdkit)
kill -KILL "$pid"
status=0
wait "$wrapper_pid" || status=$?
wrapper_pid=
test "$status" -eq 1
grep -q 'nbdkit was killed by signal 9.*nbdfuse cannot reconnect' "$wrapper_log"
if mountpoint -q "$fuse"; then
    echo "$0: $fuse is still mounted"
    exit 1
fi
