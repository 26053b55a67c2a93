"""Run a program under a seccomp filter that refuses one thing, as sandboxes do:

    python3 refuse.py netlink PROGRAM [ARG...]   # socket(AF_NETLINK, ...) fails with EACCES
    python3 refuse.py bpf PROGRAM [ARG...]       # bpf(2) fails with EPERM

Installs the filter (inherited across exec) and execs PROGRAM. Exits 77 when this
machine's architecture is not one it knows.
"""
import ctypes
import os
import platform
import struct
import sys

# (AUDIT_ARCH_*, __NR_socket, __NR_bpf) per machine.
ARCHES = {"x86_64": (0xC000003E, 41, 321), "aarch64": (0xC00000B7, 198, 280)}
if platform.machine() not in ARCHES:
    sys.exit(77)
audit_arch, nr_socket, nr_bpf = ARCHES[platform.machine()]

AF_NETLINK, EPERM, EACCES = 16, 1, 13
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (args[0]'s low word at 16).
# A jump (jt, jf) skips that many instructions; every "allow" lands on the last one.
refusals = {
    "netlink": [
        (LD_W_ABS, 0, 0, 4),  # arch
        (JEQ_K, 0, 5, audit_arch),  # another ABI: allow
        (LD_W_ABS, 0, 0, 0),  # syscall number
        (JEQ_K, 0, 3, nr_socket),  # not socket(): allow
        (LD_W_ABS, 0, 0, 16),  # domain
        (JEQ_K, 0, 1, AF_NETLINK),  # not AF_NETLINK: allow
        (RET_K, 0, 0, RET_ERRNO | EACCES),
        (RET_K, 0, 0, RET_ALLOW),
    ],
    "bpf": [
        (LD_W_ABS, 0, 0, 4),  # arch
        (JEQ_K, 0, 3, audit_arch),  # another ABI: allow
        (LD_W_ABS, 0, 0, 0),  # syscall number
        (JEQ_K, 0, 1, nr_bpf),  # not bpf(): allow
        (RET_K, 0, 0, RET_ERRNO | EPERM),
        (RET_K, 0, 0, RET_ALLOW),
    ],
}
program = refusals[sys.argv[1]]
code = b"".join(struct.pack("=HBBI", *op) for op in program)
filters = ctypes.create_string_buffer(code, len(code))


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


fprog = SockFprog(len(program), ctypes.addressof(filters))
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit(f"prctl(NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit(f"prctl(SECCOMP): {os.strerror(ctypes.get_errno())}")
os.execv(sys.argv[2], sys.argv[2:])
