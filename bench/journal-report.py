#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: the tables of bench/journal.sh, from its result directory.
#
#   journal-report.py RESDIR DELAY_MS
#
# RESDIR/figures holds "TARGET KEY VALUE" lines (a target measured twice,
# the file plugin, gets the mean).  RESDIR/*.spans hold "LOG A B C": a
# zerofs log and three byte offsets in it (before the measured job,
# after it, after the write-back drained).  The counts come from the log
# lines of -D zerofs.fault=1 ("fault: request OP KEY: ok") and
# -D zerofs.flush=1 ("flush: journaled KEY (N records, B bytes)",
# "flush: uploaded KEY (seq S, B bytes)", "flush: N chunks",
# "flush: journaling X chunks, uploading Y", "write-back: N chunks").
import glob
import os
import re
import statistics
from datetime import datetime
import sys

resdir, delay_ms = sys.argv[1], float(sys.argv[2])
rtt = 2 * delay_ms

figs = {}
for w in ("lo", "wan"):
    for k in ("keepalive", "process"):
        p = os.path.join(resdir, "curl-%s-%s.txt" % (k, w))
        if os.path.exists(p):
            xs = sorted(float(x) * 1000 for x in open(p) if x.strip())
            figs[("curl-" + w, "put_p50_" + k)] = [statistics.median(xs)]
            figs[("curl-" + w, "put_n_" + k)] = [len(xs)]
for line in open(os.path.join(resdir, "figures")):
    t, k, v = line.split(None, 2)
    try:
        figs.setdefault((t, k), []).append(float(v))
    except ValueError:
        figs.setdefault((t, k), []).append(v.strip())


def fig(t, k):
    xs = figs.get((t, k))
    if not xs:
        return None
    if isinstance(xs[0], str):
        return xs[0]
    return sum(xs) / len(xs)


RE_REQ = re.compile(r"fault: request (\w+) (\S+): (ok|failed)")
RE_JOURNALED = re.compile(r"flush: journaled \S+ \((\d+) records, (\d+) bytes\)")
RE_UPLOADED = re.compile(r"flush: uploaded \S+ \(seq \w+, (\d+) bytes\)")
RE_ROUND = re.compile(r"flush: (\d+) chunks$")
RE_JROUND = re.compile(r"flush: journaling (\d+) chunks, uploading (\d+)")
RE_WB = re.compile(r"write-back: (\d+) chunks( \(cache filling\))?")


def count(path, a, b):
    c = dict(put_journal=0, put_chunk=0, put_other=0, get=0, delete=0,
             list=0, head=0, failed=0, bytes_journal=0, bytes_chunk=0,
             records=0, rounds=0, round_chunks=0, journaled_chunks=0,
             jrounds=0, wb_batches=0, wb_chunks=0, wb_urgent_batches=0,
             wb_urgent_chunks=0)
    with open(path, "rb") as f:
        f.seek(a)
        data = f.read(b - a).decode("utf-8", "replace")
    for line in data.splitlines():
        m = RE_REQ.search(line)
        if m:
            op, key, ok = m.groups()
            if ok != "ok":
                c["failed"] += 1
            if op == "PUT":
                if "/journal/" in key:
                    c["put_journal"] += 1
                elif "/chunks/" in key:
                    c["put_chunk"] += 1
                else:
                    c["put_other"] += 1
            elif op in ("GET", "DELETE", "LIST", "HEAD"):
                c[op.lower()] += 1
            continue
        m = RE_JOURNALED.search(line)
        if m:
            c["records"] += int(m.group(1))
            c["bytes_journal"] += int(m.group(2))
            continue
        m = RE_UPLOADED.search(line)
        if m:
            c["bytes_chunk"] += int(m.group(1))
            continue
        m = RE_JROUND.search(line)
        if m:
            c["jrounds"] += 1
            c["journaled_chunks"] += int(m.group(1))
            continue
        m = RE_ROUND.search(line)
        if m:
            c["rounds"] += 1
            c["round_chunks"] += int(m.group(1))
            continue
        m = RE_WB.search(line)
        if m:
            c["wb_batches"] += 1
            c["wb_chunks"] += int(m.group(1))
            if m.group(2):
                c["wb_urgent_batches"] += 1
                c["wb_urgent_chunks"] += int(m.group(1))
    # Chunks a flush round uploaded whole (not journaled).
    c["whole"] = c["round_chunks"] - c["journaled_chunks"]
    c["puts"] = c["put_journal"] + c["put_chunk"] + c["put_other"]
    c["bytes"] = c["bytes_journal"] + c["bytes_chunk"]
    return c


