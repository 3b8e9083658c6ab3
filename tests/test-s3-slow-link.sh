#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A slow uplink: s3rver behind a forwarder that lets 256 KiB/s through
# from zerofs to the store (2 Mbit/s, shared by every connection).  6 MiB
# of incompressible writes and a FLUSH: 6 chunk PUTs in parallel, each
# getting a sixth of the link, take about 24 s, far more than timeout=10.
# They must all succeed at the first attempt: a request is abandoned
# when it stalls, not when it is merely slow (a whole-request timeout
# made every one of them time out and retry forever).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires /usr/bin/python3 -c 'import asyncio'
ZEROFS_TEST_BACKEND=s3rver
start_volume
zdev create disk 16M

port=${S3_ENDPOINT##*:}
/usr/bin/python3 "$srcdir/throttle-proxy.py" "$port" 262144 \
                 "$tmpdir/proxy.port" &
proxy=$!
cleanup_fn kill "$proxy"
for (( i = 0; i < 100; i++ )); do
    [ -s "$tmpdir/proxy.port" ] && break
    sleep 0.1
done
slow=http://127.0.0.1:$(cat "$tmpdir/proxy.port")
log=$tmpdir/nbdkit.log
cleanup_fn sh -c "grep -v debug $log | tail -20"

start_server -D zerofs.s3=1 "$PLUGIN" "${zargs[@]}" endpoint="$slow" \
             export=disk timeout=10 2>"$log"
start=$SECONDS
client <<'EOF2'
import os
for i in range(6):
    h.pwrite(os.urandom(1 << 20), i << 20)
h.flush()
EOF2
echo "6 MiB and a flush over the slow link: $(( SECONDS - start )) s"
stop_server
if grep -q 'retrying' "$log"; then
    echo "$0: requests over the slow link failed and were retried:"
    grep 'retrying' "$log" | head
    exit 1
fi
[ $(( SECONDS - start )) -ge 10 ] ||
    { echo "$0: the link was not slow (the forwarder is not in the way?)"; exit 1; }
