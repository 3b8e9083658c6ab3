# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs tests: the writer and the verifier of test-crash-random.sh.
#
# The verifier models the NBD contract, not the implementation.  The
# device is seen as 512-byte blocks; every block a write touches gets a
# pattern naming the write and the block (op id, block number), so that
# what is read back says which write it came from, or that it is zeros,
# or that it is noise (always a failure).
#
#   crash-random.py write URI LOG SEED ROUND
#       connects twice, creates LOG.ready, then the two connections (two threads) do random writes (4 KiB to 1 MiB,
#       some not 4 KiB-aligned), WRITE_ZEROES, TRIM and FLUSH until the
#       server goes away.  Each operation is logged before it is sent,
#       and again when it has completed; each FLUSH when it returns.
#
#   crash-random.py verify URI LOG BASELINE HOW DURABILITY
#       reads the whole device back and checks every block against the
#       log: it must hold the value of the last write that completed
#       before the last completed FLUSH was sent (or the baseline's
#       value, if no such write touched it), or the value of a write that
#       was not covered by that FLUSH.  Writes that completed one before
#       the other started are ordered; writes that overlapped in time may
#       end either way.  What was read becomes the next round's baseline
#       (a write that was lost stays lost).
#
#       HOW says how the server was started again: "same" cache-dir, or
#       "emptied" (a new host); DURABILITY is that of the server that
#       was killed, the one the writer wrote to.  A server started on
#       the same cache serves what the last one held, flushed or not; a
#       lost cache-dir loses what was never written to the store.  So
#       the baseline also keeps, for each block, the values it may go
#       back to when the cache is lost: every value it had since the
#       last FLUSH that a server with durability=remote completed (which
#       stores everything written before it, from earlier lives of the
#       cache too) or since the store was last read with an emptied
#       cache.  With an emptied cache, and no FLUSH completed in the
#       round, a block may hold any of them.
#
# TRIM is modelled as zeros: zerofs documents that a trimmed range reads
# as zeros (whole chunks lose their object, partial ones are zeroed).

import json
import os
import random
import struct
import sys
import threading

import nbd

BLOCK = 512
SECTOR = 4096
MiB = 1 << 20


