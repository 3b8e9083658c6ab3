#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The main job on the embedded default: a filesystem living on zerofs, in
# a volume in a local directory (or, with --s3, in an S3 bucket).
# Installs what is missing, builds, creates the volume and a 1 GiB device
# named "demo" (once), serves it with nbdkit, attaches it as a file with
# nbdfuse and loop-mounts an ext4 filesystem made on it (once: a later run
# finds the same files).  Writes a small sample there, then shows the
# space the device uses and the chunk objects, compressed and encrypted,
# that the files became.  Stays up until ^C, then unmounts, detaches, lets
# nbdkit upload the dirty data, and exits 0.  Where FUSE or loop devices
# are missing (containers), it says so and only serves the device.
# Everything lives under $ZEROFS_DEMO_DIR (default /var/tmp/zerofs-demo).
# "scripts/demo.sh --help" lists the options.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZEROFS_DEMO_DIR:-/var/tmp/zerofs-demo}

usage ()
{
    cat <<'EOF'
Usage: scripts/demo.sh [--s3 ENDPOINT BUCKET[/PREFIX]] [--check] [--no-install]

Serve a 1 GiB zerofs device "demo", mount an ext4 filesystem that lives on
it, write a sample there and show what the volume stores.  ^C unmounts,
uploads what is dirty and stops; the next run finds the same files.

  --s3 ENDPOINT BUCKET[/PREFIX]
        keep the volume in an S3 bucket (AWS or any S3-compatible store)
        rather than in a local directory.  ENDPOINT is a URL such as
        https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000.
        Credentials as AWS tools look for them: AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else
        ~/.aws/credentials (AWS_PROFILE); the region from AWS_REGION or
        AWS_DEFAULT_REGION (default us-east-1).
  --check
        do not wait for ^C: write the sample unless it is there already,
        verify it, stop, and exit (0, or 77 if this machine cannot mount
        the filesystem).  For tests.
  --no-install
        install no packages and build nothing: use zerofs as it is built.
  -h, --help
        this text.

Environment:
  ZEROFS_DEMO_DIR     the password, cache, socket, mount points and (without
                      --s3) the volume (default /var/tmp/zerofs-demo)
  ZEROFS_DEMO_PLUGIN  the plugin to serve with (default: this tree's)
  ZEROFS_DEMO_DEV     the zerofs-dev to use (default: this tree's)
EOF
}

s3_endpoint='' s3_bucket='' check=false install=true
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --s3)
            if [ $# -lt 3 ]; then
                echo "$0: --s3 needs ENDPOINT and BUCKET (see --help)" >&2
                exit 2
            fi
            s3_endpoint=$2 s3_bucket=$3
            shift 3
            ;;
        --check) check=true; shift ;;
        --no-install) install=false; shift ;;
        *) echo "$0: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if $install; then
    "$top/scripts/install-deps.sh"
    # What the demo itself uses: nbdfuse, FUSE, mkfs.ext4.
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    missing=()
    for p in libnbd-bin fuse3 e2fsprogs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"
    fi
    "$top/scripts/build.sh"
fi

plugin=${ZEROFS_DEMO_PLUGIN:-$top/plugin/.libs/nbdkit-zerofs-plugin.so}
zdev_bin=${ZEROFS_DEMO_DEV:-$top/tools/zerofs-dev}
mkdir -p "$dir"
chmod 700 "$dir"
dir=$(cd "$dir" && pwd -P)
if [ ! -s "$dir/password" ]; then
    head -c 24 /dev/urandom | base64 > "$dir/password"
    chmod 600 "$dir/password"
fi

