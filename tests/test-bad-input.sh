#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad input gets a clear error and loses nothing.  Each case asserts the
# message (the problem it names) and that no stored byte changed: an md5
# of every file under the store directory, before and after.
#
# 1. Parameters: unknown key, missing bucket, bad sizes, bad export names
#    (as export= and as names asked for by clients), an unreadable
#    password file, a cache-dir that cannot be created or written, a
#    cache-dir locked by another server, a config file with a syntax
#    error (libconfig's line number).
# 2. Volumes and devices: wrong password, a volume header of another
#    format version, a missing or corrupt device meta, device names in
#    the store that are not ours, a size that is not a multiple of 4096,
#    creating a device that exists, removing one that does not.
# 3. Chunk objects flipped, truncated, emptied, copied from another
#    index, device or volume, or replaced by garbage: the read fails
#    with EIO, the log names the key, nothing is cached (a second read
#    fails too, and once the object is put back the same server returns
#    the data), and a whole-chunk write over it works.
# 4. NBD requests out of range, of length zero, and unaligned (libnbd's
#    strict mode off): the errors the NBD spec asks for, and the server
#    keeps serving.
#
# The cases of the other tests are not repeated here: test-errors.sh
# (bad enum values, a cache-dir of another volume), test-zerofs-dev.sh
# (zerofs-dev's usage errors), test-journal.sh part 4 (bad journal
# objects), test-cache-faults.sh part 4 (a chunk rolled back).  It always
# uses a directory volume: it edits and plants objects as files.
set -e
ZEROFS_TEST_BACKEND=dir
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires nbdinfo --version

start_volume
store=$tmpdir/store
zdev create disk 8M
zdev create other 8M
log=$tmpdir/nbdkit.log
: > "$log"
cleanup_fn sh -c "grep -av ' debug: ' '$log' | tail -n 30"
M=$(( 1 << 20 ))

# The md5 of every file under the store, by path.
snapshot () {
    (cd "$store" && find . -type f -print0 | sort -z | xargs -0 md5sum) > "$1"
}
# The store must be as it was at the last "snapshot $tmpdir/before".
unchanged () {
    snapshot "$tmpdir/after"
    if ! diff -u "$tmpdir/before" "$tmpdir/after"; then
        echo "$0: FAIL: $1: the store changed (diff above)"
        exit 1
    fi
}

# expect_fail PATTERN ARGS...: nbdkit with ARGS must fail to serve, with
# an error (not a debug line) matching PATTERN, and change nothing.
expect_fail () {
    local pattern=$1; shift
    snapshot "$tmpdir/before"
    # The --run command must talk to the server: errors found after the
    # fork (.after_fork) end the server, not the command.
    if nbdkit -v -U - "$PLUGIN" "$@" --run 'nbdinfo --list "$uri"' \
              > "$tmpdir/out" 2>&1; then
        echo "$0: FAIL: nbdkit $* should have failed"
        exit 1
    fi
    if ! server_error "$pattern" "$tmpdir/out"; then
        cat "$tmpdir/out"
        echo "$0: FAIL: expected an error matching: $pattern"
        exit 1
    fi
    grep -v ': debug: ' "$tmpdir/out" | grep -- "$pattern"
    unchanged "$pattern"
}

# dev_fails PATTERN ARGS...: zerofs-dev ARGS must fail, saying PATTERN on
# its one line of stderr, and change nothing.
dev_fails () {
    local pattern=$1; shift
    snapshot "$tmpdir/before"
    if zdev "$@" > "$tmpdir/out" 2>&1; then
        echo "$0: FAIL: zerofs-dev $* should have failed"
        exit 1
    fi
    cat "$tmpdir/out"
    if ! grep -q -- "$pattern" "$tmpdir/out"; then
        echo "$0: FAIL: expected zerofs-dev to say: $pattern"
        exit 1
    fi
    unchanged "zerofs-dev $*"
}

long=$(printf 'x%.0s' {1..65})

