#!/usr/bin/env python3
"""Capture a proc tree for portwho's fixture tests.

Usage: tools/capture-fixture.py OUT_DIR PID [PID ...]

Copies /proc/net/{tcp,tcp6,udp,udp6}, /proc/stat (for the boot time), the ephemeral and
reserved port ranges, and for each PID its comm, cmdline, status, stat, cgroup, and its
fd, exe and cwd links (as symlinks with the same targets), plus the output
of `ss -tuanpe` at the same moment as OUT_DIR/ss.txt, so the expected output can be
checked against what ss saw.
"""
import os
import shutil
import subprocess
import sys


def main():
    out, pids = sys.argv[1], sys.argv[2:]
    os.makedirs(os.path.join(out, "net"), exist_ok=True)
    os.makedirs(os.path.join(out, "sys/net/ipv4"), exist_ok=True)
    for table in ("tcp", "tcp6", "udp", "udp6"):
        shutil.copyfile(f"/proc/net/{table}", os.path.join(out, "net", table))
    shutil.copyfile("/proc/stat", os.path.join(out, "stat"))
    for name in ("ip_local_port_range", "ip_local_reserved_ports", "ip_unprivileged_port_start"):
        shutil.copyfile(f"/proc/sys/net/ipv4/{name}", os.path.join(out, "sys/net/ipv4", name))
    for pid in pids:
        pdir = os.path.join(out, pid)
        os.makedirs(os.path.join(pdir, "fd"), exist_ok=True)
        for name in ("comm", "cmdline", "status", "stat", "cgroup"):
            shutil.copyfile(f"/proc/{pid}/{name}", os.path.join(pdir, name))
        for name in ("exe", "cwd"):
            os.symlink(os.readlink(f"/proc/{pid}/{name}"), os.path.join(pdir, name))
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            os.symlink(target, os.path.join(pdir, "fd", fd))
    with open(os.path.join(out, "ss.txt"), "w") as f:
        f.write(subprocess.run(["ss", "-tuanpe"], capture_output=True, text=True).stdout)


if __name__ == "__main__":
    main()
