#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: the flush journal's figures, next to their references,
# in one run (one machine, one s3rver).
#
# Stores: s3rver on loopback ("lo"), and the same s3rver behind
# bench/delay-proxy.py ("wan"): a TCP forwarder that delivers every chunk
# of data DELAY ms after it read it, in both directions (a 2 x DELAY
# round trip; default 10 ms each way = 20 ms RTT), for zerofs, s3backer
# and curl alike.
#
# Targets (nbdkit on a Unix socket, 1 GiB devices):
#   file        nbdkit's file plugin on a 1 GiB file: the local ceiling
#               (run first and last, the table has the mean)
#   zj-lo       zerofs, defaults (flush journal on), cache-size=1G, lo
#   zj-wan      the same through the forwarder
#   zoff-lo     zerofs with journal-max-bytes=0: the "before" reference
#   zoff-wan    the same through the forwarder
#   s3b-lo      s3backer 2.x as an nbdkit plugin: blockSize=1M,
#               encrypt=true, blockCacheSize=1024 (1 GiB), listBlocks=true,
#               its other parameters at their defaults
#   s3b-wan     the same through the forwarder
#   Diagnosis only (see README), all through the forwarder:
#   zj4g-wan    zj-wan with cache-size=4G (the dirty chunks of the whole
#               device stay under 3/8 of the cache)
#   zjc-wan     zj-wan with a cold cache: nbdkit restarted on an empty
#               cache-dir after the prefill
#   zjc4g-wan   both: a cold 4G cache
#   zw16-wan    zj-wan with writeback-threads=16 (the default before 32)
#   zw64-wan    zj-wan with writeback-threads=64 connections=64
#   zb-wan      zj-wan with another zerofs build, $PLUGIN_BEFORE (say,
#               main's): the before/after comparison of one run
#   zl-wan      zj-wan with durability=local (a FLUSH is an fsync in the
#               cache; uploads follow in the background): issue 9's
#               pgbench TPC-B reference is the file plugin
#   zlb-wan     zl-wan with $PLUGIN_BEFORE: durability=local's before/after
#   zl10-wan    zl-wan with writeback-max-age=10 (the store at most about
#               10 s behind a busy device, not 60): what it costs in PUTs
#
# Every zerofs runs with -v -D zerofs.fault=1 -D zerofs.flush=1
# -D zerofs.s3=1 and an empty fault-file, so that every request that
# reaches the store and the size of every object PUT are in its log
# (nbdkit's per-request debug lines are off: -D nbdkit.backend.datapath=0).
#
# Sections (default: randwrite pgbench):
#   randwrite   per target: prefill the whole device (fio rw=write bs=1M
#               iodepth=8 end_fsync=1: the device holds data, as a used
#               disk does, and the cache is warm), then fio rw=randwrite
#               bs=4k iodepth=32 fsync=256 time_based runtime=RUNTIME on
#               the whole 1 GiB: IOPS.  zerofs: then idle until the
#               write-back has finished (the device's journal/ prefix is
#               empty and the log has shown no request for 8 s); the
#               requests and bytes PUT during the run and until then are
#               counted from the log (bench/journal-report.py).  s3backer:
#               a flush, then idle until the forwarder sees no upload for
#               4 s.  Then, on the same server: fio rw=write bs=1M
#               iodepth=1 fsync=1 size=64M: p50 of the write + p50 of the
#               flush.  For zj-lo and zj-wan, its reference is measured
#               just before and just after it, on the same link: 1 MiB
#               PUTs with curl --aws-sigv4 (UNSIGNED-PAYLOAD, no Expect:
#               100-continue), 16 in one kept-alive curl process and 8 with
#               a process (and a TCP connection) each: p50 of time_total.
#   curl        only those curl PUTs, on lo and wan.
#   seqwrite    the streaming write-back, through the forwarder: per
#               target (-S), on a new device, fio rw=write bs=1M iodepth=8
#               size=256M end_fsync=1: MiB/s over fio's job time, which
#               includes the final flush, and nbdkit's CPU time (user +
#               system, /proc/PID/stat) per MiB over the same job.  Its reference, the object
#               layer's parallel PUT rate on the same link
#               (bench/objstore-bench -n 256 -j 32 connections=32: 256
#               PUTs of 1 MiB, 32 in flight), is measured before and after
#               each round of the targets (-R rounds); a target's ratio is
#               to the mean of the two around it, averaged over rounds.
#   pgbench     file, zj-wan, zoff-wan, s3b-wan: nbdfuse exposes the device
#               as a file, mkfs.ext4 (no discard, inode tables and journal
#               initialised now) and mount -o loop, PostgreSQL 15 on it
#               (initdb -N then sync; default settings: fsync on,
#               synchronous_commit on), pgbench -i -s 10, CHECKPOINT,
#               then pgbench -c 8 -j 2 -T PGTIME (TPC-B): TPS; then
#               sync, wait for the uploads to end (as after randwrite),
#               and on the same database (warm: the TPC-B run read it
#               all), pgbench -S -c 8 -j 2 -T PGTIME (select-only): TPS.
#
# Usage: bench/journal.sh [-t RUNTIME] [-T PGTIME] [-d DELAY_MS]
#                         [-r TARGETS] [-P PG_TARGETS] [-S SEQ_TARGETS] [-R N]
#                         [-o OUTDIR] [-s REGION] [-c]
#                         [SECTION...]
#   -t RUNTIME     seconds of the random-write job (default 60)
#   -T PGTIME      seconds of the pgbench run (default 30)
#   -d DELAY_MS    the forwarder's one-way delay (default 10)
#   -r TARGETS     the random-write targets, in order (default
#                  "file zj-wan s3b-wan zoff-wan zj4g-wan zjc-wan
#                  zjc4g-wan zj-lo s3b-lo zoff-lo file")
#   -P PG_TARGETS  the pgbench targets (default "file zj-wan zoff-wan
#                  s3b-wan")
#   -S SEQ_TARGETS the seqwrite targets (default "zj-wan s3b-wan")
#   -R ROUNDS      rounds of the seqwrite targets (default 3)
#   -o OUTDIR      keep the logs, fio JSON and counts there
#   -s REGION      the random writes' region, from offset 0 (default 1G,
#                  the whole device: more chunks than a 1G cache may
#                  hold dirty, so the write-back must upload for space)
#   -c             split the CPUs (taskset): the store's side (s3rver
#                  and the forwarder) on CPU 0, everything else (nbdkit,
#                  fio, objstore-bench, curl, PostgreSQL) on the others,
#                  as when the store is another machine.  By default
#                  they all share every CPU, and a client that spends
#                  more CPU per byte (zerofs encrypts and caches what
#                  objstore-bench only sends) leaves the store less.
#
# Needs: fio (nbd engine), nbdkit, nbdsh, python3, curl, s3rver (npm ci in
# tests/); for pgbench also root, nbdfuse, fusermount3, mkfs.ext4, a loop
# device and PostgreSQL 15.  The plugin and zerofs-dev are looked for as
# fio.sh does ($PLUGIN, $ZEROFS_DEV, the build directory; seqwrite also
# bench/objstore-bench, "make -C bench bench", or $OBJSTORE_BENCH); s3backer's
# plugin in $S3BACKER_PLUGIN (its targets are skipped without it).
#
# About 25 minutes with the defaults (22 on a busy 2-vCPU machine).  Compare only ratios of one run.

