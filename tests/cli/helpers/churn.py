"""Socket churn for tests/cli/races.rs: processes that open loopback sockets, fork and exit.

    python3 churn.py LOG SECONDS

Prints its pid when it starts. Until SIGTERM, or SECONDS at most, it keeps up to 8
children alive; each opens 1 to 4 sockets (TCP listeners on 127.0.0.1 and ::1, bound UDP,
established pairs), forks a grandchild that inherits them, and both exit within 50 ms (one
child in five lives up to a second, so that a scan slowed by a busy host still finds
some). Every process appends "pid inode" for each socket it holds to LOG before doing
anything else, one write per process, so the log names every (pid, socket) pair that ever
existed. Exits 0 once every child has been reaped.
"""
import os
import random
import signal
import socket
import sys
import time

log_path, seconds = sys.argv[1], float(sys.argv[2])
log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def note(socks):
    # One O_APPEND write per process keeps the lines of concurrent processes whole.
    lines = "".join(f"{os.getpid()} {os.fstat(s.fileno()).st_ino}\n" for s in socks)
    os.write(log, lines.encode())


def open_some():
    socks = []
    for _ in range(random.randint(1, 4)):
        kind = random.choice(["tcp", "tcp6", "udp", "pair"])
        if kind == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        elif kind == "tcp6":
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.listen()
            socks.append(s)
        else:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            socks.append(s)
            if kind == "pair":
                c = socket.create_connection(s.getsockname())
                socks.append(c)
                socks.append(s.accept()[0])
    return socks


def lifetime():
    return random.uniform(0, 0.05) if random.random() < 0.8 else random.uniform(0.3, 1.0)


def child():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    socks = open_some()
    note(socks)
    if os.fork() == 0:
        # The grandchild holds every socket from its first instant; it says so first.
        note(socks)
        time.sleep(lifetime())
        os._exit(0)
    time.sleep(lifetime())
    os.wait()
    os._exit(0)


stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
print(os.getpid(), flush=True)
deadline = time.monotonic() + seconds
children = set()
while not stopping and time.monotonic() < deadline:
    while len(children) < 8:
        pid = os.fork()
        if pid == 0:
            try:
                child()
            finally:
                os._exit(1)
        children.add(pid)
    pid, _ = os.waitpid(-1, os.WNOHANG)
    if pid:
        children.discard(pid)
    else:
        time.sleep(0.002)
for pid in children:
    os.waitpid(pid, 0)
