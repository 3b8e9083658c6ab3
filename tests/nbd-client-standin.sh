#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A stand-in for nbd-client, for "zerofs --nbd --nbd-client=THIS" on a
# machine without the kernel's nbd module (no /dev/nbdX can be attached
# here).  It takes nbd-client's command line, checks its shape, and in
# place of handing the socket to the kernel it talks NBD to the server
# itself with nbdsh: the export must exist, take a pattern with a flush
# and read it back.
#
#   nbd-client-standin.sh -unix SOCK DEV -N NAME -connections N
#                         -timeout T -block-size B -persist
#                         [-cacertfile F -certfile F -keyfile F
#                          -tlshostname H]
#       records the values in $STANDIN_DIR/attach ("key=value" lines:
#       sock, dev, name, connections, timeout, block_size, persist,
#       cacertfile, certfile, keyfile, tlshostname); with certificates
#       it talks TLS to the server, as nbd-client would
#       for the test to judge, then exits 0 as nbd-client does once its
#       background process holds the device
#   nbd-client-standin.sh -d DEV
#       appends DEV to $STANDIN_DIR/disconnect
#
# Anything else, or an argument nbd-client would not take, exits 1 with
# a message.
set -e
set -o pipefail
export PATH=/usr/bin:/bin:$PATH
dir=${STANDIN_DIR:?STANDIN_DIR must be set}

fail () { echo "nbd-client stand-in: $*" >&2; exit 1; }

if [ "$1" = -d ] || [ "$1" = -disconnect ]; then
    [ $# -eq 2 ] || fail "-d takes one device: $*"
    echo "$2" >> "$dir/disconnect"
    exit 0
fi

[ "$1" = -unix ] || fail "expected -unix SOCK DEV first: $*"
[ $# -ge 3 ] || fail "-unix needs SOCK and DEV"
sock=$2 dev=$3
shift 3
[ -S "$sock" ] || fail "$sock is not a socket"
case $dev in /*) ;; *) fail "the device $dev is not an absolute path" ;; esac

name= connections= timeout= block_size= persist=no
cacert= cert= key= tlshostname=
number () { [[ $2 =~ ^[0-9]+$ ]] || fail "$1 takes a number, not '$2'"; }
while [ $# -gt 0 ]; do
    case $1 in
        -N|-name) [ $# -ge 2 ] || fail "$1 needs a value"
                  name=$2; shift 2 ;;
        -C|-connections) number "$1" "${2-}"; connections=$2; shift 2 ;;
        -t|-timeout) number "$1" "${2-}"; timeout=$2; shift 2 ;;
        -b|-block-size) number "$1" "${2-}"; block_size=$2; shift 2
                        case $block_size in 512|1024|2048|4096) ;;
                            *) fail "block size $block_size" ;; esac ;;
        -p|-persist) persist=yes; shift ;;
        -A|-cacertfile) [ -f "${2-}" ] || fail "$1: no file '${2-}'"
                        cacert=$2; shift 2 ;;
        -F|-certfile) [ -f "${2-}" ] || fail "$1: no file '${2-}'"
                      cert=$2; shift 2 ;;
        -K|-keyfile) [ -f "${2-}" ] || fail "$1: no file '${2-}'"
                     key=$2; shift 2 ;;
        -H|-tlshostname) [ $# -ge 2 ] || fail "$1 needs a value"
                         tlshostname=$2; shift 2 ;;
        *) fail "unexpected argument '$1'" ;;
    esac
done
[ -n "$name" ] || fail "no export name (-N)"

cat > "$dir/attach" <<EOF
sock=$sock
dev=$dev
name=$name
connections=$connections
timeout=$timeout
block_size=$block_size
persist=$persist
cacertfile=$cacert
certfile=$cert
keyfile=$key
tlshostname=$tlshostname
EOF

# With certificates, TLS as nbd-client would do it: libnbd wants them
# in a directory, under its names.
uri="nbd+unix:///$name?socket=$sock"
if [ -n "$cacert$cert$key" ]; then
    [ -n "$cacert" ] && [ -n "$cert" ] && [ -n "$key" ] ||
        fail "-cacertfile, -certfile and -keyfile go together"
    mkdir -p "$dir/tls"
    ln -sf "$cacert" "$dir/tls/ca-cert.pem"
    ln -sf "$cert" "$dir/tls/client-cert.pem"
    ln -sf "$key" "$dir/tls/client-key.pem"
    uri="nbds+unix:///$name?socket=$sock&tls-certificates=$dir/tls"
fi

# In place of the kernel: the export answers, and keeps what is written.
nbdsh -c "h.set_uri_allow_local_file(True)" -c "h.connect_uri('$uri')" -c '
import os
size = h.get_size()
assert size >= 2 * 1024 * 1024, size
pattern = os.urandom(4096)
h.pwrite(pattern, size - 4096)
h.flush()
assert h.pread(4096, size - 4096) == pattern
h.pwrite(bytes(4096), size - 4096)
h.flush()
h.shutdown()
' || fail "the export $name on $sock did not read back what was written"
echo attached >> "$dir/attach"
