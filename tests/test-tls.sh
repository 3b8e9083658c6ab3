#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NBD over TLS, as nbdkit-zerofs-plugin(1) documents it ("NETWORK
# ACCESS AND TLS"): a device served over TCP on loopback with nbdkit's
# --tls=require, first with x509 certificates (a CA, a server and a
# client certificate made here with openssl; --tls-verify-peer, so the
# client must show a certificate the CA signed), then with a PSK file.
#   - a client with the right certificate or key writes, flushes and
#     reads back over nbds://
#   - a client without TLS is refused, and so is one with TLS but no
#     client certificate, one with a certificate from another CA, and
#     one with a wrong PSK or a user the server does not know
#   - the wrapper, zerofs --nbd --tls-certificates=DIR, makes nbdkit
#     require TLS and gives nbd-client (a stand-in that talks TLS as
#     nbd-client would) -cacertfile, -certfile, -keyfile, -tlshostname;
#     a client without TLS is refused on its socket; with --fuse it is
#     refused (nbdfuse cannot be given certificates)
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires nbdinfo --version
requires openssl version
requires /usr/bin/python3 --version
# nbdkit must have been built with GnuTLS.
requires sh -c 'nbdkit --dump-config | grep -q "^tls=yes"'

start_volume
zdev create disk 8M

# --- Certificates: a CA, the server's (localhost, 127.0.0.1), a client's,
# and a second CA with a client of its own (to be refused).
pki=$tmpdir/pki
mkdir -p "$pki/server" "$pki/client" "$pki/other" "$pki/none"
ssl () { openssl "$@" 2>/dev/null; }
make_ca () {
    ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$1/ca-key.pem" -out "$1/ca-cert.pem"
}
# sign CADIR OUTDIR NAME CN EXT
sign () {
    ssl req -newkey rsa:2048 -nodes -subj "/CN=$4" \
        -keyout "$2/$3-key.pem" -out "$2/$3.csr"
    printf '%s\n' "$5" > "$2/$3.ext"
    ssl x509 -req -in "$2/$3.csr" -CA "$1/ca-cert.pem" \
        -CAkey "$1/ca-key.pem" -CAcreateserial -days 2 \
        -extfile "$2/$3.ext" -out "$2/$3-cert.pem"
    rm -f "$2/$3.csr" "$2/$3.ext"
}
make_ca "$pki/server" "zerofs test CA"
sign "$pki/server" "$pki/server" server localhost \
     "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
sign "$pki/server" "$pki/client" client zerofs-client \
     "extendedKeyUsage=clientAuth"
