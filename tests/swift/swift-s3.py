#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# zerofs tests: a throw-away OpenStack Swift with the s3api middleware,
# for one test script, started by swift_start in ../s3-servers.sh.
#
# Why one Python process: a Swift cluster is four WSGI servers (account,
# container, object, proxy).  Started the usual way (run_wsgi, one process
# each) that is four interpreters importing eventlet and Swift, about a
# second of CPU each on a 2-core machine; tests start one cluster per
# script, in parallel under make -j.  The four apps run happily as
# greenthreads of one eventlet hub (Swift's own in-process functional tests
# do the same), so this script imports Swift once and serves all four.
#
# Why no port races: the four listening sockets are bound here, on
# 127.0.0.1 port 0, before the configs and rings are written, so the kernel
# picks free ports and nobody can take them in between.  memcached cannot
# be handed a socket, so its port is chosen by binding port 0, closing it
# and starting memcached there; if another process wins that race
# memcached exits and we retry with a new port.
#
# Lifetime: the process dies with the shell that started it.  It asks the
# kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), polls
# --watch-pid as a second line of defence, and starts memcached with
# PR_SET_PDEATHSIG=SIGKILL so memcached cannot outlive it.  On SIGTERM or
# SIGINT it kills memcached, waits for it and exits.
#
# Everything lives under DIR: etc/ (swift.conf, *-server.conf, rings),
# srv/d1/ (the one device), swift.log (Swift's log, received on a UDP
# socket that stands in for syslog), memcached.log.  When the cluster is
# serving, the proxy port, memcached's port and memcached's PID are
# written to --ready-file (to a temporary name first, then renamed, so a
# reader never sees half of it).

import argparse
import ctypes
import ctypes.util
import getpass
import os
import signal
import socket
import subprocess
import sys
import time

# Skipping eventlet's dnspython-based resolver saves about 0.3 s of import
# time; everything here is numeric 127.0.0.1.
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
# eventlet imports distutils; the stdlib's is about 0.1 s cheaper than the
# one setuptools substitutes for it.
os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")

PR_SET_PDEATHSIG = 1

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def set_parent_death_signal(signum):
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_PDEATHSIG): " + os.strerror(err))


def die(msg):
    sys.stderr.write("swift-s3.py: %s\n" % msg)
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", required=True, help="directory for everything")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--watch-pid", type=int, default=0,
                   help="exit when this process is gone")
    p.add_argument("--account", default="test")
    p.add_argument("--user", default="tester")
    p.add_argument("--secret", default="testing")
    p.add_argument("--location", default="us-east-1",
                   help="s3api's region: requests signed for another "
                   "are refused with AuthorizationHeaderMalformed")
    p.add_argument("--reader", default="",
                   help="USER:SECRET, a second user of the account, "
                   "without .admin: it may do only what container ACLs "
                   "grant it")
    p.add_argument("--log-level", default="WARNING",
                   help="Swift log level (INFO also logs every request)")
    p.add_argument("--memcached", default="memcached")
    return p.parse_args()


# ---------------------------------------------------------------- memcached

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def memcached_answers(port):
    """True if a memcached answers 'version' on PORT."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION ")
    except OSError:
        return False


def start_memcached(args, logf):
    cmd = [args.memcached, "-l", "127.0.0.1", "-U", "0", "-t", "1",
           "-m", "64", "-c", "1024"]
    if os.geteuid() == 0:
        cmd += ["-u", getpass.getuser()]
    for attempt in range(20):
        port = free_port()
        proc = subprocess.Popen(
            cmd + ["-p", str(port)], stdin=subprocess.DEVNULL,
            stdout=logf, stderr=logf, close_fds=True,
            preexec_fn=lambda: set_parent_death_signal(signal.SIGKILL))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break           # lost the port race (or worse): retry
            if memcached_answers(port):
                # Make sure it was ours that answered, not a squatter.
                if proc.poll() is None:
                    return proc, port
                break
            time.sleep(0.005)
        else:
            proc.kill()
            proc.wait()
            die("memcached did not answer on 127.0.0.1:%d in 5 s "
                "(see %s)" % (port, logf.name))
        proc.wait()
    die("memcached failed to start 20 times (see %s)" % logf.name)


# ------------------------------------------------------------------ configs

SERVER_TYPES = ("account", "container", "object", "proxy")


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def write_configs(args, etc, srv, log_port, ports, memcached_port):
    write_file(os.path.join(etc, "swift.conf"), """\
[swift-hash]
swift_hash_path_suffix = zerofs-test-suffix
swift_hash_path_prefix = zerofs-test-prefix

