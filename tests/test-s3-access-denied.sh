#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Least privilege: an AccessDenied says which permission is missing, and
# a read-only open needs no more than reading and listing.
#
# Swift (s3api) really refuses: a second user of the account, test:reader,
# has no .admin, so it may do only what the container's ACLs grant it.
# First nothing (the open's listing is refused), then read access
# (X-Container-Read: a read-only open works, and so does a read-write
# one that only reads; the first write's PUT, the device's lease, is
# refused).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
ZEROFS_TEST_BACKEND=swift
export SWIFT_READER=reader:reading
start_volume
zdev create disk 4M
log=$tmpdir/nbdkit.log

# Some data, written with the account's admin.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c "h.pwrite(b\"z\" * 4096, 8192); h.flush()"'

reader=(bucket="$bucket" password=+"$pwfile" "${store_args[@]}" export=disk
        access-key=test:reader secret-key=reading)

# Serve as test:reader with a fresh cache, running the nbdsh code $1;
# the other arguments are nbdkit's options.
as_reader ()
{
    local code=$1; shift
    rm -rf "$tmpdir/c"
    timeout 60 nbdkit -v -U - "$@" "$PLUGIN" "${reader[@]}" \
            cache-dir="$tmpdir/c" --run "nbdsh -u \"\$uri\" -c '$code'" \
            2>"$log" || { grep -v ': debug: ' "$log"; return 1; }
}

# 1. No access at all: the open's one listing is refused, and the
# message names s3:ListBucket on the bucket and the prefix.
if as_reader 'pass'; then
    echo "$0: test:reader was let in without any ACL"; exit 1
fi
server_error "AccessDenied on ListObjectsV2 zerofs-test: the credentials need s3:ListBucket on arn:aws:s3:::zerofs-test for the prefix vol/" "$log"
server_error "refused access (credentials from" "$log"

# 2. Read access (GetObject, ListBucket): a read-only open reads.
tok=$(curl -sS -i -H "X-Auth-User: $AWS_ACCESS_KEY_ID" \
           -H "X-Auth-Key: $AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/auth/v1.0" |
          tr -d '\r' | awk -F': ' 'tolower($1) == "x-auth-token" { print $2 }')
test -n "$tok"
curl -sS --fail -X POST -H "X-Auth-Token: $tok" \
     -H "X-Container-Read: test:reader" \
     "$S3_ENDPOINT/v1/AUTH_test/$S3_BUCKET"
as_reader 'assert h.pread(4096, 8192) == b"z" * 4096' -r
server_error AccessDenied "$log" &&
    { echo "$0: a read-only open needed more than reading"; exit 1; }

# 3. A read-write open only looks at the device's lease: it reads.  Its
# first write takes the lease (a PUT): refused with EIO, and the message
# says which permission, on which objects.
as_reader 'assert h.pread(4096, 8192) == b"z" * 4096'
if as_reader 'h.pwrite(b"w" * 4096, 0)'; then
    echo "$0: test:reader wrote the device"; exit 1
fi
server_error "AccessDenied on PutObject devices/disk/lease[.a-z]*: the credentials need s3:PutObject on arn:aws:s3:::zerofs-test/vol/\*" "$log"
