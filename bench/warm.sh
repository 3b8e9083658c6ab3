#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: the warm paths (data already in the cache) next to
# nbdkit's file plugin and s3backer, several rounds back to back in one
# run, and the memory of a server on big devices.
#
# Targets (nbdkit on a Unix socket, 1 GiB devices, one s3rver on
# loopback for all of them):
#   file      nbdkit's file plugin on a 1 GiB file: the local ceiling,
#             the reference of every ratio
#   zerofs    the plugin of this build directory ($PLUGIN), defaults
#             (1 GiB cache, zstd, encryption, durability=remote)
#   before    another zerofs plugin, $PLUGIN_BEFORE (say, a build of
#             main), with the same parameters: before and after a change
#             in the same run
#   s3backer  s3backer 2.x's nbdkit plugin ($S3BACKER_PLUGIN), as in
#             REFERENCE.md: blockSize=1M encrypt=true blockCacheSize=1024
#             listBlocks=true
#
# Every target is started at once, each on its own socket, and filled
# (REGION = the first SIZE MiB):
#   fill        1 MiB sequential writes of REGION, QD8, final flush: the
#               data the next jobs find in the cache (not a figure)
# then, round after round, each target in turn (the order rotates by
# one target each round), so that the jobs compared run within a minute
# of each other on a machine whose load moves:
#   warm-read   4 KiB random reads in REGION, QD32, RUNTIME s: IOPS
# and then the same rounds of
#   warm-write  4 KiB random writes in REGION, QD32, no flush, RUNTIME s:
#               IOPS; then one NBD flush, untimed, so that the uploads of
#               what it left dirty do not run during the next target's
#               job
# The table gives each target's median over the rounds, and the median
# of the per-round ratios to the file plugin (and to s3backer and
# before).
#
# With -m, the memory of zerofs's server: for each SIZE in -m (default
# "1G 1T 16T"), a device of that size with the default 1 GiB cache, a
# run of RUNTIME s of 4 KiB random writes over the whole device (QD32,
# a flush every 1024) then RUNTIME s of 4 KiB random reads over it, then
# VmRSS and VmHWM of nbdkit (and its anonymous and file-backed parts).
# The 1G device is the reference: its RSS is the server's buffers (the
# threads, their thread-local storage, the chunk buffers, the LMDB
# pages it touched); a big device should add nothing much to them.
#
# Usage: bench/warm.sh [-s SIZE_MIB] [-t RUNTIME] [-R ROUNDS] [-p]
#                      [-m "SIZE..."] [-z "KEY=VALUE ..."] [-o DIR]
#                      [TARGET...]
#   -s SIZE_MIB  the region (default 256)
#   -t RUNTIME   seconds of each time-based job (default 15)
#   -R ROUNDS    rounds (default 3)
#   -p           perf record -g nbdkit during zerofs's warm jobs (first
#                round) and print the top of each profile
#   -o DIR       keep the perf data, fio's JSON and nbdkit's logs in DIR
#   -m SIZES     measure the memory on devices of these sizes (no TARGET:
#                only that)
#   -z PARAMS    more zerofs parameters (zerofs and before)
#   TARGET       default: file zerofs, then before and s3backer when
#                their plugins are set
#
# Figures move from minute to minute on a shared machine: compare only
# the ratios of one run, and note the load (the script prints uptime).

set -e
set -o pipefail
export PATH=/usr/bin:/bin:$PATH

size_mib=256
runtime=15
rounds=3
perf=
mem_sizes=
zparams=
keep=
while getopts "s:t:R:pm:z:o:h" opt; do
    case "$opt" in
        s) size_mib="$OPTARG" ;;
        t) runtime="$OPTARG" ;;
        R) rounds="$OPTARG" ;;
        p) perf=yes ;;
        m) mem_sizes="$OPTARG" ;;
        z) zparams="$OPTARG" ;;
        o) keep="$OPTARG" ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done
shift $(( OPTIND - 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ] && [ -z "$mem_sizes" ]; then
    targets=(file zerofs)
    [ -z "${PLUGIN_BEFORE:-}" ] || targets+=(before)
    [ -z "${S3BACKER_PLUGIN:-}" ] || targets+=(s3backer)
fi
if [ "$size_mib" -lt 16 ] || [ "$size_mib" -gt 1024 ]; then
    echo "$0: -s must be from 16 to 1024 (MiB of the 1 GiB device)" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=built.sh
source "$here/built.sh"
zerofs_built
for t in "${targets[@]}"; do
    case "$t" in
        file|zerofs) ;;
        before)
            [ -e "${PLUGIN_BEFORE:-}" ] ||
                { echo "$0: before needs PLUGIN_BEFORE" >&2; exit 1; } ;;
        s3backer)
            [ -e "${S3BACKER_PLUGIN:-}" ] ||
                { echo "$0: s3backer needs S3BACKER_PLUGIN" >&2; exit 1; } ;;
        *) echo "$0: unknown target $t" >&2; exit 2 ;;
    esac
