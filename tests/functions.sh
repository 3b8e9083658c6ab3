# SPDX-License-Identifier: BSD-3-Clause
# zerofs tests: helpers sourced by every shell test, in nbdkit's style.
#
#   requires CMD ARGS...     skip (exit 77) saying what is missing unless
#                            the command runs
#   cleanup_fn FN ARGS...    run FN ARGS at exit (last registered first)
#   start_volume             make a volume on the backend under test and
#                            set $bucket, $pwfile, $cachedir, $zargs (the
#                            plugin's parameters) and zdev () (zerofs-dev
#                            with the same volume)
#   count_chunks DEV         how many chunk objects DEV has in the store
#   count_journal DEV        how many journal objects DEV has in the store
#   start_server ARGS...     nbdkit -f -v in the background on $sock, its
#                            log on this shell's stderr; returns once it
#                            serves, or 1 if it exits first
#   stop_server [-9]         stop that nbdkit by its pid and reap it
#                            (SIGTERM, which must end it with status 0,
#                            or SIGKILL)
#   server_died WHAT         the server was to kill itself (a crash point):
#                            wait for it to be gone, and reap it
#   client [EXPORT [CODE]]   nbdsh connected to EXPORT (default disk) of
#                            that server, running CODE (default: the
#                            Python script on stdin)
#   start_second CACHE ARGS...
#                            a second nbdkit (export disk, cache-dir
#                            CACHE, -r if $readonly is set) on $sock2 as
#                            $pid2, its stderr in $log2; returns once it
#                            serves, or 1 if it exits first
#   stop_second [SIG]        stop it (SIGTERM or SIG) and reap it
#   client2 [CODE]           client, for the second server
#   start_slow_link RATE     throttle-proxy.py in front of the S3 server
#                            under test: RATE bytes a second from zerofs
#                            to the store, shared by every connection;
#                            sets $slow to the endpoint to use
#   server_error PATTERN FILE
#                            FILE (an nbdkit's stderr) has a line other
#                            than a debug line that matches PATTERN
#   wait_for_line PATTERN FILE [SECONDS]
#                            wait until FILE has a line matching PATTERN
#                            (grep), at most SECONDS (default 30); 1 if
#                            it never came
#   requires_loop_fs         skip unless a filesystem can be made and
#                            mounted on an nbdfuse file here (nbdfuse,
#                            FUSE, ext4 tools, loop devices, root)
#   start_wrapper READY ARGS...
#                            zerofs -f ARGS (the wrapper, $ZEROFS) in the
#                            background as $wrapper_pid, its stderr on
#                            this shell's and in $wrapper_log; returns
#                            once the shell command READY succeeds, fails
#                            if the wrapper exits first
#   stop_wrapper             SIGTERM to that wrapper, and reap it
#   wrapper_nbdkit           the pid of the wrapper's nbdkit, if any
#   "${sanitizer_env[@]}" CMD
#                            run CMD as nbdkit runs: with the ASan runtime
#                            preloaded in a tree configured with
#                            --enable-sanitizers (sanitizers.sh), as it
#                            is otherwise; for programs that start nbdkit
#                            (the zerofs wrapper)
#
# Tests start every nbdkit with -v, so that a failing test's log shows
# what the server did: start_server does, and "nbdkit -U - ... --run"
# invocations say -v themselves.  A debug line echoes every parameter
# (and so the key or value an error message names): look for errors
# with server_error, not grep.
#
# $tmpdir and $sock are exported, for the Python scripts that nbdsh runs.
#
# The backend is $ZEROFS_TEST_BACKEND: "dir" (a local directory volume,
# the default), "s3rver" or "swift" (real S3 servers on loopback, see
# s3-servers.sh).  The same test scripts run against all three.

set -e
set -o pipefail

# Debian's python3 (it has the libnbd bindings nbdsh needs) before any
# other python3 on the PATH, such as a pyenv shim.
export PATH=/usr/bin:/bin:$PATH

# No test reads the machine's /etc/zerofs/zerofs.conf: an empty
# ZEROFS_CONFIG means no default config file (zerofs.conf(5)); a test of
# the default file sets it to a file of its own.
export ZEROFS_CONFIG=