if [ -n "$s3_endpoint" ]; then
    bucket=$s3_bucket
    store_args=(endpoint="$s3_endpoint")
    region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
    [ -z "$region" ] || store_args+=(region="$region")
    # A cache directory serves one volume.
    key=${s3_endpoint#*://}/$s3_bucket
    cache=$dir/cache-s3-${key//[^A-Za-z0-9._-]/_}
    where="the S3 bucket $s3_bucket at $s3_endpoint"
else
    bucket=file://$dir/volume
    store_args=()
    cache=$dir/cache
    where="the volume in $dir/volume"
fi

zdev ()
{
    local a args=(--bucket="$bucket" --password-file="$dir/password")
    for a in "${store_args[@]}"; do args+=(--"$a"); done
    "$zdev_bin" "${args[@]}" "$@"
}

# The volume, once.
if [ -n "$s3_endpoint" ]; then
    if ! out=$(zdev list 2>&1); then
        case "$out" in
            *"no zerofs volume at"*) zdev init ;;
            *) echo "$out" >&2; exit 1 ;;
        esac
    fi
    zdev info demo >/dev/null 2>&1 || zdev create demo 1G
else
    [ -f "$dir/volume/zerofs.volume" ] || zdev init
    [ -f "$dir/volume/devices/demo/meta" ] || zdev create demo 1G
fi

sock=$dir/nbd.sock
fuse=$dir/fuse
mnt=$dir/mnt
is_mounted () { findmnt -rn --mountpoint "$1" >/dev/null 2>&1; }
for m in "$mnt" "$fuse"; do
    if is_mounted "$m"; then
        echo "$0: $m is mounted: is a demo running on $dir already?" \
             "Stop it with ^C, or: umount $mnt; fusermount3 -u $fuse" >&2
        exit 1
    fi
done

nbdkit_pid='' serving=false fuse_pid='' attached=false mounted=false
# Undo what was done, in reverse: the filesystem, the FUSE file, the
# server (which uploads the dirty data before it exits).
cleanup ()
{
    local i status=0 pid
    set +e
    trap '' INT TERM HUP
    if $mounted; then
        for (( i = 0; i < 30; i++ )); do
            umount "$mnt" 2>/dev/null && break
            [ $i -eq 0 ] && echo "Waiting for $mnt to be free (a shell or program in it?)"
            sleep 1
        done
        if is_mounted "$mnt"; then
            echo "$mnt is still busy: detaching it lazily"
            umount -l "$mnt"
        fi
        mounted=false
    fi
    if $attached; then
        for (( i = 0; i < 10; i++ )); do
            fusermount3 -u "$fuse" 2>/dev/null && break
            sleep 1
        done
        is_mounted "$fuse" && fusermount3 -u -z "$fuse"
        attached=false
        echo "Unmounted $mnt, detached $fuse/disk."
    fi
    if [ -n "$fuse_pid" ]; then
        for (( i = 0; i < 100; i++ )); do
            kill -0 "$fuse_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$fuse_pid" 2>/dev/null && kill -TERM "$fuse_pid"
        wait "$fuse_pid" 2>/dev/null
        fuse_pid=
    fi
    if [ -n "$nbdkit_pid" ]; then
        echo "Stopping nbdkit (pid $nbdkit_pid): it uploads what is dirty first"
        pid=$(cat "$dir/nbdkit.pid" 2>/dev/null) || pid=
        kill -TERM "${pid:-$nbdkit_pid}" 2>/dev/null
        wait "$nbdkit_pid" 2>/dev/null || status=$?
        nbdkit_pid=
        rm -f "$dir/nbdkit.pid" "$dir/nbdfuse.pid" "$sock"
        # (Stopped before it served, it may die of the signal: nothing
        # was written.)
        if $serving && [ $status -ne 0 ]; then
            echo "$0: nbdkit exited with status $status"
            return 1
        fi
        echo "Stopped: everything is in $where."
    fi
    return 0
}
on_exit ()
{
    local status=$?
    cleanup || [ $status -ne 0 ] || status=1
    exit $status
}
trap on_exit EXIT
trap 'echo; exit 0' INT TERM HUP

