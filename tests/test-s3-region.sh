#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The bucket's region, found rather than given (region=auto; for AWS's
# own endpoints, when region= is not given), and 307 redirects followed.
#
# The store is Swift with s3api's location set to eu-west-1: it checks
# every signature, the region in it included, and refuses a request
# signed for us-east-1 with AuthorizationHeaderMalformed ("the region
# 'us-east-1' is wrong; expecting 'eu-west-1'").  In front of it,
# aws-router.py stands in for AWS's routing, which no server here
# imitates: 301 PermanentRedirect for a request signed for the wrong
# region (with x-amz-bucket-region, or bare so that only a HeadBucket
# says it), and 307 TemporaryRedirect to its second port for every
# third request.  Swift, behind it, checks that each request that gets
# through was signed for eu-west-1 and for the host it was sent to.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import http.server'
ZEROFS_TEST_BACKEND=swift
export SWIFT_LOCATION=eu-west-1
start_volume                      # zerofs-dev init with region=eu-west-1
zdev create disk 8M
swift=$S3_ENDPOINT
log=$tmpdir/nbdkit.log
base=(bucket="$bucket" password=+"$pwfile" export=disk force=true)

router_region=eu-west-1

# Read back what write_and_check wrote last, through a fresh cache: the
# reads go to the store.
read_check ()
{
    rm -rf "$tmpdir/c2"
    nbdkit -v -U - "$PLUGIN" "${base[@]}" cache-dir="$tmpdir/c2" "$@" \
           --run 'nbdsh -u "$uri" -c "
import os
want = open(os.environ[\"tmpdir\"] + \"/data\", \"rb\").read()
assert h.pread(4 << 20, 1 << 20) == want
"' 2>>"$log"
}

# Write 4 chunks, flush, and read them back with read_check.
write_and_check ()
{
    rm -rf "$tmpdir/c1"
    start_server -D zerofs.s3=1 "$PLUGIN" "${base[@]}" \
                 cache-dir="$tmpdir/c1" "$@" 2>"$log"
    client <<'EOF'
import os
data = os.urandom(4 << 20)
open(os.environ["tmpdir"] + "/data", "wb").write(data)
h.pwrite(data, 1 << 20)
h.flush()
EOF
    stop_server
    read_check "$@"
}

# The one line that says what was found (a warning: region= saves it).
region_line ()
{
    grep -v ': debug: ' "$log" |
        grep -c "the bucket is in region eu-west-1 ($1" || :
}

# 1. Straight to Swift, no region: not AWS, so us-east-1 is assumed,
# and the error says which region the store wants.
if nbdkit -v -U - "$PLUGIN" "${base[@]}" endpoint="$swift" \
          cache-dir="$tmpdir/c0" --run true 2>"$log"; then
    echo "$0: signing for us-east-1 was accepted?"; exit 1
fi
server_error "AuthorizationHeaderMalformed.*set region=eu-west-1" "$log"

# 2. Straight to Swift, region=auto: Swift's AuthorizationHeaderMalformed
# names the region; the requests are signed again for it.
write_and_check endpoint="$swift" region=auto
test "$(region_line 'the <Region> of an HTTP 400 AuthorizationHeaderMalformed')" -ge 1
grep -q 'region=eu-west-1 saves' "$log" && {
    echo "$0: region=auto was given, no need to suggest region="; exit 1; }

# 3. Through the stand-in: 301 with x-amz-bucket-region, and a 307
# every third request.
start_router 301 3
write_and_check endpoint="$main" region=auto
stop_router
test "$(region_line 'the x-amz-bucket-region header of an HTTP 301')" -ge 1
n301=$(grep -c '^main 301 ' "$rlog" || :)
n307=$(grep -c '^main 307 ' "$rlog" || :)
nredir=$(grep -c '^redirect fwd ' "$rlog" || :)
echo "301: $n301, 307: $n307, served after a redirect: $nredir"
# One 301 per server start: the region is learnt at open, then kept.
test "$n301" -eq 2
test "$n307" -ge 3
# Every 307 was followed, signed for the redirect's host and eu-west-1.
test "$nredir" -eq "$n307"
if grep -v ' eu-west-1$' "$rlog" | grep -v '^main 301 ' | grep .; then
    echo "$0: a request above was not signed for eu-west-1"; exit 1
fi
grep -q 'retrying' "$log" && { echo "$0: a request was retried"; exit 1; }

# 4. A bare 301 (no region in it): a HeadBucket asks.
start_router 301-bare 0
: > "$log"
read_check endpoint="$main" region=auto
stop_router
test "$(region_line 'the x-amz-bucket-region header of an HTTP 301 answer to HeadBucket')" -ge 1
grep -q '^main 301 HEAD /zerofs-test ' "$rlog"

# 5. AWS's 400 AuthorizationHeaderMalformed, from the stand-in.
start_router 400 0
: > "$log"
read_check endpoint="$main" region=auto
stop_router
test "$(region_line 'the <Region> of an HTTP 400')" -ge 1

# 6. The right region given: not one 301, no warning.
start_router 301 0
: > "$log"
read_check endpoint="$main" region=eu-west-1
stop_router
test "$(grep -c '^main 301 ' "$rlog" || :)" -eq 0
test "$(region_line '')" -eq 0

# 7. Given the wrong region, nothing is discovered: the open fails and
# says what to set.
start_router 301 0
if nbdkit -v -U - "$PLUGIN" "${base[@]}" endpoint="$main" region=us-west-2 \
          cache-dir="$tmpdir/c0" --run true 2>"$log"; then
    echo "$0: region=us-west-2 was accepted?"; exit 1
fi
server_error "PermanentRedirect.*the bucket is in region eu-west-1: set region=eu-west-1" "$log"
stop_router
