#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs-dev clone, verify, and the long commands interrupted:
#
# 1. A source device written through the plugin: some chunks uploaded,
#    some writes only in journal objects (the server is killed before
#    its write-back).  Its lease is then live: clone is refused, and
#    done with --force.  The clone has every chunk and journal object,
#    a uuid of its own and the source's key uuid.
# 2. The clone served with an empty cache-dir reads every byte the
#    source had; writes to it do not change the source; it survives the
#    removal of the source.
# 3. verify: 0 and "all good" on good devices; (directory store) a
#    flipped byte in a chunk and in a journal object, and a chunk past
#    the end, are each reported by key, and the status is 1.
# 4. clone interrupted (SIGINT, the store slowed by the fault file): no
#    device yet, list says so, create refuses the name; run again it
#    resumes.  Interrupted again, then the source changes (a chunk
#    trimmed, another written): run again it restarts, and the trimmed
#    chunk is not in the clone.  rm interrupted, then run again.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
set -x

start_volume
faults=$tmpdir/faults
: > "$faults"
M=$((1 << 20))
export M

# refute CMD...: CMD must fail ("! CMD" would not stop set -e).
refute () {
    if "$@"; then
        echo "FAIL: this succeeded: $*"
        exit 1
    fi
}

# fails REGEX CMD...: CMD must exit with status 1, saying REGEX.
fails () {
    local re=$1 r
    shift
    set +e
    "$@" > "$tmpdir/fails.out" 2> "$tmpdir/fails.err"
    r=$?
    set -e
    cat "$tmpdir/fails.err"
    test $r = 1
    grep -qE -- "$re" "$tmpdir/fails.err"
}

# read_image EXPORT FILE: the whole device, through a fresh server on a
# fresh cache, into FILE.
serve () {
    rm -rf "$cachedir"
    start_server "$PLUGIN" "${zargs[@]}" export="$1" fault-file="$faults"
}
read_into () {
    IMG="$2" client "$1" <<'EOF'
import os
size = h.get_size()
with open(os.environ["IMG"], "wb") as f:
    for off in range(0, size, 4 * int(os.environ["M"])):
        f.write(h.pread(min(4 * int(os.environ["M"]), size - off), off))
EOF
}
read_image () {
    serve "$1"
    read_into "$1" "$2"
    stop_server
}

# 1.  The source: chunks 0-3 written whole (uploaded by the flush),
# 4 KiB writes in chunks 6-9 (journaled only), then SIGKILL.
zdev create src 16M
serve src
client src <<'EOF'
import os
M = int(os.environ["M"])
for i in range(4):
    h.pwrite(os.urandom(M), i * M)
h.flush()
for i in range(6, 10):
    h.pwrite(os.urandom(4096), i * M + 8192 * i)
h.flush()
EOF
stop_server -9
test "$(count_chunks src)" -ge 4
test "$(count_journal src)" -ge 1
src_chunks=$(count_chunks src)
src_journal=$(count_journal src)

# Its lease is held (by the killed server): refused without --force.
fails 'device src is in use by another server.*--force' zdev clone src dst
fails 'no device dst' zdev info dst
zdev clone --force src dst
test "$(count_chunks dst)" = "$src_chunks"
test "$(count_journal dst)" = "$src_journal"
zdev info src > "$tmpdir/info-src"
zdev info dst > "$tmpdir/info-dst"
grep -q '^key uuid: ' "$tmpdir/info-dst"
refute grep -q '^key uuid: ' "$tmpdir/info-src"
test "$(grep '^uuid:' "$tmpdir/info-src" | cut -c13-)" = \
     "$(grep '^key uuid:' "$tmpdir/info-dst" | cut -c13-48)"
test "$(grep '^uuid:' "$tmpdir/info-src")" != \
     "$(grep '^uuid:' "$tmpdir/info-dst")"
grep -q "^journal:    $src_journal objects" "$tmpdir/info-dst"
zdev list --json | grep -q '"name": "dst".*"journal_objects": '"$src_journal"
fails 'device dst already exists' zdev clone src dst

