#!/usr/bin/env python3
"""Capture real sock_diag replies as seeds for the `netlink` fuzz target.

Run inside a private network namespace, so the seeds hold only the sockets made here:

    unshare -n python3 fuzz/capture-netlink-seeds.py fuzz/seeds/netlink

Each seed is one selector byte (bit 0: UDP, bit 1: IPv6, as the fuzz target reads it)
followed by one datagram exactly as the kernel sent it.
"""
import os
import socket
import struct
import subprocess
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
ALL_STATES = 0x1FFE

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

# Sockets in several states and both families: a listener with an established pair, UDP
# bound and connected, an IPv6 dual-stack listener and an IPv6-only UDP socket.
keep = []
l4 = socket.socket(); l4.bind(("127.0.0.1", 0)); l4.listen(); keep.append(l4)
c4 = socket.create_connection(l4.getsockname()); keep.append(c4); keep.append(l4.accept()[0])
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 0)); keep.append(u4)
u4c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4c.connect(u4.getsockname()); keep.append(u4c)
l6 = socket.socket(socket.AF_INET6); l6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
l6.bind(("::", 0)); l6.listen(); keep.append(l6)
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("::1", 0)); keep.append(u6)


def done(datagram):
    """Whether the datagram holds NLMSG_DONE (3), which ends a dump."""
    off = 0
    while off + 16 <= len(datagram):
        length, kind = struct.unpack_from("=IH", datagram, off)
        if kind == 3:
            return True
        if length < 16:
            return False
        off += (length + 3) & ~3
    return False


nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
for selector, (proto, family) in enumerate(
    [(socket.IPPROTO_TCP, socket.AF_INET), (socket.IPPROTO_UDP, socket.AF_INET),
     (socket.IPPROTO_TCP, socket.AF_INET6), (socket.IPPROTO_UDP, socket.AF_INET6)]):
    seq = selector + 1
    req = struct.pack("=BBBBI", family, proto, 0, 0, ALL_STATES) + bytes(48)
    msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                      NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + req
    nl.sendto(msg, (0, 0))
    n = 0
    while True:
        data = nl.recv(65536)
        with open(os.path.join(out, f"real-{selector}-{n}.bin"), "wb") as f:
            f.write(bytes([selector]) + data)
        n += 1
        if done(data):
            break