# 1. Parameters.
expect_fail "unknown parameter 'no-such-key'" "${zargs[@]}" no-such-key=1
expect_fail "bucket" password=+"$pwfile" cache-dir="$cachedir"
expect_fail "cache-size" "${zargs[@]}" cache-size=lots
expect_fail "cache-size" "${zargs[@]}" cache-size=-1M
expect_fail "journal-max-bytes" "${zargs[@]}" journal-max-bytes=12Q
expect_fail "device name \"../x\" must not begin with '.'" \
            "${zargs[@]}" export=../x
expect_fail 'device name "a/b" has a character other than' \
            "${zargs[@]}" export=a/b
expect_fail "device name \"$long\" is too long (65 bytes, at most 64)" \
            "${zargs[@]}" export="$long"
expect_fail "device name \".hidden\" must not begin with '.'" \
            "${zargs[@]}" export=.hidden
expect_fail "export=: empty" "${zargs[@]}" export=
expect_fail "$tmpdir/no-such-pw" bucket="file://$store" \
            password=+"$tmpdir/no-such-pw" cache-dir="$cachedir"
expect_fail "$tmpdir" bucket="file://$store" \
            password=+"$tmpdir" cache-dir="$cachedir"
expect_fail "$tmpdir/no-such-pw" bucket="file://$store" \
            password-file="$tmpdir/no-such-pw" cache-dir="$cachedir"
# A cache-dir that root cannot create or write either: under a regular
# file.
: > "$tmpdir/file"
expect_fail "cache-dir.*$tmpdir/file/cache.*Not a directory" \
            bucket="file://$store" password=+"$pwfile" \
            cache-dir="$tmpdir/file/cache"
# One server per cache-dir: the second names the first's pid.
start_server "$PLUGIN" "${zargs[@]}" export=disk 2>> "$log"
expect_fail "in use by another zerofs process (pid $server_pid)" \
            "${zargs[@]}"
stop_server
# libconfig's syntax errors name the file and the line.
printf 'cache-size = "32M";\n\ncompression = "none"\nexport = ;\n' \
       > "$tmpdir/bad.cfg"
expect_fail "$tmpdir/bad.cfg:4: syntax error" "${zargs[@]}" \
            config="$tmpdir/bad.cfg"
printf 'cache-size = "32M";\nno-such-key = 1;\n' > "$tmpdir/bad.cfg"
expect_fail "$tmpdir/bad.cfg:2: unknown setting \"no-such-key\"" \
            "${zargs[@]}" config="$tmpdir/bad.cfg"
printf 'cache-size = 12;\n' > "$tmpdir/bad.cfg"
expect_fail "$tmpdir/bad.cfg:1: .*cache-size" "${zargs[@]}" \
            config="$tmpdir/bad.cfg"

# Names asked for by clients: refused before they reach a key or a path,
# the server says why, and it keeps serving.  (Read-only: nothing of
# the store can change.)
start_server -r "$PLUGIN" "${zargs[@]}" 2>> "$log"
snapshot "$tmpdir/before"
for name in ../x a/b "$long" .hidden ''; do
    : > "$log"
    if ZEROFS_NAME=$name nbdsh -c - <<'EOF'
import os
h.set_export_name(os.environ["ZEROFS_NAME"])
h.connect_unix(os.environ["sock"])
EOF
    then
        echo "$0: FAIL: export name '$name' was accepted"
        exit 1
    fi
    case "$name" in
        '') pattern='no export name' ;;
        "$long") pattern='is too long (65 bytes' ;;
        .*) pattern="device name \"$name\" must not begin with '.'" ;;
        *) pattern="device name \"$name\" has a character other than" ;;
    esac
    server_error "$pattern" "$log" || {
        cat "$log"; echo "$0: FAIL: '$name': no error '$pattern'"; exit 1; }
done
# The listing shows only real devices, even with directories of other
# names planted in the store.
mkdir -p "$store/devices/.hidden" "$store/devices/$long" \
         "$store/devices/a b"
cp "$store/devices/disk/meta" "$store/devices/.hidden/meta"
cp "$store/devices/disk/meta" "$store/devices/$long/meta"
cp "$store/devices/disk/meta" "$store/devices/a b/meta"
snapshot "$tmpdir/before"
nbdinfo --list --json "nbd+unix:///?socket=$sock" > "$tmpdir/list.json"
/usr/bin/python3 - "$tmpdir/list.json" <<'EOF'
import json, sys
names = sorted(e["export-name"] for e in json.load(open(sys.argv[1]))["exports"])
assert names == ["disk", "other"], names
EOF
test "$(nbdinfo --size "nbd+unix:///disk?socket=$sock")" = $((8 * M))
unchanged "client export names"
stop_server
rm -rf "$store/devices/.hidden" "$store/devices/$long" "$store/devices/a b"