# 3.  verify, on the good devices.
zdev verify src > "$tmpdir/out"
grep -qx "src: $src_chunks chunk objects, $src_journal journal objects: all good" "$tmpdir/out"
zdev verify dst | grep -q ': all good$'

if [ "$ZEROFS_TEST_BACKEND" = dir ]; then
    # A flipped byte in a chunk and in a journal object, and a chunk
    # past the end: each reported with its key, status 1.
    store=$tmpdir/store/devices/dst
    chunk=$(ls "$store/chunks" | head -1)
    journal=$(ls "$store/journal" | head -1)
    cp -a "$store/chunks/$chunk" "$tmpdir/chunk.saved"
    cp -a "$store/journal/$journal" "$tmpdir/journal.saved"
    flip () {
        /usr/bin/python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "wb").write(b)' "$1"
    }
    flip "$store/chunks/$chunk"
    flip "$store/journal/$journal"
    cp "$tmpdir/chunk.saved" "$store/chunks/0000000000000100"
    set +e
    zdev verify dst > "$tmpdir/out" 2> "$tmpdir/err"
    r=$?
    set -e
    cat "$tmpdir/out" "$tmpdir/err"
    test $r = 1
    grep -q ': 3 bad$' "$tmpdir/out"
    grep -q "chunk object devices/dst/chunks/$chunk failed authentication" "$tmpdir/err"
    grep -q "devices/dst/journal/$journal" "$tmpdir/err"
    grep -q "devices/dst/chunks/0000000000000100 is past the end" "$tmpdir/err"
    test "$(grep -c "^zerofs-dev: " "$tmpdir/err")" = 3
    cp -a "$tmpdir/chunk.saved" "$store/chunks/$chunk"
    cp -a "$tmpdir/journal.saved" "$store/journal/$journal"
    rm "$store/chunks/0000000000000100"
    zdev verify dst | grep -q ': all good$'
fi

# 2.  The clone reads as the source did; each is written apart, also
# by one server.
read_image src "$tmpdir/src.img"
read_image dst "$tmpdir/dst.img"
cmp "$tmpdir/src.img" "$tmpdir/dst.img"
test "$(count_journal src)" = 0        # replayed and retired
serve dst
client dst <<'EOF'
h.pwrite(b"\x5a" * (1 << 20), 0)
h.pwrite(b"\xa5" * 4096, 7 << 20)
h.flush()
EOF
stop_server
read_image src "$tmpdir/src2.img"
cmp "$tmpdir/src.img" "$tmpdir/src2.img"
read_image dst "$tmpdir/dst2.img"
refute cmp -s "$tmpdir/src.img" "$tmpdir/dst2.img"
/usr/bin/python3 - "$tmpdir/src.img" "$tmpdir/dst2.img" <<'EOF'
import sys
M = 1 << 20
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
assert b[:M] == b"\x5a" * M
assert b[7 * M:7 * M + 4096] == b"\xa5" * 4096
assert a[M:7 * M] == b[M:7 * M] and a[7 * M + 4096:] == b[7 * M + 4096:]
EOF

# One server and one cache for both: its cache keeps them apart (it
# knows devices by uuid, and the clone's is its own).
serve src
read_into src "$tmpdir/both-src.img"
read_into dst "$tmpdir/both-dst.img"
client dst <<'EOF'
h.pwrite(b"\x3c" * 8192, 2 << 20)
h.flush()
EOF
read_into src "$tmpdir/both-src2.img"
stop_server
cmp "$tmpdir/src.img" "$tmpdir/both-src.img"
cmp "$tmpdir/dst2.img" "$tmpdir/both-dst.img"
cmp "$tmpdir/src.img" "$tmpdir/both-src2.img"

