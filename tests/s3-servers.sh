# SPDX-License-Identifier: BSD-3-Clause
# zerofs tests: start and stop real S3 servers on loopback.
# Source this file from a bash test script; it defines functions only.
#
# Two servers, for two reasons:
#  - s3rver (npm, installed in tests/node_modules by "npm ci" in tests/):
#    small and quick, but it checks no signature (any secret key is
#    accepted, only the access key must be S3RVER) and ignores conditional
#    PUT headers.  Nor is it crash-atomic: it streams the body into the
#    object's file in place, so a PUT cut off by a SIGKILL (of nbdkit
#    while it uploads) leaves a truncated object behind, where S3 keeps
#    the old object or none.  So crash tests (those that SIGKILL nbdkit)
#    are judged on Swift and the directory store only.  It is run
#    through s3rver-consistent.js, which makes a PUT answer only once its
#    object is written: s3rver 3.7 answers earlier, and a GET right after
#    then finds the object empty.
#  - OpenStack Swift with its s3api middleware (Debian's python3-swift and
#    memcached): slower to start, but it verifies SigV4 signatures, payload
#    hashes, region and clock skew, and insists on Content-MD5 for
#    DeleteObjects.  It is run by swift/swift-s3.py, one Python process
#    serving the account, container, object and proxy servers.
#
# Every server binds 127.0.0.1 on a port the kernel picks, and keeps all its
# files under the directory it is given, so tests running in parallel
# (make -j check) each get their own servers.
#
# Usage, in a test script:
#
#   source "$srcdir/s3-servers.sh"
#   trap 's3rver_stop' EXIT          # or swift_stop
#   s3rver_start "$tmpdir/s3"        # returns 77 if s3rver is missing
#   ... $S3_ENDPOINT $S3_BUCKET $AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY
#   n=$(s3_count_objects "some/prefix/")
#
# The start functions return 77 (after saying exactly what is missing)
# when the machine lacks the server, and 1 when the server fails to start
# (after printing the end of its log); under "set -e" the test then exits
# with that status, and automake counts 77 as a skip.
#
# The caller must trap EXIT to call the stop function: that stops the
# servers and waits for them.  As a second line of defence the servers
# also die when the shell that started them dies without running its trap
# (killed by a signal): s3rver through the kernel's parent-death signal
# (setpriv --pdeathsig), swift-s3.py through the same and by polling that
# shell's PID, and memcached through its parent-death signal.  So call the
# start functions in the test's own shell, not inside $(...) or a pipeline:
# they export variables, and the servers die with the shell that started
# them.
#
# Knobs, from the environment: S3RVER_JS (path of s3rver's bin/s3rver.js),
# S3RVER_VERBOSE=1 (s3rver logs every request and stack traces to
# DIR/s3rver.log), SWIFT_PYTHON (a python3 with Swift), SWIFT_LOG_LEVEL
# (INFO logs every request to DIR/swift.log; default WARNING).
#
# One server is "current" at a time: the start functions set the S3_*
# and AWS_* variables that s3_curl and s3_count_objects use.

s3_servers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Default bucket created by the start functions.
s3_servers_default_bucket=zerofs-test

# Percent-encode $1 as RFC 3986 and SigV4 want it (everything but
# A-Z a-z 0-9 - . _ ~, byte by byte, so "/" too).  Prints the result.
s3_uri_encode ()
{
    { local xtrace="${-//[^x]/}"; set +x; } 2>/dev/null
    local LC_ALL=C
    local s="$1" out='' c h i
    for (( i = 0; i < ${#s}; i++ )); do
        c="${s:i:1}"
        case "$c" in
            [A-Za-z0-9._~-]) out+="$c" ;;
            *) printf -v h '%%%02X' "'$c"; out+="$h" ;;
        esac
    done
    printf '%s' "$out"
    if [ -n "$xtrace" ]; then set -x; fi
}

# s3_curl METHOD PATH [CURL ARGS...]
#
# A SigV4-signed request to the current server: curl --aws-sigv4 with
# $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, to "$S3_ENDPOINT$PATH".
# PATH starts with "/BUCKET".  Prints the response body; returns 0 for a
# 2xx answer and curl's status (22 for HTTP >= 400, with the S3 error XML
# still printed) otherwise.  Extra arguments go to curl, e.g.
#   s3_curl PUT "/$S3_BUCKET/key" --data-binary @file
#   s3_curl GET "/$S3_BUCKET/key" -H 'Range: bytes=0-9'
#   s3_curl HEAD "/$S3_BUCKET/key"
#
# curl 7.88 signs the query string exactly as written: write its
# parameters sorted by name and percent-encoded (s3_uri_encode), and give
# empty values as "name=" (e.g. "?delete=").
#
# Tracing (set -x) is off inside, so that the secret never reaches a log.
#
# The payload is sent as UNSIGNED-PAYLOAD unless the caller passes its own
# "x-amz-content-sha256: HASH" header (curl then signs that hash, and
# Swift checks it against the body).  The secret goes to curl in a netrc
# on a pipe, never on a command line; a netrc is also the only way to hand
# curl an access key with a colon in it (Swift's "account:user").
s3_curl ()
{
    { local xtrace="${-//[^x]/}"; set +x; } 2>/dev/null
    local method="$1" path="$2"
    shift 2
    local -a how sha=(-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
    local a status=0
    case "$method" in
        HEAD) how=(--head) ;;
        GET) how=() ;;
        *) how=(-X "$method") ;;
    esac
    for a in "$@"; do
        case "${a,,}" in
            x-amz-content-sha256:*) sha=() ;;
        esac
    done
    curl -sS --fail-with-body --max-time 120 \
         ${S3_CA_BUNDLE:+--cacert "$S3_CA_BUNDLE"} \
         --aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3" \
         --netrc-file <(printf 'default login %s password %s\n' \
                               "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") \
         "${how[@]}" "${sha[@]}" "$@" "$S3_ENDPOINT$path" || status=$?
    if [ -n "$xtrace" ]; then set -x; fi
    return "$status"
}

