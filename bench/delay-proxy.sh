# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: start bench/delay-proxy.py (a round trip in front of a
# server on loopback).  Sourced by fio.sh and journal.sh; it runs
# nothing by itself.  $here must be the bench directory.
#
#   delay_proxy_start TARGET_PORT ONE_WAY_MS DIR [STATS_FILE]
#       starts the forwarder in the background (DIR/proxy.port,
#       DIR/proxy.log), waits until it listens and sets proxy_pid and
#       proxy_endpoint (http://127.0.0.1:PORT); the caller stops it
#       (kill proxy_pid).  Exits 1, with the forwarder's log, if it does
#       not start.
#
# shellcheck shell=bash disable=SC2154 # $here: the script's

delay_proxy_start ()
{
    local i
    /usr/bin/python3 "$here/delay-proxy.py" "$1" "$2" "$3/proxy.port" \
                     ${4:+"$4"} > "$3/proxy.log" 2>&1 &
    proxy_pid=$!
    for (( i = 0; i < 200; i++ )); do
        [ -s "$3/proxy.port" ] && break
        sleep 0.05
    done
    if [ ! -s "$3/proxy.port" ]; then
        echo "$0: the delay forwarder did not start:" >&2
        cat "$3/proxy.log" >&2
        exit 1
    fi
    proxy_endpoint="http://127.0.0.1:$(cat "$3/proxy.port")"
}
