#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: a TCP forwarder that models a network round trip.
#
#   delay-proxy.py TARGET_PORT ONE_WAY_MS PORT_FILE [STATS_FILE]
#
# Listens on 127.0.0.1 (a port the kernel picks, written to PORT_FILE
# once it listens) and forwards every connection to 127.0.0.1:TARGET_PORT.
# Every chunk of data read from either side is written to the other side
# ONE_WAY_MS milliseconds after it was read, in order: a request and its
# answer cost 2 x ONE_WAY_MS more than on loopback, the round trip time
# of a distant server.  A new connection also pays one round trip for
# the TCP handshake: nothing the client sends is delivered before
# 2 x ONE_WAY_MS after the accept, plus the one-way delay.
#
# How (per connection, per direction): a reader task reads what the
# socket has (up to 256 KiB), stamps it with its release time (time read
# + delay) and queues it; a writer task takes the queue in order, sleeps
# until each release time, writes and drains.  The reader never waits for
# the writer, so the delay is latency only: no window limits the bytes
# in flight (no bandwidth-delay product, no slow start) and there is no
# bandwidth limit; data is never reordered.  An end of stream is
# delayed like data, then half-closes the other side.  TCP_NODELAY is set
# on both sockets so that Nagle adds nothing.
#
# With STATS_FILE, the bytes forwarded are written to it ("up BYTES",
# client to server, "down BYTES", "connections N") every 0.5 s while
# they change (atomically: a rename), so a benchmark can count what a
# client sent to the store, HTTP headers included.
#
# Runs until killed (SIGTERM/SIGINT).
import asyncio
import collections
import os
import signal
import socket
import sys

target_port = int(sys.argv[1])
delay = float(sys.argv[2]) / 1000.0
port_file = sys.argv[3]
stats_file = sys.argv[4] if len(sys.argv) > 4 else None
CHUNK = 256 * 1024

stats = {"up": 0, "down": 0, "connections": 0}


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


async def pipe(reader, writer, not_before, counter):
    """Copy reader to writer, each chunk delayed by `delay` seconds
    (and never released before not_before + delay)."""
    loop = asyncio.get_running_loop()
    queue = collections.deque()
    ready = asyncio.Event()
    done = False

    async def read_side():
        nonlocal done
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.append((max(loop.time(), not_before) + delay, data))
                ready.set()
                if not data:
                    break
        except (ConnectionError, OSError):
            queue.append((loop.time(), b""))
            ready.set()

    async def write_side():
        try:
            while True:
                while not queue:
                    ready.clear()
                    await ready.wait()
                when, data = queue.popleft()
                wait = when - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    break
                writer.write(data)
                stats[counter] += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    r = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        r.cancel()
        try:
            await r
        except (asyncio.CancelledError, Exception):
            pass


async def handle(client_reader, client_writer):
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    stats["connections"] += 1
    try:
        server_reader, server_writer = await asyncio.open_connection(
            "127.0.0.1", target_port, limit=CHUNK)
    except OSError:
        client_writer.close()
        return
    nodelay(client_writer)
    nodelay(server_writer)
    try:
        # The handshake: the client's first bytes leave one round trip
        # after its connect.
        await asyncio.gather(
            pipe(client_reader, server_writer, accepted + 2 * delay, "up"),
            pipe(server_reader, client_writer, accepted, "down"))
    finally:
        for w in (client_writer, server_writer):
            try:
                w.close()
            except Exception:
                pass


async def write_stats():
    last = None
    while True:
        now = (stats["up"], stats["down"], stats["connections"])
        if now != last:
            with open(stats_file + ".tmp", "w") as f:
                f.write("up %d\ndown %d\nconnections %d\n" % now)
            os.rename(stats_file + ".tmp", stats_file)
            last = now
        await asyncio.sleep(0.5)


async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(1))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock, limit=CHUNK,
                                        backlog=256)
    port = server.sockets[0].getsockname()[1]
    if stats_file:
        asyncio.ensure_future(write_stats())
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(port_file + ".tmp", port_file)
    await stop
    server.close()
    if stats_file:
        with open(stats_file + ".tmp", "w") as f:
            f.write("up %d\ndown %d\nconnections %d\n" %
                    (stats["up"], stats["down"], stats["connections"]))
        os.rename(stats_file + ".tmp", stats_file)


asyncio.run(main())
