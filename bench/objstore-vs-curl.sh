#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: the object layer against plain curl, on one S3 server, in
# one run.
#
# Starts s3rver on loopback (bench-server.sh, tests/s3-servers.sh),
# then, ROUNDS times, runs bench/raw-curl-s3.sh (curl --aws-sigv4: one
# process per request, and one kept-alive process per lane) and
# objstore-bench (lib/store through objstore_open, as the plugin uses
# it) on that server: COUNT PUTs of 1 MiB objects with distinct keys,
# then GETs of them, with 8 and 32 requests in flight.  Prints every
# measurement, then a table of the medians over the rounds and the
# ratios objstore / curl.
#
# Usage: bench/objstore-vs-curl.sh [-n COUNT] [-r ROUNDS] [-j "8 32"]
#                                  [-S s3rver|swift]
#
# The objstore-bench program is looked for in $OBJSTORE_BENCH, else in
# the build directories ./bench, ../build*/bench (run "make -C bench
# bench" in a build directory first).  Extra objstore parameters can be
# given in $OBJSTORE_BENCH_ARGS (for example "fault-file=/tmp/f").
#
# What differs between the two, by design: curl sends
# x-amz-content-sha256: UNSIGNED-PAYLOAD, while zerofs over plain http
# hashes every body (SHA-256 of 1 MiB, about 0.6 ms of CPU); zerofs also
# checks every GET (length, and the bench compares the bytes).
#
# Figures move from run to run: compare only the ratios of one run.

set -e

count=200
rounds=3
jobs_list="8 32"
server=s3rver
while getopts "n:r:j:S:h" opt; do
    case "$opt" in
        n) count="$OPTARG" ;;
        r) rounds="$OPTARG" ;;
        j) jobs_list="$OPTARG" ;;
        S) server="$OPTARG" ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=bench-server.sh
source "$here/bench-server.sh"

bench="${OBJSTORE_BENCH:-}"
if [ -z "$bench" ]; then
    for b in ./bench/objstore-bench ./objstore-bench \
             "$here"/../build*/bench/objstore-bench; do
        if [ -x "$b" ]; then bench="$b"; break; fi
    done
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    echo "$0: objstore-bench not found: run 'make -C bench bench' in a" \
         "build directory, or set OBJSTORE_BENCH" >&2
    exit 1
fi

bench_tmp objstore-vs-curl
bench_server_start
max_jobs=0
for j in $jobs_list; do
    if [ "$j" -gt "$max_jobs" ]; then max_jobs="$j"; fi
done

echo "objstore-vs-curl: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
     "$server at $S3_ENDPOINT, $count x 1 MiB, in flight: $jobs_list," \
     "$rounds rounds"
echo "objstore-vs-curl: objstore-bench is $bench"

results="$tmp/results"
: > "$results"
for (( r = 1; r <= rounds; r++ )); do
    echo "--- round $r"
    "$here/raw-curl-s3.sh" -n "$count" -s 1024 -j "$jobs_list" -m both |
        tee -a "$results"
    # shellcheck disable=SC2086 # OBJSTORE_BENCH_ARGS: words on purpose
    "$bench" -n "$count" -s 1024 -j "$jobs_list" -p "objstore-bench/$r" \
             bucket="$S3_BUCKET" endpoint="$S3_ENDPOINT" \
             connections="$max_jobs" ${OBJSTORE_BENCH_ARGS:-} |
        tee -a "$results"
done

# The medians of req/s and MiB/s for each (tool, mode, op, jobs), then the
# table.  Lines look like:
#   raw-curl PUT jobs=8 per-request: 200 x 1024 KiB in 2.41 s: 83.0 req/s 83.0 MiB/s
#   objstore PUT jobs=8: 200 x 1024 KiB in 2.41 s: 83.0 req/s 83.0 MiB/s p50 ...
echo
awk -v jobs_list="$jobs_list" -v rounds="$rounds" '
function median(key,    n, i, j, v, t) {
    n = cnt[key]
    if (n == 0) return -1
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 1; i <= n; i++)
        for (j = i + 1; j <= n; j++)
            if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { val[key, ++cnt[key]] = x }
/^(raw-curl|objstore) (PUT|GET) jobs=/ {
    op = $2; jobs = $3; sub(/jobs=/, "", jobs); sub(/:$/, "", jobs)
    if ($1 == "raw-curl") { mode = $4; sub(/:$/, "", mode) }
    else mode = "objstore"
    for (i = 1; i <= NF; i++) {
        if ($i == "req/s") add(mode SUBSEP op SUBSEP jobs SUBSEP "r", $(i-1))
        if ($i == "MiB/s") add(mode SUBSEP op SUBSEP jobs SUBSEP "m", $(i-1))
        if ($i == "p50") add(mode SUBSEP op SUBSEP jobs SUBSEP "p", $(i+1))
    }
}
END {
    printf "1 MiB objects, medians of %d rounds; ratio = objstore req/s / curl req/s\n", rounds
    printf "%-4s %4s | %-17s | %-17s | %-24s | %-13s\n", "op", "jobs",
           "curl per-request", "curl keep-alive", "zerofs objstore",
           "ratio vs curl"
    printf "%-4s %4s | %8s %8s | %8s %8s | %8s %8s %6s | %6s %6s\n", "", "",
           "req/s", "MiB/s", "req/s", "MiB/s", "req/s", "MiB/s", "p50ms",
           "per-rq", "keep-a"
    n = split(jobs_list, js, /[ ,]+/)
    split("PUT GET", ops, " ")
    for (o = 1; o <= 2; o++)
        for (k = 1; k <= n; k++) {
            op = ops[o]; j = js[k]
            pr = median("per-request" SUBSEP op SUBSEP j SUBSEP "r")
            pm = median("per-request" SUBSEP op SUBSEP j SUBSEP "m")
            kr = median("keepalive" SUBSEP op SUBSEP j SUBSEP "r")
            km = median("keepalive" SUBSEP op SUBSEP j SUBSEP "m")
            zr = median("objstore" SUBSEP op SUBSEP j SUBSEP "r")
            zm = median("objstore" SUBSEP op SUBSEP j SUBSEP "m")
            zp = median("objstore" SUBSEP op SUBSEP j SUBSEP "p")
            printf "%-4s %4s | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f %6.1f | %6.2f %6.2f\n",
                   op, j, pr, pm, kr, km, zr, zm, zp,
                   (pr > 0 ? zr / pr : 0), (kr > 0 ? zr / kr : 0)
        }
}' "$results"
