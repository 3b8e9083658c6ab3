#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A store that fails for a while costs time, not errors; a store that
# fails past retry-time makes the NBD request fail with EIO, and nothing
# acknowledged is lost: the data stays dirty and is uploaded later.
#
# The failures come from the fault-injecting wrapper (fault-file=), which
# sits between the retry layer and the real backend; with an S3 backend
# the server itself is also stopped with SIGSTOP and resumed.  Every retry
# is logged with -D zerofs.s3=1.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zdev create disk 4M
zdev create big 24M

faults=$tmpdir/faults
: > "$faults"
# The server's log is a file of its own, for the greps below; it goes to
# the test's log at the end, whatever the outcome.
log=$tmpdir/nbdkit.log
show_server_log () { echo "--- the server's log:"; cat "$log"; }
cleanup_fn show_server_log

# The fault file is re-read when it changes (checked every 100 ms).
set_faults () { printf '%s\n' "$@" > "$faults"; sleep 0.3; }

start_server -D zerofs.s3=1 "$PLUGIN" "${zargs[@]}" export=disk \
             fault-file="$faults" retry-time=6 timeout=2 cache-size=16M \
             2> "$log"

# 1. Transient failures for a while: the flush succeeds.
set_faults "fail put EAGAIN 6" "fail delete ECONNRESET 2"
client <<'EOF'
import os, time
data = os.urandom(2 << 20)
h.pwrite(data, 0)
h.trim(1 << 20, 2 << 20)
t = time.monotonic()
h.flush()
print("flush with 6 transient PUT failures took %.2f s" % (time.monotonic() - t))
open(os.environ["tmpdir"] + "/data", "wb").write(data + bytes(1 << 20) +
                                                  bytes(1 << 20))
EOF
grep -q "retrying PUT" "$log"
grep -q "injected fault" "$log"

# 2. Failing past retry-time: FLUSH fails with EIO, the data stays.
set_faults "fail put EAGAIN"
client <<'EOF'
import os, time
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
new = os.urandom(1 << 20)
h.pwrite(new, 3 << 20)
data[3 << 20:] = new
t = time.monotonic()
try:
    h.flush()
    raise SystemExit("flush succeeded although every PUT fails")
except nbd.Error as ex:
    assert ex.errno == "EIO", ex.errno
took = time.monotonic() - t
print("flush failed after %.2f s" % took)
assert 3 <= took < 60, took
# Reads still see the data, from the cache.
assert h.pread(len(data), 0) == bytes(data)
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
grep -q "stay dirty" "$log"

# 3. The store comes back: a later flush uploads what stayed dirty.
set_faults
client disk 'h.flush()'

# 4. With a real S3 server: stop it, flush (which must wait through
#    request timeouts and retries), resume it while the flush retries.
if [ "$ZEROFS_TEST_BACKEND" != dir ]; then
    pids=${S3_PIDS:-$S3_PID}
    client <<'EOF'
import os
data = bytearray(open(os.environ["tmpdir"] + "/data", "rb").read())
new = os.urandom(4096)
h.pwrite(new, 400000)
data[400000:404096] = new
open(os.environ["tmpdir"] + "/data", "wb").write(data)
EOF
    # A retry of this part's, not an injected fault's.
    since=$(wc -l < "$log")
    real_retries () {
        tail -n +"$(( since + 1 ))" "$log" | grep "retrying" |
            grep -v "injected fault"
    }
    kill -STOP $pids
    client disk 'h.flush()' &
    flusher=$!
    # Until a request has timed out (timeout=2) and been retried, however
    # long the client takes to start here (30 s at most).
    for (( i = 0; i < 300; i++ )); do
        real_retries > /dev/null && break
        sleep 0.1
    done
    kill -CONT $pids
    wait $flusher
    # The stopped server made real requests time out and be retried.
    real_retries | tail -3
    real_retries > /dev/null
fi

# 5. The cache fills with data the store will not take: writes wait,
#    then fail with EIO after retry-time (they do not hang); once the
#    store is back, everything written before and after is uploaded.
client big 'h.pwrite(b"x", 0)'  # take its lease (at the first write)
set_faults "fail put EAGAIN"
timeout 120 nbdsh -u "nbd+unix:///big?socket=$sock" -c - <<'EOF'
import os, time
M = 1 << 20
data = bytearray(24 * M)
t = time.monotonic()
failed_at = None
for i in range(24):
    buf = os.urandom(M)
    try:
        h.pwrite(buf, i * M)
    except nbd.Error as ex:
        assert ex.errno == "EIO", ex.errno
        failed_at = i
        break
    data[i * M:(i + 1) * M] = buf
took = time.monotonic() - t
print("write %s failed with EIO after %.1f s" % (failed_at, took))
assert failed_at is not None and 8 <= failed_at < 16, failed_at
assert 5 <= took < 60, took
open(os.environ["tmpdir"] + "/big", "wb").write(data)
open(os.environ["tmpdir"] + "/failed_at", "w").write(str(failed_at))
EOF
grep -q "the cache is full of data not yet written" "$log"
set_faults
client big <<'EOF'
import os
M = 1 << 20
data = bytearray(open(os.environ["tmpdir"] + "/big", "rb").read())
first = int(open(os.environ["tmpdir"] + "/failed_at").read())
for i in range(first, 24):
    buf = os.urandom(M)
    h.pwrite(buf, i * M)
    data[i * M:(i + 1) * M] = buf
h.flush()
open(os.environ["tmpdir"] + "/big", "wb").write(data)
EOF

stop_server
grep -E "error|retrying" "$log" | tail -20 || :

# Everything acknowledged is in the store.
rm -rf "$cachedir"
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=disk \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/data", "rb").read()
assert h.pread(len(data), 0) == data, "acknowledged data lost"
EOF
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" export=big \
       --run 'nbdsh -u "$uri" -c -' <<'EOF'
import os
data = open(os.environ["tmpdir"] + "/big", "rb").read()
assert h.pread(len(data), 0) == data, "data written around the EIO lost"
EOF
