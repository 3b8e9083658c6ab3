#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A 404 that is not S3's NoSuchKey (a proxy's page, a wrong endpoint) is
# not an answer that a chunk is absent.
#
# A new cache-dir meets a device with data: until its survey has listed
# the chunks, a read asks for each chunk with a GET, and S3's NoSuchKey
# is taken for an absent chunk (zeros).  aws-router.py in mode 404-page
# answers every chunk GET with an HTML 404, and the fault file holds
# the survey's listing back: the read must fail with EIO, not return
# zeros (which a partial write would then upload over the real chunk).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import http.server'
ZEROFS_TEST_BACKEND=s3rver
start_volume
zdev create disk 8M
log=$tmpdir/nbdkit.log
: > "$log"

start_server "$PLUGIN" "${zargs[@]}" export=disk 2>>"$log"
client <<'PY'
h.pwrite(b"\x5a" * (1 << 20), 1 << 20)
h.flush()
PY
stop_server

# The router in front of s3rver.
start_router 404-page 0

echo "stale list 60s" > "$tmpdir/faults"
rm -rf "$cachedir"
start_server "$PLUGIN" bucket="$bucket" password=+"$pwfile" \
             cache-dir="$cachedir" endpoint="$main" \
             region="$S3_REGION" export=disk force=true retry-time=1 \
             fault-file="$tmpdir/faults" 2>>"$log"
client > "$tmpdir/out" 2>&1 <<'PY' || :
try:
    data = h.pread(4096, 1 << 20)
    print("read returned", data[:4])
except nbd.Error as e:
    print("read failed:", e.errno)
PY
cat "$tmpdir/out"
grep -q "^main 404 GET /.*/chunks/" "$rlog" ||
    { echo "$0: FAIL: no chunk GET reached the router"; exit 1; }
grep -q "read failed: EIO$" "$tmpdir/out" ||
    { echo "$0: FAIL: a 404 page was taken for an absent chunk"; exit 1; }
grep -q "not taken for an absent object" "$log" ||
    { echo "$0: FAIL: the log does not say why"; exit 1; }
stop_server -9                  # (its survey waits for the held listing)
echo PASS