def pattern(op_id, block):
    return struct.pack("<QQ", op_id, block) * (BLOCK // 16)


def block_value(data, block):
    """0 for zeros, the op id of a valid pattern, None for noise."""
    if data == bytes(BLOCK):
        return 0
    op_id, b = struct.unpack_from("<QQ", data)
    if b != block or data != pattern(op_id, block):
        return None
    return op_id


def writer(uri, log_path, seed, round_no):
    rng = random.Random(seed)
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()
    clock = [0]
    next_id = [round_no * 10_000_000 + 1]

    def record(**ev):
        # Under LOCK: a global order of sends and completions.
        clock[0] += 1
        ev["t"] = clock[0]
        log.write(json.dumps(ev) + "\n")

    def run(conn, h):
        size = h.get_size()
        r = random.Random(rng.random())
        try:
            while True:
                kind = r.choices(["write", "zero", "trim", "flush"],
                                 [70, 8, 7, 15])[0]
                with lock:
                    op_id = next_id[0]
                    next_id[0] += 1
                if kind == "flush":
                    with lock:
                        record(ev="send", id=op_id, kind="flush")
                    h.flush()
                    with lock:
                        record(ev="done", id=op_id)
                    continue
                length = r.choice([SECTOR, SECTOR, 2 * SECTOR, 16 * SECTOR,
                                   64 * SECTOR, MiB, r.randrange(1, 257) * SECTOR])
                if r.random() < 0.3:
                    # Not 4 KiB-aligned: 512-byte granularity.
                    length = r.randrange(1, 2 * MiB // BLOCK) * BLOCK
                    length = min(length, MiB)
                    offset = r.randrange(0, (size - length) // BLOCK + 1) * BLOCK
                else:
                    offset = r.randrange(0, (size - length) // SECTOR + 1) * SECTOR
                with lock:
                    record(ev="send", id=op_id, kind=kind, off=offset,
                           len=length)
                if kind == "write":
                    first = offset // BLOCK
                    buf = b"".join(pattern(op_id, first + i)
                                   for i in range(length // BLOCK))
                    h.pwrite(buf, offset)
                elif kind == "zero":
                    h.zero(length, offset)
                else:
                    h.trim(length, offset)
                with lock:
                    record(ev="done", id=op_id)
        except nbd.Error:
            pass          # the server was killed: this round is over

    handles = []
    for i in range(2):
        h = nbd.NBD()
        h.connect_uri(uri)
        handles.append(h)
    # Connected: the test may now pick its moment to kill the server.
    open(log_path + ".ready", "w").close()
    threads = [threading.Thread(target=run, args=(i, handles[i]))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def verify(uri, log_path, baseline_path, how, durability):
    h = nbd.NBD()
    h.connect_uri(uri)
    size = h.get_size()
    nblocks = size // BLOCK
    if os.path.exists(baseline_path):
        state = json.load(open(baseline_path))
        baseline, lossable = state["values"], state["lossable"]
    else:
        baseline = [0] * nblocks
        lossable = [[] for _ in range(nblocks)]

    sends, dones = {}, {}
    for line in open(log_path):
        ev = json.loads(line)
        if ev["ev"] == "send":
            sends[ev["id"]] = ev
        else:
            dones[ev["id"]] = ev["t"]

    # What completed FLUSHes covered: every write that completed before
    # one of them was sent, so before the latest send among them.
    flushes = [sends[i]["t"] for i, s in sends.items()
               if s["kind"] == "flush" and i in dones]
    flush_sent = max(flushes) if flushes else 0
    # Everything written before it is in the store, earlier lives' too.
    stored_all = flush_sent > 0 and durability == "remote"

    durable = {}      # block -> list of (send t, done t, value)
    pending = {}      # block -> set of values
    written = {}      # block -> every value written in the round
    for op_id, s in sends.items():
        if s["kind"] == "flush":
            continue
        first, n = s["off"] // BLOCK, s["len"] // BLOCK
        covered = op_id in dones and dones[op_id] < flush_sent
        for b in range(first, first + n):
            value = op_id if s["kind"] == "write" else 0
            written.setdefault(b, set()).add(value)
            if covered:
                durable.setdefault(b, []).append((s["t"], dones[op_id], value))
            else:
                pending.setdefault(b, set()).add(value)

    data = bytearray()
    step = 4 * MiB
    for off in range(0, size, step):
        data += h.pread(min(step, size - off), off)

    failures = 0
    older = 0
    result = []
    new_lossable = []
    for b in range(nblocks):
        got = block_value(bytes(data[b * BLOCK:(b + 1) * BLOCK]), b)
        allowed = set(pending.get(b, ()))
        writes = durable.get(b)
        if writes:
            # The last ones: not followed by a write that began after
            # they ended.
            for (t0, t1, v) in writes:
                if not any(u0 > t1 for (u0, _, _) in writes):
                    allowed.add(v)
        else:
            allowed.add(baseline[b])
        # What the round allows, before the loss of the cache-dir.
        this_round = set(allowed)
        if how == "emptied" and not stored_all:
            allowed.update(lossable[b])
            if got is not None and got not in this_round and got in allowed:
                older += 1
        if got is None or got not in allowed:
            failures += 1
            if failures <= 10:
                print("block %d (offset %d): read %s, allowed %s"
                      % (b, b * BLOCK,
                         "noise" if got is None else got, sorted(allowed)),
                      file=sys.stderr)
        result.append(got if got is not None else -1)
        # What a later loss of the cache-dir may give back: with nothing
        # stored for sure, any value of the round (the write-back may
        # have uploaded one that a later write replaced in the cache).
        if how == "emptied":
            new_lossable.append([])          # all read from the store
        elif stored_all:
            new_lossable.append(sorted(this_round))
        else:
            new_lossable.append(sorted(set(lossable[b]) | {baseline[b]} |
                                       this_round | written.get(b, set())))
    json.dump({"values": result, "lossable": new_lossable},
              open(baseline_path, "w"))
    ops = sum(1 for s in sends.values() if s["kind"] != "flush")
    print("verify: %d operations, %d completed flushes, %d bad blocks%s"
          % (ops, len(flushes), failures,
             ", %d blocks back to what a lost cache had not stored" % older
             if older else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        writer(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(verify(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                    sys.argv[6]))
