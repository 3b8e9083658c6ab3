#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs tests: the S3 test servers themselves (s3-servers.sh).
#
# Other tests trust these servers to behave like S3, so this one checks,
# for s3rver and for Swift's s3api, what those tests lean on: PUT, GET
# (whole and Range), HEAD, ListObjectsV2 across several pages,
# DELETE, DeleteObjects, NoSuchKey/NoSuchBucket errors, and that the
# stop function and the death of the starting shell both leave no process
# behind.
#
# What tells the two servers apart, and is asserted here so that a change
# of either is noticed:
#  - A wrong secret key: Swift refuses it with 403 SignatureDoesNotMatch;
#    s3rver accepts it (it checks no SigV4 signature at all, only that the
#    access key is S3RVER).
#  - A wrong x-amz-content-sha256: Swift refuses the PUT with BadDigest
#    and stores nothing; s3rver stores the object.
#
# Exits 77 if either server is missing on this machine, after testing the
# one that is there.

set -e
set -x

# shellcheck source-path=SCRIPTDIR source=s3-servers.sh
source "${srcdir:-$(dirname "$0")}/s3-servers.sh"

d="$(pwd)/test-s3-servers.d"
rm -rf "$d"
mkdir -p "$d"
cleanup ()
{
    s3rver_stop
    swift_stop
    rm -rf "$d"
}
trap cleanup EXIT

fail ()
{
    echo "FAIL: $*" >&2
    exit 1
}

now_ms ()
{
    local t
    t="$(date +%s%N)"
    echo $(( t / 1000000 ))
}

# expect_error CODE METHOD PATH [CURL ARGS]: the request fails with the S3
# error CODE in its body.
expect_error ()
{
    local code="$1" out
    shift
    if out="$(s3_curl "$@" 2>&1)"; then
        fail "$1 $2 succeeded; expected $code"
    fi
    case "$out" in
        *"<Code>$code</Code>"*) ;;
        *) fail "$1 $2: expected $code, got: $out" ;;
    esac
}

# pids_gone PID...: true once none of the processes exists (zombies count
# as gone), within 10 seconds.
pids_gone ()
{
    local tries=500 pid state alive
    while (( tries-- > 0 )); do
        alive=
        for pid in "$@"; do
            state=
            if [ -r "/proc/$pid/stat" ]; then
                read -r _ _ state _ < "/proc/$pid/stat" 2>/dev/null || :
            fi
            if [ -n "$state" ] && [ "$state" != Z ]; then
                alive=yes
            fi
        done
        [ -z "$alive" ] && return 0
        sleep 0.02
    done
    return 1
}

# The same checks against whichever server is current.
exercise ()
{
    local name="$1" b="$S3_BUCKET" i out md5 body sum

    head -c 100000 /dev/urandom > "$d/obj1"
    head -c 1048576 /dev/urandom > "$d/obj2"
    : > "$d/empty"

    # PUT and GET back, including a key that needs encoding.
    s3_curl PUT "/$b/dir/one" -T "$d/obj1"
    s3_curl PUT "/$b/dir/two" -T "$d/obj2"
    s3_curl PUT "/$b/dir/$(s3_uri_encode 'a&b c-é')" -T "$d/obj1"
    s3_curl PUT "/$b/dir/empty" -T "$d/empty"
    # s3rver 3.7.1 answers 500 to a DeleteObjects that empties a
    # "directory" (its parallel deletes race to rmdir it; the objects are
    # deleted all the same): keep one key under dir/.
    s3_curl PUT "/$b/dir/keep" -T "$d/empty"
    s3_curl GET "/$b/dir/one" -o "$d/got1"
    cmp "$d/obj1" "$d/got1"
    s3_curl GET "/$b/dir/two" -o "$d/got2"
    cmp "$d/obj2" "$d/got2"
    s3_curl GET "/$b/dir/$(s3_uri_encode 'a&b c-é')" -o "$d/got3"
    cmp "$d/obj1" "$d/got3"
    s3_curl GET "/$b/dir/empty" -o "$d/got4"
    cmp "$d/empty" "$d/got4"

    # A payload hash that matches is accepted by both.
    sum="$(sha256sum < "$d/obj1")"
    s3_curl PUT "/$b/dir/hashed" -T "$d/obj1" \
            -H "x-amz-content-sha256: ${sum%% *}"

    # HEAD and Range.
    out="$(s3_curl HEAD "/$b/dir/two")"
    case "${out,,}" in
        *"content-length: 1048576"*) ;;
        *) fail "$name: HEAD gave no Content-Length 1048576: $out" ;;
    esac
    s3_curl GET "/$b/dir/two" -H 'Range: bytes=4096-8191' -o "$d/range"
    cmp "$d/range" <(tail -c +4097 "$d/obj2" | head -c 4096)

    # ListObjectsV2: 6 keys under dir/, listed 2 per page.
    [ "$(s3_count_objects dir/ 2)" -eq 6 ] ||
        fail "$name: expected 6 keys under dir/"
    [ "$(s3_count_objects dir/)" -eq 6 ] ||
        fail "$name: expected 6 keys under dir/ in one page"
    [ "$(s3_count_objects nothing/)" -eq 0 ] ||
        fail "$name: expected no key under nothing/"

    # DELETE, then the key is gone.
    s3_curl DELETE "/$b/dir/one"
    expect_error NoSuchKey GET "/$b/dir/one"
    [ "$(s3_count_objects dir/ 2)" -eq 5 ] ||
        fail "$name: expected 5 keys after DELETE"

    # DeleteObjects with Content-MD5 (Swift insists on it).  curl signs
    # the query as written, so the empty value is written "delete=".
    body='<?xml version="1.0" encoding="UTF-8"?><Delete>'
    for i in two 'a&amp;b c-é' empty hashed; do
        body+="<Object><Key>dir/$i</Key></Object>"
    done
    body+='</Delete>'
    md5="$(printf '%s' "$body" | openssl dgst -md5 -binary | base64)"
    s3_curl POST "/$b?delete=" --data-binary "$body" \
            -H 'Content-Type: application/xml' -H "Content-MD5: $md5"
    [ "$(s3_count_objects dir/)" -eq 1 ] ||
        fail "$name: expected 1 key after DeleteObjects"

    # Many keys: paging with the default page size and a small one.
    for i in $(seq 1 25); do
        s3_curl PUT "/$b/many/$i" -T "$d/empty"
    done
    [ "$(s3_count_objects many/ 7)" -eq 25 ] ||
        fail "$name: expected 25 keys under many/"

    expect_error NoSuchBucket GET "/no-such-bucket?list-type=2"
}

