#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build the Debian package (dpkg-buildpackage -us -uc -b, debian/) from a
# copy of this tree, install it on this machine, and test what was
# installed: "nbdkit zerofs --dump-plugin" finds the plugin in nbdkit's
# plugin directory by name; the man pages, the systemd unit and the
# examples are where they belong; and a short end-to-end run with the
# installed programs only (zerofs-dev creates a volume and a device in a
# directory, nbdkit zerofs serves it with its settings from a config
# file, data written and flushed reads back after a restart).  Then the
# package is removed again (--keep leaves it installed).
#
# Prints how long the build took.  Needs root for dpkg (sudo otherwise).
set -euo pipefail
# Debian's python3 (it has the libnbd bindings nbdsh needs) first.
export PATH=/usr/bin:/bin:$PATH
top=$(cd "$(dirname "$0")/.." && pwd)
keep=false
for arg in "$@"; do
    case $arg in
        --keep) keep=true ;;
        *) echo "test-packages.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

"$top/scripts/install-deps.sh" --packages

work=$(mktemp -d "${TMPDIR:-/tmp}/zerofs-packages.XXXXXX")
cleanup () {
    local status=$?
    [ -n "${nbdkit_pid:-}" ] && kill "$nbdkit_pid" 2>/dev/null
    if ! $keep && dpkg-query -W -f='${Status}' zerofs 2>/dev/null |
            grep -q "ok installed"; then
        $SUDO dpkg -r zerofs > /dev/null || status=1
    fi
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT
fail () { echo "FAIL: packages: $*"; exit 1; }

# A clean copy: the files git knows of or would add (not this tree's
# build products, not a configured tree, which an out-of-tree build or
# dh_auto_configure would trip on).
mkdir "$work/src"
(cd "$top" && git ls-files -z -co --exclude-standard) |
    (cd "$top" && tar --null -T - -cf -) | tar -C "$work/src" -xf -

start=$(date +%s)
# nocheck: the unit tests (debian/rules runs them, ~100 s here) are run
# by scripts/test.sh anyway.
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=$(nproc)}
# Each line of the log with the seconds since the start, so that the
# slow steps show.
(cd "$work/src" && dpkg-buildpackage -us -uc -b) 2>&1 |
    while IFS= read -r line; do
        printf '%4d %s\n' $(( $(date +%s) - start )) "$line"
    done > "$work/build.log" ||
    { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage failed"; }
build_seconds=$(( $(date +%s) - start ))
deb=$(ls "$work"/zerofs_*.deb)
echo "Built $(basename "$deb") in ${build_seconds}s; the steps began at (s):"
grep -E '^ *[0-9]+ +(dh_[a-z_]+|debian/rules [a-z_]+|dpkg-deb)' \
    "$work/build.log" | awk '{print "  " $1 "\t" $2, $3}' || :
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/contents"

# apt-get resolves the dependencies (nbdkit) that dpkg -i would not.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$deb" > "$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "installing $deb"; }
dpkg-query -W -f='${Status}\n' zerofs | grep -q "ok installed" ||
    fail "zerofs is not installed"

# The files.
plugindir=$(pkg-config --variable=plugindir nbdkit)
for f in "$plugindir/nbdkit-zerofs-plugin.so" /usr/bin/zerofs \
         /usr/bin/zerofs-dev /lib/systemd/system/zerofs@.service \
         /usr/share/doc/zerofs/examples/fstab.example \
         /usr/share/doc/zerofs/examples/zerofs.conf.example; do
    [ -e "$f" ] || fail "$f is not installed"
done
for page in man1/nbdkit-zerofs-plugin.1 man1/zerofs.1 man1/zerofs-dev.1 \
            man5/zerofs.conf.5 man5/zerofs-format.5; do
    grep -q "/usr/share/man/$page" "$work/contents" ||
        fail "the man page $page is not in the package"
done
! grep -q '\.la$' "$work/contents" || fail "a libtool archive is installed"

# The plugin by name, as users run it.
nbdkit zerofs --dump-plugin > "$work/dump"
grep -qx 'name=zerofs' "$work/dump" || fail "nbdkit zerofs --dump-plugin"
grep -q "^path=$plugindir/nbdkit-zerofs-plugin.so" "$work/dump" ||
    fail "nbdkit did not load the installed plugin"
zerofs --version | grep -q '^zerofs ' || fail "zerofs --version"
zerofs-dev --help > /dev/null || fail "zerofs-dev --help"

# End to end with the installed programs, the settings in a config
# file named by ZEROFS_CONFIG (as /etc/zerofs/zerofs.conf would be).
cd "$work"
head -c 24 /dev/urandom | base64 > pw
cat > zerofs.conf <<CONF
bucket = "file://$work/volume";
password-file = "$work/pw";
cache-dir = "$work/cache";
export = "disk";
CONF
export ZEROFS_CONFIG=$work/zerofs.conf
zerofs-dev init --scrypt-log2n=10 > /dev/null
zerofs-dev create disk 16M
zerofs-dev list | grep -q '^disk ' || fail "zerofs-dev list"
pattern=$(head -c 4096 /dev/urandom | base64 -w0)
write_read () {
    nbdkit -U - zerofs --run 'nbdsh -u "$uri" -c -' <<PY
import base64
pattern = base64.b64decode("$pattern")
if "$1" == "write":
    h.pwrite(pattern, 8 << 20)
    h.flush()
assert h.pread(len(pattern), 8 << 20) == pattern
assert h.get_size() == 16 << 20
PY
}
if command -v nbdsh > /dev/null; then
    write_read write || fail "write through the installed plugin"
    rm -rf "$work/cache"               # read back from the volume itself
    write_read read || fail "read back through the installed plugin"
else
    nbdkit -U - zerofs --run 'test -S "$unixsocket"' ||
        fail "the installed plugin does not serve"
fi
ls "$work/volume/devices/disk/chunks" | grep -q . ||
    fail "no chunk objects were stored"
echo "PASS: packages (build ${build_seconds}s)"
