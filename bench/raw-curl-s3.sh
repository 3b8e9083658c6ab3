#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: what plain curl gets from an S3 server, as the yardstick
# for zerofs's own object layer.
#
# PUTs COUNT objects of SIZE bytes, then GETs them back, JOBS requests in
# flight, each request signed by curl --aws-sigv4, and prints requests/s
# and MiB/s for each JOBS value.  Two ways to run curl:
#   per-request  one curl process per request (xargs -P JOBS): a new TCP
#                connection and a process start for every object;
#   keepalive    JOBS curl processes, each sending its share of the
#                requests over one kept-alive connection, as a connection
#                pool does.
#
# Usage: bench/raw-curl-s3.sh [-n COUNT] [-s SIZE_KIB] [-j "8 32"]
#                             [-m per-request|keepalive|both] [-S s3rver|swift]
#
# The server: if S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY are set (say by s3rver_start in the shell that runs
# the plugin's benchmark, so both measure the same server in the same run),
# that server is used and the objects are deleted afterwards; otherwise the
# script starts its own (-S, s3rver by default) in a temporary directory
# on loopback and stops it at the end.
#
# Output: one line per measurement, for example
#   raw-curl PUT jobs=8 per-request: 200 x 1024 KiB in 2.41 s: 83.0 req/s 83.0 MiB/s
# Figures move from run to run; compare figures from one run only.

set -e

count=200
size_kib=1024
jobs_list="8 32"
mode=per-request
server=s3rver
while getopts "n:s:j:m:S:h" opt; do
    case "$opt" in
        n) count="$OPTARG" ;;
        s) size_kib="$OPTARG" ;;
        j) jobs_list="$OPTARG" ;;
        m) mode="$OPTARG" ;;
        S) server="$OPTARG" ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done
case "$mode" in
    per-request|keepalive) modes="$mode" ;;
    both) modes="per-request keepalive" ;;
    *) echo "$0: -m must be per-request, keepalive or both" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=bench-server.sh
source "$here/bench-server.sh"
bench_tmp raw-curl-s3

if [ -n "${S3_ENDPOINT:-}" ] && [ -n "${S3_BUCKET:-}" ] &&
   [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    echo "raw-curl: using the server at $S3_ENDPOINT, bucket $S3_BUCKET"
else
    bench_server_start
    echo "raw-curl: started $server at $S3_ENDPOINT"
fi

# The credentials reach curl in a netrc file (an access key may hold a
# colon, which --user cannot carry), readable by us only.
(umask 077
 printf 'default login %s password %s\n' \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$tmp/netrc")
head -c $(( size_kib * 1024 )) /dev/urandom > "$tmp/data"

curl_args=(-sS --fail --aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3"
           --netrc-file "$tmp/netrc"
           -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
prefix="raw-curl-bench/$$"

now_ns () { date +%s%N; }

# report OP JOBS MODE START_NS END_NS
report ()
{
    awk -v op="$1" -v jobs="$2" -v mode="$3" -v ns=$(( $5 - $4 )) \
        -v n="$count" -v kib="$size_kib" 'BEGIN {
        s = ns / 1e9
        printf "raw-curl %s jobs=%d %s: %d x %d KiB in %.2f s: %.1f req/s %.1f MiB/s\n",
               op, jobs, mode, n, kib, s, n / s, n * kib / 1024 / s
    }'
}

# run OP JOBS MODE: the COUNT requests of one measurement.
run ()
{
    local op="$1" jobs="$2" mode="$3" dir="$prefix/j$2-$3" i lane
    local failed=0 pid
    local -a args pids=()
    case "$mode" in
        per-request)
            if [ "$op" = PUT ]; then
                seq 1 "$count" |
                    xargs -P "$jobs" -I{} curl "${curl_args[@]}" \
                          -T "$tmp/data" "$S3_ENDPOINT/$S3_BUCKET/$dir/{}"
            else
                seq 1 "$count" |
                    xargs -P "$jobs" -I{} curl "${curl_args[@]}" \
                          -o /dev/null "$S3_ENDPOINT/$S3_BUCKET/$dir/{}"
            fi
            ;;
        keepalive)
            for (( lane = 0; lane < jobs; lane++ )); do
                args=()
                for (( i = lane + 1; i <= count; i += jobs )); do
                    if [ "$op" = PUT ]; then
                        args+=(-T "$tmp/data")
                    else
                        args+=(-o /dev/null)
                    fi
                    args+=("$S3_ENDPOINT/$S3_BUCKET/$dir/$i")
                done
                if [ ${#args[@]} -gt 0 ]; then
                    curl "${curl_args[@]}" "${args[@]}" &
                    pids+=($!)
                fi
            done
            for pid in "${pids[@]}"; do
                wait "$pid" || failed=1
            done
            return "$failed"
            ;;
    esac
}

# Delete what one measurement wrote: DeleteObjects in batches of 1000,
# with the Content-MD5 that Swift insists on.
delete_objects ()
{
    local dir="$1" i end body md5
    for (( i = 1; i <= count; i += 1000 )); do
        end=$(( i + 999 < count ? i + 999 : count ))
        body="<Delete><Quiet>true</Quiet>"
        body+="$(seq "$i" "$end" |
                 sed "s|.*|<Object><Key>$dir/&</Key></Object>|" | tr -d '\n')"
        body+="</Delete>"
        md5="$(printf '%s' "$body" | openssl dgst -md5 -binary | base64)"
        # s3rver 3.7.1 may answer 500 when a batch empties a "directory"
        # (the objects are deleted regardless): the count below decides.
        s3_curl POST "/$S3_BUCKET?delete=" --data-binary "$body" \
                -H "Content-MD5: $md5" > /dev/null 2>&1 || :
    done
}

for jobs in $jobs_list; do
    for m in $modes; do
        dir="$prefix/j$jobs-$m"
        t0="$(now_ns)"
        run PUT "$jobs" "$m"
        t1="$(now_ns)"
        report PUT "$jobs" "$m" "$t0" "$t1"
        n="$(s3_count_objects "$dir/")"
        if [ "$n" -ne "$count" ]; then
            echo "raw-curl: $n objects under $dir/, expected $count" >&2
            exit 1
        fi
        t0="$(now_ns)"
        run GET "$jobs" "$m"
        t1="$(now_ns)"
        report GET "$jobs" "$m" "$t0" "$t1"
        if [ -z "$own_server" ]; then
            delete_objects "$dir"
            n="$(s3_count_objects "$dir/")"
            if [ "$n" -ne 0 ]; then
                echo "raw-curl: warning: $n objects left under $dir/" >&2
            fi
        fi
    done
done
