#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# S3 configuration, run through test-s3-config-s3rver.sh and
# test-s3-config-swift.sh: credentials from parameters, the environment
# and the shared credentials file (profiles); the same options in
# zerofs-dev and in a config file; and clear start-up errors, never a
# hang, for a wrong secret, an unknown access key, a missing bucket and
# an endpoint where nothing listens.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdinfo --version
case "$ZEROFS_TEST_BACKEND" in
    s3rver|swift) ;;
    *) echo "$0: run me through test-s3-config-{s3rver,swift}.sh"; exit 1 ;;
esac

start_volume
zdev create disk 1M
ak=$AWS_ACCESS_KEY_ID
sk=$AWS_SECRET_ACCESS_KEY
printf '%s\n' "$sk" > "$tmpdir/secret"
base=(bucket="$bucket" password=+"$pwfile" "${store_args[@]}" export=disk)

# Serve with ARGS and a fresh cache under the given environment; print
# the device size.
size_with ()
{
    rm -rf "$tmpdir/c"
    timeout 60 nbdkit -v -U - "$PLUGIN" "${base[@]}" cache-dir="$tmpdir/c" \
            "$@" --run 'nbdinfo --size "$uri"'
}

# Expect start-up to fail (within the timeout) with an error matching $1.
fails_with ()
{
    local pattern=$1 status=0; shift
    rm -rf "$tmpdir/c"
    timeout 60 nbdkit -v -U - "$PLUGIN" "$@" cache-dir="$tmpdir/c" \
            --run 'nbdinfo --list "$uri"' > "$tmpdir/out" 2>&1 || status=$?
    cat "$tmpdir/out"
    if [ $status = 0 ] || [ $status = 124 ]; then
        echo "$0: expected a quick failure, got status $status"
        exit 1
    fi
    server_error "$pattern" "$tmpdir/out"
}

# The environment (AWS_ACCESS_KEY_ID, ...) was used so far.  Now without
# it: parameters, the secret read from a file as nbdkit does it.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export HOME=$tmpdir/home
mkdir -p "$HOME"
test "$(size_with access-key="$ak" secret-key=+"$tmpdir/secret")" = 1048576

# No credentials anywhere: the error says where it looked.
fails_with "credentials" "${base[@]}"

# The shared credentials file and its profiles.
creds=$tmpdir/credentials
cat > "$creds" <<EOF
[default]
aws_access_key_id = NOSUCHKEY
aws_secret_access_key = wrong-secret

[zerofs]
aws_access_key_id = $ak
aws_secret_access_key = $sk
EOF
export AWS_SHARED_CREDENTIALS_FILE=$creds
test "$(size_with profile=zerofs)" = 1048576
test "$(AWS_PROFILE=zerofs size_with)" = 1048576
# The default profile has an access key the server does not know.
fails_with "InvalidAccessKeyId\|SignatureDoesNotMatch\|AccessDenied" \
           "${base[@]}"
mkdir -p "$HOME/.aws"
mv "$creds" "$HOME/.aws/credentials"
unset AWS_SHARED_CREDENTIALS_FILE
test "$(size_with profile=zerofs)" = 1048576
fails_with "profile" "${base[@]}" profile=nosuchprofile

# A wrong secret: Swift checks signatures (s3rver does not).
if [ "$ZEROFS_TEST_BACKEND" = swift ]; then
    fails_with "SignatureDoesNotMatch" "${base[@]}" \
               access-key="$ak" secret-key=wrong-secret
fi

# A bucket that does not exist is named.
fails_with "nosuchbucket-zerofs" bucket=nosuchbucket-zerofs/vol \
           password=+"$pwfile" "${store_args[@]}" \
           access-key="$ak" secret-key=+"$tmpdir/secret"

# Nothing listens there: a clear error after the retries, not a hang.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fails_with "refused\|connect" bucket="$bucket" password=+"$pwfile" \
           endpoint="http://127.0.0.1:$port" region=us-east-1 retry-time=2 \
           access-key="$ak" secret-key=+"$tmpdir/secret"

# zerofs-dev takes the same options, and both read them from a config
# file; parameters override the file.
cat > "$tmpdir/zerofs.cfg" <<EOF
bucket = "$bucket";
endpoint = "$S3_ENDPOINT";
region = "us-east-1";
access-key = "$ak";
secret-key = "$sk";
password-file = "$pwfile";
export = "disk";
EOF
"$ZEROFS_DEV" --config="$tmpdir/zerofs.cfg" list | grep -q '^disk '
"$ZEROFS_DEV" --bucket="$bucket" --endpoint="$S3_ENDPOINT" \
              --region=us-east-1 --access-key="$ak" --secret-key="$sk" \
              --password-file="$pwfile" info disk | grep -q '^size: *1048576'
rm -rf "$tmpdir/c"
timeout 60 nbdkit -v -U - "$PLUGIN" config="$tmpdir/zerofs.cfg" \
        cache-dir="$tmpdir/c" --run 'nbdinfo --size "$uri"' | grep -qx 1048576
if [ "$ZEROFS_TEST_BACKEND" = swift ]; then
    # A wrong secret on the command line overrides the file's good one.
    if "$ZEROFS_DEV" --config="$tmpdir/zerofs.cfg" --secret-key=wrong \
                     list 2> "$tmpdir/err"; then
        echo "$0: the command line did not override the config file"
        exit 1
    fi
    cat "$tmpdir/err"
    grep -q SignatureDoesNotMatch "$tmpdir/err"
fi
