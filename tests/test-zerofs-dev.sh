#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Test zerofs-dev: init, create, list, info, rm, resize, passwd,
# --config, and the errors (exit status 1 with exactly one line on
# stderr, 2 for usage errors).  It always uses a directory volume of its
# own, whatever $ZEROFS_TEST_BACKEND says, because it counts objects as
# files and plants objects there.  resize is also checked on real data
# written and read through the plugin, if nbdsh runs here.
set -e
source "${srcdir:-.}/functions.sh"
set -x

tmp="$tmpdir"
vol="$tmp/vol"
echo 'correct horse' > "$tmp/pw"
echo 'battery staple' > "$tmp/pw2"

dev () {
    "$ZEROFS_DEV" --bucket="file://$vol" --password-file="$tmp/pw" "$@"
}

# fails STATUS REGEX COMMAND ARGS...: COMMAND must exit with STATUS and
# print exactly one line on stderr, "zerofs-dev: ..." matching REGEX.
fails () {
    local status="$1" re="$2" r
    shift 2
    { set +x; } 2>/dev/null             # keep the trace out of "$tmp/err"
    echo "+ $* (expect exit status $status)"
    set +e
    "$@" > "$tmp/out" 2> "$tmp/err"
    r=$?
    set -e
    cat "$tmp/err"
    if [ "$r" -ne "$status" ]; then
        echo "FAIL: $*: exit status $r, expected $status"
        exit 1
    fi
    if [ "$(wc -l < "$tmp/err")" -ne 1 ]; then
        echo "FAIL: $*: expected exactly one line on stderr"
        exit 1
    fi
    if ! grep -qE -- "^zerofs-dev: .*($re)" "$tmp/err"; then
        echo "FAIL: $*: stderr does not match '$re'"
        exit 1
    fi
    set -x
}

# expect FILE: FILE must hold exactly the lines on stdin.
expect () {
    if ! diff -u - "$1"; then
        echo "FAIL: unexpected output (diff above)"
        exit 1
    fi
}

# Files under the volume directory (objects), in DIR if given.
count_objects () {
    find "$vol${1:+/$1}" -type f 2>/dev/null | wc -l
}

# Help, version, usage errors (exit 2).
"$ZEROFS_DEV" --help > "$tmp/out"
grep -q 'resize' "$tmp/out"
grep -q -- '--cache-size=' "$tmp/out"      # the conf table is listed
"$ZEROFS_DEV" --version | grep -qE '^zerofs-dev [0-9]'
fails 2 'no command' "$ZEROFS_DEV"
fails 2 "unknown command 'frobnicate'" dev frobnicate
fails 2 "unknown option '--no-such-option'" dev --no-such-option=1 list
fails 2 "unknown option '-x'" dev -x list
fails 2 'create takes 2 arguments' dev create onlyname
fails 2 'takes only 1 argument' dev info a b
fails 2 "'--force' does not apply to create" dev create a 1M --force
fails 2 'passwd needs --new-password' dev passwd
fails 2 'bucket' "$ZEROFS_DEV" --password-file="$tmp/pw" list

# No volume yet.
fails 1 'does not exist' dev list
mkdir "$vol"
fails 1 'no zerofs volume.*init' dev list
rmdir "$vol"
fails 1 'password' "$ZEROFS_DEV" --bucket="file://$vol" --scrypt-log2n=10 init

# init (the directory is created), and only once.
dev init --scrypt-log2n=10
test "$(stat -c %s "$vol/zerofs.volume")" -eq 124
fails 1 'already exists' dev init --scrypt-log2n=10
fails 1 'scrypt-log2n' dev init --scrypt-log2n=abc

# The password: wrong, and every form of --password.  Of --password and
# --password-file, the last one wins.
fails 1 'wrong password for volume file://' \
    "$ZEROFS_DEV" --bucket="file://$vol" --password=wrong list
fails 1 'wrong password' dev --password=wrong list
"$ZEROFS_DEV" --bucket="file://$vol" --password=wrong \
    --password-file="$tmp/pw" list
"$ZEROFS_DEV" --bucket="file://$vol" --password="correct horse" list
"$ZEROFS_DEV" --bucket="file://$vol" --password="+$tmp/pw" list
"$ZEROFS_DEV" --bucket="file://$vol" --password=-3 list 3< "$tmp/pw"
"$ZEROFS_DEV" --bucket="file://$vol" --password=- list < "$tmp/pw"