# s3_count_objects PREFIX [MAX_KEYS]
#
# Prints the number of keys in $S3_BUCKET that start with PREFIX, from
# ListObjectsV2, following continuation tokens (MAX_KEYS per page, 1000 by
# default; a small value tests the paging).  Returns 1, with the server's
# answer on stderr, if a listing fails.
s3_count_objects ()
{
    { local xtrace="${-//[^x]/}"; set +x; } 2>/dev/null
    local prefix="$1" max_keys="${2:-1000}"
    local count=0 token='' query out rest status=0
    while :; do
        query="list-type=2&max-keys=$max_keys&prefix=$(s3_uri_encode "$prefix")"
        if [ -n "$token" ]; then
            query="continuation-token=$(s3_uri_encode "$token")&$query"
        fi
        if ! out="$(s3_curl GET "/$S3_BUCKET?$query")"; then
            printf 's3_count_objects: listing %s failed:\n%s\n' \
                   "$S3_BUCKET/$prefix" "$out" >&2
            status=1
            break
        fi
        rest="${out//<Key>/}"
        count=$(( count + (${#out} - ${#rest}) / 5 ))
        case "$out" in
            *'<IsTruncated>true</IsTruncated>'*) ;;
            *) break ;;
        esac
        token="${out#*<NextContinuationToken>}"
        token="${token%%</NextContinuationToken>*}"
        if [ "$token" = "$out" ] || [ -z "$token" ]; then
            echo "s3_count_objects: truncated listing without a" \
                 "NextContinuationToken" >&2
            status=1
            break
        fi
        # XML entities (sed: bash 5.2 gives "&" a meaning in ${x//p/r}).
        token="$(printf '%s' "$token" |
                 sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' \
                     -e "s/&apos;/'/g" -e 's/&amp;/\&/g')"
    done
    if [ -n "$xtrace" ]; then set -x; fi
    if [ "$status" -eq 0 ]; then
        echo "$count"
    fi
    return "$status"
}

# _s3_wait_gone PID SECONDS: wait until PID has exited (gone, or a zombie
# waiting to be reaped); reap it if it is our child.  Returns 1 if it is
# still running after SECONDS.
_s3_wait_gone ()
{
    local pid="$1" tries=$(( $2 * 50 )) state
    while (( tries-- > 0 )); do
        state=
        if [ -r "/proc/$pid/stat" ]; then
            read -r _ _ state _ < "/proc/$pid/stat" 2>/dev/null || state=
        fi
        if [ -z "$state" ] || [ "$state" = Z ]; then
            wait "$pid" 2>/dev/null || :
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# _s3_stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL and wait.
_s3_stop_pid ()
{
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || :
    if ! _s3_wait_gone "$pid" 10; then
        echo "s3-servers: process $pid ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || :
        _s3_wait_gone "$pid" 10 || :
    fi
}

# _s3_create_bucket NAME TIMEOUT_S: PUT the bucket, retrying while the
# server is not answering yet (no connection, or 5xx).
_s3_create_bucket ()
{
    local bucket="$1" tries=$(( $2 * 50 )) out status
    while :; do
        status=0
        out="$(s3_curl PUT "/$bucket" -w '\n%{http_code}' 2>/dev/null)" ||
            status=$?
        case "$status:${out##*$'\n'}" in
            0:2??) return 0 ;;
            *:000|*:5??) ;;              # not answering yet
            *) break ;;
        esac
        if (( tries-- <= 0 )); then
            break
        fi
        sleep 0.02
    done
    printf 's3-servers: creating bucket %s at %s failed:\n%s\n' \
           "$bucket" "$S3_ENDPOINT" "$out" >&2
    return 1
}