[storage-policy:0]
name = only
default = yes
""")
    common = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %(port)d
workers = 0
swift_dir = %(etc)s
devices = %(srv)s
mount_check = false
disable_fallocate = true
log_udp_host = 127.0.0.1
log_udp_port = %(log_port)d
log_name = %(name)s
log_level = %(log_level)s
"""
    for name in ("account", "container", "object"):
        text = common % dict(port=ports[name], etc=etc, srv=srv,
                             log_port=log_port, name=name,
                             log_level=args.log_level)
        text += """
[pipeline:main]
pipeline = %(name)s-server

[app:%(name)s-server]
use = egg:swift#%(name)s
""" % dict(name=name)
        write_file(os.path.join(etc, name + "-server.conf"), text)

    text = common % dict(port=ports["proxy"], etc=etc, srv=srv,
                         log_port=log_port, name="proxy",
                         log_level=args.log_level)
    text += """
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:%(memcached_port)d

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = %(location)s

[filter:tempauth]
use = egg:swift#tempauth
user_%(account)s_%(user)s = %(secret)s .admin
%(reader)s

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
""" % dict(memcached_port=memcached_port, account=args.account,
           user=args.user, secret=args.secret, location=args.location,
           reader=("user_%s_%s = %s" % ((args.account,) +
                                        tuple(args.reader.split(":", 1)))
                   if args.reader else ""))
    write_file(os.path.join(etc, "proxy-server.conf"), text)


def build_rings(etc, ports):
    from swift.common.ring import RingBuilder
    for name in ("account", "container", "object"):
        # One device, one replica: a small partition power is plenty.
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1,
                         "ip": "127.0.0.1", "port": ports[name],
                         "device": "d1", "weight": 1})
        builder.rebalance()
        builder.get_ring().save(os.path.join(etc, name + ".ring.gz"))


# -------------------------------------------------------------------- main

def main():
    args = parse_args()
    top = os.path.abspath(args.dir)
    etc = os.path.join(top, "etc")
    srv = os.path.join(top, "srv")
    dev = os.path.join(srv, "d1")
    for d in (etc, dev):
        os.makedirs(d, exist_ok=True)

    # Die with the parent (normally the test shell).
    set_parent_death_signal(signal.SIGTERM)
    if args.watch_pid and os.getppid() != args.watch_pid:
        try:
            os.kill(args.watch_pid, 0)
        except ProcessLookupError:
            die("process %d to watch is already gone" % args.watch_pid)

    # The object server keeps its metadata in extended attributes.
    probe = os.path.join(dev, ".xattr-probe")
    try:
        write_file(probe, "")
        os.setxattr(probe, "user.zerofs.probe", b"1")
        os.unlink(probe)
    except OSError as e:
        die("%s does not support user extended attributes, which Swift's "
            "object server needs: %s" % (dev, e))

    memcached_log = open(os.path.join(top, "memcached.log"), "ab")
    memcached, memcached_port = start_memcached(args, memcached_log)

    def stop(signum=None, frame=None):
        # SIGKILL: memcached takes most of a second to honour SIGTERM, and
        # it holds nothing worth a clean shutdown.
        memcached.kill()
        memcached.wait()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    import eventlet
    import eventlet.wsgi
    from swift.common import utils
    utils.eventlet_monkey_patch()

    # Listening sockets first: their ports go into the rings and configs.
    listeners = {}
    ports = {}
    for name in SERVER_TYPES:
        listeners[name] = eventlet.listen(("127.0.0.1", 0), backlog=1024)
        ports[name] = listeners[name].getsockname()[1]

    # A UDP socket in place of syslog (Swift's log_udp_host/port); not a
    # Unix socket under DIR, whose path could pass the 108-byte limit.
    log_rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log_rx.bind(("127.0.0.1", 0))
    log_port = log_rx.getsockname()[1]
    log_file = open(os.path.join(top, "swift.log"), "ab", buffering=0)

    def copy_log():
        while True:
            msg = log_rx.recv(65536)
            log_file.write(msg.rstrip(b"\0\n") + b"\n")

    eventlet.spawn(copy_log)

    write_configs(args, etc, srv, log_port, ports, memcached_port)
    build_rings(etc, ports)

    # Read swift.conf (hash path salt, storage policies) from our etc/.
    utils.set_swift_dir(etc)
    from swift.common import constraints, storage_policy
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()

    from swift.common.http_protocol import SwiftHttpProtocol
    from swift.common.wsgi import loadapp
    os.environ["TZ"] = "UTC+0"
    time.tzset()

    for name in SERVER_TYPES:
        conf = os.path.join(etc, name + "-server.conf")
        app = loadapp(conf, global_conf={"log_name": name})
        eventlet.spawn(eventlet.wsgi.server, listeners[name], app,
                       utils.NullLogger(),
                       custom_pool=eventlet.GreenPool(1024),
                       protocol=SwiftHttpProtocol,
                       socket_timeout=60,
                       # s3api clients need "ETag", not "Etag".
                       capitalize_response_headers=False)

    tmp = args.ready_file + ".tmp"
    write_file(tmp, "%d %d %d\n" % (ports["proxy"], memcached_port,
                                     memcached.pid))
    os.rename(tmp, args.ready_file)

    while True:
        eventlet.sleep(0.25)
        if memcached.poll() is not None:
            sys.stderr.write("swift-s3.py: memcached exited (status %s); "
                             "stopping\n" % memcached.returncode)
            os._exit(1)
        if args.watch_pid:
            try:
                os.kill(args.watch_pid, 0)
            except ProcessLookupError:
                stop()


if __name__ == "__main__":
    main()