spans = {}
for p in sorted(glob.glob(os.path.join(resdir, "*.spans"))):
    name = os.path.basename(p)[:-len(".spans")]
    log, a, b, cc = open(p).read().split()
    a, b, cc = int(a), int(b), int(cc)
    spans[name] = (count(log, a, b), count(log, b, cc), count(log, a, cc))


def rw_spans(target):
    for name, v in spans.items():
        if name.startswith(target + ".r"):
            return v
    return None


def f(x, fmt="%.1f"):
    return "-" if x is None else fmt % x


def ratio(a, b, fmt="%.2f"):
    if a is None or b is None or b == 0:
        return "-"
    return fmt % (a / b)


names = {
    "file": "nbdkit file plugin",
    "zj-lo": "zerofs (journal), loopback",
    "zj-wan": "zerofs (journal), %g ms RTT" % rtt,
    "zoff-lo": "zerofs journal-max-bytes=0, loopback",
    "zoff-wan": "zerofs journal-max-bytes=0, %g ms RTT" % rtt,
    "zj4g-wan": "zerofs (journal) cache-size=4G, %g ms RTT" % rtt,
    "zjc-wan": "zerofs (journal) cold cache, %g ms RTT" % rtt,
    "zjc4g-wan": "zerofs (journal) cold cache 4G, %g ms RTT" % rtt,
    "s3b-lo": "s3backer 2.1.6, loopback",
    "s3b-wan": "s3backer 2.1.6, %g ms RTT" % rtt,
    "zw16-wan": "zerofs writeback-threads=16, %g ms RTT" % rtt,
    "zw64-wan": "zerofs writeback-threads=64, %g ms RTT" % rtt,
    "zb-wan": "zerofs PLUGIN_BEFORE, %g ms RTT" % rtt,
    "zl-wan": "zerofs durability=local, %g ms RTT" % rtt,
    "zl10-wan": "zerofs local, writeback-max-age=10, %g ms" % rtt,
    "zlb-wan": "zerofs local, PLUGIN_BEFORE, %g ms RTT" % rtt,
}
order = ["file", "zj-lo", "zj-wan", "zoff-lo", "zoff-wan", "zj4g-wan",
         "zjc-wan", "zjc4g-wan", "s3b-lo", "s3b-wan", "zw16-wan", "zw64-wan",
         "zb-wan", "zl-wan", "zl10-wan", "zlb-wan"]

print("1. fio 4 KiB random write, QD32, fsync=256, 1 GiB device (prefilled)")
print("%-44s %10s %10s %11s %12s" % ("target", "IOPS", "writes",
                                     "NBD flushes", "writes/flush"))
for t in order:
    if fig(t, "rw_iops") is None:
        continue
    print("%-44s %10.1f %10d %11d %12.1f" % (
        names[t], fig(t, "rw_iops"), fig(t, "rw_writes"), fig(t, "rw_syncs"),
        fig(t, "rw_writes") / max(1, fig(t, "rw_syncs"))))
if len(figs.get(("file", "rw_iops"), [])) > 1:
    print("  (file plugin: mean of %s)" %
          " and ".join("%.0f" % x for x in figs["file", "rw_iops"]))
print()
print("ratios, same run:")
for a, b in (("zj-wan", "s3b-wan"), ("zj-lo", "s3b-lo"),
             ("zj-wan", "zoff-wan"), ("zj-lo", "zoff-lo"),
             ("zj-wan", "file"), ("zj-lo", "file"), ("s3b-wan", "file"),
             ("zj4g-wan", "zj-wan"), ("zj4g-wan", "s3b-wan"),
             ("zjc-wan", "s3b-wan"), ("zjc4g-wan", "s3b-wan")):
    if fig(a, "rw_iops") is not None and fig(b, "rw_iops") is not None:
        print("  %-44s / %-40s %8s" % (names[a], names[b],
                                       ratio(fig(a, "rw_iops"),
                                             fig(b, "rw_iops"))))