# 4.  Interrupted clones.  The store slowed: one copy at a time, each
# 300 ms, SIGINT once the first has landed.
echo 'delay copy 300ms' > "$faults"
n_src=$(( $(count_chunks src) + $(count_journal src) ))
# interrupt READY CMD...: zerofs-dev CMD, sent SIGINT once READY (a
# command) succeeds: then its copies or deletes are under way.  (Not
# before: a background job of a script starts with SIGINT ignored, so
# that a signal sent before zerofs-dev catches it would be lost.)
interrupt () {
    local ready=$1 pid r a i args=(--bucket="$bucket" --password-file="$pwfile")
    shift
    for a in "${store_args[@]}"; do args+=(--"$a"); done
    # Not through zdev (a function: its subshell would get the signal).
    "$ZEROFS_DEV" "${args[@]}" --fault-file="$faults" --connections=1 \
        "$@" 2> "$tmpdir/err" &
    pid=$!
    for (( i = 0; i < 600; i++ )); do
        eval "$ready" && break
        sleep 0.05
    done
    kill -INT $pid
    set +e
    wait $pid
    r=$?
    set -e
    cat "$tmpdir/err"
    test $r = 1
    grep -q "interrupted after [0-9]* of [0-9]* objects: run the same command again" "$tmpdir/err"
}
interrupt '[ "$(count_chunks dst2)" -ge 1 ]' clone src dst2
test "$(count_chunks dst2)" -ge 1
test "$(count_chunks dst2)" -lt "$n_src"
fails 'device dst2 in volume .* has lost its meta object .*, or is the copy of an interrupted clone' zdev info dst2
zdev list 2> "$tmpdir/err" > "$tmpdir/out"
grep -q 'dst2 is not a device (yet): the objects of an interrupted clone' "$tmpdir/err"
refute grep -q '^dst2 ' "$tmpdir/out"
fails 'objects of an interrupted clone are in the way' zdev create dst2 1M
zdev clone src dst3 > /dev/null
fails 'dst2 is an interrupted clone of src, not of dst3' zdev clone dst3 dst2
zdev rm dst3
: > "$faults"
zdev clone src dst2 2> "$tmpdir/err"
cat "$tmpdir/err"
grep -q "resuming the interrupted clone of src into dst2: [0-9]* of $n_src objects to copy" "$tmpdir/err"
read_image dst2 "$tmpdir/dst2.img"
cmp "$tmpdir/src.img" "$tmpdir/dst2.img"

# Interrupted, then the source changes: chunk 0 trimmed (its object
# deleted), chunk 12 written.  Run again, the clone restarts and has
# no chunk 0.
echo 'delay copy 300ms' > "$faults"
interrupt '[ "$(count_chunks dst4)" -ge 1 ]' clone src dst4
test "$(count_chunks dst4)" -ge 1           # chunk 0 at least
: > "$faults"
serve src
client src <<'EOF'
h.trim(1 << 20, 0)
h.pwrite(b"\x77" * 4096, 12 << 20)
h.flush()
EOF
stop_server
zdev clone src dst4 2> "$tmpdir/err"
cat "$tmpdir/err"
grep -q 'restarting the interrupted clone into dst4: src has changed' "$tmpdir/err"
read_image src "$tmpdir/src3.img"
read_image dst4 "$tmpdir/dst4.img"
cmp "$tmpdir/src3.img" "$tmpdir/dst4.img"
test "$(count_chunks dst4)" = "$(count_chunks src)"
zdev verify dst4 | grep -q ': all good$'

# An interrupted clone given up: rm removes what it left, marker too.
echo 'delay copy 300ms' > "$faults"
interrupt '[ "$(count_chunks dst5)" -ge 1 ]' clone src dst5
: > "$faults"
test "$(count_chunks dst5)" -ge 1
zdev rm dst5
test "$(count_chunks dst5)" = 0
zdev list 2> "$tmpdir/err" > /dev/null
refute grep -q dst5 "$tmpdir/err"
zdev create dst5 1M
zdev rm dst5

# rm interrupted, then run again.
echo 'delay delete 300ms' > "$faults"
before=$(count_chunks dst4)
interrupt '[ "$(count_chunks dst4)" -lt "$before" ]' rm dst4
test "$(count_chunks dst4)" -lt "$before"
zdev info dst4 | grep -q '^name:       dst4$'      # the meta goes last
: > "$faults"
zdev rm dst4
test "$(count_chunks dst4)" = 0
fails 'no device dst4' zdev info dst4

# The clone does not need its source.
zdev rm src
read_image dst2 "$tmpdir/dst2b.img"
cmp "$tmpdir/src.img" "$tmpdir/dst2b.img"
zdev verify dst2 | grep -q ': all good$'
