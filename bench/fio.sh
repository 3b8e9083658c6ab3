#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: fio through its nbd engine, zerofs next to nbdkit's file
# plugin, in one run.
#
# Targets (all served by nbdkit on a Unix socket, 1 GiB devices):
#   file        nbdkit's file plugin on a 1 GiB file in the temporary
#               directory: the local ceiling, the reference of the ratios
#   dir         zerofs on a directory volume (bucket=file:///DIR)
#   s3rver      zerofs on s3rver on loopback (tests/s3-servers.sh)
#   s3rver-wan  the same with a WAN model: zerofs's fault-injection file
#               holding "delay DELAY" (default 20ms), so every object-store
#               request (GET, PUT, HEAD, DELETE, LIST) waits DELAY before
#               it is sent; the network itself stays loopback
#   s3rver-rtt  zerofs on the same s3rver behind bench/delay-proxy.py, a
#               TCP forwarder that delays every byte RTT/2 each way
#               (default RTT 20 ms): a real round trip per request
#   s3rver-rtt0 the same with readahead=0 (zerofs before readahead)
#   before-rtt  s3rver-rtt with another zerofs build, $PLUGIN_BEFORE (say,
#               main's): the before/after comparison of one run
#   s3backer-rtt
#               s3backer 2.x's nbdkit plugin ($S3BACKER_PLUGIN) through
#               the same forwarder: blockSize=1M, encrypt=true,
#               blockCacheSize=1024 (1 GiB), listBlocks=true; restarted
#               for the cold reads (its block cache is in memory)
#   objstore-rtt
#               no nbdkit: bench/objstore-bench through the same
#               forwarder, REGION's worth of 1 MiB PUTs then GETs with
#               1, 8 and 16 requests in flight: what the object layer
#               gets from the store (get-jN rows, MiB/s)
#
# The file plugin runs first and again last; its figures in the table are
# the mean of the two runs (both are printed).
#
# Workloads, in this order, on each target (REGION = the first SIZE MiB):
#   seq-write    1 MiB sequential writes of REGION, QD8, with the final
#                flush (fio end_fsync=1) inside the measured time: MiB/s
#   cold-read-qd1  nbdkit restarted (zerofs: with an empty cache-dir, so
#                every chunk comes from the store; file: the page cache
#                stays warm), 1 MiB sequential reads of REGION, QD1: MiB/s
#   cold-read    the same at QD8 (restarted again, on an empty cache)
#   warm-read    4 KiB random reads in REGION, QD32, RUNTIME s: IOPS
#   rand-write   4 KiB random writes in REGION, QD32, a flush every 256
#                writes (fio fsync=256), RUNTIME s: IOPS (writes/s); the
#                dirty data left at the end is flushed before going on
#   flush-lat    1 MiB write then flush, QD1 (fio fsync=1), 64 times, after
#                REGION: p50 of the write + p50 of the flush, in ms
#
# Usage: bench/fio.sh [-s SIZE_MIB] [-t RUNTIME] [-d DELAY] [-r RTT_MS]
#                     [-w "WORKLOAD ..."] [-p] [-z "KEY=VALUE ..."]
#                     [TARGET...]
#   -s SIZE_MIB  the region (default 256)
#   -t RUNTIME   seconds of the time-based jobs (default 15)
#   -d DELAY     the WAN model's delay (default 20ms)
#   -r RTT_MS    the forwarder's round trip, ms (default 20)
#   -w WORKLOADS run only these (seq-write always runs: it writes the data
#                the others read); -w "cold-read-qd1 cold-read" with the
#                targets "s3rver-rtt s3backer-rtt objstore-rtt" is the
#                cold sequential read comparison of bench/README.md
#   -p           perf record nbdkit during seq-write, warm-read,
#                rand-write and the cold reads on the zerofs targets,
#                and print the top of each profile ($FIO_PERF_CALLGRAPH:
#                perf's call graph option, default -g; $FIO_PERF_KEEP: a
#                directory to keep the profiles in)
#   -z PARAMS    more zerofs plugin parameters, for example
#                "compression=none" or "durability=local"
#   TARGET       default: file dir s3rver s3rver-wan; a target named
#                more than once runs again (each run on its own devices)
#                and the table has the mean
#
# Besides the figure, each nbdkit job records nbdkit's CPU time (user +
# system, /proc/PID/stat) per MiB moved (per 1000 requests for the 4 KiB
# jobs): on a shared machine it moves far less than MiB/s does.
#
# The plugin and zerofs-dev are looked for in $PLUGIN and $ZEROFS_DEV,
# else in the build directory that is the current directory, else in
# ../build*/ beside this script.  zerofs runs with its defaults (zstd,
# encryption, 1 GiB cache, durability=remote, 32 write-back threads).
# fio writes its default buffers (random, incompressible).
#
# The whole script takes about 5 minutes with the defaults.  Figures move
# from run to run: compare only the ratios of one run.

