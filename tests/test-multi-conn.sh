#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two connections to one device share one cache and one flush path: a
# FLUSH on connection B makes connection A's completed writes durable.
# Proven the hard way: after B's flush nbdkit is killed with SIGKILL (no
# clean shutdown, no final upload) and the cache-dir is deleted; the data
# must come back from the store alone.  Also checks that the server
# advertises multi-conn and FUA, and that a FUA write is durable by itself.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 4M

start_server "$PLUGIN" "${zargs[@]}" export=disk
nbdsh -c - <<'EOF'
import os
M = 1 << 20
sock = os.environ["sock"]
a = nbd.NBD(); a.connect_unix(sock)
b = nbd.NBD(); b.connect_unix(sock)
assert a.can_multi_conn() and b.can_multi_conn()
assert a.can_fua() and a.can_flush() and a.can_trim() and a.can_zero()
assert a.can_fast_zero() and a.can_cache()
data = os.urandom(2 * M + 8192)
a.pwrite(data, 4096)              # on A, no flush on A
assert b.pread(len(data), 4096) == data   # B sees A's write at once
b.flush()                         # B's flush covers A's write
fua = os.urandom(4096)
a.pwrite(fua, 3 * M + 4096, nbd.CMD_FLAG_FUA)   # durable by itself
open(os.environ["tmpdir"] + "/data", "wb").write(data)
open(os.environ["tmpdir"] + "/fua", "wb").write(fua)
EOF
stop_server -9
rm -rf "$cachedir"

nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
M = 1 << 20
data = open(os.environ["tmpdir"] + "/data", "rb").read()
fua = open(os.environ["tmpdir"] + "/fua", "rb").read()
assert h.pread(len(data), 4096) == data, "flushed write lost"
assert h.pread(4096, 3 * M + 4096) == fua, "FUA write lost"
assert h.pread(4096, 0) == bytes(4096)
EOF