# 2. Volumes and devices.
echo 'not the password' > "$tmpdir/wrongpw"
expect_fail "wrong password for volume file://$store" bucket="file://$store" \
            password=+"$tmpdir/wrongpw" cache-dir="$tmpdir/cache2"
# A volume header of another format version (byte 4).
cp "$store/zerofs.volume" "$tmpdir/volume.orig"
printf '\002' | dd of="$store/zerofs.volume" bs=1 seek=4 conv=notrunc status=none
expect_fail "volume header zerofs.volume in file://$store has format version 2, this zerofs reads version 1" \
            "${zargs[@]}"
dev_fails "format version 2" list
cp "$tmpdir/volume.orig" "$store/zerofs.volume"
# Sizes that are not a multiple of 4096, names that are not names.
dev_fails "size 12345 is not a positive multiple of 4096" create x 12345
dev_fails "size 8388609 of device disk: must be a multiple of 4096" resize disk 8388609
dev_fails "must not begin with '.'" create .x 1M
dev_fails "has a character other than" create a/b 1M
# Creating a device that exists, removing one that does not.
dev_fails "device disk already exists" create disk 1M
dev_fails "no device nosuch in volume" rm nosuch
dev_fails "no device nosuch in volume" info nosuch
# A corrupt device meta: that device is refused, naming its key; the
# others are served, and listed (list fails, after listing them all).
cp "$store/devices/other/meta" "$tmpdir/meta.orig"
flip () {
    /usr/bin/python3 -c '
import sys
p, i = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read())
b[i % len(b)] ^= 1
open(p, "wb").write(b)' "$@"
}
flip "$store/devices/other/meta" 40
dev_fails "device meta devices/other/meta in .* failed authentication" info other
# list says so and fails, but lists the other devices.
dev_fails "1 device listed without what an unreadable object holds" list
grep -q "^disk  *8M " "$tmpdir/out" ||
    { echo "$0: FAIL: list hid the other devices"; exit 1; }
grep -q "^other  *?  .*(its meta object is unreadable)" "$tmpdir/out" ||
    { echo "$0: FAIL: list does not show the unreadable device"; exit 1; }
start_server -r "$PLUGIN" "${zargs[@]}" 2>> "$log"
snapshot "$tmpdir/before"
client other 'h.get_size()' 2>/dev/null && {
    echo "$0: FAIL: a corrupt device meta was served"; exit 1; }
server_error "device meta devices/other/meta in .* failed authentication" "$log"
test "$(nbdinfo --size "nbd+unix:///disk?socket=$sock")" = $((8 * M))
stop_server
unchanged "corrupt meta"
# A missing device meta: a device directory with objects but no meta.
# Said so, not "no device"; creating it again is refused (the objects
# would be garbage to a new device); rm removes what is left.
rm "$store/devices/other/meta"
mkdir -p "$store/devices/other/chunks"
head -c 1000 /dev/urandom > "$store/devices/other/chunks/0000000000000000"
lost="device other in volume file://$store has lost its meta object (devices/other/meta)"
dev_fails "$lost" info other
dev_fails "$lost" resize other 16M
dev_fails "still holds objects of a device of that name whose meta object is lost" \
          create other 1M
start_server -r "$PLUGIN" "${zargs[@]}" 2>> "$log"
snapshot "$tmpdir/before"
client other 'h.get_size()' 2>/dev/null && {
    echo "$0: FAIL: a device without meta was served"; exit 1; }
server_error "$lost" "$log"
stop_server
unchanged "missing meta"
zdev rm other
test ! -e "$store/devices/other/chunks/0000000000000000"
dev_fails "no device other in volume file://$store\$" info other
mkdir -p "$store/devices/other"
cp "$tmpdir/meta.orig" "$store/devices/other/meta"
zdev info other > /dev/null

