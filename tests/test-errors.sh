#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad input gets a clear error that names the problem, at start-up, on the
# terminal: unknown parameter, bad values, missing bucket parameter, a
# volume that does not exist, a wrong password, a cache-dir in use by
# another server, a cache-dir of another volume.  And a read or write
# past the end of the device is refused, not a crash.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 1M

# Expect nbdkit to fail to start with a message matching $1.
expect_fail ()
{
    local pattern=$1; shift
    # The --run command must talk to the server: errors found after the
    # fork (.after_fork) end the server, not the command.
    if nbdkit -v -U - "$PLUGIN" "$@" --run 'nbdinfo --list "$uri"' \
              > "$tmpdir/out" 2>&1; then
        echo "$0: nbdkit $* should have failed"
        exit 1
    fi
    cat "$tmpdir/out"
    if ! server_error "$pattern" "$tmpdir/out"; then
        echo "$0: expected the error to match: $pattern"
        exit 1
    fi
}

expect_fail "unknown parameter 'no-such-key'" "${zargs[@]}" no-such-key=1
expect_fail "cache-size" "${zargs[@]}" cache-size=lots
expect_fail "compression" "${zargs[@]}" compression=lzma
expect_fail "durability" "${zargs[@]}" durability=maybe
expect_fail "bucket" password=+"$pwfile" cache-dir="$cachedir"
expect_fail "$tmpdir/nothing does not exist" bucket="file://$tmpdir/nothing" \
            password=+"$pwfile" cache-dir="$tmpdir/c2"
mkdir "$tmpdir/empty"
expect_fail "no zerofs volume" bucket="file://$tmpdir/empty" \
            password=+"$pwfile" cache-dir="$tmpdir/c2"
echo wrong > "$tmpdir/wrongpw"
expect_fail "wrong password for volume" bucket="$bucket" \
            password=+"$tmpdir/wrongpw" cache-dir="$tmpdir/c3" \
            "${store_args[@]}"
expect_fail "config" "${zargs[@]}" config="$tmpdir/no-such-file"

# A config file: parameters override it, unknown keys are refused.
cat > "$tmpdir/good.cfg" <<EOF
cache-size = "32M";
compression = "none";
export = "disk";
EOF
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" config="$tmpdir/good.cfg" \
       --run 'nbdinfo --size "$uri"' | grep -qx 1048576
echo 'bogus-key = 1;' > "$tmpdir/bad.cfg"
expect_fail "bogus-key" "${zargs[@]}" config="$tmpdir/bad.cfg"

# One server per cache-dir.
start_server "$PLUGIN" "${zargs[@]}" export=disk
expect_fail "in use by another zerofs process" "${zargs[@]}"
stop_server

# A cache-dir belongs to one volume.
other=$tmpdir/other
"$ZEROFS_DEV" --bucket="file://$other" --password-file="$pwfile" \
              init --scrypt-log2n=10
if [ "$ZEROFS_TEST_BACKEND" = dir ]; then
    if nbdkit -v -U - "$PLUGIN" bucket="file://$other" password=+"$pwfile" \
              cache-dir="$cachedir" --run 'nbdinfo --list "$uri"' \
              > "$tmpdir/out" 2>&1; then
        echo "$0: a cache-dir of another volume was accepted"
        exit 1
    fi
    cat "$tmpdir/out"
    server_error "belongs to volume" "$tmpdir/out"
fi

# Past the end: errors, and the server lives on.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
h.set_strict_mode(0)
for op in (lambda: h.pread(4096, (1 << 20) - 100),
           lambda: h.pwrite(b"x" * 4096, (1 << 20) - 100),
           lambda: h.zero(8192, 1 << 20),
           lambda: h.trim(8192, (1 << 20) + 4096)):
    try:
        op()
        raise SystemExit("request past the end succeeded")
    except nbd.Error as ex:
        assert ex.errno in ("EINVAL", "ENOSPC"), ex.errno
h.pwrite(b"y" * 100, (1 << 20) - 100)
assert h.pread(100, (1 << 20) - 100) == b"y" * 100
EOF