# _s3_show_log FILE: the end of a server's log, after a failure.
_s3_show_log ()
{
    if [ -s "$1" ]; then
        echo "--- last lines of $1:" >&2
        tail -n 30 "$1" >&2
        echo "---" >&2
    fi
}

# Where s3rver.js is: $S3RVER_JS, else tests/node_modules.
_s3rver_js ()
{
    if [ -n "${S3RVER_JS:-}" ]; then
        printf '%s' "$S3RVER_JS"
    else
        printf '%s' "$s3_servers_dir/node_modules/s3rver/bin/s3rver.js"
    fi
}

# s3rver_start DIR [BUCKET]
#
# Starts s3rver on 127.0.0.1 on a free port, with its objects in DIR/data
# and its log in DIR/s3rver.log (errors only, unless S3RVER_VERBOSE is
# set), creates BUCKET (default zerofs-test) and
# exports S3_ENDPOINT, S3_BUCKET, S3_REGION, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY (s3rver's fixed S3RVER/S3RVER) and S3_PID.
# Returns 77 if node, setpriv or s3rver is missing.
#
# Optional, from the environment:
#   S3RVER_TLS_DIR=D       serve HTTPS with D/key.pem and D/cert.pem;
#                          S3_ENDPOINT is then https://127.0.0.1:PORT and
#                          S3_CA_BUNDLE=D/cert.pem (s3_curl uses it)
#   S3RVER_VHOST=NAME      accept virtual-hosted requests for BUCKET.NAME
#                          (e.g. "localhost": curl resolves *.localhost
#                          to the loopback address by itself)
s3rver_start ()
{
    local dir="$1" bucket="${2:-$s3_servers_default_bucket}"
    local js port='' line tries pid
    js="$(_s3rver_js)"
    if ! command -v node >/dev/null; then
        echo "s3rver_start: node (Node.js) is not installed" >&2
        return 77
    fi
    if ! command -v setpriv >/dev/null; then
        echo "s3rver_start: setpriv (util-linux) is not installed" >&2
        return 77
    fi
    if [ ! -f "$js" ]; then
        echo "s3rver_start: s3rver is not installed ($js is missing):" \
             "run 'npm ci' in $s3_servers_dir" >&2
        return 77
    fi
    mkdir -p "$dir/data"
    dir="$(cd "$dir" && pwd)"
    : > "$dir/s3rver.log"

    # -p 0: the kernel picks the port, s3rver prints it.  --openssl-legacy-
    # provider: s3rver's continuation tokens use a cipher that OpenSSL 3
    # only has in its legacy provider (ListObjectsV2 paging fails with 500
    # without it).
    local -a quiet=(--silent) extra=(--no-vhost-buckets) scheme=http
    if [ -n "${S3RVER_VERBOSE:-}" ]; then
        quiet=()
    fi
    if [ -n "${S3RVER_TLS_DIR:-}" ]; then
        extra+=(--key "$S3RVER_TLS_DIR/key.pem" --cert "$S3RVER_TLS_DIR/cert.pem")
        scheme=https
        export S3_CA_BUNDLE="$S3RVER_TLS_DIR/cert.pem"
    fi
    if [ -n "${S3RVER_VHOST:-}" ]; then
        extra=("${extra[@]:1}" --service-endpoint "$S3RVER_VHOST")
    fi
    NODE_OPTIONS=--openssl-legacy-provider \
        setpriv --pdeathsig KILL \
        node "$s3_servers_dir/s3rver-consistent.js" "$js" \
             --directory "$dir/data" --address 127.0.0.1 --port 0 \
             "${quiet[@]}" "${extra[@]}" \
             < /dev/null > "$dir/s3rver.log" 2>&1 &
    pid=$!

    tries=$(( 30 * 50 ))
    while (( tries-- > 0 )); do
        line="$(grep -m1 -o 'S3rver listening on 127\.0\.0\.1:[0-9]*' \
                     "$dir/s3rver.log" || :)"
        if [ -n "$line" ]; then
            port="${line##*:}"
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.02
    done
    if [ -z "$port" ]; then
        echo "s3rver_start: s3rver did not start" >&2
        _s3_show_log "$dir/s3rver.log"
        _s3_stop_pid "$pid"
        return 1
    fi

    export S3_PID="$pid"
    export S3_ENDPOINT="$scheme://127.0.0.1:$port"
    export S3_BUCKET="$bucket"
    export S3_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=S3RVER
    export AWS_SECRET_ACCESS_KEY=S3RVER
    if ! _s3_create_bucket "$bucket" 10; then
        _s3_show_log "$dir/s3rver.log"
        s3rver_stop
        return 1
    fi
}