# 3. Chunk objects.  Chunk I of disk holds bytes I+1, plus a 4 KiB
# marker; other's chunk 0 and another volume's disk chunk 0 are there
# to be copied.
fill='
M = 1 << 20
def data(i, gen=0):
    s = b"chunk %02d gen %d|" % (i, gen)
    return (s * (M // len(s) + 1))[:M]
'
start_server "$PLUGIN" "${zargs[@]}" 2>> "$log"
client disk "$fill
for i in range(8):
    h.pwrite(data(i), i * M)
h.flush()"
client other "$fill
h.pwrite(data(9), 0)
h.flush()"
stop_server
vol2=$tmpdir/vol2
"$ZEROFS_DEV" --bucket="file://$vol2" --password-file="$pwfile" \
              init --scrypt-log2n=10
"$ZEROFS_DEV" --bucket="file://$vol2" --password-file="$pwfile" create disk 8M
nbdkit -v -U - "$PLUGIN" bucket="file://$vol2" password=+"$pwfile" \
       cache-dir="$tmpdir/cache-vol2" export=disk \
       --run 'nbdsh -u "$uri" -c "h.pwrite(b\"V\" * (1 << 20), 0); h.flush()"' \
       2> "$tmpdir/vol2.log"
chunks=$store/devices/disk/chunks
cp -a "$chunks" "$tmpdir/chunks.orig"
key () { printf 'devices/disk/chunks/%016x' "$1"; }
damage () {
    cp "$tmpdir/chunks.orig"/* "$chunks/"
    flip "$chunks/$(basename "$(key 0)")" 100               # a flipped byte
    local c1=$chunks/$(basename "$(key 1)")
    head -c $(( $(stat -c %s "$c1") / 2 )) "$tmpdir/chunks.orig/$(basename "$c1")" \
         > "$c1"                                             # truncated
    : > "$chunks/$(basename "$(key 2)")"                     # zero-length
    cp "$tmpdir/chunks.orig/$(basename "$(key 5)")" \
       "$chunks/$(basename "$(key 3)")"                      # another index
    cp "$store/devices/other/chunks/0000000000000000" \
       "$chunks/$(basename "$(key 4)")"                      # another device
    cp "$vol2/devices/disk/chunks/0000000000000000" \
       "$chunks/$(basename "$(key 5)")"                      # another volume
    head -c 5000 /dev/urandom > "$chunks/$(basename "$(key 6)")"  # garbage
    printf '\002' | dd of="$chunks/$(basename "$(key 7)")" bs=1 seek=4 \
                       conv=notrunc status=none              # version 2
}

# Read-only, with a cache-dir of its own: every read fails, twice, the
# log names the key, and nothing changes; put back, the same server
# reads the right data.
damage
rm -rf "$cachedir"
start_server -r "$PLUGIN" "${zargs[@]}" 2>> "$log"
snapshot "$tmpdir/before"
client disk "$fill
for rnd in range(2):
    for i in range(8):
        for off, n in ((0, M), (M - 4096, 4096)):
            try:
                h.pread(n, i * M + off)
                raise SystemExit('chunk %d: damaged object read as data' % i)
            except nbd.Error as ex:
                assert ex.errno == 'EIO', (i, ex.errno)
"
unchanged "reads of damaged chunks"
for i in 0 1 2 3 4 5 6 7; do
    server_error "$(key $i)" "$log" || {
        echo "$0: FAIL: the log does not name $(key $i)"; exit 1; }
done
server_error "$(key 0) failed authentication" "$log"
server_error "$(key 1) failed authentication" "$log"
server_error "$(key 2) is truncated (0 bytes)" "$log"
server_error "$(key 6) is not a zerofs chunk (bad magic)" "$log"
server_error "$(key 7) has format version 2" "$log"
cp "$tmpdir/chunks.orig"/* "$chunks/"
client disk "$fill
for i in range(8):
    assert h.pread(M, i * M) == data(i), i
"
stop_server

# Read-write: a whole-chunk write over each damaged object works, and is
# what a fresh cache reads back.
damage
rm -rf "$cachedir"
start_server "$PLUGIN" "${zargs[@]}" 2>> "$log"
client disk "$fill
for i in range(8):
    try:
        h.pread(4096, i * M)
        raise SystemExit('chunk %d: damaged object read as data' % i)
    except nbd.Error as ex:
        assert ex.errno == 'EIO', (i, ex.errno)
    h.pwrite(data(i, 1), i * M)
    h.flush()
    assert h.pread(M, i * M) == data(i, 1), i
"
stop_server
rm -rf "$cachedir"
start_server -r "$PLUGIN" "${zargs[@]}" 2>> "$log"
client disk "$fill
for i in range(8):
    assert h.pread(M, i * M) == data(i, 1), i
"
stop_server

# 4. NBD requests out of range, of length zero, unaligned.
start_server "$PLUGIN" "${zargs[@]}" 2>> "$log"
client disk 'h.pread(1, 0)'          # the device is open
# The lease object is rewritten every 30 s by design (its renewal
# time): every other byte of the store must stay as it is.
snapshot "$tmpdir/before"
sed -i '\|/devices/disk/lease$|d' "$tmpdir/before"
client disk <<'EOF'
M = 1 << 20
size = 8 * M
h.set_strict_mode(0)
def fails(what, errno, op, *args):
    try:
        op(*args)
    except nbd.Error as ex:
        assert ex.errno == errno, (what, ex.errno, errno)
        return
    raise SystemExit("%s: succeeded" % what)
before = h.pread(8192, size - 8192)
for off, n in ((size - 100, 4096), (size, 1), (size + 4096, 4096),
               (2**63 - 4096, 4096), (2**64 - 4096, 8192)):
    fails("read %d+%d" % (off, n), "EINVAL", h.pread, n, off)
    fails("write %d+%d" % (off, n), "ENOSPC", h.pwrite, b"x" * n, off)
    fails("zero %d+%d" % (off, n), "ENOSPC", h.zero, n, off)
    fails("trim %d+%d" % (off, n), "EINVAL", h.trim, n, off)
    fails("cache %d+%d" % (off, n), "EINVAL", h.cache, n, off)
    fails("block status %d+%d" % (off, n), "EINVAL",
          h.block_status, n, off, lambda *a: 0)
# Zero-length requests: done as nothing, or refused as nbdkit 1.32
# does before the plugin sees them (as out of range: EINVAL, ENOSPC for
# the writes).
for what, op, errnos in (
        ("read", lambda: h.pread(0, 4096), ("EINVAL",)),
        ("write", lambda: h.pwrite(b"", 4096), ("EINVAL", "ENOSPC")),
        ("zero", lambda: h.zero(0, 4096), ("EINVAL", "ENOSPC")),
        ("trim", lambda: h.trim(0, 4096), ("EINVAL",)),
        ("cache", lambda: h.cache(0, 4096), ("EINVAL",)),
        ("block status", lambda: h.block_status(0, 4096, lambda *a: 0),
         ("EINVAL",))):
    try:
        op()
    except nbd.Error as ex:
        assert ex.errno in errnos, (what, ex.errno)
h.flush()
assert h.pread(8192, size - 8192) == before
EOF
snapshot "$tmpdir/after"
sed -i '\|/devices/disk/lease$|d' "$tmpdir/after"
diff -u "$tmpdir/before" "$tmpdir/after" || {
    echo "$0: FAIL: bad requests changed the store"; exit 1; }
# Unaligned requests are served exactly, across sector and chunk
# boundaries, and stored so.
client disk <<'EOF'
import random
M = 1 << 20
size = 8 * M
h.set_strict_mode(0)
model = bytearray(h.pread(size, 0))
r = random.Random(10)
for k in range(200):
    off = r.randrange(size - 1)
    n = r.randrange(1, min(3 * 4096, size - off) + 1)
    if r.random() < 0.3:
        off = (off // M + 1) * M - r.randrange(1, 600)
        n = min(r.randrange(600, 5000), size - off)
    op = r.choice(("write", "write", "zero", "read"))
    if op == "write":
        buf = bytes(r.getrandbits(8) for _ in range(n))
        h.pwrite(buf, off)
        model[off:off + n] = buf
    elif op == "zero":
        h.zero(n, off)
        model[off:off + n] = bytes(n)
    assert h.pread(n, off) == bytes(model[off:off + n]), (k, op, off, n)
h.flush()
assert h.pread(size, 0) == bytes(model)
open(__import__("os").environ["tmpdir"] + "/model", "wb").write(model)
EOF
stop_server
rm -rf "$cachedir"
nbdkit -r -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "
import os
assert h.pread(8 << 20, 0) == open(os.environ[\"tmpdir\"] + \"/model\", \"rb\").read()
"' 2>> "$log"

# A corrupt lease object (it holds no data): writing the device, and
# zerofs-dev, are refused naming the key and both ways out (force, or
# deleting the object); reading works; force=true (only that of
# export='s device) and zerofs-dev --force replace it with a lease of
# their own, with a warning.
flip "$store/devices/disk/lease" 30
noforce=()
for a in "${zargs[@]}"; do [ "$a" = force=true ] || noforce+=("$a"); done
corrupt="lease devices/disk/lease in .* failed authentication: .*force=true (zerofs-dev: --force), or delete that object"
snapshot "$tmpdir/before"
dev_fails "$corrupt" info disk
dev_fails "$corrupt" resize disk $((16 * M))
start_server "$PLUGIN" "${noforce[@]}" 2>> "$log"
: > "$log"
client disk 'h.pwrite(b"L" * 4096, 0)' 2>/dev/null && {
    echo "$0: FAIL: a device with a corrupt lease was written"; exit 1; }
server_error "$corrupt" "$log"
stop_server
# force=true for another export does not reach it.
start_server "$PLUGIN" "${noforce[@]}" force=true export=other 2>> "$log"
client disk 'h.pwrite(b"L" * 4096, 0)' 2>/dev/null && {
    echo "$0: FAIL: force=true export=other replaced disk's lease"; exit 1; }
stop_server
unchanged "corrupt lease"
nbdkit -r -v -U - "$PLUGIN" "${noforce[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "h.pread(4096, 0)"' 2>> "$log"
: > "$log"
nbdkit -v -U - "$PLUGIN" "${noforce[@]}" force=true export=disk \
       --run 'nbdsh -u "$uri" -c "h.pwrite(b\"L\" * 4096, 0); h.flush()"' \
       2>> "$log"
server_error "replacing its lease object, which cannot be read (force=true)" "$log"
zdev info disk > "$tmpdir/out"
grep -q "lease: .*released" "$tmpdir/out" || {
    cat "$tmpdir/out"; echo "$0: FAIL: the forced server left no lease"; exit 1; }
# Its generation cannot be one the unreadable lease had: microseconds.
zdev info --json disk | /usr/bin/python3 -c '
import json, sys, time
g = json.load(sys.stdin)["lease"]["generation"]
assert abs(g - time.time() * 1e6) < 600e6, g'
# zerofs-dev clone --force reads past one too.
flip "$store/devices/disk/lease" 30
dev_fails "$corrupt" clone disk disk-copy
zdev clone --force disk disk-copy > "$tmpdir/out" 2>&1 || {
    cat "$tmpdir/out"; echo "$0: FAIL: clone --force of a corrupt lease"; exit 1; }
grep -q "going on with a lease object this zerofs-dev cannot read" "$tmpdir/out"
zdev rm disk-copy
# zerofs-dev --force replaces one too (the one clone left alone).
zdev resize --force disk $((12 * M)) > "$tmpdir/out" 2>&1 || {
    cat "$tmpdir/out"; echo "$0: FAIL: resize --force of a corrupt lease"; exit 1; }
grep -q "replacing its lease object" "$tmpdir/out"
zdev info disk > /dev/null
nbdkit -v -U - "$PLUGIN" "${noforce[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "assert h.pread(4096, 0) == b\"L\" * 4096"' \
       2>> "$log"
# As the message says, deleting it works too.
flip "$store/devices/disk/lease" 30
rm "$store/devices/disk/lease"
nbdkit -v -U - "$PLUGIN" "${noforce[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "h.pwrite(b\"L\" * 4096, 0); h.flush()"' 2>> "$log"
# A lease of a format this zerofs does not read (byte 4, as a newer
# zerofs's would be; of the same length, and longer than ours can be):
# this zerofs cannot fence its writer, so nothing replaces it, not even
# force; zerofs-dev list still lists the device.
setbyte () {
    /usr/bin/python3 -c '
import sys
p, i, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(p, "rb").read()); b[i] = v; open(p, "wb").write(b)' "$@"
}
newer="lease devices/disk/lease in .* has format version 2, this zerofs reads version 1: .*newer zerofs.*force does not replace this lease"
cp "$store/devices/disk/lease" "$tmpdir/lease-v1"
for longer in 0 300; do
    cp "$tmpdir/lease-v1" "$store/devices/disk/lease"
    setbyte "$store/devices/disk/lease" 4 2
    head -c "$longer" /dev/urandom >> "$store/devices/disk/lease"
    snapshot "$tmpdir/before"
    dev_fails "$newer" resize --force disk $((16 * M))
    : > "$log"
    start_server "$PLUGIN" "${noforce[@]}" force=true export=disk 2>> "$log"
    client disk 'h.pwrite(b"N" * 4096, 0)' 2>/dev/null && {
        echo "$0: FAIL: force=true replaced a lease of a newer format"; exit 1; }
    server_error "$newer" "$log"
    stop_server
    unchanged "lease of a newer format ($longer bytes more)"
    zdev list > "$tmpdir/out" 2>&1 || :
    cat "$tmpdir/out"
    grep -q "^disk .*(its lease object is unreadable)" "$tmpdir/out" || {
        echo "$0: FAIL: list does not show a device with a newer lease"; exit 1; }
done
cp "$tmpdir/lease-v1" "$store/devices/disk/lease"
zdev info disk > /dev/null
# Replaced so under a running server: that server has lost the device
# (its own lease always opens), so its writes and flushes fail and
# nothing more of it is written.
: > "$log"
start_server "$PLUGIN" "${noforce[@]}" export=disk 2>> "$log"
client disk 'h.pwrite(b"R" * 4096, 0); h.flush()'
setbyte "$store/devices/disk/lease" 4 2
sleep 1.5                       # past the lease's confirmation (1 s)
client disk 'h.pwrite(b"S" * 4096, 4096); h.flush()' 2>/dev/null && {
    echo "$0: FAIL: a server flushed after its lease was replaced"; exit 1; }
server_error "device disk: its lease object was deleted or replaced by one that cannot be read" "$log" || {
    echo "$0: FAIL: the replaced lease was not taken as lost"; exit 1; }
stop_server
# (Its unflushed write stays in that cache, held: start afresh.)
cp "$tmpdir/lease-v1" "$store/devices/disk/lease"
rm -rf "$cachedir"
# A cache holding unflushed chunks of a device whose lease turns out
# unreadable at restart: nothing says whether another server wrote the
# device since, so the device is held (force or not), saying why: never
# served, nothing of it uploaded; the server serves the rest.
start_server "$PLUGIN" "${noforce[@]}" durability=local 2>> "$log"
client disk 'h.pwrite(b"U" * 4096, 8192); h.flush()'
stop_server -9
flip "$store/devices/disk/lease" 30
snapshot "$tmpdir/before"
: > "$log"
start_server "$PLUGIN" "${noforce[@]}" force=true 2>> "$log"
client disk 'h.get_size()' 2>/dev/null && {
    echo "$0: FAIL: a held device was served"; exit 1; }
server_error "disk: .* holds 1 of its chunks not yet written to the store, and with its lease unreadable nothing says whether another server wrote the device since: the device is held" "$log" || {
    echo "$0: FAIL: no message saying why the device is held"; exit 1; }
stop_server
unchanged "unflushed chunks, unreadable lease"
# Its lease object deleted (as the corrupt lease's message suggests):
# still held (the hold lasts whatever the lease does).
rm "$store/devices/disk/lease"
snapshot "$tmpdir/before"
: > "$log"
start_server "$PLUGIN" "${noforce[@]}" 2>> "$log"
client disk 'h.get_size()' 2>/dev/null && {
    echo "$0: FAIL: a held device was served"; exit 1; }
server_error "device disk was held at an earlier start, and .* still holds 1 of its chunks not yet written to the store: the device is held" "$log" || {
    echo "$0: FAIL: no message saying why the device is held"; exit 1; }
stop_server
unchanged "unflushed chunks, lease gone"