cp "$pki/server/ca-cert.pem" "$pki/client/"
cp "$pki/server/ca-cert.pem" "$pki/none/"
make_ca "$pki/other" "another CA"
sign "$pki/other" "$pki/other" client intruder "extendedKeyUsage=clientAuth"
cp "$pki/server/ca-cert.pem" "$pki/other/ca-cert.pem"
# nbdkit reads ca-cert.pem, server-cert.pem and server-key.pem from its
# directory; libnbd ca-cert.pem, client-cert.pem and client-key.pem.
rm -f "$pki/server/ca-key.pem"
chmod 600 "$pki"/*/*-key.pem

# A free TCP port on loopback.
free_port () {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tcp_pid=
# serve TLS-OPTIONS...: nbdkit on 127.0.0.1:$port, in the background,
# returns once it accepts connections.
serve () {
    local i
    port=$(free_port)
    rm -f "$pidfile"
    nbdkit -f -v -i 127.0.0.1 -p "$port" -P "$pidfile" "$@" \
           "$PLUGIN" "${zargs[@]}" export=disk &
    tcp_pid=$!
    for (( i = 0; i < 300; i++ )); do
        [ -s "$pidfile" ] && return 0
        kill -0 "$tcp_pid" 2>/dev/null || { wait "$tcp_pid"; return 1; }
        sleep 0.1
    done
    echo "$0: nbdkit did not start"
    return 1
}
unserve () {
    [ -n "$tcp_pid" ] || return 0
    kill -TERM "$tcp_pid" 2>/dev/null || :
    wait "$tcp_pid"
    tcp_pid=
}
cleanup_fn unserve

# refused URI [NBDINFO-OPTIONS]: nbdinfo cannot use the export.
refused () {
    if nbdinfo "$@" > "$tmpdir/out" 2>&1; then
        cat "$tmpdir/out"
        echo "$0: nbdinfo $* was served; it should have been refused"
        exit 1
    fi
    cat "$tmpdir/out"
}

# Each nbdsh session ends with h.shutdown(): NBD_CMD_DISC and TLS's
# close_notify, as nbdinfo and qemu end theirs.  A client that just
# closes its socket works too, but it makes nbdkit 1.32's worker threads
# race inside GnuTLS (one frees a record buffer another is sending, seen
# under ASan: not zerofs's code, and not what this test is about).

# --- x509, the client's certificate verified.
serve --tls=require --tls-certificates="$pki/server" --tls-verify-peer

nbdsh -c - <<EOF
import os
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates("$pki/client")
h.set_tls_verify_peer(True)
h.set_export_name("disk")
h.connect_tcp("localhost", "$port")
assert h.get_tls_negotiated()
data = os.urandom(65536)
h.pwrite(data, 1 << 20)
h.flush()
assert h.pread(65536, 1 << 20) == data
open(os.environ["tmpdir"] + "/x509.data", "wb").write(data)
h.shutdown()
EOF

# nbdinfo with the URI form the man page shows.
nbdinfo "nbds://localhost:$port/disk?tls-certificates=$pki/client" \
    > "$tmpdir/info"
cat "$tmpdir/info"
grep -q 'export-size: 8388608' "$tmpdir/info"

# No TLS at all; TLS without a client certificate; a certificate the
# server's CA did not sign.
refused "nbd://localhost:$port/disk"
grep -qi 'tls' "$tmpdir/out"
refused "nbds://localhost:$port/disk?tls-certificates=$pki/none"
refused "nbds://localhost:$port/disk?tls-certificates=$pki/other"
unserve

# --- PSK: usernames and hex keys in a file (nbdkit-tls(1)).
psktool_key () { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
echo "alice:$(psktool_key)" > "$pki/keys.psk"
echo "alice:$(psktool_key)" > "$pki/wrong.psk"
echo "bob:$(psktool_key)" > "$pki/bob.psk"            # unknown to nbdkit
chmod 600 "$pki"/*.psk
serve --tls=require --tls-psk="$pki/keys.psk"

nbdsh -c - <<EOF
import os
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_psk_file("$pki/keys.psk")
h.set_tls_username("alice")
h.set_export_name("disk")
h.connect_tcp("127.0.0.1", "$port")
assert h.get_tls_negotiated()
# What the x509 session wrote is there: the same device.
data = open(os.environ["tmpdir"] + "/x509.data", "rb").read()
assert h.pread(65536, 1 << 20) == data
h.pwrite(bytes(65536), 1 << 20)
h.flush()
h.shutdown()
EOF
nbdinfo "nbds://alice@127.0.0.1:$port/disk?tls-psk-file=$pki/keys.psk" \
    > "$tmpdir/info"
grep -q 'export-size: 8388608' "$tmpdir/info"

refused "nbd://127.0.0.1:$port/disk"
refused "nbds://alice@127.0.0.1:$port/disk?tls-psk-file=$pki/wrong.psk"
refused "nbds://bob@127.0.0.1:$port/disk?tls-psk-file=$pki/bob.psk"
unserve

# --- The wrapper: the server's and the client's files in one directory.
requires test -x "${ZEROFS:-}"
both=$pki/both
mkdir "$both"
cp "$pki/server/"*.pem "$pki/client/client-"*.pem "$both/"
export STANDIN_DIR=$tmpdir/standin TMPDIR=$tmpdir/tmp
mkdir -p "$STANDIN_DIR" "$TMPDIR"
wargs=(--nbd --nbd-client="$srcdir/nbd-client-standin.sh" --plugin="$PLUGIN"
       --nbd-flag=-v)
for a in "${zargs[@]}"; do
    case $a in bucket=*) ;; *) wargs+=(--"$a") ;; esac
done
start_wrapper 'grep -qx attached "$STANDIN_DIR/attach"' "${wargs[@]}" \
    --tls-certificates="$both" "$bucket" /dev/nbd7 --export=disk
cat "$STANDIN_DIR/attach"
grep -qx "cacertfile=$both/ca-cert.pem" "$STANDIN_DIR/attach"
grep -qx "certfile=$both/client-cert.pem" "$STANDIN_DIR/attach"
grep -qx "keyfile=$both/client-key.pem" "$STANDIN_DIR/attach"
grep -qx "tlshostname=localhost" "$STANDIN_DIR/attach"
wsock=$(sed -n 's/^sock=//p' "$STANDIN_DIR/attach")
refused "nbd+unix:///disk?socket=$wsock"
nbdinfo --size "nbds+unix:///disk?socket=$wsock&tls-certificates=$pki/client"
stop_wrapper
grep -qx /dev/nbd7 "$STANDIN_DIR/disconnect"

status=0
"$ZEROFS" -f --fuse "${wargs[@]:1}" --tls-certificates="$both" "$bucket" \
    "$tmpdir" --export=disk > "$tmpdir/out" 2>&1 || status=$?
cat "$tmpdir/out"
test $status = 2
grep -q 'tls-certificates goes with --nbd' "$tmpdir/out"