set -e
set -o pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

runtime=60
pgtime=30
delay_ms=10
rw_targets="file zj-wan s3b-wan zoff-wan zj4g-wan zjc-wan zjc4g-wan zj-lo s3b-lo zoff-lo file"
pg_targets="file zj-wan zoff-wan s3b-wan"
seq_targets="zj-wan s3b-wan"
seq_rounds=3
outdir=
region=1G
split_cpus=
while getopts "t:T:d:r:P:S:R:o:s:ch" opt; do
    case "$opt" in
        t) runtime="$OPTARG" ;;
        T) pgtime="$OPTARG" ;;
        d) delay_ms="$OPTARG" ;;
        r) rw_targets="$OPTARG" ;;
        P) pg_targets="$OPTARG" ;;
        S) seq_targets="$OPTARG" ;;
        R) seq_rounds="$OPTARG" ;;
        o) outdir="$OPTARG" ;;
        s) region="$OPTARG" ;;
        c) split_cpus=yes ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done
shift $(( OPTIND - 1 ))
sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then
    sections=(randwrite pgbench)
fi
for s in "${sections[@]}"; do
    case "$s" in
        randwrite|curl|pgbench|seqwrite) ;;
        *) echo "$0: unknown section $s" >&2; exit 2 ;;
    esac
done
for t in $rw_targets $pg_targets $seq_targets; do
    case "$t" in
        file|zj-lo|zj-wan|zoff-lo|zoff-wan|zj4g-wan|zjc-wan|zjc4g-wan) ;;
        zw16-wan|zw64-wan|zl-wan|zl10-wan) ;;
        zb-wan|zlb-wan)
            if [ ! -e "${PLUGIN_BEFORE:-}" ]; then
                echo "$0: $t needs PLUGIN_BEFORE" >&2
                exit 1
            fi
            ;;
        s3b-lo|s3b-wan) ;;
        *) echo "$0: unknown target $t" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"

