#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The main job on the embedded default: a volume in a local directory.
# Installs what is missing, builds, creates the volume and a 1 GiB device
# named "demo" (once), and serves it with nbdkit on a Unix socket until
# you press ^C.  Everything lives under $ZEROFS_DEMO_DIR (default
# /var/tmp/zerofs-demo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZEROFS_DEMO_DIR:-/var/tmp/zerofs-demo}

"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"

plugin=$top/plugin/.libs/nbdkit-zerofs-plugin.so
zdev=$top/tools/zerofs-dev
mkdir -p "$dir"
chmod 700 "$dir"
if [ ! -s "$dir/password" ]; then
    head -c 24 /dev/urandom | base64 > "$dir/password"
    chmod 600 "$dir/password"
fi
dev=("$zdev" --bucket="file://$dir/volume" --password-file="$dir/password")
[ -f "$dir/volume/zerofs.volume" ] || "${dev[@]}" init
"${dev[@]}" info demo >/dev/null 2>&1 || "${dev[@]}" create demo 1G
"${dev[@]}" list

sock=$dir/nbd.sock
cat <<MSG

Serving device "demo" of the volume in $dir/volume on $sock.
Attach it with any NBD client, for example:

  nbd-client -unix $sock /dev/nbd0 -N demo       (kernel NBD; modprobe nbd)
  mkdir -p /tmp/zerofs-fuse && nbdfuse /tmp/zerofs-fuse/disk "nbd+unix:///demo?socket=$sock" &
  qemu-img info "nbd+unix:///demo?socket=$sock"
  nbdinfo --list "nbd+unix://?socket=$sock"

More devices: ${dev[*]} create NAME SIZE
Press ^C to stop the server (dirty data is uploaded first).

MSG
exec nbdkit -f -U "$sock" "$plugin" bucket="file://$dir/volume" \
     password=+"$dir/password" cache-dir="$dir/cache" export=demo