set -e
set -o pipefail
# Debian's python3 (with the libnbd bindings nbdsh needs) first.
export PATH=/usr/bin:/bin:$PATH

size_mib=256
runtime=15
delay=20ms
rtt_ms=20
all_workloads="seq-write cold-read-qd1 cold-read warm-read rand-write flush-lat"
workloads="$all_workloads"
perf=
zparams=
while getopts "s:t:d:r:w:pz:h" opt; do
    case "$opt" in
        s) size_mib="$OPTARG" ;;
        t) runtime="$OPTARG" ;;
        d) delay="$OPTARG" ;;
        r) rtt_ms="$OPTARG" ;;
        w) workloads="seq-write $OPTARG" ;;
        p) perf=yes ;;
        z) zparams="$OPTARG" ;;
        *) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done
shift $(( OPTIND - 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(file dir s3rver s3rver-wan)
fi
for t in "${targets[@]}"; do
    case "$t" in
        file|dir|s3rver|s3rver-wan|s3rver-rtt|s3rver-rtt0) ;;
        before-rtt)
            if [ ! -e "${PLUGIN_BEFORE:-}" ]; then
                echo "$0: before-rtt needs PLUGIN_BEFORE (the path of" \
                     "another build's nbdkit-zerofs-plugin.so)" >&2
                exit 1
            fi
            ;;
        s3backer-rtt|objstore-rtt) ;;
        *) echo "$0: unknown target $t" >&2; exit 2 ;;
    esac
done
for w in $workloads; do
    case " $all_workloads " in
        *" $w "*) ;;
        *) echo "$0: unknown workload $w" >&2; exit 2 ;;
    esac
done
# want WORKLOAD: is it to be run?
want () { case " $workloads " in *" $1 "*) return 0 ;; esac; return 1; }
if [ "$size_mib" -lt 64 ] || [ "$size_mib" -gt 896 ]; then
    echo "$0: -s must be from 64 to 896 (MiB of the 1 GiB device)" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"

# shellcheck source-path=SCRIPTDIR source=built.sh
source "$here/built.sh"
zerofs_built
for t in "${targets[@]}"; do
    case "$t" in
        s3backer-rtt)
            if [ ! -e "${S3BACKER_PLUGIN:-}" ]; then
                echo "$0: s3backer-rtt needs S3BACKER_PLUGIN (the path of" \
                     "nbdkit-s3backer-plugin.so)" >&2
                exit 1
            fi
            ;;
        objstore-rtt)
            objstore_bench="$(find_built OBJSTORE_BENCH bench/objstore-bench)"
            if [ ! -x "$objstore_bench" ]; then
                echo "$0: objstore-rtt needs bench/objstore-bench (make -C" \
                     "bench bench) or OBJSTORE_BENCH" >&2
                exit 1
            fi
            ;;
    esac
done
fio_nbd_tools
if [ -n "$perf" ] && ! command -v perf >/dev/null; then
    echo "$0: -p needs perf" >&2
    exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/zerofs-fio.XXXXXX")"
sock="$tmp/nbd.sock"
pidfile="$tmp/nbdkit.pid"
nbdkit_pid=
s3_started=
proxy_pid=

