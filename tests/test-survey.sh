#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The survey (lib/cache/survey.c): a new cache-dir learns which chunks
# of an existing device exist with a background listing, in parallel
# shards, and the open does not wait for it.  A 16 GiB device (4 shards
# of 4096 chunks) with data in 8 chunks on both sides of the shard
# boundaries; then, on a new cache-dir, with the fault file's "stale
# list" (the keys of each LIST delivered 12 s after the store gave them,
# so the survey works from a picture taken at open):
#   1. the first read is served before the survey is done, and so are
#      the others, exactly; a chunk the index does not know costs one
#      GET (404: zeros) and is remembered: no second GET;
#   2. changes made during the survey are not undone by its stale
#      picture: a chunk trimmed and deleted (listed as present) reads
#      zeros, a chunk written and uploaded (listed as absent) keeps its
#      data, a partial write to a chunk not fetched yet merges with its
#      object;
#   3. "survey done" (8 objects, 4 shards), the stats file says so, and
#      from then on a chunk never written reads zeros with no GET, also
#      after a restart (the device is listed: no survey);
#   4. a crash mid-survey: data written meanwhile (flushed locally only,
#      durability=local) survives, the next start surveys again and
#      uploads it (its summary line);
#   5. a LIST that fails for good: the survey says so, the device stays
#      served (GETs answer), the stats file says "failed"; a LIST that
#      failed once is tried again (10 s later) and the survey ends;
#   6. on a terminal (util-linux script(1)), the survey draws a
#      progress line;
#   7. a server stopped while its survey's LIST keeps failing (and is
#      retried, retry-time=300) stops at once, not after retry-time;
#   8. block status during the survey: one listing of the range says
#      which chunks exist (no GET), merged with what this cache has
#      written meanwhile; when the listing fails, every chunk is data.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 16G
faults=$tmpdir/faults
log=$tmpdir/nbdkit.log
STATS=$tmpdir/stats.json
: > "$faults"
: > "$log"
export log faults STATS sock
cleanup_fn sh -c "grep -v ' debug: ' '$log' | tail -n 30 2>/dev/null || :"

serve () { start_server -D zerofs.fault=1 -D zerofs.cache=1 "$PLUGIN" \
                        "${zargs[@]}" export=disk fault-file="$faults" \
                        stats-file="$STATS" stats-interval=1 \
                        "$@" 2>>"$log"; }

cat > "$tmpdir/survey.py" <<'PY'
import json, os, re, time
M = 1 << 20
DATA = [1, 4095, 4096, 4097, 8191, 8192, 12288, 16383]
def pattern(i):
    return bytes([DATA.index(i) + 1]) * 4096
def logtext():
    return open(os.environ["log"]).read()
def gets(chunk):
    """GETs of CHUNK's object that reached the store."""
    return len(re.findall(r"fault: request GET devices/disk/chunks/%016x:"
                          % chunk, logtext()))
def wait_log(text, timeout=30):
    end = time.monotonic() + timeout
    while text not in logtext():
        if time.monotonic() > end:
            raise SystemExit("never logged: %s" % text)
        time.sleep(0.05)
def stats(cond, timeout=20, what="condition"):
    end = time.time() + timeout
    while True:
        s = None
        if os.path.exists(os.environ["STATS"]):
            with open(os.environ["STATS"]) as f:
                s = json.load(f)
            if "disk" in s["devices"] and cond(s["devices"]["disk"]["survey"]):
                return s["devices"]["disk"]["survey"]
        if time.time() > end:
            raise SystemExit("stats: %s never held; last: %s" % (what, s))
        time.sleep(0.1)