# shellcheck source-path=SCRIPTDIR source=built.sh
source "$here/built.sh"
zerofs_built
objstore_bench="$(find_built OBJSTORE_BENCH bench/objstore-bench)"
for s in "${sections[@]}"; do
    if [ "$s" = seqwrite ] && [ ! -x "$objstore_bench" ]; then
        echo "$0: bench/objstore-bench not found: make -C bench bench," \
             "or set OBJSTORE_BENCH" >&2
        exit 1
    fi
done
s3b_plugin="${S3BACKER_PLUGIN:-}"
if [ -n "$s3b_plugin" ] && [ ! -e "$s3b_plugin" ]; then
    echo "$0: S3BACKER_PLUGIN=$s3b_plugin does not exist" >&2
    exit 1
fi
if [ -z "$s3b_plugin" ]; then
    echo "journal.sh: no S3BACKER_PLUGIN: the s3backer targets are skipped" >&2
    # shellcheck disable=SC2086 # lists of words on purpose
    rw_targets="$(printf '%s\n' $rw_targets | grep -v '^s3b' | xargs)"
    # shellcheck disable=SC2086
    pg_targets="$(printf '%s\n' $pg_targets | grep -v '^s3b' | xargs)"
    # shellcheck disable=SC2086
    seq_targets="$(printf '%s\n' $seq_targets | grep -v '^s3b' | xargs)"
fi
if [ -n "$split_cpus" ]; then
    if [ "$(nproc)" -lt 2 ]; then
        echo "$0: -c needs 2 CPUs or more (this machine has $(nproc))" >&2
        exit 1
    fi
    if ! command -v taskset >/dev/null; then
        echo "$0: -c needs taskset (util-linux)" >&2
        exit 1
    fi
fi
for cmd in nbdkit fio nbdsh python3 curl; do
    if ! command -v "$cmd" >/dev/null; then
        echo "$0: $cmd is not installed" >&2
        exit 1
    fi
done
pgbin=/usr/lib/postgresql/15/bin
pg_skip=
for s in "${sections[@]}"; do
    [ "$s" = pgbench ] || continue
    if [ "$(id -u)" != 0 ]; then
        pg_skip="not root (mount needs it)"
    elif ! command -v nbdfuse >/dev/null || ! command -v fusermount3 >/dev/null; then
        pg_skip="nbdfuse or fusermount3 is missing"
    elif [ ! -c /dev/fuse ]; then
        pg_skip="no /dev/fuse"
    elif [ ! -x "$pgbin/initdb" ] || ! command -v pgbench >/dev/null; then
        pg_skip="PostgreSQL 15 is not installed"
    elif ! id postgres >/dev/null 2>&1; then
        pg_skip="no postgres user"
    fi
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/zerofs-journal.XXXXXX")"
chmod 755 "$tmp"        # postgres must reach the mount point under it
sock="$tmp/nbd.sock"
pidfile="$tmp/nbdkit.pid"
nbdkit_pid=
proxy_pid=
s3_started=
nbdfuse_pid=
pg_data=
mounted=

stop_nbdkit ()
{
    local i
    if [ -n "$nbdkit_pid" ]; then
        kill -TERM "$nbdkit_pid" 2>/dev/null || :
        for (( i = 0; i < 1200; i++ )); do
            kill -0 "$nbdkit_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$nbdkit_pid" 2>/dev/null; then
            echo "journal.sh: nbdkit $nbdkit_pid ignored SIGTERM; killing it" >&2
            kill -KILL "$nbdkit_pid" 2>/dev/null || :
        fi
        wait "$nbdkit_pid" 2>/dev/null || :
        nbdkit_pid=
    fi
}

pg_teardown ()
{
    if [ -n "$pg_data" ]; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg_data" -m fast -w \
                stop > /dev/null 2>&1 || :
        pg_data=
    fi
    if [ -n "$mounted" ]; then
        umount "$mounted" 2>/dev/null || umount -l "$mounted" 2>/dev/null || :
        mounted=
    fi
    if [ -n "$nbdfuse_pid" ]; then
        fusermount3 -u "$tmp/fuse" 2>/dev/null || :
        kill -TERM "$nbdfuse_pid" 2>/dev/null || :
        wait "$nbdfuse_pid" 2>/dev/null || :
        nbdfuse_pid=
    fi
}