# No test reaches for the EC2 metadata service (the last resort of the
# credentials chain) or any other credentials of the machine it runs on.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_PROFILE \
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_ENDPOINT_URL_STS

: "${srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
: "${ZEROFS_TEST_BACKEND:=dir}"
: "${PLUGIN:?PLUGIN must be set (make check sets it)}"
: "${ZEROFS_DEV:?ZEROFS_DEV must be set (make check sets it)}"

_cleanups=()
_run_cleanups ()
{
    local status=$? i
    set +e
    for (( i = ${#_cleanups[@]} - 1; i >= 0; i-- )); do
        eval "${_cleanups[i]}"
    done
    # --enable-sanitizers: the reports of every nbdkit, now all stopped.
    if [ -n "${sanitizer_logs:-}" ] && ! sanitizer_check; then
        status=1
    fi
    exit $status
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

cleanup_fn ()
{
    local cmd= a
    for a in "$@"; do cmd+=" $(printf '%q' "$a")"; done
    _cleanups+=("$cmd")
}

requires ()
{
    if ! "$@" >/dev/null 2>&1; then
        echo "$0: test skipped because this command failed: $*"
        exit 77
    fi
}

requires nbdkit --version

# make check-valgrind: every nbdkit (and so the plugin) runs under
# valgrind's memcheck; an error or a definite leak fails the test (exit
# 119 from nbdkit).  valgrind.supp holds third-party suppressions only.
# nbdkit_cmd is the command, so that start_server can run it in the
# background as a process of its own (valgrind keeps the pid) rather
# than a subshell running a function.
#
# ./configure --enable-sanitizers: every nbdkit runs with the ASan
# runtime preloaded (sanitizers.sh), and "nbdkit --run" commands without.
sanitizer_env=()
if [ "${ZEROFS_SANITIZERS:-no}" = yes ]; then
    source "$srcdir/sanitizers.sh"          # puts its nbdkit on the PATH
fi
nbdkit_cmd=(nbdkit)
if [ -n "${ZEROFS_TEST_VALGRIND:-}" ]; then
    requires valgrind --version
    nbdkit_cmd=(valgrind --quiet --leak-check=full
                --show-leak-kinds=definite --errors-for-leak-kinds=definite
                --error-exitcode=119 --suppressions="$srcdir/valgrind.supp"
                "$(type -P nbdkit)")
    nbdkit () { "${nbdkit_cmd[@]}" "$@"; }
fi
requires test -f "$PLUGIN"
requires test -x "$ZEROFS_DEV"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/zerofs-test.XXXXXX")
cleanup_fn rm -rf "$tmpdir"

# A random password for the volume, in a file.  It begins with a
# letter: tests also pass it as a value, where a leading '+' or '-'
# would name a file or a descriptor instead (base64 begins with '+'
# once in 64 runs).
pwfile=$tmpdir/password
printf 'pw%s\n' "$(head -c 24 /dev/urandom | base64)" > "$pwfile"
cachedir=$tmpdir/cache
sock=$tmpdir/nbd.sock
pidfile=$tmpdir/nbdkit.pid
export tmpdir sock

# write-timeout for the S3 backends: none (the default), as a
# write-timeout of 5 s on a busy machine let an abandoned chunk PUT land
# after a newer one (a soak failure); test-lease-fence sets its own.
s3_write_timeout=()

start_volume ()
{
    case "$ZEROFS_TEST_BACKEND" in
        dir)
            bucket=file://$tmpdir/store
            store_args=()
            ;;
        s3rver)
            source "$srcdir/s3-servers.sh"
            cleanup_fn s3rver_stop
            s3rver_start "$tmpdir/s3rver" || exit $?
            bucket=$S3_BUCKET/vol
            store_args=(endpoint="$S3_ENDPOINT" region="$S3_REGION"
                        "${s3_write_timeout[@]}")
            ;;
        swift)
            source "$srcdir/s3-servers.sh"
            cleanup_fn swift_stop
            swift_start "$tmpdir/swift" || exit $?
            bucket=$S3_BUCKET/vol
            store_args=(endpoint="$S3_ENDPOINT" region="$S3_REGION"
                        "${s3_write_timeout[@]}")
            ;;
        *)
            echo "$0: unknown ZEROFS_TEST_BACKEND=$ZEROFS_TEST_BACKEND"
            exit 1
            ;;
    esac
    zargs=(bucket="$bucket" password=+"$pwfile" cache-dir="$cachedir"
           "${store_args[@]}")
    # Many tests lose the cache-dir of a server killed with SIGKILL (a
    # lost host): the next server takes the device's lease over, which
    # is what force=true is for.  test-lease.sh sets lease_force=0 and
    # checks the refusal.
    [ "${lease_force:-1}" = 0 ] || zargs+=(force=true)
    zdev init --scrypt-log2n=10
}