stop_nbdkit ()
{
    local i
    if [ -n "$nbdkit_pid" ]; then
        kill -TERM "$nbdkit_pid" 2>/dev/null || :
        for (( i = 0; i < 600; i++ )); do
            kill -0 "$nbdkit_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$nbdkit_pid" 2>/dev/null; then
            echo "fio.sh: nbdkit $nbdkit_pid ignored SIGTERM; killing it" >&2
            kill -KILL "$nbdkit_pid" 2>/dev/null || :
        fi
        wait "$nbdkit_pid" 2>/dev/null || :
        nbdkit_pid=
    fi
}

cleanup ()
{
    stop_nbdkit
    if [ -n "$proxy_pid" ]; then
        kill -TERM "$proxy_pid" 2>/dev/null || :
        wait "$proxy_pid" 2>/dev/null || :
    fi
    if [ -n "$s3_started" ]; then
        s3rver_stop
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_nbdkit LOG ARGS...: nbdkit in the foreground of a background job
# (so that its log is ours), ready when the pid file and socket exist.
start_nbdkit ()
{
    local log="$1" i
    shift
    rm -f "$sock" "$pidfile"
    nbdkit -f -U "$sock" -P "$pidfile" "$@" >> "$log" 2>&1 &
    nbdkit_pid=$!
    for (( i = 0; i < 600; i++ )); do
        if [ -s "$pidfile" ] && [ -S "$sock" ]; then
            return 0
        fi
        if ! kill -0 "$nbdkit_pid" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    echo "fio.sh: nbdkit did not start; its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}

results="$tmp/results"
: > "$results"

# cpu_ticks PID: its user + system time, in clock ticks.
cpu_ticks ()
{
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# job TARGET NAME URI FIO-OPTIONS...: run one fio job, save its JSON,
# record the figure for the table.
job ()
{
    local target="$1" name="$2" uri="$3" out perf_pid= cpu0=0 cpu1=0
    shift 3
    out="$tmp/$target-$name.json"
    {
        printf '[global]\nioengine=nbd\nuri=%s\n' "$uri"
        printf '[%s]\n' "$name"
        printf '%s\n' "$@"
    } > "$tmp/$target-$name.fio"
    if [ -n "$perf" ] && [ "$target" != file ] &&
       { [ "$name" = warm-read ] || [ "$name" = rand-write ] ||
         [ "$name" = seq-write ] || [ "$name" = cold-read ] ||
         [ "$name" = cold-read-qd1 ]; }; then
        # shellcheck disable=SC2086 # FIO_PERF_CALLGRAPH: words on purpose
        perf record -q ${FIO_PERF_CALLGRAPH:--g} -p "$nbdkit_pid" \
             -o "$tmp/$target-$name.perf" \
             -- sleep "$(( runtime > 10 ? 10 : runtime ))" \
             > "$tmp/$target-$name.perf.log" 2>&1 &
        perf_pid=$!
    fi
    [ -z "$nbdkit_pid" ] || cpu0="$(cpu_ticks "$nbdkit_pid")"
    if ! fio --output-format=json --output="$out" "$tmp/$target-$name.fio" \
           > "$tmp/$target-$name.log" 2>&1; then
        echo "fio.sh: fio $target $name failed:" >&2
        cat "$tmp/$target-$name.log" >&2
        exit 1
    fi
    [ -z "$nbdkit_pid" ] || cpu1="$(cpu_ticks "$nbdkit_pid")"
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || :
        echo "--- perf: nbdkit during $target $name (self time by DSO," \
             "then the top symbols)"
        perf_top "$tmp/$target-$name.perf" dso 8
        perf_top "$tmp/$target-$name.perf" dso,symbol 20
        if [ -n "${FIO_PERF_KEEP:-}" ]; then
            mkdir -p "$FIO_PERF_KEEP"
            cp "$tmp/$target-$name.perf" "$FIO_PERF_KEEP/"
        fi
    fi
    python3 - "$out" "$target" "$name" "$(( cpu1 - cpu0 ))" \
            "$(getconf CLK_TCK)" >> "$results" <<'PY'
import json, sys
path, target, name, ticks, hz = sys.argv[1:6]
j = json.load(open(path))["jobs"][0]
if j["error"]:
    sys.exit("fio %s %s: error %d" % (target, name, j["error"]))
def p50(lat):
    return lat.get("percentile", {}).get("50.000000", 0) / 1e6
if name in ("seq-write", "cold-read", "cold-read-qd1"):
    d = j["write" if name == "seq-write" else "read"]
    # job_runtime includes the end_fsync of seq-write.
    v = d["io_bytes"] / 1048576 / (j["job_runtime"] / 1000)
elif name == "warm-read":
    v = j["read"]["iops"]
elif name == "rand-write":
    v = j["write"]["iops"]
else:
    v = p50(j["write"]["clat_ns"]) + p50(j["sync"]["lat_ns"])
print(target, name, "%.3f" % v)
# nbdkit's CPU: ms per MiB moved, or per 1000 requests of the 4 KiB jobs.
ios = sum(j[d]["total_ios"] for d in ("read", "write"))
mib = sum(j[d]["io_bytes"] for d in ("read", "write")) / 1048576
if int(ticks) > 0 and name in ("warm-read", "rand-write"):
    print(target, name + "-cpu", "%.3f" % (int(ticks) / int(hz) * 1e6 / ios))
elif int(ticks) > 0 and mib > 0:
    print(target, name + "-cpu", "%.3f" % (int(ticks) / int(hz) * 1e3 / mib))
PY
    grep "^$target $name" "$results" | tail -n 2 | sed 's/^/fio.sh: /'
}

# flush_device URI: one NBD flush (after a time-based writer stopped).
flush_device ()
{
    nbdsh -u "$1" -c 'h.flush()'
}

region="${size_mib}M"
common=(bs=1M "size=$region" offset=0)

# s3rver_up: s3rver on loopback, once.
s3rver_up ()
{
    if [ -z "$s3_started" ]; then
        # shellcheck source-path=SCRIPTDIR source=../tests/s3-servers.sh
        source "$here/../tests/s3-servers.sh"
        s3rver_start "$tmp/s3rver"
        s3_started=yes
    fi
}

# proxy_up: s3rver behind the delay forwarder, once; sets ep_rtt.
proxy_up ()
{
    s3rver_up
    [ -z "$proxy_pid" ] || return 0
    # shellcheck source-path=SCRIPTDIR source=delay-proxy.sh
    source "$here/delay-proxy.sh"
    delay_proxy_start "${S3_ENDPOINT##*:}" "$(( rtt_ms / 2 ))" "$tmp"
    ep_rtt="$proxy_endpoint"
}

# objstore_target: objstore-bench's GETs through the forwarder.
objstore_target ()
{
    local out="$tmp/objstore-rtt.log"
    proxy_up
    "$objstore_bench" -n "$size_mib" -j "1 8 16" -p objstore-rtt \
                      bucket="$S3_BUCKET" endpoint="$ep_rtt" \
                      region=us-east-1 connections=32 > "$out" 2>&1 ||
        { cat "$out" >&2; exit 1; }
    awk '$1 == "objstore" && $2 == "GET" {
             sub(/jobs=/, "", $3); sub(/:/, "", $3)
             for (i = 1; i < NF; i++) if ($(i + 1) == "MiB/s") v = $i
             print "objstore-rtt get-j" $3, v }' "$out" >> "$results"
    sed 's/^/fio.sh: /' "$out"
}

runno=0
run_target ()
{
    local target="$1" uri log cache= qd name plugin_t="$plugin"
    runno=$(( runno + 1 ))
    log="$tmp/$target.nbdkit.log"
    local -a start
    echo "=== $target"
    case "$target" in
        objstore-rtt)
            objstore_target
            return
            ;;
        file)
            rm -f "$tmp/file.img"
            truncate -s 1G "$tmp/file.img"
            start=(file "$tmp/file.img")
            uri="nbd+unix:///?socket=$sock"
            ;;
        s3backer-rtt)
            proxy_up
            start=("$S3BACKER_PLUGIN" bucket="$S3_BUCKET" prefix=s3backer/
                   baseURL="$ep_rtt/" accessId="$AWS_ACCESS_KEY_ID"
                   accessKey="$AWS_SECRET_ACCESS_KEY" size=1G blockSize=1M
                   listBlocks=true blockCacheSize=1024 encrypt=true
                   passwordFile="$tmp/pw")
            uri="nbd+unix:///?socket=$sock"
            ;;
        *)
            local bucket
            local -a store=()
            case "$target" in
                dir)
                    mkdir -p "$tmp/dirvol"
                    bucket="file://$tmp/dirvol"
                    ;;
                s3rver-rtt*|before-rtt)
                    proxy_up
                    bucket="$S3_BUCKET/$target-$runno"
                    store=(endpoint="$ep_rtt" region=us-east-1)
                    ;;
                s3rver*)
                    s3rver_up
                    bucket="$S3_BUCKET/$target-$runno"
                    store=(endpoint="$S3_ENDPOINT" region=us-east-1)
                    ;;
            esac
            if [ "$target" = s3rver-wan ]; then
                echo "delay $delay" > "$tmp/fault"
                store+=(fault-file="$tmp/fault")
            fi
            local -a dev=(--bucket="$bucket" --password-file="$tmp/pw")
            for a in "${store[@]}"; do
                case "$a" in fault-file=*) ;; *) dev+=(--"$a") ;; esac
            done
            "$zerofs_dev" "${dev[@]}" init --scrypt-log2n=10
            "$zerofs_dev" "${dev[@]}" create disk 1G
            cache="$tmp/cache-$target-$runno"
            if [ "$target" = before-rtt ]; then
                plugin_t="$PLUGIN_BEFORE"
            fi
            # shellcheck disable=SC2206 # -z PARAMS: words on purpose
            start=("$plugin_t" bucket="$bucket" password=+"$tmp/pw"
                   cache-dir="$cache" "${store[@]}" $zparams)
            if [ "$target" = s3rver-rtt0 ]; then
                start+=(readahead=0)
            fi
            uri="nbd+unix:///disk?socket=$sock"
            ;;
    esac

    start_nbdkit "$log" "${start[@]}"
    job "$target" seq-write "$uri" rw=write "${common[@]}" iodepth=8 \
        end_fsync=1

    for qd in 1 8; do
        if [ $qd = 1 ]; then name=cold-read-qd1; else name=cold-read; fi
        want $name || continue
        stop_nbdkit
        if [ -n "$cache" ]; then
            rm -rf "$cache"
        fi
        start_nbdkit "$log" "${start[@]}"
        job "$target" $name "$uri" rw=read "${common[@]}" iodepth=$qd
    done

    if want warm-read; then
        job "$target" warm-read "$uri" rw=randread bs=4k "size=$region" \
            offset=0 iodepth=32 time_based "runtime=$runtime"
    fi
    if want rand-write; then
        job "$target" rand-write "$uri" rw=randwrite bs=4k "size=$region" \
            offset=0 iodepth=32 fsync=256 time_based "runtime=$runtime"
        flush_device "$uri"
    fi
    if want flush-lat; then
        job "$target" flush-lat "$uri" rw=write bs=1M "offset=$region" \
            size=64M iodepth=1 fsync=1 "runtime=$(( runtime * 2 ))"
    fi
    stop_nbdkit
}

