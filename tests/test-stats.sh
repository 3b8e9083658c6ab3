#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Statistics (stats-file=, lib/stats.c), checked against I/O whose
# effects are known:
#
# 1. JSON form, rewritten every second: 4 whole chunks written and
#    flushed are 4 NBD writes of their bytes, and at least 4 PUTs of at
#    least those bytes; 16 scattered 4 KiB writes and a flush are one
#    journal object and 16 dirty chunks until the write-back uploads
#    them and retires the journal; trims and zeroes are counted apart.
#    The file changes while the server runs, and always parses (it is
#    replaced by rename).
# 2. After a restart with an emptied cache-dir, a read of the 4 chunks
#    is 4 cache misses and 4 chunk GETs (one more, failed and retried,
#    with a transient fault injected), rereads are hits.
# 3. Text form, with an interval so long that only the start and the
#    exit write it: the exit's report has the requests made, and with
#    -D zerofs.stats=1 the log has the same lines.
# 4. A stats-file in a directory that does not exist is refused at
#    startup with a message naming it.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version
requires python3 -c 'import json'

start_volume
zdev create disk 64M
faults=$tmpdir/faults
: > "$faults"
export STATS=$tmpdir/stats.json

cat > "$tmpdir/stats.py" <<'PY'
import json, os, time
M = 1 << 20
def stats(cond=lambda s: True, timeout=20, what="condition"):
    """The stats file once COND holds (it must always parse)."""
    end = time.time() + timeout
    while True:
        s = None
        if os.path.exists(os.environ["STATS"]):
            with open(os.environ["STATS"]) as f:
                s = json.load(f)
            if cond(s):
                return s
        if time.time() > end:
            raise SystemExit("stats: %s never held; last: %s" % (what, s))
        time.sleep(0.1)
def dev(s):
    return s["devices"]["disk"]
def opened(s):
    return "disk" in s["devices"]
PY
export PYTHONPATH=$tmpdir

# 1.
start_server "$PLUGIN" "${zargs[@]}" export=disk stats-file="$STATS" \
             stats-interval=1
client <<'PY'
from stats import *
s0 = stats(opened, what="device opened")
assert s0["version"] == 1 and s0["store"]["scope"] == "volume", s0
d0 = dev(s0)
assert d0["nbd"]["writes"]["requests"] == 0, d0

data = os.urandom(4 * M)
h.pwrite(data, 0)
h.flush()
s1 = stats(lambda s: dev(s)["nbd"]["flushes"]["requests"] == 1,
           what="1 flush")
d1 = dev(s1)
assert d1["nbd"]["writes"] == {"requests": 1, "bytes": 4 * M}, d1
puts = s1["store"]["PUT"]["requests"] - s0["store"]["PUT"]["requests"]
put_bytes = s1["store"]["PUT"]["bytes"] - s0["store"]["PUT"]["bytes"]
assert puts >= 4 and put_bytes >= 4 * M, (puts, put_bytes)
lat = d1["nbd"]["flushes"]["latency_us"]
assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
assert s1["store"]["PUT"]["latency_us"]["max"] > 0, s1["store"]["PUT"]
assert s1["store"]["GET"]["failures"] == 0 and \
       s1["store"]["PUT"]["retries"] == 0, s1["store"]

# Scattered small writes: the flush journals them.
for i in range(16):
    h.pwrite(os.urandom(4096), (8 + i) * M + i * 4096)
h.flush()
s2 = stats(lambda s: dev(s)["nbd"]["flushes"]["requests"] == 2,
           what="2 flushes")
d2 = dev(s2)
assert d2["nbd"]["writes"] == {"requests": 17, "bytes": 4 * M + 16 * 4096}, d2
assert d2["journal"]["objects"] == 1, d2
assert d2["journal"]["bytes"] >= 16 * 4096, d2
assert d2["cache"]["dirty_chunks"] == 16, d2
assert d2["cache"]["dirty_bytes"] == 16 * M, d2

# The file is rewritten while the server runs.
mtime = os.stat(os.environ["STATS"]).st_mtime_ns
s3 = stats(lambda s: s["uptime_seconds"] > s2["uptime_seconds"],
           what="uptime grows")
assert os.stat(os.environ["STATS"]).st_mtime_ns != mtime

# Once idle, the write-back uploads the chunks and retires the journal.
s4 = stats(lambda s: dev(s)["journal"]["objects"] == 0 and
           dev(s)["cache"]["dirty_chunks"] == 0, timeout=40,
           what="journal retired")
d4 = dev(s4)
assert d4["journal"]["bytes"] == 0 and d4["cache"]["dirty_bytes"] == 0, d4
assert s4["store"]["PUT"]["requests"] - s2["store"]["PUT"]["requests"] >= 16
assert s4["store"]["DELETE"]["objects"] > s2["store"]["DELETE"]["objects"]