zdev ()
{
    local a args=(--bucket="$bucket" --password-file="$pwfile")
    for a in "${store_args[@]}"; do args+=(--"$a"); done
    "$ZEROFS_DEV" "${args[@]}" "$@"
}

# count_objects DEV DIR: objects under devices/DEV/DIR/.
count_objects ()
{
    case "$ZEROFS_TEST_BACKEND" in
        dir)
            if [ -d "$tmpdir/store/devices/$1/$2" ]; then
                find "$tmpdir/store/devices/$1/$2" -type f ! -name '.*' |
                    wc -l
            else
                echo 0
            fi
            ;;
        *)
            s3_count_objects "vol/devices/$1/$2/"
            ;;
    esac
}

count_chunks () { count_objects "$1" chunks; }
count_journal () { count_objects "$1" journal; }

server_pid=

start_server ()
{
    local i status=0
    rm -f "$sock" "$pidfile"
    "${nbdkit_cmd[@]}" -f -v -U "$sock" -P "$pidfile" "$@" &
    server_pid=$!
    # nbdkit writes the pidfile once it is ready to serve.
    for (( i = 0; i < 300; i++ )); do
        [ -s "$pidfile" ] && [ -S "$sock" ] && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" || status=$?
            echo "$0: nbdkit exited with status $status before serving"
            server_pid=
            return 1
        fi
        sleep 0.1
    done
    echo "$0: nbdkit did not start"
    return 1
}

stop_server ()
{
    local sig=TERM i status=0
    [ "${1:-}" = -9 ] && sig=KILL
    [ -n "$server_pid" ] || return 0
    kill -$sig "$server_pid" 2>/dev/null || :
    for (( i = 0; i < 600; i++ )); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "$0: nbdkit $server_pid did not exit on SIG$sig; killing it"
        # Where it hangs, for the log.
        if command -v gdb > /dev/null; then
            gdb -batch -p "$server_pid" -ex "thread apply all bt 16" \
                2>/dev/null | grep -E '^(Thread|#)' || :
        fi
        kill -KILL "$server_pid"
        sig=
    fi
    # (2>/dev/null: not bash's "Killed" notice with the whole command.)
    wait "$server_pid" 2>/dev/null || status=$?
    server_pid=
    rm -f "$pidfile"
    if [ "$sig" != KILL ] && [ "$status" -ne 0 ]; then
        echo "$0: nbdkit exited with status $status"
        return 1
    fi
}
cleanup_fn stop_server -9

# The server was to kill itself (a crash point of the fault file, a
# torn write): wait for it to be gone, fail if it is still there.
server_died ()
{
    local i
    for (( i = 0; i < 100; i++ )); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "$0: the server did not die: $1"
        return 1
    fi
    stop_server -9
}

client ()
{
    nbdsh -u "nbd+unix:///${1:-disk}?socket=$sock" -c "${2:--}"
}

# A second server: its own socket, pidfile and cache-dir, serving
# $export2 (default disk).
sock2=$tmpdir/nbd2.sock
pid2=
log2=$tmpdir/nbdkit2.log
start_second ()
{
    local cache=$1 i
    shift
    rm -f "$sock2" "$tmpdir/nbdkit2.pid"
    : > "$log2"
    "${nbdkit_cmd[@]}" -f -v -U "$sock2" -P "$tmpdir/nbdkit2.pid" \
        ${readonly:+-r} "$PLUGIN" "${zargs[@]}" cache-dir="$cache" \
        export="${export2:-disk}" "$@" 2>>"$log2" &
    pid2=$!
    for (( i = 0; i < 300; i++ )); do
        [ -s "$tmpdir/nbdkit2.pid" ] && [ -S "$sock2" ] && return 0
        kill -0 "$pid2" 2>/dev/null || { echo "second nbdkit died"; \
                                          cat "$log2"; return 1; }
        sleep 0.1
    done
    echo "second nbdkit did not start"; return 1
}