print()
print("seq write of the whole device with its final flush (the prefill), MiB/s:")
for t in order:
    if fig(t, "prefill_mibs") is not None:
        print("  %-44s %8.1f" % (names[t], fig(t, "prefill_mibs")))

print()
print("2. 1 MiB write + flush (rw=write bs=1M iodepth=1 fsync=1), p50 ms")
print("%-44s %9s %9s %9s" % ("", "write", "flush", "sum"))
for t in order:
    if fig(t, "flush_p50") is not None:
        print("%-44s %9.2f %9.2f %9.2f" % (names[t], fig(t, "flush_p50w"),
                                            fig(t, "flush_p50s"),
                                            fig(t, "flush_p50")))
for w in ("lo", "wan"):
    for k in ("keepalive", "process"):
        v = fig("curl-" + w, "put_p50_" + k)
        if v is not None:
            print("%-44s %29.2f   (%d PUTs)" % ("curl 1 MiB PUT, %s, %s" % (
                "loopback" if w == "lo" else "%g ms RTT" % rtt,
                "kept-alive" if k == "keepalive" else "one process each"), v,
                fig("curl-" + w, "put_n_" + k)))
print("ratios zerofs / curl (kept-alive, and one process each):")
for t, w in (("zj-lo", "lo"), ("zj-wan", "wan"), ("s3b-lo", "lo"),
             ("s3b-wan", "wan")):
    if fig(t, "flush_p50") is not None:
        print("  %-44s %8s %8s" % (
            names[t], ratio(fig(t, "flush_p50"),
                            fig("curl-" + w, "put_p50_keepalive")),
            ratio(fig(t, "flush_p50"), fig("curl-" + w, "put_p50_process"))))

print()
print("3. Requests and bytes to the store, zerofs log counts")
print("   (run = the random-write job; +drain = until journal/ is empty and")
print("   no request for 8 s; bytes = sizes of the objects PUT)")
for t in order:
    s = rw_spans(t)
    if s is None:
        continue
    run, drain, tot = s
    written = fig(t, "rw_bytes")
    flushes = fig(t, "rw_syncs")
    print("%s:" % names[t])
    print("  fio wrote %.1f MiB in %d writes, %d NBD flushes; %d flush rounds"
          " (%d journaled), drained %s s after the run" % (
              written / 1048576, fig(t, "rw_writes"), flushes, run["rounds"],
              run["jrounds"], f(fig(t, "drain_s"), "%.0f")))
    for label, c in (("run", run), ("drain", drain), ("run+drain", tot)):
        print("  %-9s PUT journal %6d (%8.1f MiB)  PUT chunk %6d (%8.1f MiB)"
              "  other PUT %d, GET %d, DELETE %d, LIST %d, failed %d" % (
                  label, c["put_journal"], c["bytes_journal"] / 1048576,
                  c["put_chunk"], c["bytes_chunk"] / 1048576, c["put_other"],
                  c["get"], c["delete"], c["list"], c["failed"]))
    print("  chunks uploaded during the run: %d whole by flush rounds, %d taken"
          " by the write-back (%d of them in %d 'cache filling' batches)" % (
              run["whole"], run["wb_chunks"], run["wb_urgent_chunks"],
              run["wb_urgent_batches"]))
    print("  bytes PUT / bytes written: run %.2f, run+drain %.2f" % (
        run["bytes"] / written, tot["bytes"] / written))
    print("  PUTs per NBD flush during the run: %.3f (allowed 1 + whole"
          " chunks per flush = %.3f); per flush round %.3f" % (
              run["puts"] / max(1, flushes),
              1 + run["whole"] / max(1, flushes),
              run["puts"] / max(1, run["rounds"])))
    if fig(t, "proxy_total"):
        print("  forwarder count towards s3rver (HTTP included): run %.1f MiB,"
              " run+drain %.1f MiB = %.2f x written" % (
                  fig(t, "proxy_run") / 1048576,
                  fig(t, "proxy_total") / 1048576,
                  fig(t, "proxy_total") / written))