done
fio_nbd_tools
if [ -n "$perf" ] && ! command -v perf >/dev/null; then
    echo "$0: -p needs perf" >&2
    exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/zerofs-warm.XXXXXX")"
s3_started=
# The servers: target -> pid and URI.
declare -A pids uris

# stop_nbdkit PID: SIGTERM, and wait for it (zerofs uploads what is
# dirty first).
stop_nbdkit ()
{
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || :
    for (( i = 0; i < 1200; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "warm.sh: nbdkit $pid ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || :
    fi
    wait "$pid" 2>/dev/null || :
}
cleanup ()
{
    local t
    for t in "${!pids[@]}"; do
        stop_nbdkit "${pids[$t]}"
    done
    [ -z "$s3_started" ] || s3rver_stop
    if [ -n "$keep" ]; then
        mkdir -p "$keep"
        cp "$tmp"/*.json "$tmp"/*.log "$keep"/ 2>/dev/null || :
        cp "$tmp"/*.perf "$keep"/ 2>/dev/null || :
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_nbdkit TARGET LOG ARGS...: a server for TARGET on its own socket
# (sets pids[TARGET]; the caller sets uris[TARGET]).
start_nbdkit ()
{
    local target="$1" log="$2" i pid
    local sock="$tmp/$target.sock" pidfile="$tmp/$target.pid"
    shift 2
    rm -f "$sock" "$pidfile"
    nbdkit -f -U "$sock" -P "$pidfile" "$@" >> "$log" 2>&1 &
    pid=$!
    pids[$target]=$pid
    for (( i = 0; i < 600; i++ )); do
        if [ -s "$pidfile" ] && [ -S "$sock" ]; then return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "warm.sh: nbdkit did not start; its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}

s3rver_up ()
{
    [ -z "$s3_started" ] || return 0
    # shellcheck source-path=SCRIPTDIR source=../tests/s3-servers.sh
    source "$here/../tests/s3-servers.sh"
    s3rver_start "$tmp/s3rver"
    s3_started=yes
}

# cpu_ticks PID: its user + system time, in clock ticks.
cpu_ticks ()
{
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

results="$tmp/results"
: > "$results"

# job ROUND TARGET NAME URI FIO-OPTIONS...: one fio job; its figure
# goes to the results.
job ()
{
    local round="$1" target="$2" name="$3" uri="$4" out perf_pid= cpu0 cpu1
    shift 4
    out="$tmp/$target-$name-$round.json"
    {
        printf '[global]\nioengine=nbd\nuri=%s\n' "$uri"
        printf '[%s]\n' "$name"
        printf '%s\n' "$@"
    } > "$tmp/job.fio"
    if [ -n "$perf" ] && [ "$round" = 1 ] && [ "$name" != fill ] &&
       { [ "$target" = zerofs ] || [ "$target" = before ]; }; then
        perf record -q -g -p "${pids[$target]}" \
             -o "$tmp/$target-$name.perf" \
             -- sleep "$(( runtime > 10 ? 10 : runtime ))" \
             > "$tmp/$target-$name.perf.log" 2>&1 &
        perf_pid=$!
    fi
    cpu0="$(cpu_ticks "${pids[$target]}")"
    if ! fio --output-format=json --output="$out" "$tmp/job.fio" \
           > "$tmp/fio.log" 2>&1; then
        echo "warm.sh: fio $target $name failed:" >&2
        cat "$tmp/fio.log" >&2
        exit 1
    fi
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || :
        echo "--- perf: nbdkit during $target $name (self time by DSO," \
             "then the top symbols)"
        perf_top "$tmp/$target-$name.perf" dso 8
        perf_top "$tmp/$target-$name.perf" dso,symbol 25
    fi
    cpu1="$(cpu_ticks "${pids[$target]}")"
    python3 - "$out" "$round" "$target" "$name" "$(( cpu1 - cpu0 ))" \
            "$(getconf CLK_TCK)" >> "$results" <<'PY'
import json, sys
path, rnd, target, name, ticks, hz = sys.argv[1:7]
j = json.load(open(path))["jobs"][0]
ios = j["read"]["total_ios"] + j["write"]["total_ios"]
if ios and name != "fill":
    # nbdkit's CPU time (user + system) per request, microseconds.
    print(rnd, target, name + "-cpu", "%.3f" % (int(ticks) / int(hz) * 1e6 / ios))
if j["error"]:
    sys.exit("fio %s %s: error %d" % (target, name, j["error"]))
if name == "fill":
    v = j["write"]["io_bytes"] / 1048576 / (j["job_runtime"] / 1000)
elif name.endswith("read"):
    v = j["read"]["iops"]
else:
    v = j["write"]["iops"]
print(rnd, target, name, "%.3f" % v)
PY
    tail -n 1 "$results" | sed 's/^/warm.sh: round /'
}

head -c 24 /dev/urandom | base64 > "$tmp/pw"

# zerofs_args PLUGIN DEVICE-SIZE: set start=() for a zerofs server on a
# new device "disk" of that size in its own prefix of the bucket, with
# its own cache-dir.
zerofs_n=0
zerofs_args ()
{
    local bucket
    zerofs_n=$(( zerofs_n + 1 ))
    bucket="$S3_BUCKET/z$zerofs_n"
    local -a dev=(--bucket="$bucket" --password-file="$tmp/pw"
                  --endpoint="$S3_ENDPOINT" --region=us-east-1)
    "$zerofs_dev" "${dev[@]}" init --scrypt-log2n=10 > /dev/null
    "$zerofs_dev" "${dev[@]}" create disk "$2" > /dev/null
    # shellcheck disable=SC2206 # -z PARAMS: words on purpose
    start=("$1" bucket="$bucket" password=+"$tmp/pw"
           cache-dir="$tmp/cache-z$zerofs_n" endpoint="$S3_ENDPOINT"
           region=us-east-1 $zparams)
}

# start_target TARGET: its server, filled.
start_target ()
{
    local target="$1" log="$tmp/$1.nbdkit.log" p sock="$tmp/$1.sock"
    local -a start
    case "$target" in
        file)
            truncate -s 1G "$tmp/file.img"
            start=(file "$tmp/file.img")
            uris[$target]="nbd+unix:///?socket=$sock"
            ;;
        s3backer)
            start=("$S3BACKER_PLUGIN" bucket="$S3_BUCKET" prefix=s3backer/
                   baseURL="$S3_ENDPOINT/" accessId="$AWS_ACCESS_KEY_ID"
                   accessKey="$AWS_SECRET_ACCESS_KEY" size=1G blockSize=1M
                   listBlocks=true blockCacheSize=1024 encrypt=true
                   passwordFile="$tmp/pw")
            uris[$target]="nbd+unix:///?socket=$sock"
            ;;
        zerofs|before)
            if [ "$target" = zerofs ]; then p="$plugin"
            else p="$PLUGIN_BEFORE"; fi
            zerofs_args "$p" 1G
            uris[$target]="nbd+unix:///disk?socket=$sock"
            ;;
    esac
    start_nbdkit "$target" "$log" "${start[@]}"
    job 0 "$target" fill "${uris[$target]}" rw=write bs=1M \
        "size=${size_mib}M" offset=0 iodepth=8 end_fsync=1
}

# run_rounds NAME FIO-OPTIONS...: ROUNDS rounds of job NAME on every target,
# the order rotating by one each round.
run_rounds ()
{
    local name="$1" r i n=${#targets[@]} t
    shift
    for (( r = 1; r <= rounds; r++ )); do
        for (( i = 0; i < n; i++ )); do
            t="${targets[$(( (i + r - 1) % n ))]}"
            job "$r" "$t" "$name" "${uris[$t]}" "$@"
            if [ "$name" = warm-write ]; then
                nbdsh -u "${uris[$t]}" -c 'h.flush()'
            fi
        done
        echo "warm.sh: $name round $r done;" \
             "load:$(uptime | sed 's/.*load average//')"
    done
}

# memory SIZE: a zerofs server on a device of SIZE, after a run.
memory ()
{
    local size="$1" log="$tmp/mem.nbdkit.log" uri pid
    local -a start
    uri="nbd+unix:///disk?socket=$tmp/mem.sock"
    zerofs_args "$plugin" "$size"
    start_nbdkit mem "$log" "${start[@]}"
    pid=${pids[mem]}
    fio --output="$tmp/fio.log" - <<EOF >/dev/null
[global]
ioengine=nbd
uri=$uri
bs=4k
iodepth=32
time_based
runtime=$runtime
[write]
rw=randwrite
fsync=1024
[read]
stonewall
rw=randread
EOF
    python3 - "$pid" "$size" >> "$tmp/memory" <<'PY'
import sys
pid, size = sys.argv[1:3]
st = {}
for line in open("/proc/%s/status" % pid):
    k, v = line.split(":", 1)
    st[k] = (v.split() or [""])[0]
thr = st["Threads"]
mib = lambda k: int(st[k]) / 1024
print("%-6s %10.1f %10.1f %10.1f %10.1f %8s" %
      (size, mib("VmRSS"), mib("VmHWM"), mib("RssAnon"), mib("RssFile"), thr))
PY
    tail -n 1 "$tmp/memory" | sed 's/^/warm.sh: memory /'
    stop_nbdkit "$pid"
    unset "pids[mem]"
    rm -rf "$tmp"/cache-z*
}

echo "warm.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
     "$(uname -r), $(fio --version), $(nbdkit --version | head -n 1)"
echo "warm.sh: region $size_mib MiB, jobs $runtime s, $rounds rounds;" \
     "load:$(uptime | sed 's/.*load average//')"
echo "warm.sh: plugin $plugin ${zparams:+(with $zparams)}"
[ -z "${PLUGIN_BEFORE:-}" ] || echo "warm.sh: before $PLUGIN_BEFORE"
s3rver_up
if [ ${#targets[@]} -gt 0 ]; then
    for t in "${targets[@]}"; do
        start_target "$t"
    done
    run_rounds warm-read rw=randread bs=4k "size=${size_mib}M" offset=0 \
           iodepth=32 time_based "runtime=$runtime"
    run_rounds warm-write rw=randwrite bs=4k "size=${size_mib}M" offset=0 \
           iodepth=32 time_based "runtime=$runtime"
    for t in "${targets[@]}"; do
        stop_nbdkit "${pids[$t]}"
        unset "pids[$t]"
    done
    echo
    python3 - "$results" "${targets[@]}" <<'PY'
import statistics, sys
path, targets = sys.argv[1], sys.argv[2:]
v = {}
for line in open(path):
    r, t, n, x = line.split()
    v[int(r), t, n] = float(x)
rounds = sorted({k[0] for k in v if k[0] > 0})
rows = [("warm-read", "warm 4 KiB rand read QD32, IOPS"),
        ("warm-write", "warm 4 KiB rand write QD32 no flush, IOPS"),
        ("warm-read-cpu", "  nbdkit CPU per read, us (lower=better)"),
        ("warm-write-cpu", "  nbdkit CPU per write, us (lower=better)")]
med = lambda xs: statistics.median(xs) if xs else float("nan")
w = 44
print("medians of %d rounds" % len(rounds))
print("%-*s" % (w, "workload") + "".join("%12s" % t for t in targets))
for n, label in rows:
    print("%-*s" % (w, label) +
          "".join("%12.1f" % med([v[r, t, n] for r in rounds if (r, t, n) in v])
                  for t in targets))
for ref in ("file", "s3backer", "before"):
    if ref not in targets:
        continue
    others = [t for t in targets if t != ref]
    print()
    print("median of the per-round ratios to %s (each round's figures)" % ref)
    print("%-*s" % (w, "workload") + "".join("%12s" % t for t in others))
    for n, label in rows:
        cells = []
        for t in others:
            rs = [v[r, t, n] / v[r, ref, n] for r in rounds
                  if (r, t, n) in v and v.get((r, ref, n))]
            cells.append("%12.3f" % med(rs) + "" if rs else "%12s" % "-")
        print("%-*s" % (w, label) + "".join(cells))
        for t in others:
            rs = [v[r, t, n] / v[r, ref, n] for r in rounds
                  if (r, t, n) in v and v.get((r, ref, n))]
            print("    %s %s / %s by round: %s" %
                  (n, t, ref, " ".join("%.3f" % x for x in rs)))
PY
fi
if [ -n "$mem_sizes" ]; then
    : > "$tmp/memory"
    for s in $mem_sizes; do
        memory "$s"
    done
    echo
    echo "memory of nbdkit after $runtime s of random writes then reads" \
         "over the whole device, MiB"
    printf '%-6s %10s %10s %10s %10s %8s\n' device VmRSS VmHWM RssAnon \
           RssFile threads
    cat "$tmp/memory"
fi
echo "warm.sh: end; load:$(uptime | sed 's/.*load average//')"