stop_second ()
{
    [ -n "$pid2" ] || return 0
    kill -"${1:-TERM}" "$pid2" 2>/dev/null || :
    wait "$pid2" 2>/dev/null || :
    pid2=
}
cleanup_fn stop_second KILL

client2 () { nbdsh -u "nbd+unix:///${export2:-disk}?socket=$sock2" -c "${1:--}"; }

start_slow_link ()
{
    local i
    rm -f "$tmpdir/proxy.port"
    /usr/bin/python3 "$srcdir/throttle-proxy.py" "${S3_ENDPOINT##*:}" \
                     "$1" "$tmpdir/proxy.port" &
    cleanup_fn kill "$!"
    for (( i = 0; i < 100; i++ )); do
        [ -s "$tmpdir/proxy.port" ] && break
        sleep 0.1
    done
    slow=http://127.0.0.1:$(cat "$tmpdir/proxy.port")
}

server_error ()
{
    # Not grep -q: it would stop reading, and pipefail would see grep -v
    # die of SIGPIPE.
    grep -v -- ': debug: ' "$2" | grep -- "$1" > /dev/null
}

wait_for_line ()
{
    local i
    for (( i = 0; i < ${3:-30} * 10; i++ )); do
        grep -q -- "$1" "$2" && return 0
        sleep 0.1
    done
    echo "$0: no line matching '$1' in $2 after ${3:-30} s"
    return 1
}

requires_loop_fs ()
{
    requires nbdfuse --version
    requires mkfs.ext4 -V
    requires fsck.ext4 -V
    requires test -c /dev/fuse
    requires fusermount3 -V
    requires losetup -f
    if [ "$(id -u)" != 0 ]; then
        echo "$0: test skipped: mounting a loop device needs root"
        exit 77
    fi
}

wrapper_pid=
wrapper_log=$tmpdir/wrapper.log

start_wrapper ()
{
    local ready=$1 i
    shift
    "${sanitizer_env[@]}" \
        "${ZEROFS:?ZEROFS must be set (make check sets it)}" -f "$@" \
        2> >(tee -a "$wrapper_log" >&2) &
    wrapper_pid=$!
    for (( i = 0; i < 300; i++ )); do
        eval "$ready" 2>/dev/null && return 0
        kill -0 "$wrapper_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$0: the wrapper did not get ready ($ready)"
    return 1
}

stop_wrapper ()
{
    [ -n "$wrapper_pid" ] || return 0
    kill -TERM "$wrapper_pid" 2>/dev/null || :
    wait "$wrapper_pid" || :
    wrapper_pid=
}
cleanup_fn stop_wrapper

wrapper_nbdkit () { pgrep -P "$wrapper_pid" -x nbdkit || :; }

# aws-router.py (see there) in front of the S3 server of start_volume:
# start_router MODE EVERY, in MODE with a 307 every EVERY requests, for
# region $router_region (default $S3_REGION); sets $main, $redirect (its
# endpoints) and $rlog (its log).  stop_router; stopped at exit too.
router_pid=
start_router ()
{
    local i
    stop_router
    rlog=$tmpdir/router-$1.log
    rm -f "$rlog" "$tmpdir/router.ports"
    /usr/bin/python3 "$srcdir/aws-router.py" "${S3_ENDPOINT##*:}" \
                     "${router_region:-$S3_REGION}" "$1" "$2" \
                     "$tmpdir/router.ports" "$rlog" &
    router_pid=$!
    for (( i = 0; i < 100; i++ )); do
        [ -s "$tmpdir/router.ports" ] && break
        sleep 0.1
    done
    read -r mport rport < "$tmpdir/router.ports"
    main=http://127.0.0.1:$mport
    redirect=http://127.0.0.1:$rport
}
stop_router ()
{
    [ -n "$router_pid" ] || return 0
    kill "$router_pid" 2>/dev/null || :
    wait "$router_pid" 2>/dev/null || :
    router_pid=
}
cleanup_fn stop_router