def allocated(offset, length, export="disk"):
    """The chunks block status reports as data in [offset, offset +
    length), and where its answer ends."""
    import nbd
    g = nbd.NBD()
    g.add_meta_context("base:allocation")
    g.connect_uri("nbd+unix:///%s?socket=%s" % (export, os.environ["sock"]))
    data, end = set(), [offset]
    def cb(ctx, off, e, err):
        p = off
        for i in range(0, len(e), 2):
            if not e[i + 1] & 1:
                data.update(range(p // M, (p + e[i] - 1) // M + 1))
            p += e[i]
        end[0] = p
    g.block_status(length, offset, cb)
    g.shutdown()
    return sorted(data), end[0]
def all_gets():
    return len(re.findall(r"fault: request GET devices/disk/chunks/",
                          logtext()))
def check_data(skip=()):
    for i in DATA:
        if i in skip:
            continue
        got = h.pread(M, i * M)
        assert got[8192:12288] == pattern(i), "chunk %d" % i
        assert got[:8192] == bytes(8192) and got[12288:] == bytes(M - 12288), \
            "chunk %d" % i
PY

# The data, through a first cache.
serve
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
for i in DATA:
    h.pwrite(pattern(i), i * M + 8192)
h.flush()
EOF
stop_server
test "$(count_chunks disk)" = 8

# 1.-3.  A new cache-dir, a stale listing.
rm -rf "$cachedir"
# 12 s: parts 1 and 2 must end before the survey does, on a slow
# machine too.
printf 'stale list:/chunks/ 12s\n' > "$faults"
: > "$log"
T0=$(date +%s.%N)
export T0
serve
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
# 1.
got = h.pread(4096, 4096 * M + 8192)
took = time.time() - float(os.environ["T0"])
print("first read served %.2f s after the server was started" % took)
assert got == pattern(4096)
assert "survey done" not in logtext(), "the open waited for the survey"
assert took < 10, "the first read took %.2f s" % took
check_data()
assert h.pread(4096, 2000 * M) == bytes(4096)
assert h.pread(4096, 2000 * M + 4096) == bytes(4096)
assert gets(2000) == 1, "chunk 2000: %d GETs" % gets(2000)
s = stats(lambda v: v["state"] in ("running", "done"), what="survey shown")
print("stats during the survey:", s)
# 2.
h.trim(M, 8192 * M)                     # listed: present
h.pwrite(b"N" * M, 5000 * M)            # listed: absent
h.pwrite(b"P" * 4096, 4097 * M)         # not fetched yet
h.flush()
assert "survey done" not in logtext(), "the survey ended too soon for the test"
# 3.
wait_log("device disk: survey done: 8 chunk objects found")
assert re.search(r"survey of 16384 chunks started: 4 shards of 4096",
                 logtext())
assert h.pread(M, 8192 * M) == bytes(M), "the trimmed chunk came back"
assert h.pread(M, 5000 * M) == b"N" * M, "the new chunk was lost"
got = h.pread(M, 4097 * M)
assert got[:4096] == b"P" * 4096 and got[8192:12288] == pattern(4097)
assert got[4096:8192] == bytes(4096) and got[12288:] == bytes(M - 12288)
check_data(skip=(8192, 4097))
for i in (3000, 7000, 16000):
    assert h.pread(4096, i * M) == bytes(4096)
    assert gets(i) == 0, "chunk %d: a GET after the survey" % i
assert h.pread(4096, 2000 * M) == bytes(4096) and gets(2000) == 1
s = stats(lambda v: v["state"] == "done", what="survey done")
assert s["found"] == 8 and s["shards"] == 4 and s["shards_done"] == 4, s
EOF
stop_server
: > "$faults"
: > "$log"
serve
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
assert h.pread(M, 8192 * M) == bytes(M)
assert h.pread(M, 5000 * M) == b"N" * M
assert h.pread(4096, 4097 * M) == b"P" * 4096
check_data(skip=(8192, 4097))
for i in (2000, 3000, 9000):
    assert h.pread(4096, i * M) == bytes(4096)
    assert gets(i) == 0, "chunk %d: a GET on a listed device" % i
assert "disk: survey" not in logtext(), "a listed device was surveyed again"
EOF
stop_server

# 8.  Block status during the survey.  The store holds chunks 1, 4095,
# 4096, 4097, 5000, 8191, 12288 and 16383 now, and an object that is no
# chunk although its name ends like one, sorted between chunks 4096 and
# 4097: the listing must go on past it.
foreign=devices/disk/chunks/0000000000001000x/chunks/ffffffffffffffff
case "$ZEROFS_TEST_BACKEND" in
    dir)
        mkdir -p "$tmpdir/store/${foreign%/*}"
        echo foreign > "$tmpdir/store/$foreign"
        ;;
    *)
        echo foreign > "$tmpdir/foreign"
        s3_curl PUT "/$S3_BUCKET/vol/$foreign" -T "$tmpdir/foreign"
        ;;
esac
# One survey thread (writeback-threads=1): the shards are listed one
# after the other, 3 s each, so the survey has not recorded the chunks
# of a range by the time a block status of it is answered.
rm -rf "$cachedir"
printf 'stale list:/chunks/ 3s\n' > "$faults"
: > "$log"
serve writeback-threads=1
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
h.pwrite(b"W" * M, 6000 * M)            # listed: absent; only in the cache
assert "survey done" not in logtext(), "the survey ended too soon for the test"
g0 = all_gets()
data, end = allocated(4096 * M, 2048 * M)
assert data == [4096, 4097, 5000, 6000] and end == 6144 * M, \
    (data[:8], len(data), end)
assert re.search(r"block status during the survey: chunks 4096-6143 "
                 r"listed, [34] objects", logtext())
data, end = allocated(12289 * M, 4095 * M)
assert data == [16383] and end == 16384 * M, (data[:8], len(data), end)
assert all_gets() == g0, "block status sent GETs"
wait_log("device disk: survey done")
EOF
stop_server
case "$ZEROFS_TEST_BACKEND" in
    dir) rm -r "$tmpdir/store/devices/disk/chunks/0000000000001000x" ;;
    *) s3_curl DELETE "/$S3_BUCKET/vol/$foreign" ;;