# create, list, info.
dev create disk1 10M
dev create b2 1G
dev create odd 5124K
dev list > "$tmp/out"
expect "$tmp/out" <<'EOF'
NAME   SIZE  USED  WRITER
b2       1G     0  -
disk1   10M     0  -
odd      5M     0  -
EOF
dev list --bytes > "$tmp/out"
expect "$tmp/out" <<'EOF'
NAME         SIZE  USED  WRITER
b2     1073741824     0  -
disk1    10485760     0  -
odd       5246976     0  -
EOF
dev list --json > "$tmp/out"
expect "$tmp/out" <<'EOF'
[
  {"name": "b2", "size": 1073741824, "used": 0, "objects": 0, "chunk_objects": 0, "chunk_bytes": 0, "journal_objects": 0, "journal_bytes": 0, "lease": null},
  {"name": "disk1", "size": 10485760, "used": 0, "objects": 0, "chunk_objects": 0, "chunk_bytes": 0, "journal_objects": 0, "journal_bytes": 0, "lease": null},
  {"name": "odd", "size": 5246976, "used": 0, "objects": 0, "chunk_objects": 0, "chunk_bytes": 0, "journal_objects": 0, "journal_bytes": 0, "lease": null}
]
EOF
dev info disk1 > "$tmp/out"
grep -qx 'name:       disk1' "$tmp/out"
grep -qE '^uuid:       [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$tmp/out"
grep -qx 'size:       10485760 (10M)' "$tmp/out"
grep -qx 'chunk size: 1048576' "$tmp/out"
grep -qE '^created:    20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$' "$tmp/out"
grep -qx 'objects:    0' "$tmp/out"
grep -qx 'used:       0 (0)' "$tmp/out"
dev info --json disk1 | grep -q '"name": "disk1", "uuid": "'
test "$(dev info disk1 | grep uuid)" != "$(dev info b2 | grep uuid)"

# Bad names, bad sizes, duplicates, absent devices.
fails 1 'name' dev create .hidden 1M
fails 1 'name' dev create 'a/b' 1M
fails 1 'name' dev create "$(printf 'x%.0s' {1..65})" 1M
fails 1 'name' dev info ''
dev create "$(printf 'x%.0s' {1..64})" 4K
fails 1 '12345' dev create x 12345
fails 1 '1\.5G' dev create x 1.5G
fails 1 '10Q' dev create x 10Q
fails 1 'size' dev create x 0
fails 1 'already exists' dev create disk1 1M
fails 1 'no device' dev rm nosuchdev
fails 1 'no device' dev info nosuchdev
fails 1 'no device' dev resize nosuchdev 1M

# A device name may begin with '-' after "--".
dev create -- -dash 4K
dev info -- -dash | grep -qx 'size:       4096 (4K)'
dev rm -- -dash

# Stored objects are counted and listed (content is not read by list,
# info, rm or an aligned resize, so any bytes will do).
chunks="$vol/devices/disk1/chunks"
test -d "$vol/devices/disk1"
mkdir -p "$chunks"
for i in 0000000000000000 0000000000000003 0000000000000009; do
    head -c 1000 /dev/urandom > "$chunks/$i"
done
dev info disk1 > "$tmp/out"
grep -qx 'objects:    3' "$tmp/out"
grep -qx 'used:       3000 (2.9K)' "$tmp/out"
grep -qx 'chunks:     3 objects, 3000 bytes' "$tmp/out"
grep -qx 'journal:    0 objects, 0 bytes' "$tmp/out"
dev list | grep -qE '^disk1 +10M +2\.9K +-$'
# Journal objects count as used too, and apart.
mkdir -p "$vol/devices/disk1/journal"
head -c 500 /dev/urandom > "$vol/devices/disk1/journal/0000000000000005"
dev info disk1 > "$tmp/out"
grep -qx 'objects:    4' "$tmp/out"
grep -qx 'used:       3500 (3.4K)' "$tmp/out"
grep -qx 'journal:    1 objects, 500 bytes' "$tmp/out"
dev info --json disk1 | grep -q '"journal_objects": 1, "journal_bytes": 500'
rm -r "$vol/devices/disk1/journal"

# resize: shrinking needs --shrink and deletes the chunks past the end.
fails 1 'add --shrink' dev resize disk1 4M
test "$(count_objects devices/disk1/chunks)" -eq 3
dev resize disk1 4M --shrink
dev info disk1 | grep -qx 'size:       4194304 (4M)'
test -f "$chunks/0000000000000000"
test -f "$chunks/0000000000000003"
test ! -e "$chunks/0000000000000009"
dev resize disk1 8M
dev info disk1 | grep -qx 'size:       8388608 (8M)'
dev info disk1 | grep -qx 'objects:    2'
fails 1 'multiple of 4096' dev resize disk1 8388609