cleanup ()
{
    pg_teardown
    stop_nbdkit
    if [ -n "$proxy_pid" ]; then
        kill -TERM "$proxy_pid" 2>/dev/null || :
        wait "$proxy_pid" 2>/dev/null || :
    fi
    if [ -n "$s3_started" ]; then
        s3rver_stop
    fi
    if [ -n "$outdir" ]; then
        mkdir -p "$outdir"
        cp -r "$tmp/res" "$tmp"/*.log "$tmp/s3rver/s3rver.log" "$outdir"/ \
           2>/dev/null || :
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_nbdkit LOG ARGS...: nbdkit in the foreground of a background job,
# ready when the pid file and the socket exist.
start_nbdkit ()
{
    local log="$1" i
    shift
    rm -f "$sock" "$pidfile"
    nbdkit -f -U "$sock" -P "$pidfile" "$@" >> "$log" 2>&1 &
    nbdkit_pid=$!
    for (( i = 0; i < 1200; i++ )); do
        if [ -s "$pidfile" ] && [ -S "$sock" ]; then
            return 0
        fi
        if ! kill -0 "$nbdkit_pid" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    echo "journal.sh: nbdkit did not start; its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}

res="$tmp/res"
mkdir -p "$res"
# note TARGET KEY VALUE: one figure for the tables.
note ()
{
    printf '%s %s %s\n' "$1" "$2" "$3" >> "$res/figures"
}

# cpu_ticks PID: its user + system time, in clock ticks.
cpu_ticks ()
{
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

head -c 24 /dev/urandom | base64 > "$tmp/pw"
: > "$tmp/nofault"

# shellcheck source-path=SCRIPTDIR source=../tests/s3-servers.sh
source "$here/../tests/s3-servers.sh"
s3rver_start "$tmp/s3rver"
s3_started=yes
ep_lo="$S3_ENDPOINT"
# shellcheck source-path=SCRIPTDIR source=delay-proxy.sh
source "$here/delay-proxy.sh"
delay_proxy_start "${S3_ENDPOINT##*:}" "$delay_ms" "$tmp" "$tmp/proxy.stats"
ep_wan="$proxy_endpoint"
ncpus=$(nproc)
cpus_note="all $ncpus CPUs shared"
if [ -n "$split_cpus" ]; then
    # Every thread of the store's side on CPU 0; this shell, and so
    # every client it starts from now on, on the others.
    taskset -a -p -c 0 "$S3_PID" > /dev/null
    taskset -a -p -c 0 "$proxy_pid" > /dev/null
    taskset -p -c "1-$(( ncpus - 1 ))" $$ > /dev/null
    cpus_note="s3rver and the forwarder on CPU 0, the rest on CPUs 1-$(( ncpus - 1 ))"
fi
note machine cpus "$ncpus"
note machine split "$([ -n "$split_cpus" ] && echo 1 || echo 0)"

# proxy_up: bytes the forwarder has sent towards s3rver so far (waits
# for its stats file to be current: it is rewritten every 0.5 s).
proxy_up ()
{
    sleep 0.6
    awk '$1 == "up" { print $2 }' "$tmp/proxy.stats" 2>/dev/null || echo 0
}

# zerofs_args TARGET: the plugin and its parameters for TARGET, after
# creating its volume (bucket S3_BUCKET/TARGET-TAG) and 1 GiB device "disk".
zerofs_start ()
{
    local target="$1" tag="$2" ep bucket log p="$plugin"
    local -a extra=()
    case "$target" in
        zb-wan|zlb-wan) p="$PLUGIN_BEFORE" ;;
    esac
    case "$target" in
        *-wan) ep="$ep_wan" ;;
        *) ep="$ep_lo" ;;
    esac
    case "$target" in
        zoff-*) extra+=(journal-max-bytes=0) ;;
        zl-*|zl10-*|zlb-*) extra+=(durability=local) ;;
    esac
    case "$target" in
        zl10-*) extra+=(writeback-max-age=10) ;;
    esac
    case "$target" in
        zw16-*) extra+=(writeback-threads=16) ;;
        zw64-*) extra+=(writeback-threads=64 connections=64) ;;
    esac
    case "$target" in
        zj4g-*|zjc4g-*) extra+=(cache-size=4G) ;;
        *) extra+=(cache-size=1G) ;;
    esac
    bucket="$S3_BUCKET/$target-$tag"
    log="$tmp/$target-$tag.log"
    "$zerofs_dev" --bucket="$bucket" --password-file="$tmp/pw" \
                  --endpoint="$ep_lo" --region=us-east-1 \
                  init --scrypt-log2n=10 >> "$log" 2>&1
    "$zerofs_dev" --bucket="$bucket" --password-file="$tmp/pw" \
                  --endpoint="$ep_lo" --region=us-east-1 \
                  create disk 1G >> "$log" 2>&1
    zcache="$tmp/cache-$target-$tag"
    # zstart: what a restart on a cold cache needs (no request log).
    zstart=(-v -D zerofs.fault=1 -D zerofs.flush=1 -D zerofs.s3=1
            -D nbdkit.backend.datapath=0 -D nbdkit.backend.controlpath=0
            "$p" bucket="$bucket" password=+"$tmp/pw"
            cache-dir="$zcache" endpoint="$ep"
            region=us-east-1 fault-file="$tmp/nofault"
            "${extra[@]}")
    case "$target" in
        zl-*|zl10-*|zlb-*) ;;
        *) zstart+=(durability=remote) ;;
    esac
    start_nbdkit "$log" "${reqlog[@]}" "${zstart[@]}" "${reqlog_arg[@]}"
    uri="nbd+unix:///disk?socket=$sock"
    zlog="$log"
    zprefix="$target-$tag/devices/disk/"
}

s3backer_start ()
{
    local target="$1" tag="$2" ep
    case "$target" in
        *-wan) ep="$ep_wan" ;;
        *) ep="$ep_lo" ;;
    esac
    start_nbdkit "$tmp/$target-$tag.log" "${reqlog[@]}" "$s3b_plugin" \
                 "${reqlog_arg[@]}" \
                 bucket="$S3_BUCKET" prefix="$target-$tag/" baseURL="$ep/" \
                 accessId="$AWS_ACCESS_KEY_ID" accessKey="$AWS_SECRET_ACCESS_KEY" \
                 size=1G blockSize=1M listBlocks=true blockCacheSize=1024 \
                 encrypt=true passwordFile="$tmp/pw"
    uri="nbd+unix:///?socket=$sock"
}

file_start ()
{
    local target="$1" tag="$2"
    rm -f "$tmp/file.img"
    truncate -s 1G "$tmp/file.img"
    start_nbdkit "$tmp/$target-$tag.log" "${reqlog[@]}" file "$tmp/file.img" \
                 "${reqlog_arg[@]}"
    uri="nbd+unix:///?socket=$sock"
}

# target_start TARGET TAG [REQLOG]: start nbdkit for TARGET (TAG names its
# store area and log; REQLOG: log every NBD request there with nbdkit's
# log filter); sets uri (and zlog/zprefix for zerofs).
target_start ()
{
    zlog=
    zprefix=
    reqlog=()
    reqlog_arg=()
    if [ -n "${3:-}" ]; then
        # nbdkit's log filter: every NBD request, with timestamps.
        reqlog=(--filter=log)
        reqlog_arg=(logfile="$3")
    fi
    case "$1" in
        file) file_start "$1" "$2" ;;
        s3b-*) s3backer_start "$1" "$2" ;;
        *) zerofs_start "$1" "$2" ;;
    esac
}

# fio_job NAME URI OPTIONS...: run fio with its nbd engine, JSON in
# $res/NAME.json.
fio_job ()
{
    local name="$1" uri="$2"
    shift 2
    {
        # refill_buffers: new random data for every write, which zstd
        # cannot compress (fio's default buffers repeat: 4 KiB writes of
        # them compress several times over).
        printf '[global]\nioengine=nbd\nuri=%s\nrefill_buffers=1\n' "$uri"
        printf '[%s]\n' "${name%%.*}"
        printf '%s\n' "$@"
    } > "$res/$name.fio"
    if ! fio --output-format=json --output="$res/$name.json" \
           "$res/$name.fio" > "$res/$name.fio.log" 2>&1; then
        echo "journal.sh: fio $name failed:" >&2
        cat "$res/$name.fio.log" >&2
        exit 1
    fi
}

# fio_value JSON WHAT: a figure from a fio JSON.
fio_value ()
{
    python3 - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
if j["error"]:
    sys.exit("fio error %d in %s" % (j["error"], sys.argv[1]))
w = sys.argv[2]
def p50(lat):
    return lat.get("percentile", {}).get("50.000000", 0) / 1e6
if w == "iops":
    v = j["write"]["iops"]
elif w == "writes":
    v = j["write"]["total_ios"]
elif w == "bytes":
    v = j["write"]["io_bytes"]
elif w == "syncs":
    v = j["sync"]["total_ios"]
elif w == "mibs":      # job_runtime includes end_fsync
    v = j["write"]["io_bytes"] / 1048576 / (j["job_runtime"] / 1000)
elif w == "cpu":       # fio's own CPU time per MiB written, ms
    v = ((j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] /
         (j["write"]["io_bytes"] / 1048576))
elif w == "p50":
    v = p50(j["write"]["clat_ns"]) + p50(j["sync"]["lat_ns"])
elif w == "p50w":
    v = p50(j["write"]["clat_ns"])
elif w == "p50s":
    v = p50(j["sync"]["lat_ns"])
print("%.6g" % v)
PY
}

log_size ()
{
    stat -c %s "$1"
}

# requests_in LOG: how many store requests the zerofs log shows.
requests_in ()
{
    grep -c 'fault: request ' "$1" || :
}

# zerofs_drain LOG PREFIX MAXSECONDS: wait until the device's journal/
# prefix is empty and the log has shown no store request for 8 s.
# Prints the seconds waited.
zerofs_drain ()
{
    local log="$1" prefix="$2" max="$3" start now n last still=0 j
    start=$(date +%s)
    last=$(requests_in "$log")
    while :; do
        sleep 1
        now=$(date +%s)
        n=$(requests_in "$log")
        if [ "$n" = "$last" ]; then
            still=$(( still + 1 ))
        else
            still=0
            last=$n
        fi
        if [ "$still" -ge 8 ]; then
            j=$(s3_count_objects "${prefix}journal/")
            if [ "$j" = 0 ]; then
                break
            fi
        fi
        if [ $(( now - start )) -ge "$max" ]; then
            echo "journal.sh: not drained after $max s" >&2
            break
        fi
    done
    echo $(( $(date +%s) - start - still ))
}

# proxy_drain MAXSECONDS: wait until the forwarder's byte count towards
# the store has not moved for 4 s.
proxy_drain ()
{
    local max="$1" start last n still=0
    start=$(date +%s)
    last=$(proxy_up)
    while :; do
        sleep 1
        n=$(proxy_up)
        if [ "$n" = "$last" ]; then
            still=$(( still + 1 ))
        else
            still=0
            last=$n
        fi
        [ "$still" -ge 4 ] && break
        [ $(( $(date +%s) - start )) -ge "$max" ] && break
    done
}

run_randwrite ()
{
    local target="$1" tag="$2" v a b c pa pb pc dt
    echo "=== randwrite $target ($tag)"
    target_start "$target" "$tag"
    fio_job "$target.$tag.prefill" "$uri" rw=write bs=1M iodepth=8 size=1G \
            offset=0 end_fsync=1
    note "$target" prefill_mibs "$(fio_value "$res/$target.$tag.prefill.json" mibs)"
    if [ -n "$zlog" ]; then
        # Nothing left of the prefill in flight.
        zerofs_drain "$zlog" "$zprefix" 120 > /dev/null
    fi
    case "$target" in
        zjc*)
            # A cold cache: the device holds data the cache has not seen
            # (as after a restart on a new host).
            stop_nbdkit
            rm -rf "$zcache"
            start_nbdkit "$zlog" "${zstart[@]}"
            ;;
    esac
    a=$( [ -n "$zlog" ] && log_size "$zlog" || echo 0 )
    pa=$(proxy_up)
    fio_job "$target.$tag.randwrite" "$uri" rw=randwrite bs=4k iodepth=32 \
            fsync=256 "size=$region" offset=0 time_based "runtime=$runtime"
    b=$( [ -n "$zlog" ] && log_size "$zlog" || echo 0 )
    pb=$(proxy_up)
    for v in iops writes bytes syncs; do
        note "$target" "rw_$v" "$(fio_value "$res/$target.$tag.randwrite.json" $v)"
    done
    echo "journal.sh: $target randwrite IOPS" \
         "$(fio_value "$res/$target.$tag.randwrite.json" iops)," \
         "$(fio_value "$res/$target.$tag.randwrite.json" syncs) NBD flushes"
    case "$target" in
        file) ;;
        s3b-*)
            nbdsh -u "$uri" -c 'h.flush()'
            proxy_drain 300
            ;;
        *)
            dt=$(zerofs_drain "$zlog" "$zprefix" 600)
            note "$target" drain_s "$dt"
            echo "journal.sh: $target write-back drained ${dt} s after the run"
            ;;
    esac
    c=$( [ -n "$zlog" ] && log_size "$zlog" || echo 0 )
    pc=$(proxy_up)
    note "$target" proxy_run "$(( pb - pa ))"
    note "$target" proxy_total "$(( pc - pa ))"
    if [ -n "$zlog" ]; then
        printf '%s %s %s %s\n' "$zlog" "$a" "$b" "$c" > "$res/$target.$tag.spans"
    fi
    # zerofs with its defaults: its reference, curl on the same link, is
    # measured just before and just after (the machine is noisy).
    case "$target" in
        zj-lo|zj-wan) curl_puts "${target#zj-}" ;;
    esac
    fio_job "$target.$tag.flushlat" "$uri" rw=write bs=1M iodepth=1 fsync=1 \
            size=64M offset=0
    case "$target" in
        zj-lo|zj-wan) curl_puts "${target#zj-}" ;;
    esac
    note "$target" flush_p50 "$(fio_value "$res/$target.$tag.flushlat.json" p50)"
    note "$target" flush_p50w "$(fio_value "$res/$target.$tag.flushlat.json" p50w)"
    note "$target" flush_p50s "$(fio_value "$res/$target.$tag.flushlat.json" p50s)"
    stop_nbdkit
}

# curl_puts WHERE: 1 MiB PUTs with curl on lo or wan: 16 in one
# kept-alive process, and 8 with a process (and connection) each; their
# time_total in ms appended to $res/curl-{keepalive,process}-WHERE.txt.
curl_puts ()
{
    local where="$1" ep i
    if [ "$where" = lo ]; then ep="$ep_lo"; else ep="$ep_wan"; fi
    [ -s "$tmp/obj" ] || head -c 1M /dev/urandom > "$tmp/obj"
    {
        for (( i = 0; i < 16; i++ )); do
            printf 'upload-file = "%s"\nurl = "%s/%s/curl-%s/k%d"\n' \
                   "$tmp/obj" "$ep" "$S3_BUCKET" "$where" "$i"
        done
    } > "$tmp/curl.cfg"
    curl -sS --fail -K "$tmp/curl.cfg" --aws-sigv4 aws:amz:us-east-1:s3 \
         --netrc-file <(printf 'default login %s password %s\n' \
                               "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") \
         -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -H 'Expect:' \
         -o /dev/null -w '%{time_total}\n' >> "$res/curl-keepalive-$where.txt"
    for (( i = 0; i < 8; i++ )); do
        curl -sS --fail -T "$tmp/obj" --aws-sigv4 aws:amz:us-east-1:s3 \
             --netrc-file <(printf 'default login %s password %s\n' \
                                   "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") \
             -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -H 'Expect:' \
             -o /dev/null -w '%{time_total}\n' \
             "$ep/$S3_BUCKET/curl-$where/p$i" >> "$res/curl-process-$where.txt"
    done
}

# store_ticks: the CPU time of the store's side, s3rver and the
# forwarder, in clock ticks.
store_ticks ()
{
    echo $(( $(cpu_ticks "$S3_PID") + $(cpu_ticks "$proxy_pid") ))
}

# ms_per_mib TICKS: TICKS of CPU time per MiB of a 256 MiB run, in ms.
ms_per_mib ()
{
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz * 1000 / 256 }'
}

# objstore_puts TAG: the object layer's parallel 1 MiB PUT rate through
# the forwarder, in MiB/s (bench/objstore-bench -P, 32 in flight); notes
# its own CPU and the store side's per MiB too.
objstore_puts ()
{
    local out="$res/objstore-$1.txt" s0 s1
    s0=$(store_ticks)
    "$objstore_bench" -P -n 256 -j 32 -p "objstore-$1" bucket="$S3_BUCKET" \
                      endpoint="$ep_wan" region=us-east-1 connections=32 \
                      > "$out" 2>&1
    s1=$(store_ticks)
    note objstore put_store_cpu "$(ms_per_mib $(( s1 - s0 )))"
    note objstore put_cpu "$(sed -n 's|^objstore PUT jobs=32: .* cpu \([0-9.]*\) ms/MiB$|\1|p' "$out")"
    sed -n 's|^objstore PUT jobs=32: .* \([0-9.]*\) MiB/s p50.*|\1|p' "$out"
}

# The rounds alternate objstore-bench and the targets; each target's
# ratio is taken to the objstore-bench runs just before and after it.
run_seqwrite ()
{
    local t n=0 r v o0 o1 c0 c1 s0 s1
    echo "=== seqwrite: 1 MiB sequential write of 256 MiB + final flush, wan"
    o0=$(objstore_puts r0)
    note objstore put_mibs "$o0"
    echo "journal.sh: objstore-bench PUT x32: $o0 MiB/s"
    for (( r = 1; r <= seq_rounds; r++ )); do
        : > "$res/seq-round"
        for t in $seq_targets; do
            n=$(( n + 1 ))
            target_start "$t" "s$n"
            c0=$(cpu_ticks "$nbdkit_pid")
            s0=$(store_ticks)
            fio_job "$t.s$n.seqwrite" "$uri" rw=write bs=1M iodepth=8 \
                    size=256M offset=0 end_fsync=1
            c1=$(cpu_ticks "$nbdkit_pid")
            s1=$(store_ticks)
            v=$(fio_value "$res/$t.s$n.seqwrite.json" mibs)
            note "$t" seq_mibs "$v"
            note "$t" seq_cpu "$(ms_per_mib $(( c1 - c0 )))"
            note "$t" seq_store_cpu "$(ms_per_mib $(( s1 - s0 )))"
            note "$t" seq_fio_cpu "$(fio_value "$res/$t.s$n.seqwrite.json" cpu)"
            echo "$t $v" >> "$res/seq-round"
            echo "journal.sh: $t seqwrite $v MiB/s"
            stop_nbdkit
        done
        o1=$(objstore_puts "r$r")
        note objstore put_mibs "$o1"
        echo "journal.sh: objstore-bench PUT x32: $o1 MiB/s"
        while read -r t v; do
            note "$t" seq_ratio "$(awk -v v="$v" -v a="$o0" -v b="$o1" \
                                       'BEGIN { print v / ((a + b) / 2) }')"
        done < "$res/seq-round"
        o0=$o1
    done
}

run_curl ()
{
    echo "=== curl: 1 MiB PUTs"
    curl_puts lo
    curl_puts wan
}

run_pgbench ()
{
    local target="$1" tag=pg port=5499 d z0 z1 t0 t1 tps
    echo "=== pgbench $target"
    target_start "$target" "$tag" "$res/$target.pg.requests"
    mkdir -p "$tmp/fuse" "$tmp/mnt"
    nbdfuse -P "$tmp/nbdfuse.pid" "$tmp/fuse/disk" "$uri" \
            > "$tmp/nbdfuse.log" 2>&1 &
    nbdfuse_pid=$!
    for (( i = 0; i < 200; i++ )); do
        [ -s "$tmp/nbdfuse.pid" ] && [ -e "$tmp/fuse/disk" ] && break
        sleep 0.05
    done
    mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 \
              "$tmp/fuse/disk"
    mount -o loop "$tmp/fuse/disk" "$tmp/mnt"
    mounted="$tmp/mnt"
    mkdir -p "$tmp/mnt/pg" "$tmp/pgsock"
    chown postgres: "$tmp/mnt/pg" "$tmp/pgsock"
    d="$tmp/mnt/pg/data"
    runuser -u postgres -- "$pgbin/initdb" -N -D "$d" -A trust -U postgres \
            > "$res/$target.pg.initdb.log" 2>&1
    sync
    pg_data="$d"
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$d" -w -l "$tmp/mnt/pg/log" \
            -o "-p $port -k $tmp/pgsock -c listen_addresses=''" start \
            > /dev/null
    runuser -u postgres -- pgbench -h "$tmp/pgsock" -p "$port" -i -s 10 \
            -q postgres > "$res/$target.pg.init.log" 2>&1
    runuser -u postgres -- psql -h "$tmp/pgsock" -p "$port" -q \
            -c CHECKPOINT postgres
    sync
    z0=$( [ -n "$zlog" ] && log_size "$zlog" || echo 0 )
    t0=$(date +%s.%N)
    runuser -u postgres -- pgbench -h "$tmp/pgsock" -p "$port" -c 8 -j 2 \
            -T "$pgtime" postgres > "$res/$target.pg.run.log" 2>&1
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$res/$target.pg.window"
    z1=$( [ -n "$zlog" ] && log_size "$zlog" || echo 0 )
    if [ -n "$zlog" ]; then
        printf '%s %s %s %s\n' "$zlog" "$z0" "$z1" "$z1" > "$res/$target.pg.spans"
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial.*/\1/p' \
              "$res/$target.pg.run.log")
    note "$target" pg_tps "$tps"
    echo "journal.sh: $target pgbench TPS $tps"
    # The select-only run reads a quiet device: what the TPC-B run left
    # to upload is uploaded first.
    sync
    case "$target" in
        file) ;;
        s3b-*) proxy_drain 300 ;;
        *) zerofs_drain "$zlog" "$zprefix" 600 > /dev/null ;;
    esac
    runuser -u postgres -- pgbench -h "$tmp/pgsock" -p "$port" -S -c 8 -j 2 \
            -T "$pgtime" postgres > "$res/$target.pg.select.log" 2>&1
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial.*/\1/p' \
              "$res/$target.pg.select.log")
    note "$target" pg_sel_tps "$tps"
    echo "journal.sh: $target pgbench select-only TPS $tps"
    pg_teardown
    stop_nbdkit
}

echo "journal.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $ncpus CPUs," \
     "$(uname -r), $(fio --version), $(nbdkit --version | head -n 1)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "journal.sh: zerofs $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')," \
     "plugin $plugin"
echo "journal.sh: s3backer ${s3b_plugin:-none}"
echo "journal.sh: forwarder $ep_wan -> $ep_lo, ${delay_ms} ms each way;" \
     "random writes ${runtime} s; pgbench ${pgtime} s"
echo "journal.sh: CPUs: $cpus_note"

for s in "${sections[@]}"; do
    case "$s" in
        randwrite)
            n=0
            for t in $rw_targets; do
                n=$(( n + 1 ))
                run_randwrite "$t" "r$n"
            done
            ;;
        curl) run_curl ;;
        seqwrite) run_seqwrite ;;
        pgbench)
            if [ -n "$pg_skip" ]; then
                echo "journal.sh: pgbench skipped: $pg_skip"
                note all pg_skip "\"$pg_skip\""
            else
                for t in $pg_targets; do
                    run_pgbench "$t"
                done
            fi
            ;;
    esac
done
echo "journal.sh: done $(date -u '+%H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$here/journal-report.py" "$res" "$delay_ms"
