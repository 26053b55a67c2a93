"""Many sockets for tests/cli/scale.rs, and portwho's time and peak memory over them.

    python3 scale.py PORTWHO STEP[,STEP...]

Run inside a private network namespace: it brings lo up and binds loopback addresses only.
For each STEP (a total number of sockets) it opens more sockets in new worker processes,
half TCP listeners and bound UDP sockets on 127.0.0.0/8 and ::1, half both ends of
established TCP pairs, then runs PORTWHO --all --json (to a file, whose records it
counts) and PORTWHO --all (the table, to /dev/null), each under /usr/bin/time for its
peak RSS. Prints one JSON object per step. Workers exit when this process does: each
blocks reading a pipe whose write end only this process holds; they are also killed by
pid at the end.
"""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

portwho, steps = sys.argv[1], [int(n) for n in sys.argv[2].split(",")]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

# One process may hold no more fds than its hard limit allows; spread the sockets out.
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
per_worker = max(1000, min(hard, 1 << 20) - 64)
resource.setrlimit(resource.RLIMIT_NOFILE, (per_worker + 64, hard))

lifeline_r, lifeline_w = os.pipe()
workers = []
opened = 0  # sockets asked of the workers
made = 0  # sockets they opened


def worker(count, first):
    """Open `count` sockets; `first` spreads listeners over 127.0.0.0/8."""
    os.close(lifeline_w)
    keep = []
    listeners = count // 2
    for i in range(listeners):
        n = first + i
        kind = n % 8
        if kind == 7:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.listen(1)
        elif kind == 6:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}", 0))
        else:
            s = socket.socket()
            s.bind((f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}", 0))
            s.listen(1)
        keep.append(s)
    # The other half: both ends of established pairs, through one more listener.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    keep.append(server)
    for _ in range((count - listeners - 1) // 2):
        c = socket.socket()
        c.connect(server.getsockname())
        keep.append(c)
        keep.append(server.accept()[0])
    opened_here = len(keep)
    os.write(ready_w, f"{opened_here}\n".encode())
    os.close(ready_w)
    os.read(lifeline_r, 1)  # EOF when the parent exits
    os._exit(0)


def measure(args, stdout):
    """Run portwho; its exit status, seconds and peak RSS in bytes (as /usr/bin/time -f %M
    reports it: time is a small process, so the child's peak is portwho's own)."""
    with tempfile.NamedTemporaryFile(mode="r") as peak:
        start = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name, portwho] + args,
                              stdout=stdout, stderr=subprocess.PIPE)
        seconds = time.monotonic() - start
        kib = int(peak.read().split()[-1])
    return proc.returncode, seconds, kib * 1024, proc.stderr.decode(errors="replace")


try:
    for total in steps:
        ready_r, ready_w = os.pipe()
        start = time.monotonic()
        while opened < total:
            count = min(per_worker, total - opened)
            pid = os.fork()
            if pid == 0:
                worker(count, opened)
            workers.append(pid)
            opened += count
        os.close(ready_w)
        with os.fdopen(ready_r) as ready:
            made += sum(int(line) for line in ready)
        setup = time.monotonic() - start
        with tempfile.TemporaryFile() as out:
            code, json_s, json_rss, err = measure(["--all", "--json"], out)
            out.seek(0)
            records = len(json.load(out))
        with open(os.devnull, "wb") as null:
            tcode, table_s, table_rss, terr = measure(["--all"], null)
        print(json.dumps({
            "sockets": made, "workers": len(workers), "setup_s": round(setup, 2),
            "json_exit": code, "json_records": records, "json_s": round(json_s, 3),
            "json_peak_rss": json_rss, "table_exit": tcode, "table_s": round(table_s, 3),
            "table_peak_rss": table_rss, "stderr": err + terr,
        }), flush=True)
finally:
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    for pid in workers:
        os.waitpid(pid, 0)
