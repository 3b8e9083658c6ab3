#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Secrets stay secret: the volume's password and (on S3) the secret key
# and session token appear in no log (nbdkit -v with every debug flag of
# the plugin on, zerofs-dev with ZEROFS_DEBUG=all), not in the stats
# file, not in any file of the cache-dir (which holds ciphertext, files
# mode 0600 and directories 0700), and not on the command line of the
# server.  Run on a directory volume and (test-secrets-s3rver.sh) on
# s3rver, which accepts any secret key and ignores the token: both can
# be random here.  The secrets are given as +FILE, as the manual says to
# (nbdkit -v itself echoes every parameter as it was typed).
set -e
source "${srcdir:-.}/functions.sh"
requires nbdsh --version

start_volume
zargs+=(cache-size=32M)
zdev create disk 16M
log=$tmpdir/nbdkit.log
stats=$tmpdir/stats.json
: > "$log"
: > "$tmpdir/faults"

# The secrets, each in a file: random, long enough that no accident
# matches them.
secrets=("$(cat "$pwfile")")
names=(password)
sargs=()
if [ "$ZEROFS_TEST_BACKEND" != dir ]; then
    head -c 30 /dev/urandom | base64 -w0 | tr -d '/+=' > "$tmpdir/secret-key"
    head -c 60 /dev/urandom | base64 -w0 | tr -d '/+=' > "$tmpdir/token"
    secrets+=("$(cat "$tmpdir/secret-key")" "$(cat "$tmpdir/token")")
    names+=("secret key" "session token")
    sargs=(access-key="$AWS_ACCESS_KEY_ID" secret-key=+"$tmpdir/secret-key"
           session-token=+"$tmpdir/token")
fi

debug=(-D zerofs.s3=1 -D zerofs.cache=1 -D zerofs.flush=1 -D zerofs.fault=1
       -D zerofs.lease=1 -D zerofs.stats=1)
start_server "${debug[@]}" "$PLUGIN" "${zargs[@]}" "${sargs[@]}" \
             export=disk stats-file="$stats" stats-interval=1 \
             fault-file="$tmpdir/faults" 2>> "$log"
tr '\0' ' ' < "/proc/$server_pid/cmdline" > "$tmpdir/cmdline"
client <<'EOF'
import os
M = 1 << 20
for i in range(6):
    h.pwrite(os.urandom(4096) * 64, i * M)
h.flush()
h.pwrite(b"x" * 4096, 7 * M + 512)
h.flush()
h.trim(M, 2 * M)
h.zero(4096, 3 * M)
assert h.pread(4096, 7 * M + 512) == b"x" * 4096
h.cache(2 * M, 0)
h.flush()
EOF
sleep 1.5                                   # a periodic stats report
stop_server
# A restart reads the cache back (recovery, the index).
start_server "${debug[@]}" "$PLUGIN" "${zargs[@]}" "${sargs[@]}" \
             export=disk stats-file="$stats" 2>> "$log"
client disk 'assert h.pread(4096, 7 * (1 << 20) + 512) == b"x" * 4096'
stop_server
# zerofs-dev with every debug flag.
if [ "$ZEROFS_TEST_BACKEND" = dir ]; then
    dargs=()
else
    dargs=(--access-key="$AWS_ACCESS_KEY_ID"
           --secret-key=+"$tmpdir/secret-key"
           --session-token=+"$tmpdir/token")
fi
ZEROFS_DEBUG=all zdev "${dargs[@]}" list > "$tmpdir/dev.log" 2>&1
ZEROFS_DEBUG=all zdev "${dargs[@]}" info disk >> "$tmpdir/dev.log" 2>&1
ZEROFS_DEBUG=all zdev "${dargs[@]}" create disk2 1M >> "$tmpdir/dev.log" 2>&1
ZEROFS_DEBUG=all zdev "${dargs[@]}" resize disk2 2M >> "$tmpdir/dev.log" 2>&1
ZEROFS_DEBUG=all zdev "${dargs[@]}" rm disk2 >> "$tmpdir/dev.log" 2>&1

# The logs did log: the debug flags were on (zerofs-dev logs the
# requests of S3, and on a directory volume has nothing to say).
grep -q 'debug: zerofs: \|zerofs.*: debug: ' "$log"
[ "$ZEROFS_TEST_BACKEND" = dir ] || grep -q 'debug: s3' "$tmpdir/dev.log"
test -s "$stats"

# One line each (grep -F takes each line of a pattern as a pattern of
# its own: a short second line matches random ciphertext now and then).
for s in "${secrets[@]}"; do
    case "$s" in *$'\n'*) echo "$0: a secret of the test has a newline"; exit 1 ;; esac
    [ ${#s} -ge 20 ] || { echo "$0: a secret of the test is short"; exit 1; }
done

# The secrets, and their hex and base64 forms, appear nowhere (and the
# search finds them where they are: in a file that holds them).
for i in "${!secrets[@]}"; do
    s=${secrets[i]}
    hex=$(printf '%s' "$s" | od -An -tx1 | tr -d ' \n')
    b64=$(printf '%s' "$s" | base64 -w0)
    for form in "$s" "$hex" "$b64"; do
        printf 'x%sx' "$form" > "$tmpdir/control"
        grep -r -a -q -F -i -- "$form" "$tmpdir/control"
        if grep -r -a -l -F -i -- "$form" "$log" "$stats" "$tmpdir/dev.log" \
                "$tmpdir/cmdline" "$cachedir"; then
            echo "$0: FAIL: the ${names[i]} is in the files above"
            exit 1
        fi
    done
done
ls -lR "$cachedir"
# The cache-dir: files 0600, directories 0700, the cache-dir too.
bad=$(find "$cachedir" \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0700 \))
if [ -n "$bad" ]; then
    stat -c '%A %n' $bad
    echo "$0: FAIL: cache-dir entries readable by others (above)"
    exit 1
fi
