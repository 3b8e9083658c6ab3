#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs --nbd, the wrapper, with a stand-in for nbd-client (this
# machine has no nbd module; nbd-client-standin.sh checks the command
# line it gets and talks NBD to the socket itself):
#   - usage errors exit 2 with a message, bad values and an nbdkit that
#     cannot start exit 1, and leave no private directory behind
#   - nbd-client gets -unix SOCK DEV -N NAME -connections 4 -timeout 600
#     -block-size 4096 -persist; the socket is in a 0700 directory
#   - the password and the secret key are on neither nbdkit's command
#     line nor in its environment, nor in the log
#   - a second wrapper for the device (another cache-dir) is refused
#   - nbdkit killed: restarted on the same socket and cache-dir, data
#     flushed before the kill reads back, the restart is logged
#   - SIGTERM: nbd-client -d DEV, nbdkit stopped, exit status 0; the
#     same when daemonized (without -f, --pid-file)
#   - nbdkit killed too often: the wrapper detaches and exits 1, saying so
set -e
source "${srcdir:-.}/functions.sh"
requires test -x "${ZEROFS:-}"
requires nbdsh --version

start_volume
zdev create disk 16M

export STANDIN_DIR=$tmpdir/standin
export TMPDIR=$tmpdir/tmp            # where the wrapper makes its directory
mkdir "$STANDIN_DIR" "$TMPDIR"
dev=/dev/nbd7
password=$(cat "$pwfile")
secret_key=not-on-argv-$$-$RANDOM

# The volume's options as the wrapper's; the password itself on its
# command line, to see that it does not reach nbdkit's.  nbdkit -v, so
# that much goes through the wrapper's log pipe.
wargs=(--nbd --nbd-client="$srcdir/nbd-client-standin.sh"
       --plugin="$PLUGIN" --nbd-flag=-v)
for a in "${zargs[@]}"; do
    case $a in bucket=*|password=*) ;; *) wargs+=(--"$a") ;; esac
done
wargs+=(--password="$password" --secret-key="$secret_key")

# fails STATUS PATTERN ARGS...: the wrapper exits with STATUS and says
# something matching PATTERN.
fails () {
    local want=$1 pattern=$2 status=0
    shift 2
    "${sanitizer_env[@]}" "$ZEROFS" "$@" > "$tmpdir/out" 2>&1 || status=$?
    cat "$tmpdir/out"
    if [ "$status" -ne "$want" ]; then
        echo "$0: zerofs $*: exit status $status, expected $want"
        exit 1
    fi
    if ! grep -q -- "$pattern" "$tmpdir/out"; then
        echo "$0: zerofs $*: no message matching '$pattern'"
        exit 1
    fi
}

fails 2 'give --export=NAME' --nbd "$bucket" "$dev"
fails 2 'and the device (/dev/nbdX): one argument only' \
      --nbd "$bucket" --export=disk
fails 2 "unknown option '--no-such-option'" \
      --nbd --no-such-option "$bucket" "$dev" --export=disk
fails 2 'give --nbd' "$bucket" "$dev" --export=disk
fails 2 'one of --nbd and --fuse' --nbd --fuse "$bucket" "$dev" --export=disk
fails 2 'no arguments' --nbd --export=disk
fails 2 'nbd-connections=0' --nbd --nbd-connections=0 "$bucket" "$dev" \
      --export=disk
fails 1 'cache-size=lots' --nbd --cache-size=lots "$bucket" "$dev" \
      --export=disk
fails 1 'device name' --nbd "$bucket" "$dev" --export=../disk
# nbdkit cannot start: its error, and the wrapper's, on the terminal.
echo wrong > "$tmpdir/wrongpw"
fails 1 'wrong password' -f "${wargs[@]}" --password=+"$tmpdir/wrongpw" \
      "$bucket" "$dev" --export=disk
grep -q 'nbdkit exited with status 1 before it served' "$tmpdir/out"
test ! -e "$STANDIN_DIR/attach"
test -z "$(ls -A "$TMPDIR")"

# Ready: the stand-in has attached and checked the export.
ready='grep -qx attached "$STANDIN_DIR/attach"'
start_nbd ()
{
    rm -f "$STANDIN_DIR"/*
    start_wrapper "$ready" "${wargs[@]}" "$bucket" "$dev" --export=disk
}
gone ()
{
    if kill -0 "$1" 2>/dev/null; then
        echo "$0: process $1 ($2) is still there"
        return 1
    fi
}

# The value of KEY in the stand-in's record of the attach.
attached () { sed -n "s/^$1=//p" "$STANDIN_DIR/attach"; }

start_nbd
cat "$STANDIN_DIR/attach"
sock=$(attached sock)
test "$(attached dev)" = "$dev"
test "$(attached name)" = disk
test "$(attached connections)" = 4
test "$(attached timeout)" = 600
test "$(attached block_size)" = 4096
test "$(attached persist)" = yes
case $sock in "$TMPDIR"/zerofs-*/nbd.sock) ;; *) exit 1 ;; esac
test "$(stat -c %a "$(dirname "$sock")")" = 700