h.trim(M, 8 * M)
h.zero(4096, 30 * M + 8192)
h.flush()
d5 = dev(stats(lambda s: dev(s)["nbd"]["flushes"]["requests"] == 3,
               what="3 flushes"))
assert d5["nbd"]["trims"] == {"requests": 1, "bytes": M}, d5
assert d5["nbd"]["zeroes"] == {"requests": 1, "bytes": 4096}, d5
assert d5["nbd"]["errors"] == 0 and d5["nbd"]["fua_writes"] == 0, d5
PY
stop_server

# 2.
rm -rf "$cachedir"
start_server "$PLUGIN" "${zargs[@]}" export=disk stats-file="$STATS" \
             stats-interval=1 fault-file="$faults"
client <<'PY'
from stats import *
s0 = stats(opened, what="device opened")
assert dev(s0)["cache"] == {"hits": 0, "misses": 0, "dirty_chunks": 0,
                            "dirty_bytes": 0}, dev(s0)
with open(os.environ["tmpdir"] + "/faults", "w") as f:
    f.write("fail get EAGAIN 1\n")
time.sleep(0.3)                 # the fault file is looked at every 100 ms
assert len(h.pread(4 * M, 0)) == 4 * M
h.pread(4096, 0)
h.pread(4096, 3 * M + 8192)
s1 = stats(lambda s: dev(s)["nbd"]["reads"]["requests"] == 3,
           what="3 reads")
d1 = dev(s1)
assert d1["nbd"]["reads"]["bytes"] == 4 * M + 2 * 4096, d1
assert d1["cache"]["misses"] == 4 and d1["cache"]["hits"] == 2, d1
g0, g1 = s0["store"]["GET"], s1["store"]["GET"]
assert g1["requests"] - g0["requests"] == 4 + 1, (g0, g1)
assert g1["failures"] - g0["failures"] == 1, (g0, g1)
assert g1["retries"] - g0["retries"] == 1, (g0, g1)
assert g1["bytes"] - g0["bytes"] >= 4 * M, (g0, g1)
assert g1["latency_us"]["max"] > 0, g1
PY
stop_server

# 3.
export STATS=$tmpdir/stats.txt
log=$tmpdir/log3
start_server -D zerofs.stats=1 "$PLUGIN" "${zargs[@]}" export=disk \
             stats-file="$STATS" stats-interval=3600 2> "$log"
for (( i = 0; i < 50; i++ )); do [ -s "$STATS" ] && break; sleep 0.1; done
cat "$STATS"
grep -q '^zerofs statistics at .*Z, up [0-9]* s$' "$STATS"
grep -q '^store (the whole volume: requests are not counted per device)$' \
     "$STATS"
grep -q '^  PUT:  *0 requests, 0 bytes, 0 failures, 0 retries$' "$STATS"
if grep -q '^device disk$' "$STATS"; then
    echo "$0: a device section before the device was opened"; exit 1
fi
client <<'PY'
h.pread(4096, 0)
h.pwrite(b"x" * 4096, 4096, nbd.CMD_FLAG_FUA)
h.flush()
PY
stop_server
cat "$STATS"
grep -q '^device disk$' "$STATS"
grep -q '^  nbd reads:   1 requests, 4096 bytes$' "$STATS"
grep -q '^  nbd writes:  1 requests, 4096 bytes, 1 with FUA$' "$STATS"
grep -q '^  nbd flushes: 1 requests; latency p50 .*, p90 .*, p99 .*, max ' \
     "$STATS"
grep -q '^  cache:       1 hits, 0 misses (chunk reads)$' "$STATS"
grep -q '^  dirty:       [01] chunks, [0-9]* bytes$' "$STATS"
grep -q '^  journal:     [0-9]* objects, [0-9]* bytes$' "$STATS"
grep -q '^  PUT:  *[1-9][0-9]* requests, [1-9][0-9]* bytes, 0 failures, 0 retries; latency p50 ' "$STATS"
grep -q '^  LIST:  *[0-9]* requests, [0-9]* keys, ' "$STATS"
# The same report in the log, at exit.
grep -q 'debug: stats:   nbd reads:   1 requests, 4096 bytes$' "$log"
grep -q 'debug: stats:   nbd writes:  1 requests, 4096 bytes, 1 with FUA$' \
     "$log"
test ! -e "$STATS.tmp"

# 4.
bad=$tmpdir/no-such-dir/stats.json
if nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk stats-file="$bad" \
          --run true 2> "$tmpdir/log4"; then
    echo "$0: a stats-file in a missing directory was accepted"
    exit 1
fi
cat "$tmpdir/log4"
server_error "stats-file=$bad: cannot create $bad.tmp: No such file or directory" \
             "$tmpdir/log4"
