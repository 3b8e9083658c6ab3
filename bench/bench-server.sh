# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: the S3 server of raw-curl-s3.sh and objstore-vs-curl.sh.
# Sourced by both (it runs nothing by itself), so that the two start,
# check and stop a server the same way, through tests/s3-servers.sh.
#
# Source it after the options are parsed, with $server set (the -S
# option) and $here the bench directory: it exits 2 unless $server is
# s3rver or swift, and loads tests/s3-servers.sh.  Then:
#
#   bench_tmp NAME       makes $tmp, a new temporary directory NAME.XXXXXX,
#                        and the EXIT trap that removes it and stops the
#                        server if bench_server_start started one
#   bench_server_start   starts $server on loopback in $tmp/server, which
#                        sets S3_ENDPOINT, S3_BUCKET and the credentials;
#                        $own_server is then "yes"
#
# shellcheck shell=bash disable=SC2154 # $server and $here: the script's

case "$server" in
    s3rver|swift) ;;
    *) echo "$0: -S must be s3rver or swift" >&2; exit 2 ;;
esac

# shellcheck source-path=SCRIPTDIR source=../tests/s3-servers.sh
source "$here/../tests/s3-servers.sh"

own_server=

bench_cleanup ()
{
    if [ -n "$own_server" ]; then
        "${server}_stop"
    fi
    rm -rf "$tmp"
}

bench_tmp ()
{
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap bench_cleanup EXIT
}

bench_server_start ()
{
    own_server=yes
    "${server}_start" "$tmp/server"
}