# The server, in a session of its own (as nbdfuse below) so that ^C on
# the terminal reaches this script only: the filesystem is unmounted
# before they stop.
rm -f "$sock" "$dir/nbdkit.pid"
setsid nbdkit -f -U "$sock" -P "$dir/nbdkit.pid" "$plugin" \
       bucket="$bucket" password=+"$dir/password" cache-dir="$cache" \
       cache-size=256M export=demo "${store_args[@]}" </dev/null &
nbdkit_pid=$!
for (( i = 0; i < 600; i++ )); do
    [ -s "$dir/nbdkit.pid" ] && [ -S "$sock" ] && break
    if ! kill -0 "$nbdkit_pid" 2>/dev/null; then
        status=0
        wait "$nbdkit_pid" 2>/dev/null || status=$?
        nbdkit_pid=
        echo "$0: nbdkit exited with status $status before serving" >&2
        exit 1
    fi
    sleep 0.1
done
[ -S "$sock" ] || { echo "$0: nbdkit did not start" >&2; exit 1; }
serving=true

echo
echo "Serving device \"demo\" of $where on $sock."

# Why this machine cannot show the filesystem, if it cannot.
why=
if [ "$(id -u)" != 0 ]; then
    why="mounting a loop device needs root (run: sudo $0)"
elif [ ! -c /dev/fuse ]; then
    why="there is no FUSE here (/dev/fuse)"
elif ! command -v nbdfuse >/dev/null || ! command -v fusermount3 >/dev/null
then
    why="nbdfuse or fusermount3 is not installed (libnbd-bin, fuse3)"
elif ! command -v mkfs.ext4 >/dev/null || ! command -v blkid >/dev/null; then
    why="mkfs.ext4 or blkid is not installed (e2fsprogs, util-linux)"
elif ! losetup -f >/dev/null 2>&1; then
    why="there are no loop devices here"
fi

if [ -z "$why" ]; then
    mkdir -p "$fuse" "$mnt"
    rm -f "$dir/nbdfuse.pid"
    setsid nbdfuse -P "$dir/nbdfuse.pid" "$fuse/disk" --unix "$sock" \
           </dev/null &
    fuse_pid=$!
    for (( i = 0; i < 100; i++ )); do
        [ -s "$dir/nbdfuse.pid" ] && [ -f "$fuse/disk" ] && break
        kill -0 "$fuse_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -f "$fuse/disk" ]; then
        attached=true
        echo "Attached as the file $fuse/disk (nbdfuse)."
    else
        why="nbdfuse cannot mount FUSE here"
        wait "$fuse_pid" 2>/dev/null || :
        fuse_pid=
    fi
fi

if [ -z "$why" ]; then
    # Make a filesystem only on a device never written to: one with no
    # filesystem that reads as zeros (a new device is all zeros).
    fstype=$(blkid -p -o value -s TYPE "$fuse/disk" 2>/dev/null) || fstype=
    if [ -n "$fstype" ]; then
        echo "Found the $fstype filesystem of an earlier run."
    elif cmp -s -n 1048576 "$fuse/disk" /dev/zero; then
        # (setsid: a ^C waits for it rather than leaving half a filesystem.)
        setsid mkfs.ext4 -q -L zerofs-demo "$fuse/disk" </dev/null
        echo "Made an ext4 filesystem on it."
    else
        why="device demo holds data that is not a filesystem: not touching it (start afresh with: ${zdev_bin##*/} rm demo)"
    fi
fi
if [ -z "$why" ]; then
    if mount -o loop "$fuse/disk" "$mnt"; then
        mounted=true
        echo "Mounted at $mnt."
    else
        why="cannot mount a loop device here"
    fi
fi

if [ -n "$why" ]; then
    echo "No filesystem: $why; serving the device only."
    echo "Where the nbd module is: nbd-client -unix $sock /dev/nbd0 -N demo"
    if $check; then
        exit 77
    fi
    echo "Press ^C to stop."
    status=0
    wait "$nbdkit_pid" 2>/dev/null || status=$?
    nbdkit_pid=
    echo "$0: nbdkit exited with status $status"
    exit 1
