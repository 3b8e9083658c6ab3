#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs tests: a TCP forwarder that models a slow uplink.
#
#   throttle-proxy.py TARGET_PORT BYTES_PER_SECOND PORT_FILE
#
# Listens on 127.0.0.1 (a port the kernel picks, written to PORT_FILE),
# forwards every connection to 127.0.0.1:TARGET_PORT, and lets at most
# BYTES_PER_SECOND through from the clients to the server, shared by all
# connections (one token bucket): what many parallel uploads over one
# slow link see.  Answers flow back unthrottled.  Runs until killed.
import asyncio
import socket
import sys
import time

target_port = int(sys.argv[1])
rate = int(sys.argv[2])
port_file = sys.argv[3]
CHUNK = 4096


class Bucket:
    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.rate / 10,
                                  self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


bucket = Bucket(rate)


async def pipe(reader, writer, throttled):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if throttled:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(
            "127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer, True),
                         pipe(server_reader, client_writer, False))


async def main():
    # Small buffers towards the clients, so that TCP flow control makes a
    # client's acknowledged bytes follow the throttled rate, as on a real
    # slow link (not a fast hop into a big buffer in front of one).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock, limit=CHUNK)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    import os
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


asyncio.run(main())
