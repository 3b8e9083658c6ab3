#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# zerofs benchmark: what a restart costs on an index with N remote-only
# chunk records (a cache that has seen a large device, whose chunks are
# in the store and not cached).  Opening the cache must cost the cached
# chunks, not every stored one: the target is under 1 s to the first
# served read and under 64 MiB of RSS for 10 million records.
#
#   bench/restart.sh [-n RECORDS]     (default 10000000)
#
# Run from a build tree (make -C bench bench builds index-fill).  Prints
# the time from starting nbdkit to the first read served and nbdkit's
# peak RSS, next to the same with an empty index (the reference, same
# run), on a directory volume.
set -euo pipefail
records=10000000
while getopts "n:h" opt; do
    case "$opt" in
        n) records="$OPTARG" ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
top=${top_builddir:-$(cd "$here/.." && pwd)}
plugin=${PLUGIN:-$top/plugin/.libs/nbdkit-zerofs-plugin.so}
dev=$top/tools/zerofs-dev
fill=$top/bench/index-fill
[ -x "$fill" ] || { echo "$0: build it first: make -C bench bench"; exit 2; }
export PATH=/usr/bin:/bin:$PATH

tmp=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || :; rm -rf "$tmp"' EXIT
pid=
head -c 24 /dev/urandom | base64 > "$tmp/pw"
vol=(--bucket="file://$tmp/store" --password-file="$tmp/pw")
"$dev" "${vol[@]}" init --scrypt-log2n=10
"$dev" "${vol[@]}" create big 16T
args=(bucket="file://$tmp/store" password=+"$tmp/pw" cache-dir="$tmp/cache"
      export=big)

# Start, read one chunk that has no record, stop: seconds and peak RSS.
measure ()
{
    local start end rss
    rm -f "$tmp/sock"
    start=$(date +%s.%N)
    nbdkit -f -U "$tmp/sock" "$plugin" "${args[@]}" &
    pid=$!
    until [ -S "$tmp/sock" ]; do sleep 0.01; done
    nbdsh -u "nbd+unix:///big?socket=$tmp/sock" \
          -c 'assert h.pread(4096, (15 << 40)) == bytes(4096)'
    end=$(date +%s.%N)
    rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    kill "$pid"; wait "$pid" || :
    pid=
    echo "$(echo "$end - $start" | bc) $(( rss / 1024 ))"
}

measure > /dev/null                   # the cache now knows the device
read -r t0 r0 < <(measure)
"$fill" "$tmp/cache" big "$records"
du -sh "$tmp/cache/index.mdb"
read -r t1 r1 < <(measure)
read -r t2 r2 < <(measure)
printf '%-34s %10s %10s\n' "index" "start (s)" "RSS (MiB)"
printf '%-34s %10s %10s\n' "empty (reference)" "$t0" "$r0"
printf '%-34s %10s %10s\n' "$records remote-only records" "$t1" "$r1"
printf '%-34s %10s %10s\n' "the same, again" "$t2" "$r2"