fi

# The sample: a text file dated by the run that wrote it and 4 MiB of
# random bytes, with their checksums; each run adds a line to runs.txt.
sample=$mnt/sample
now=$(date '+%Y-%m-%d %H:%M:%S %Z')
echo
if [ -f "$sample/SHA256SUMS" ]; then
    echo "The sample is there already, in $sample:"
else
    mkdir -p "$sample"
    echo "zerofs demo: written by the first run, on $now." \
         > "$sample/hello.txt"
    head -c 4M /dev/urandom > "$sample/random.bin"
    (cd "$sample" && sha256sum hello.txt random.bin > SHA256SUMS)
    echo "Wrote a sample in $sample:"
fi
echo "$now" >> "$sample/runs.txt"
# To the store: a flush of the filesystem is an NBD FLUSH, which returns
# once the data is uploaded.
sync -f "$sample"
ls -l "$sample" | sed -e '/^total/d' -e 's/^/  /'
echo "  hello.txt: $(cat "$sample/hello.txt")"
echo "  runs.txt: run $(wc -l < "$sample/runs.txt") of the demo on this device."
echo "Checksums:"
if ! (cd "$sample" && sha256sum -c SHA256SUMS 2>&1) | sed 's/^/  /'; then
    echo "$0: the sample in $sample does not match its checksums"
    exit 1
fi

echo
echo "The device's space used (zerofs-dev list):"
zdev list | sed 's/^/  /'
if [ -z "$s3_endpoint" ]; then
    # The volume's objects: the volume header, the device's metadata,
    # then the first chunks (objects only: not a store's temporary files).
    find "$dir/volume" -type f ! -name '.*' -printf '%P %s\n' | sort |
        awk -v top="$dir/volume" '
            function show(l, f) { split(l, f, " "); printf "  %9s  %s\n", f[2], f[1] }
            { b += $2 }
            $1 ~ /\/chunks\// { if (++n <= 6) c[n] = $0; next }
            { o[++m] = $0 }
            END {
                printf "The objects in %s: %d, %.1f MiB in all:\n", top, n + m, b / 1048576
                for (i = 1; i <= m; i++) show(o[i])
                for (i = 1; i <= n && i <= 6; i++) show(c[i])
                if (n > 6) printf "  ... and %d more chunk objects\n", n - 6
            }'
    if grep -rqF -- "$(cat "$sample/hello.txt")" "$dir/volume"; then
        echo "$0: hello.txt's text is in an object in the clear!"
        $check && exit 1
    else
        echo "Each chunk object is 1 MiB of the device, compressed (zstd) and"
        echo "encrypted (AES-256-GCM): grep finds none of hello.txt's text in them."
    fi
else
    nobj=$(zdev info demo | sed -n 's/^objects: *//p')
    echo "The device's chunk objects, compressed (zstd) and encrypted (AES-256-GCM):"
    echo "  $nobj under s3://${s3_bucket%/}/devices/demo/chunks/ at $s3_endpoint"
fi

if $check; then
    exit 0
fi
list_cmd=$(printf '%q ' "$zdev_bin" --bucket="$bucket" \
                 --password-file="$dir/password" \
                 "${store_args[@]/#/--}")
echo
echo "The filesystem is at $mnt: put files there (then sync), and"
echo "watch the device's space used and its chunk objects grow:"
echo "  ${list_cmd}list"
[ -n "$s3_endpoint" ] || echo "  find $dir/volume -type f | wc -l"
echo "The volume's password is $dir/password: without it, the objects are noise."
echo "Press ^C to unmount, upload what is dirty and stop."
status=0
wait "$nbdkit_pid" 2>/dev/null || status=$?
nbdkit_pid=
echo "$0: nbdkit exited with status $status"
exit 1
