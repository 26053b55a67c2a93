#!/usr/bin/env python3
"""Write the hand-made OS records in fixtures/windows/ and fixtures/macos/.

They are the bytes the OS calls fill in, laid out by their documented C layouts:
iphlpapi's MIB_TCPTABLE_OWNER_PID, MIB_TCP6TABLE_OWNER_PID, MIB_UDPTABLE_OWNER_PID and
MIB_UDP6TABLE_OWNER_PID for Windows; XNU's bsd/sys/proc_info.h (proc_fdinfo,
socket_fdinfo with in_sockinfo and tcp_sockinfo) for macOS. The decoders that read them
are src/backend/windows/rows.rs and src/backend/macos/fdinfo.rs, whose tests say what each
file must decode to. Run from the repository's root: python3 tools/make-platform-fixtures.py
"""

import ipaddress
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def write(platform, name, data):
    path = os.path.join(ROOT, platform, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(bytes(data))


# --- Windows -------------------------------------------------------------------------
# Every field a little-endian DWORD; addresses in network byte order; a port DWORD holds
# the port in network byte order in its first two bytes (the other two may be garbage).

MIB_TCP_STATE = {
    "CLOSED": 1, "LISTEN": 2, "SYN_SENT": 3, "SYN_RCVD": 4, "ESTAB": 5, "FIN_WAIT1": 6,
    "FIN_WAIT2": 7, "CLOSE_WAIT": 8, "CLOSING": 9, "LAST_ACK": 10, "TIME_WAIT": 11,
    "DELETE_TCB": 12,
}


def port(p, junk=b"\0\0"):
    return struct.pack(">H", p) + junk


def v4(addr):
    return ipaddress.IPv4Address(addr).packed


def v6(addr):
    return ipaddress.IPv6Address(addr).packed


def dword(n):
    return struct.pack("<I", n)


def table(rows):
    return dword(len(rows)) + b"".join(rows)


def tcp4(state, laddr, lport, raddr, rport, pid, junk=b"\0\0"):
    # MIB_TCPROW_OWNER_PID: dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr,
    # dwRemotePort, dwOwningPid (24 bytes).
    code = MIB_TCP_STATE.get(state, state)
    return (dword(code) + v4(laddr) + port(lport, junk) + v4(raddr) + port(rport)
            + dword(pid))


def tcp6(laddr, lscope, lport, raddr, rscope, rport, state, pid):
    # MIB_TCP6ROW_OWNER_PID: ucLocalAddr[16], dwLocalScopeId, dwLocalPort,
    # ucRemoteAddr[16], dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid (56 bytes).
    return (v6(laddr) + dword(lscope) + port(lport) + v6(raddr) + dword(rscope)
            + port(rport) + dword(MIB_TCP_STATE[state]) + dword(pid))


def udp4(laddr, lport, pid):
    # MIB_UDPROW_OWNER_PID: dwLocalAddr, dwLocalPort, dwOwningPid (12 bytes).
    return v4(laddr) + port(lport) + dword(pid)


def udp6(laddr, scope, lport, pid):
    # MIB_UDP6ROW_OWNER_PID: ucLocalAddr[16], dwLocalScopeId, dwLocalPort, dwOwningPid
    # (28 bytes).
    return v6(laddr) + dword(scope) + port(lport) + dword(pid)


def windows():
    write("windows", "tcp4.bin", table([
        tcp4("LISTEN", "0.0.0.0", 135, "0.0.0.0", 0, 1020),
        # The upper half of the port DWORD left uninitialized, as Microsoft warns.
        tcp4("LISTEN", "0.0.0.0", 445, "0.0.0.0", 0, 4, junk=b"\xde\xad"),
        tcp4("LISTEN", "127.0.0.1", 8080, "0.0.0.0", 0, 4242),
        tcp4("ESTAB", "127.0.0.1", 8080, "127.0.0.1", 50000, 4242),
        tcp4("ESTAB", "127.0.0.1", 50000, "127.0.0.1", 8080, 5150),
        tcp4("TIME_WAIT", "127.0.0.1", 8080, "127.0.0.1", 49999, 0),
        # No MIB_TCP_STATE: skipped and counted.
        tcp4(13, "127.0.0.1", 9, "0.0.0.0", 0, 77),
        tcp4("CLOSE_WAIT", "192.168.1.20", 49712, "93.184.216.34", 443, 5150),
        tcp4("DELETE_TCB", "10.0.0.5", 3389, "10.0.0.9", 61000, 1100),
    ]))
    write("windows", "tcp6.bin", table([
        tcp6("::", 0, 135, "::", 0, 0, "LISTEN", 1020),
        # A scope id on an address that has none to give (as wine fills it): dropped.
        tcp6("::1", 4096, 5432, "::", 0, 0, "LISTEN", 3300),
        tcp6("fe80::1", 7, 5432, "fe80::2", 7, 51000, "ESTAB", 3300),
        tcp6("2001:db8::5", 0, 443, "2001:db8::9", 0, 62000, "SYN_RCVD", 880),
    ]))
    write("windows", "udp4.bin", table([
        udp4("0.0.0.0", 5353, 2200),
        udp4("127.0.0.1", 53, 3300),
        # The same process bound 5353 twice (SO_REUSEADDR): two sockets.
        udp4("0.0.0.0", 5353, 2200),
    ]))
    write("windows", "udp6.bin", table([
        udp6("::", 0, 5353, 2200),
        udp6("fe80::abcd", 12, 546, 1400),
    ]))
    write("windows", "empty.bin", b"")
    write("windows", "short-header.bin", b"\x01\0\0")
    # Counts five rows, holds one TCP row's worth of bytes.
    write("windows", "truncated.bin",
          dword(5) + tcp4("LISTEN", "127.0.0.1", 80, "0.0.0.0", 0, 1))


# --- macOS ---------------------------------------------------------------------------
# struct socket_fdinfo { struct proc_fileinfo pfi (24); struct socket_info psi (768); }
PSI = 24
VST_UID = PSI + 16
SOI_SO = PSI + 136
SOI_PCB = PSI + 144
SOI_TYPE = PSI + 152
SOI_PROTOCOL = PSI + 156
SOI_FAMILY = PSI + 160
SOI_KIND = PSI + 232
IN = PSI + 240             # soi_proto.pri_in / pri_tcp.tcpsi_ini
TCPSI_STATE = IN + 80
SIZE = 792

AF = {"unix": 1, "inet": 2, "inet6": 30}
SOCK = {"stream": 1, "dgram": 2, "raw": 3}
SOCKINFO = {"in": 1, "tcp": 2, "un": 3}
TSI_S = {"CLOSED": 0, "LISTEN": 1, "ESTABLISHED": 4, "TIME_WAIT": 10}
INI_IPV4, INI_IPV6 = 0x1, 0x2
IN6P_IPV6_V6ONLY = 0x8000


def in_addr(addr, v4_in_v6=False):
    """The 16-byte union: an in6_addr, or an in4in6_addr (IPv4 in the last four)."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        return b"\0" * 12 + ip.packed
    return ip.packed


def socket_fdinfo(family, type_, protocol, kind, uid=501, so=0, vflag=0, flags=0,
                  laddr=None, lport=0, faddr=None, fport=0, state=None):
    b = bytearray(SIZE)
    struct.pack_into("<I", b, 0, 0x3)            # pfi.fi_openflags: FREAD|FWRITE
    struct.pack_into("<i", b, 16, 2)             # pfi.fi_type: DTYPE_SOCKET
    struct.pack_into("<H", b, PSI + 4, 0o140777)  # soi_stat.vst_mode: S_IFSOCK
    struct.pack_into("<I", b, VST_UID, uid)
    struct.pack_into("<Q", b, SOI_SO, so)
    struct.pack_into("<Q", b, SOI_PCB, so + 0x1000 if so else 0)
    struct.pack_into("<iii", b, SOI_TYPE, SOCK[type_], protocol, AF[family])
    struct.pack_into("<i", b, SOI_KIND, SOCKINFO[kind])
    if kind in ("in", "tcp"):
        # insi_fport and insi_lport: ints holding the port in network byte order.
        b[IN:IN + 2] = struct.pack(">H", fport)
        b[IN + 4:IN + 6] = struct.pack(">H", lport)
        struct.pack_into("<Q", b, IN + 8, 7)     # insi_gencnt
        struct.pack_into("<I", b, IN + 16, flags)
        b[IN + 24] = vflag
        b[IN + 25] = 64                          # insi_ip_ttl
        b[IN + 32:IN + 48] = in_addr(faddr or ("::" if family == "inet6" else "0.0.0.0"))
        b[IN + 48:IN + 64] = in_addr(laddr or ("::" if family == "inet6" else "0.0.0.0"))
    if kind == "tcp":
        struct.pack_into("<i", b, TCPSI_STATE, TSI_S[state])
        struct.pack_into("<i", b, TCPSI_STATE + 20, 16344)  # tcpsi_mss
    return b


def macos():
    tcp, udp = 6, 17
    write("macos", "tcp4-listen.bin", socket_fdinfo(
        "inet", "stream", tcp, "tcp", uid=501, so=0xffffff8012345678, vflag=INI_IPV4,
        laddr="127.0.0.1", lport=8080, state="LISTEN"))
    # An AF_INET6 socket on :: without IPV6_V6ONLY takes IPv4 too: both vflags.
    write("macos", "tcp6-dual-stack-listen.bin", socket_fdinfo(
        "inet6", "stream", tcp, "tcp", uid=0, so=0xffffff8012340000,
        vflag=INI_IPV4 | INI_IPV6, flags=0x40, laddr="::", lport=5432, state="LISTEN"))
    write("macos", "tcp6-established.bin", socket_fdinfo(
        "inet6", "stream", tcp, "tcp", uid=501, so=0xffffff8012349000, vflag=INI_IPV6,
        flags=IN6P_IPV6_V6ONLY | 0x40, laddr="::1", lport=8080, faddr="::1", fport=50000,
        state="ESTABLISHED"))
    # An AF_INET6 socket connected to an IPv4-mapped address carries IPv4: its vflag is
    # INI_IPV4 alone and its addresses are in4in6_addr.
    write("macos", "tcp6-mapped-established.bin", socket_fdinfo(
        "inet6", "stream", tcp, "tcp", uid=501, so=0xffffff801234a000, vflag=INI_IPV4,
        laddr="127.0.0.1", lport=50001, faddr="127.0.0.1", fport=8080,
        state="ESTABLISHED"))
    write("macos", "tcp4-time-wait.bin", socket_fdinfo(
        "inet", "stream", tcp, "tcp", uid=501, so=0xffffff801234b000, vflag=INI_IPV4,
        laddr="127.0.0.1", lport=8080, faddr="127.0.0.1", fport=49999, state="TIME_WAIT"))
    # A TCP socket whose protocol control block is gone: the kernel reports SOCKINFO_IN.
    write("macos", "tcp4-no-tcpcb.bin", socket_fdinfo(
        "inet", "stream", tcp, "in", so=0xffffff801234c000, vflag=INI_IPV4,
        laddr="127.0.0.1", lport=8081))
    write("macos", "udp4-unconnected.bin", socket_fdinfo(
        "inet", "dgram", udp, "in", uid=65, so=0xffffff801234d000, vflag=INI_IPV4,
        laddr="0.0.0.0", lport=5353))
    # KAME's embedded scope: the kernel keeps a link-local address's interface index (4)
    # in its second 16-bit word.
    write("macos", "udp6-connected.bin", socket_fdinfo(
        "inet6", "dgram", udp, "in", uid=0, so=0xffffff801234e000, vflag=INI_IPV6,
        flags=IN6P_IPV6_V6ONLY, laddr="fe80:4::1", lport=546, faddr="fe80:4::2",
        fport=547))
    write("macos", "unix.bin", socket_fdinfo("unix", "stream", 0, "un", so=0xffffff801234f000))
    write("macos", "icmp.bin", socket_fdinfo(
        "inet", "raw", 1, "in", so=0xffffff8012350000, vflag=INI_IPV4))
    # PROC_PIDLISTFDS: proc_fdinfo { int32 proc_fd; uint32 proc_fdtype } each; vnode 1,
    # socket 2, kqueue 5, pipe 6; then half an entry.
    fds = [(0, 1), (1, 1), (2, 1), (3, 2), (4, 6), (5, 5), (7, 2), (9, 2)]
    write("macos", "fds.bin",
          b"".join(struct.pack("<iI", fd, t) for fd, t in fds) + struct.pack("<i", 10))


if __name__ == "__main__":
    windows()
    macos()
