#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# HTTPS: certificates are verified by default (a self-signed server is a
# quick, clear error, not retried), ca-bundle= trusts a given CA,
# unsigned-payload=true works over HTTPS, and virtual-hosted addressing
# (BUCKET.HOST) reaches the same bucket as path-style addressing.
# s3rver serves HTTPS with a certificate made here.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires openssl version
source "$srcdir/s3-servers.sh"

tls=$tmpdir/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1,DNS:s3.localhost,DNS:zerofs-test.s3.localhost" \
        -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null

cleanup_fn s3rver_stop
S3RVER_TLS_DIR=$tls S3RVER_VHOST=localhost s3rver_start "$tmpdir/s3rver" ||
    exit $?
case "$S3_ENDPOINT" in https://*) ;; *) exit 1 ;; esac
port=${S3_ENDPOINT##*:}

bucket=$S3_BUCKET/vol
store_args=(endpoint="$S3_ENDPOINT" region=us-east-1)

# Verification is on by default: the self-signed certificate is refused,
# at once (no retries for retry-time), naming the problem.
start=$(date +%s)
if zdev init --scrypt-log2n=10 2> "$tmpdir/err"; then
    echo "$0: an unverifiable certificate was accepted"
    exit 1
fi
cat "$tmpdir/err"
grep -qi "certificate" "$tmpdir/err"
test $(( $(date +%s) - start )) -lt 30

# ca-bundle= trusts our CA.
store_args+=(ca-bundle="$tls/cert.pem")
zdev init --scrypt-log2n=10
zdev create disk 2M
zargs=(bucket="$bucket" password=+"$pwfile" cache-dir="$cachedir"
       "${store_args[@]}" export=disk)
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" unsigned-payload=true \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
h.pwrite(b"tls!" * 1024, 0)
h.flush()
EOF
test "$(s3_count_objects vol/devices/disk/chunks/)" = 1

# Virtual-hosted addressing: https://zerofs-test.s3.localhost:PORT/KEY
# (s3rver takes BUCKET.s3.ENDPOINT; curl resolves *.localhost itself).
rm -rf "$cachedir"
status=0
nbdkit -v -U - "$PLUGIN" bucket="$bucket" password=+"$pwfile" \
       cache-dir="$cachedir" endpoint="https://s3.localhost:$port" \
       region=us-east-1 ca-bundle="$tls/cert.pem" addressing=virtual \
       export=disk -D zerofs.s3=1 -v \
       --run 'nbdsh -u "$uri" -c -' 2> "$tmpdir/vhost.log" <<'EOF' || status=$?
assert h.pread(4096, 0) == b"tls!" * 1024
h.pwrite(b"vhost" * 100, 1 << 20)
h.flush()
EOF
grep "error" "$tmpdir/vhost.log" | head -5 || :
test $status = 0
grep -q "virtual-hosted-style (Host zerofs-test.s3.localhost:$port)" \
     "$tmpdir/vhost.log"
test "$(s3_count_objects vol/devices/disk/chunks/)" = 2