for t in ("s3b-wan",):
    if fig(t, "proxy_total"):
        print("%s: forwarder count towards s3rver (HTTP included): run %.1f MiB,"
              " run+flush+idle %.1f MiB = %.2f x written (%.1f MiB)" % (
                  names[t], fig(t, "proxy_run") / 1048576,
                  fig(t, "proxy_total") / 1048576,
                  fig(t, "proxy_total") / fig(t, "rw_bytes"),
                  fig(t, "rw_bytes") / 1048576))

print()
print("4. pgbench TPC-B, scale 10, 8 clients, ext4 on nbdfuse + loop")
skip = fig("all", "pg_skip")
if skip:
    print("  skipped: %s" % skip)
for t in order:
    if fig(t, "pg_tps") is not None:
        print("  %-44s %10.1f TPS" % (names[t], fig(t, "pg_tps")))
for a, b in (("zj-wan", "s3b-wan"), ("zj-wan", "zoff-wan"),
             ("zoff-wan", "s3b-wan"), ("zj-wan", "file"), ("s3b-wan", "file"),
             ("zl-wan", "file"), ("zl10-wan", "zl-wan"),
             ("zlb-wan", "file")):
    if fig(a, "pg_tps") is not None and fig(b, "pg_tps") is not None:
        print("  ratio %-38s / %-30s %8s" % (names[a], names[b],
                                             ratio(fig(a, "pg_tps"),
                                                   fig(b, "pg_tps"))))
print("  select-only (pgbench -S, same database, after the TPC-B run):")
for t in order:
    if fig(t, "pg_sel_tps") is not None:
        print("  %-44s %10.1f TPS" % (names[t], fig(t, "pg_sel_tps")))
for a, b in (("zj-wan", "s3b-wan"), ("zl-wan", "s3b-wan"), ("zj-wan", "file"),
             ("s3b-wan", "file")):
    if fig(a, "pg_sel_tps") is not None and fig(b, "pg_sel_tps") is not None:
        print("  ratio %-38s / %-30s %8s" % (names[a], names[b],
                                             ratio(fig(a, "pg_sel_tps"),
                                                   fig(b, "pg_sel_tps"))))
for name, (run, _, _) in spans.items():
    if name.endswith(".pg"):
        print("  %s during pgbench: PUT journal %d (%.1f MiB), PUT chunk %d"
              " (%.1f MiB), flush rounds %d (%d journaled), write-back"
              " chunks %d (%d 'cache filling')" % (
                  name[:-3], run["put_journal"],
                  run["bytes_journal"] / 1048576, run["put_chunk"],
                  run["bytes_chunk"] / 1048576, run["rounds"], run["jrounds"],
                  run["wb_chunks"], run["wb_urgent_chunks"]))


# The NBD requests of the pgbench runs (nbdkit's log filter), within the
# timed pgbench run.
RE_LOG = re.compile(r"^(\S+ \S+) connection=(\d+) (\.\.\.)?(\w+) id=(\d+)"
                    r"(?: offset=\S+ count=(0x[0-9a-f]+))?")


def requests(path, t0, t1):
    start = {}
    lat = {"Flush": [], "Write": [], "Read": []}
    nbytes = 0
    events = []
    for line in open(path, errors="replace"):
        m = RE_LOG.match(line)
        if not m:
            continue
        ts, conn, leave, act, rid, cnt = m.groups()
        t = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        key = (conn, rid)
        if not leave:
            start[key] = (t, act, int(cnt, 16) if cnt else 0)
            continue
        if key not in start:
            continue
        ts0, act0, c0 = start.pop(key)
        if ts0 < t0 or ts0 > t1 or act0 not in lat:
            continue
        lat[act0].append(t - ts0)
        if act0 == "Write":
            nbytes += c0
        if act0 == "Flush":
            events.append((ts0, 1))
            events.append((t, -1))
    # Time with at least one flush in flight, and the most at once.
    events.sort()
    busy = 0.0
    depth = most = 0
    last = None
    for t, d in events:
        if depth > 0 and last is not None:
            busy += t - last
        depth += d
        most = max(most, depth)
        last = t
    return lat, nbytes, busy, most