head -c 24 /dev/urandom | base64 > "$tmp/pw"
echo "fio.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
     "$(uname -r), $(fio --version), $(nbdkit --version | head -n 1)"
echo "fio.sh: region $size_mib MiB, time-based jobs $runtime s," \
     "WAN model: fault-file 'delay $delay'; forwarder RTT $rtt_ms ms"
echo "fio.sh: plugin $plugin ${zparams:+(with $zparams)}"
# The reference is measured first and again last, so that a machine that
# gets busier or quieter during the run moves it as it moves zerofs; the
# table uses the mean of the two.
runs=("${targets[@]}")
if [ ${#targets[@]} -gt 1 ] && [ "${targets[0]}" = file ]; then
    runs+=(file)
fi
for t in "${runs[@]}"; do
    run_target "$t"
done

echo
python3 - "$results" "$delay" "$rtt_ms" "${targets[@]}" <<'PY'
import sys
path, delay, rtt, targets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
targets = list(dict.fromkeys(targets))          # a target run twice: once
runs = {}
for line in open(path):
    t, n, x = line.split()
    runs.setdefault((t, n), []).append(float(x))
v = {k: sum(xs) / len(xs) for k, xs in runs.items()}
rows = [("seq-write", "1 MiB seq write + final flush, MiB/s"),
        ("cold-read-qd1", "cold 1 MiB seq read QD1, MiB/s"),
        ("cold-read", "cold 1 MiB seq read QD8, MiB/s"),
        ("warm-read", "warm 4 KiB rand read QD32, IOPS"),
        ("rand-write", "4 KiB rand write QD32, flush/256, IOPS"),
        ("flush-lat", "1 MiB write + flush p50, ms (lower=better)")]
cpu = [("seq-write-cpu", "  nbdkit CPU, ms per MiB written"),
       ("cold-read-qd1-cpu", "  nbdkit CPU, ms per MiB read cold QD1"),
       ("cold-read-cpu", "  nbdkit CPU, ms per MiB read cold QD8"),
       ("warm-read-cpu", "  nbdkit CPU, us per warm read"),
       ("rand-write-cpu", "  nbdkit CPU, us per random write"),
       ("flush-lat-cpu", "  nbdkit CPU, ms per MiB written + flushed")]
rows = [r for pair in zip(rows, cpu) for r in pair]
names = {"file": "file plugin", "dir": "zerofs dir",
         "s3rver": "zerofs s3rver", "s3rver-wan": "s3rver+" + delay,
         "s3rver-rtt": "zerofs rtt", "s3rver-rtt0": "zerofs rtt ra=0",
         "before-rtt": "before rtt",
         "s3backer-rtt": "s3backer rtt",
         "objstore-rtt": "objstore rtt"}
if "objstore-rtt" in targets:
    rows += [("get-j%d" % j, "object layer GET, %d in flight, MiB/s" % j)
             for j in (1, 8, 16)]
rows = [r for r in rows if any((t, r[0]) in v for t in targets)]
w = 44
print("%-*s" % (w, "workload") +
      "".join("%15s" % names[t] for t in targets))
for n, label in rows:
    print("%-*s" % (w, label) +
          "".join("%15.1f" % v[t, n] if (t, n) in v else "%15s" % "-"
                  for t in targets))
if len(runs.get(("file", "seq-write"), [])) > 1:
    print()
    print("file plugin, first and last run (the table has their mean):")
    for n, label in rows:
        if ("file", n) in runs:
            print("%-*s" % (w, label) +
                  "".join("%15.1f" % x for x in runs["file", n]))
if "file" in targets and len(targets) > 1:
    print()
    print("ratio zerofs / file plugin, same run")
    others = [t for t in targets if t != "file"]
    print("%-*s" % (w, "workload") + "".join("%15s" % names[t] for t in others))
    for n, label in rows:
        cells = []
        for t in others:
            if (t, n) in v and v.get(("file", n)):
                cells.append("%15.3f" % (v[t, n] / v["file", n]))
            else:
                cells.append("%15s" % "-")
        print("%-*s" % (w, label) + "".join(cells))
if "s3rver-rtt" in targets:
    print()
    print("cold sequential reads behind the %s ms forwarder, same run" % rtt)
    z = "s3rver-rtt"
    for n in ("cold-read-qd1", "cold-read"):
        if (z, n) not in v:
            continue
        cells = []
        for j in (8, 16):
            g = v.get(("objstore-rtt", "get-j%d" % j))
            if g:
                cells.append("%.2fx object layer GET j%d" % (v[z, n] / g, j))
        b = v.get(("s3backer-rtt", n))
        if b:
            cells.append("%.2fx s3backer" % (v[z, n] / b))
        b = v.get(("s3rver-rtt0", n))
        if b:
            cells.append("%.2fx readahead=0" % (v[z, n] / b))
        b = v.get(("before-rtt", n))
        if b:
            cells.append("%.2fx before" % (v[z, n] / b))
        b = v.get(("before-rtt", n + "-cpu"))
        if b and (z, n + "-cpu") in v:
            cells.append("CPU/MiB %.2fx before" % (v[z, n + "-cpu"] / b))
        print("  zerofs %-14s %7.1f MiB/s: %s" % (n, v[z, n], ", ".join(cells)))
PY