# Secrets: not on nbdkit's command line, nor in its environment or the log.
pid=$(wrapper_nbdkit)
test -n "$pid"
tr '\0' '\n' < "/proc/$pid/cmdline" > "$tmpdir/cmdline"
cat "$tmpdir/cmdline"
grep -q '^password=-[0-9][0-9]*$' "$tmpdir/cmdline"
grep -q '^secret-key=-[0-9][0-9]*$' "$tmpdir/cmdline"
for s in "$password" "$secret_key"; do
    if grep -qF -- "$s" "/proc/$pid/cmdline" "/proc/$pid/environ" "$wrapper_log"
    then
        echo "$0: a secret is visible in nbdkit's cmdline, environ or log"
        exit 1
    fi
done

# A second wrapper for the same device, with a cache-dir of its own and
# no force=true: refused (the device's lease), saying who holds it.
wargs2=()
for a in "${wargs[@]}"; do [ "$a" = --force=true ] || wargs2+=("$a"); done
mkdir "$tmpdir/standin2"
STANDIN_DIR=$tmpdir/standin2 \
    fails 1 'device disk is in use by another server: host' \
    "${wargs2[@]}" --cache-dir="$tmpdir/cache2" "$bucket" /dev/nbd8 \
    --export=disk
if [ -e "$tmpdir/standin2/attach" ] &&
   grep -q '^attached$' "$tmpdir/standin2/attach"; then
    echo "$0: the refused wrapper attached the device"; exit 1
fi

# Data flushed, then nbdkit killed: the wrapper starts it again on the
# same socket, and the data is there.
head -c 65536 /dev/urandom > "$tmpdir/data"
nbdsh -u "nbd+unix:///disk?socket=$sock" -c "
h.pwrite(open('$tmpdir/data', 'rb').read(), 1048576 + 512)
h.flush()
"
kill -KILL "$pid"
for (( i = 0; i < 300; i++ )); do
    grep -q 'nbdkit restarted' "$wrapper_log" && break
    sleep 0.1
done
grep -q 'nbdkit was killed by signal 9.*restarting it' "$wrapper_log"
grep -q 'nbdkit restarted' "$wrapper_log"
new_pid=$(wrapper_nbdkit)
test -n "$new_pid"
test "$new_pid" != "$pid"
nbdsh -u "nbd+unix:///disk?socket=$sock" -c "
assert h.pread(65536, 1048576 + 512) == open('$tmpdir/data', 'rb').read()
"

# SIGTERM: the device is detached, nbdkit stopped, exit status 0.
kill -TERM "$wrapper_pid"
status=0
wait "$wrapper_pid" || status=$?
wrapper_pid=
test "$status" -eq 0
test "$(cat "$STANDIN_DIR/disconnect")" = "$dev"
gone "$new_pid" nbdkit
test -z "$(ls -A "$TMPDIR")"

# Daemonized: zerofs returns once the device is attached.
rm -f "$STANDIN_DIR"/*
"${sanitizer_env[@]}" "$ZEROFS" "${wargs[@]}" --pid-file="$tmpdir/zerofs.pid" \
          "$bucket" "$dev" --export=disk
grep -qx attached "$STANDIN_DIR/attach"
daemon_pid=$(cat "$tmpdir/zerofs.pid")
kill -0 "$daemon_pid"
pid=$(pgrep -P "$daemon_pid" -x nbdkit)
test -n "$pid"
kill -TERM "$daemon_pid"
for (( i = 0; i < 300; i++ )); do
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
gone "$daemon_pid" "the daemon"
gone "$pid" nbdkit
test "$(cat "$STANDIN_DIR/disconnect")" = "$dev"
test ! -e "$tmpdir/zerofs.pid"

# nbdkit dies again and again: after 5 restarts the wrapper gives up,
# detaches the device and exits 1.
: > "$wrapper_log"
start_nbd
for (( k = 1; k <= 6; k++ )); do
    pid=$(wrapper_nbdkit)
    test -n "$pid"
    kill -KILL "$pid"
    for (( i = 0; i < 300; i++ )); do
        [ "$(grep -c 'nbdkit restarted' "$wrapper_log")" -ge "$k" ] && break
        kill -0 "$wrapper_pid" 2>/dev/null || break
        sleep 0.1
    done
done
status=0
wait "$wrapper_pid" || status=$?
wrapper_pid=
test "$status" -eq 1
test "$(grep -c 'nbdkit restarted' "$wrapper_log")" -eq 5
grep -q 'died 6 times within 60 seconds; giving up, detaching /dev/nbd7' "$wrapper_log"
test "$(cat "$STANDIN_DIR/disconnect")" = "$dev"
gone "$pid" nbdkit
test -z "$(ls -A "$TMPDIR")"