# s3rver_stop: stops the s3rver started by s3rver_start, if any, and
# waits for it.  Safe to call more than once.
s3rver_stop ()
{
    if [ -n "${S3_PID:-}" ]; then
        _s3_stop_pid "$S3_PID"
        unset S3_PID
    fi
}

# The system Python that has Swift (python3 on $PATH may be another one).
_swift_python ()
{
    local py
    for py in ${SWIFT_PYTHON:-} /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null &&
           "$py" -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("swift", "eventlet")))' \
                 2>/dev/null; then
            printf '%s' "$py"
            return 0
        fi
    done
    return 1
}

# swift_start DIR [BUCKET]
#
# Starts a one-device, one-replica Swift with s3api, tempauth and
# memcached, everything under DIR (etc/, srv/, swift.log, memcached.log,
# swift-s3.log), all servers on free ports of 127.0.0.1, and creates BUCKET
# (default zerofs-test) with a SigV4-signed request.  Exports S3_ENDPOINT,
# S3_BUCKET, S3_REGION (us-east-1), AWS_ACCESS_KEY_ID (test:tester),
# AWS_SECRET_ACCESS_KEY and S3_PIDS (the Python process, then memcached).
# Returns 77 if python3-swift or memcached is missing.
#
# Optional, from the environment:
#   SWIFT_LOCATION=R     s3api's region (S3_REGION): a request signed for
#                        another is refused (AuthorizationHeaderMalformed,
#                        "the region 'us-east-1' is wrong; expecting 'R'")
#   SWIFT_READER=U:S     a second user test:U, secret S, without .admin:
#                        it may do what container ACLs grant it, no more
swift_start ()
{
    local dir="$1" bucket="${2:-$s3_servers_default_bucket}"
    local py memcached pid tries shell_pid="$BASHPID"
    local -a ready=()
    if ! py="$(_swift_python)"; then
        echo "swift_start: OpenStack Swift is not installed" \
             "(Debian package python3-swift)" >&2
        return 77
    fi
    if ! memcached="$(command -v memcached)"; then
        echo "swift_start: memcached is not installed" \
             "(Debian package memcached)" >&2
        return 77
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    rm -f "$dir/ready"

    # $BASHPID would expand in the child, after the fork: hence shell_pid.
    "$py" "$s3_servers_dir/swift/swift-s3.py" \
          --dir "$dir" --ready-file "$dir/ready" --watch-pid "$shell_pid" \
          --memcached "$memcached" --secret testing \
          --location "${SWIFT_LOCATION:-us-east-1}" \
          --reader "${SWIFT_READER:-}" \
          --log-level "${SWIFT_LOG_LEVEL:-WARNING}" \
          < /dev/null > "$dir/swift-s3.log" 2>&1 &
    pid=$!

    tries=$(( 60 * 50 ))
    while (( tries-- > 0 )); do
        if [ -s "$dir/ready" ]; then
            read -r -a ready < "$dir/ready"
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.02
    done
    if [ ${#ready[@]} -ne 3 ]; then
        echo "swift_start: Swift did not start" >&2
        _s3_show_log "$dir/swift-s3.log"
        _s3_show_log "$dir/swift.log"
        _s3_stop_pid "$pid"
        return 1
    fi

    # ready holds: proxy port, memcached port, memcached PID.
    export S3_PIDS="$pid ${ready[2]}"
    export S3_ENDPOINT="http://127.0.0.1:${ready[0]}"
    export S3_BUCKET="$bucket"
    export S3_REGION="${SWIFT_LOCATION:-us-east-1}"
    export AWS_ACCESS_KEY_ID=test:tester
    export AWS_SECRET_ACCESS_KEY=testing
    if ! _s3_create_bucket "$bucket" 10; then
        _s3_show_log "$dir/swift-s3.log"
        _s3_show_log "$dir/swift.log"
        swift_stop
        return 1
    fi
}

# swift_stop: stops everything swift_start started, if anything, and waits
# for it.  Safe to call more than once.
swift_stop ()
{
    local pid
    if [ -n "${S3_PIDS:-}" ]; then
        # swift-s3.py stops memcached itself on SIGTERM; then make sure.
        for pid in $S3_PIDS; do
            _s3_stop_pid "$pid"
        done
        unset S3_PIDS
    fi
}