# rm removes every object of the device, and only those.
before="$(count_objects)"
# meta, 2 chunks, and the lease (released) and its probe: resize held it
test "$(count_objects devices/disk1)" -eq 5
test -f "$vol/devices/disk1/lease"
dev rm disk1
test "$(count_objects devices/disk1)" -eq 0
test "$(count_objects)" -eq $((before - 5))
fails 1 'no device' dev info disk1
dev list > "$tmp/out"
if grep -q disk1 "$tmp/out"; then
    echo "FAIL: disk1 is still listed after rm"
    exit 1
fi
dev create disk1 1M                             # the name is free again

# --config: the file is read first, the command line overrides it.
cat > "$tmp/conf" <<EOF
bucket = "file://$tmp/nonexistent";
password-file = "$tmp/pw";
EOF
fails 1 'nonexistent' "$ZEROFS_DEV" --config="$tmp/conf" list
"$ZEROFS_DEV" --config="$tmp/conf" --bucket="file://$vol" list | grep -q '^disk1 '
cat > "$tmp/conf" <<EOF
bucket = "file://$vol";
password-file = "$tmp/pw";
EOF
"$ZEROFS_DEV" --config="$tmp/conf" list | grep -q '^disk1 '
fails 1 'wrong password' "$ZEROFS_DEV" --config="$tmp/conf" --password=nope list
fails 1 'wrong password' "$ZEROFS_DEV" --config="$tmp/conf" \
    --password-file="$tmp/pw2" list
cat > "$tmp/conf" <<EOF
bucket = "file://$vol";
password = "wrong";
EOF
fails 1 'wrong password' "$ZEROFS_DEV" --config="$tmp/conf" list
"$ZEROFS_DEV" --config="$tmp/conf" --password-file="$tmp/pw" list | grep -q '^disk1 '
fails 1 'no-such-key' "$ZEROFS_DEV" --config=<(echo 'no-such-key = 1;') list

# Table options are checked.
fails 1 'compression' dev --compression=lzma list

# passwd: the old password stops working, the data stays.
dev passwd --new-password="+$tmp/pw2"
fails 1 'wrong password' dev list
"$ZEROFS_DEV" --bucket="file://$vol" --password-file="$tmp/pw2" \
    passwd --new-password="+$tmp/pw" --scrypt-log2n=11
test "$(od -An -tu1 -j6 -N1 "$vol/zerofs.volume" | tr -d ' ')" -eq 11
dev list | grep -q '^disk1 '

# resize on real data, through the plugin, if it can be run here.
if ! nbdsh --version > /dev/null 2>&1; then
    echo "$0: resize on real data not tested: nbdsh does not run here"
    exit 0
fi

# serve DEVICE PYTHON: run nbdsh code against DEVICE with a fresh cache
# (with the cache kept from the last run when $keep_cache is set).
serve () {
    [ -n "${keep_cache:-}" ] || rm -rf "$tmp/cache"
    ZEROFS_TEST_CODE="$2" \
    nbdkit -v -U - "$PLUGIN" bucket="file://$vol" password="+$tmp/pw" \
           cache-dir="$tmp/cache" export="$1" \
           --run 'nbdsh -u "$uri" -c "$ZEROFS_TEST_CODE"'
}

# 1 MiB + 4 KiB: the last chunk is short.
dev create real 1052672
serve real '
h.pwrite(b"\xcd" * 4096, 0)
h.pwrite(b"\xab" * 4096, 1048576)
h.flush()
'
test "$(count_objects devices/real/chunks)" -eq 2

# Grow: the short chunk is rewritten with the new length.
dev resize real 2M
serve real '
assert h.get_size() == 2097152
assert h.pread(4096, 0) == b"\xcd" * 4096
assert h.pread(4096, 1048576) == b"\xab" * 4096
assert h.pread(1044480, 1052672) == bytes(1044480)
'
# Interrupted or repeated: the same resize again changes nothing.
dev resize real 2M

# Shrink into the chunk, then past it: no old data comes back.
dev resize --shrink real 1052672
serve real '
assert h.get_size() == 1052672
assert h.pread(4096, 1048576) == b"\xab" * 4096
'
dev resize --shrink real 1M
test "$(count_objects devices/real/chunks)" -eq 1
dev resize real 2M
serve real '
assert h.pread(4096, 0) == b"\xcd" * 4096
assert h.pread(1048576, 1048576) == bytes(1048576)
'

# The same with a server that keeps its cache-dir across the resizes:
# the cache must notice the new size and not bring the data back.
keep_cache=1
serve real '
h.pwrite(b"\xef" * 4096, 1048576)
h.flush()
assert h.pread(4096, 1048576) == b"\xef" * 4096
'
dev resize --shrink real 1M
dev resize real 2M
serve real '
assert h.pread(4096, 0) == b"\xcd" * 4096
assert h.pread(1048576, 1048576) == bytes(1048576), "stale cache"
'
keep_cache=
dev rm real
test "$(count_objects devices/real)" -eq 0