skipped=

# ---------------------------------------------------------------- s3rver
status=0
t0="$(now_ms)"
s3rver_start "$d/s3rver" || status=$?
t1="$(now_ms)"
case $status in
    0)
        echo "s3rver started in $(( t1 - t0 )) ms"
        exercise s3rver
        # No signature check: a wrong secret is accepted.
        AWS_SECRET_ACCESS_KEY=wrong \
            s3_curl GET "/$S3_BUCKET?list-type=2&max-keys=1" > /dev/null
        pids=("$S3_PID")
        s3rver_stop
        pids_gone "${pids[@]}" ||
            fail "s3rver still running after s3rver_stop"
        ;;
    77) skipped+=" s3rver" ;;
    *) fail "s3rver_start failed" ;;
esac

# ----------------------------------------------------------------- Swift
status=0
t0="$(now_ms)"
swift_start "$d/swift" || status=$?
t1="$(now_ms)"
case $status in
    0)
        echo "Swift started in $(( t1 - t0 )) ms"
        exercise swift
        AWS_SECRET_ACCESS_KEY=wrong \
            expect_error SignatureDoesNotMatch \
                         GET "/$S3_BUCKET?list-type=2&max-keys=1"
        sum="$(printf 'something else' | sha256sum)"
        expect_error BadDigest PUT "/$S3_BUCKET/bad" -T "$d/obj1" \
                     -H "x-amz-content-sha256: ${sum%% *}"
        expect_error NoSuchKey GET "/$S3_BUCKET/bad"
        read -r -a pids <<< "$S3_PIDS"
        swift_stop
        pids_gone "${pids[@]}" ||
            fail "Swift still running after swift_stop"
        ;;
    77) skipped+=" swift" ;;
    *) fail "swift_start failed" ;;
esac

# ------------------------------------- servers die with their shell
# A shell starts a server, then is killed with SIGKILL (its EXIT trap
# cannot run): the server must go away by itself.
mkfifo "$d/block"
for server in s3rver swift; do
    case "$skipped" in *" $server"*) continue ;; esac
    rm -f "$d/pids"
    bash -c '
        source "$1"
        '"$server"'_start "$2" > "$2.out" 2>&1
        echo "${S3_PID:-} ${S3_PIDS:-}" > "$3.tmp"
        mv "$3.tmp" "$3"
        read -r -u 9 9<> "$4"      # block without a child process
    ' child "$s3_servers_dir/s3-servers.sh" "$d/orphan-$server" \
      "$d/pids" "$d/block" &
    child=$!
    tries=3000
    while [ ! -s "$d/pids" ] && (( tries-- > 0 )); do sleep 0.02; done
    read -r -a pids < "$d/pids" ||
        fail "$server did not start in the child"
    kill -KILL "$child"
    wait "$child" || :
    pids_gone "${pids[@]}" ||
        fail "$server (${pids[*]}) survived the shell that started it"
done

if [ -n "$skipped" ]; then
    echo "$0: SKIP: not tested, missing on this machine:$skipped" >&2
    exit 77
fi