esac
# One listing answers for 1000 objects at most: a device with 1001, in
# every other chunk; the answer ends at the 1000th, the next goes on.
zdev create many 4G
start_server "$PLUGIN" "${zargs[@]}" export=many 2>>"$log"
client many 'for i in range(0, 2001, 2): h.pwrite(b"m" * 4096, i << 20)'
stop_server
test "$(count_chunks many)" = 1001
rm -rf "$cachedir"
: > "$log"
start_server -D zerofs.cache=1 "$PLUGIN" "${zargs[@]}" export=many \
             fault-file="$faults" 2>>"$log"
client many <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
assert "many: survey done" not in logtext(), "the survey ended too soon"
data, end = allocated(0, 4095 * M, "many")
assert data == list(range(0, 1999, 2)) and end == 1999 * M, \
    (data[:8], len(data), end)
data, end = allocated(end, 4095 * M - end, "many")
assert data == [2000] and end == 4095 * M, (data[:8], len(data), end)
EOF
stop_server

# 4.  A crash mid-survey.
rm -rf "$cachedir"
printf 'stale list:/chunks/ 60s\n' > "$faults"
: > "$log"
serve durability=local
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
h.pwrite(b"L" * M, 6000 * M)
h.pwrite(b"Q" * 4096, 12288 * M)        # partial, not fetched: a guess
h.flush()                               # the index committed, not uploaded
assert "survey done" not in logtext()
EOF
stop_server -9
: > "$faults"
: > "$log"
serve durability=local
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
assert h.pread(M, 6000 * M) == b"L" * M, "data written during the survey lost"
got = h.pread(M, 12288 * M)
assert got[:4096] == b"Q" * 4096 and got[8192:12288] == pattern(12288)
wait_log("device disk: survey done")
wait_log("dirty chunks of the last run")
# (The whole chunk may have been uploaded before the crash.)
assert re.search(r"recovery: uploaded the [12] dirty chunks of the last run",
                 logtext())
check_data(skip=(8192, 4097, 12288))
EOF
stop_server
test "$(count_chunks disk)" = 9

# 5.  A LIST that fails for good.
rm -rf "$cachedir"
printf 'fail list:/chunks/ EACCES\n' > "$faults"
: > "$log"
serve
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
wait_log("the survey of its chunks failed")
# 8.  Block status cannot list either: every chunk is data.
assert allocated(0, 16 * M) == (list(range(16)), 16 * M)
check_data(skip=(8192, 4097, 12288))
assert h.pread(4096, 2000 * M) == bytes(4096) and gets(2000) == 1
s = stats(lambda v: v["state"] == "failed", what="survey failed")
EOF
stop_server
rm -rf "$cachedir"
printf 'fail list:/chunks/ EACCES 1\n' > "$faults"
: > "$log"
serve
client <<'EOF'
import os; exec(open(os.environ["tmpdir"] + "/survey.py").read())
wait_log("the survey of its chunks failed")
assert "it tries again in 10 s" in logtext(), "no retry announced"
check_data(skip=(8192, 4097, 12288))
wait_log("device disk: survey done", timeout=60)
s = stats(lambda v: v["state"] == "done", what="survey done after a retry")
EOF
stop_server

# 7.  Stopped while the survey retries.
rm -rf "$cachedir"
printf 'fail list:/chunks/ EAGAIN\n' > "$faults"
: > "$log"
serve -D zerofs.s3=1 retry-time=300
client disk 'h.pread(512, 0)'
for (( i = 0; i < 100; i++ )); do
    grep -q "retrying LIST" "$log" && break
    sleep 0.1
done
grep -q "retrying LIST" "$log" || { echo "FAIL: the LIST is not retried"; exit 1; }
start=$(date +%s)
stop_server
took=$(( $(date +%s) - start ))
[ "$took" -lt 20 ] ||
    { echo "FAIL: the stop waited $took s for the survey's LIST retries"; exit 1; }

# 6.  A progress line on a terminal.
if ! script --version >/dev/null 2>&1; then
    echo "$0: part 6 skipped: no script(1) (util-linux) to make a terminal"
    exit 0
fi
rm -rf "$cachedir"
printf 'stale list:/chunks/ 1s\n' > "$faults"
rm -f "$sock" "$pidfile"
cmd=$(printf '%q ' nbdkit -f -U "$sock" -P "$pidfile" "$PLUGIN" \
             "${zargs[@]}" export=disk fault-file="$faults")
script -qefc "$cmd" "$tmpdir/tty.log" > /dev/null 2>&1 < /dev/null &
script_pid=$!
for (( i = 0; i < 300; i++ )); do
    [ -s "$pidfile" ] && [ -S "$sock" ] && break
    sleep 0.1
done
tty_server=$(cat "$pidfile")
cleanup_fn kill "$tty_server"          # (if the client fails)
client disk 'import time; h.pread(512, 0); time.sleep(2.5)'
kill "$tty_server"
wait "$script_pid" || :
if ! grep -a 'zerofs: disk: surveying its chunks: [0-9]* of 4 shards' \
     "$tmpdir/tty.log" > /dev/null; then
    echo "$0: no progress line on the terminal; it had:"
    cat -v "$tmpdir/tty.log" | tail -n 20
    exit 1
fi