for p in sorted(glob.glob(os.path.join(resdir, "*.pg.requests"))):
    t = os.path.basename(p)[:-len(".pg.requests")]
    w = os.path.join(resdir, t + ".pg.window")
    if not os.path.exists(w):
        continue
    t0, t1 = (float(x) for x in open(w).read().split())
    lat, nbytes, busy, most = requests(p, t0, t1)
    fl = sorted(lat["Flush"])
    if not fl:
        continue
    print("  %s NBD requests during pgbench: %d flushes (%.1f/s, p50 %.1f ms,"
          " mean %.1f ms, at most %d at once, one or more in flight %.0f %%"
          " of the time), %d writes (%.1f MiB), %d reads" % (
              t, len(fl), len(fl) / (t1 - t0), statistics.median(fl) * 1000,
              statistics.mean(fl) * 1000, most, 100 * busy / (t1 - t0),
              len(lat["Write"]), nbytes / 1048576, len(lat["Read"])))


# The seqwrite section: MiB/s including the final flush, next to the
# object layer's parallel PUT rate (measured around each round) and
# s3backer.
if figs.get(("objstore", "put_mibs")):
    puts = figs["objstore", "put_mibs"]
    print()
    print("5. 1 MiB sequential write of 256 MiB + final flush, QD8, %g ms RTT"
          % rtt)
    print("  objstore-bench PUT x32 (the link's ceiling for us), MiB/s: %s"
          % ", ".join("%.1f" % x for x in puts))
    print("  %-44s %18s %12s %12s %14s" % ("target", "MiB/s (mean)",
                                           "/ objstore", "/ s3backer",
                                           "CPU ms/MiB"))
    for t in order:
        if fig(t, "seq_mibs") is None:
            continue
        print("  %-44s %18s %12s %12s %14s" % (
            names[t], ", ".join("%.1f" % x for x in figs[t, "seq_mibs"])
            + " (%.1f)" % fig(t, "seq_mibs"),
            ratio(fig(t, "seq_ratio"), 1),
            ratio(fig(t, "seq_mibs"), fig("s3b-wan", "seq_mibs")),
            "%.2f" % fig(t, "seq_cpu") if fig(t, "seq_cpu") else "-"))
    print("  (/ objstore: each run against the objstore-bench runs just"
          " before and after it, averaged)")
    # Where the CPU goes: per MiB, the store's side (s3rver and the
    # forwarder), the client (nbdkit, or objstore-bench itself) and fio;
    # and the rate the machine's CPUs allow at that cost (all CPUs
    # shared: CPUS / sum; split, -c: the store's side on one CPU, the
    # rest on the others, whichever is slower).
    if fig("objstore", "put_store_cpu") is not None:
        ncpus = int(fig("machine", "cpus") or 1)
        split = bool(fig("machine", "split"))
        print()
        print("  CPU per MiB, ms (means); CPU-bound: the MiB/s %s allow"
              % ("CPU 0 (store) and CPUs 1-%d (the rest)" % (ncpus - 1)
                 if split else "%d shared CPUs" % ncpus))
        print("  %-44s %7s %7s %7s %7s %10s %12s" % (
            "target", "store", "client", "fio", "sum", "CPU-bound",
            "/ objstore"))
        rows = [("objstore", "objstore-bench PUT x32",
                 fig("objstore", "put_store_cpu"),
                 fig("objstore", "put_cpu") or 0.0, 0.0)]
        for t in order:
            if fig(t, "seq_store_cpu") is not None:
                rows.append((t, names[t], fig(t, "seq_store_cpu"),
                             fig(t, "seq_cpu") or 0.0,
                             fig(t, "seq_fio_cpu") or 0.0))

        def bound(store, client, fio):
            if split:
                return min(1000 / store if store else float("inf"),
                           (ncpus - 1) * 1000 / (client + fio)
                           if client + fio else float("inf"))
            return ncpus * 1000 / (store + client + fio)
        ref = bound(*rows[0][2:])
        for t, name, store, client, fio in rows:
            b = bound(store, client, fio)
            print("  %-44s %7.2f %7.2f %7.2f %7.2f %10.1f %12s" % (
                name, store, client, fio, store + client + fio, b,
                ratio(b, ref)))
