#!/usr/bin/env python3
"""Hold a known set of loopback sockets open across many processes, for benchmarks.

    workload.py --procs N --socks M [--extra-fds K]

Forks N processes. Each holds M sockets on 127.0.0.1 / ::1 only (alternating): TCP
listeners, bound UDP sockets and a few established TCP pairs (a client and the end its
own listener accepted), plus K other fds (pipe ends and /dev/null), so that a
/proc/PID/fd scan sees a realistic mix. Every port is chosen by the kernel.

When all are set up it prints one line on stdout:

    READY <port> <pid> <pid> ...

where <port> is a TCP listener held by exactly one process (the middle one, listed
first among the pids that follow), then every pid it started. It tears everything down
and exits on SIGTERM, SIGINT or SIGHUP, or when its stdin reaches end of file, so a
caller that dies takes the workload with it. The children also die with this process
(PR_SET_PDEATHSIG), so none is ever left behind, even after a SIGKILL.

Python 3 standard library only.
"""

import argparse
import ctypes
import gc
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

LOOPBACK = ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"))
PR_SET_PDEATHSIG = 1
# Fds a child has besides the workload's: stdio, the report pipe, slack.
BASE_FDS = 16


class Stop(Exception):
    """A signal or the end of stdin: tear down."""


def split(socks):
    """Split M sockets into (TCP listeners, UDP sockets, established pairs)."""
    pairs = min(socks // 5, 3)
    rest = socks - 2 * pairs
    listeners = max(1, (rest + 1) // 2) if socks else 0
    return listeners, rest - listeners, pairs


def raise_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            sys.exit(f"workload: need {needed} fds per process, RLIMIT_NOFILE hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def child(index, args, report):
    """Set up one process's sockets, report them, and wait to be killed. Never returns."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(3)
    if os.getppid() != args.parent:  # the parent died before the prctl
        os._exit(3)
    # Keep neither the caller's stdin (its EOF is the parent's signal) nor stdout
    # (the caller reads READY from it and waits for its EOF).
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    # Nor any other fd inherited from the caller: each process holds exactly its own.
    os.closerange(3, report)
    os.closerange(report + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    n_listen, n_udp, n_pairs = split(args.socks)
    held, listeners = [], []
    for k in range(n_listen):
        family, addr = LOOPBACK[k % 2]
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((addr, 0))
        s.listen(64)
        listeners.append(s)
    for k in range(n_udp):
        family, addr = LOOPBACK[k % 2]
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        held.append(s)
    for k in range(n_pairs):
        # Never the first listener: its port is the one reported, held only by this
        # process and shown as a lone LISTEN socket.
        target = listeners[1 + k % (n_listen - 1)] if n_listen > 1 else listeners[0]
        client = socket.create_connection(target.getsockname()[:2])
        server = target.accept()[0]
        for s in (client, server):
            # Close with RST: no TIME_WAIT left to skew the next run.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            held.append(s)
    for _ in range(args.extra_fds // 4):  # half of them pipe ends, two per pipe
        held.extend(os.pipe())
    for _ in range(args.extra_fds - 2 * (args.extra_fds // 4)):
        held.append(os.open(os.devnull, os.O_RDONLY))

    port = listeners[0].getsockname()[1] if listeners else 0
    os.write(report, f"{index} {os.getpid()} {port}\n".encode())
    os.close(report)
    while True:
        signal.pause()


def start(args, kids):
    """Fork every child and wait for each to report; return {index: (pid, port)}."""
    r, w = os.pipe()
    gc.collect()
    gc.freeze()  # keep the children's copies of the heap shared
    for index in range(args.procs):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                child(index, args, w)
            except BaseException as e:  # noqa: BLE001 - report anything, then die
                try:
                    os.write(w, f"{index} error {type(e).__name__}: {e}\n"[:400].encode())
                finally:
                    os._exit(2)
        kids.append(pid)
    os.close(w)
    ready, buf = {}, b""
    deadline = time.monotonic() + args.timeout
    while len(ready) < args.procs:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(f"workload: setup timed out, {len(ready)}/{args.procs} ready")
        if not select.select([r], [], [], min(left, 1.0))[0]:
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            sys.exit(f"workload: children exited during setup, {len(ready)}/{args.procs} ready")
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            index, pid, rest = line.decode().split(" ", 2)
            if pid == "error":
                sys.exit(f"workload: process {index} failed: {rest}")
            ready[int(index)] = (int(pid), int(rest))
    os.close(r)
    return ready


def stop(kids, grace=5.0):
    """SIGTERM every child, SIGKILL what is left after `grace` seconds, reap them all."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in kids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while kids and time.monotonic() < deadline:
            kids[:] = [pid for pid in kids if not reaped(pid)]
            if kids:
                time.sleep(0.02)
        if not kids:
            return


def reaped(pid):
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def wait_for_eof():
    """Block until stdin is closed (or a signal raises Stop)."""
    while True:
        try:
            if not os.read(0, 4096):
                return
        except OSError:  # stdin is not readable at all: nothing to wait for
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, required=True, help="processes to start")
    ap.add_argument("--socks", type=int, required=True, help="sockets per process")
    ap.add_argument("--extra-fds", type=int, default=20, help="non-socket fds per process")
    ap.add_argument("--timeout", type=float, default=300, help="setup timeout, seconds")
    args = ap.parse_args()
    if args.procs < 1 or args.socks < 1 or args.extra_fds < 0:
        ap.error("--procs and --socks must be at least 1, --extra-fds at least 0")
    args.parent = os.getpid()

    n_listen, n_udp, n_pairs = split(args.socks)
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    tcp_ports = args.procs * (n_listen + n_pairs)
    udp_ports = args.procs * n_udp
    if max(tcp_ports, udp_ports) > (hi - lo + 1) * 9 // 10:
        sys.exit(f"workload: {max(tcp_ports, udp_ports)} ports would nearly exhaust the "
                 f"local port range {lo}-{hi}; lower --procs or --socks")
    raise_nofile(args.socks + args.extra_fds + BASE_FDS)

    def on_signal(signum, frame):
        raise Stop(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    kids = []
    status = 0
    try:
        started = time.monotonic()
        ready = start(args, kids)
        middle = ready[args.procs // 2]
        pids = [middle[0]] + [ready[i][0] for i in range(args.procs) if i != args.procs // 2]
        print(f"workload: {args.procs} processes x ({n_listen} TCP listeners, {n_udp} UDP, "
              f"{n_pairs} pairs = {args.socks} sockets, {args.extra_fds} other fds), "
              f"set up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        print(f"READY {middle[1]} {' '.join(map(str, pids))}", flush=True)
        wait_for_eof()
    except Stop as e:
        status = 128 + e.args[0]
    except BrokenPipeError:
        status = 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if os.getpid() == args.parent:
            stop(kids)
    sys.exit(status)


if __name__ == "__main__":
    main()
