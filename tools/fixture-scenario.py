import os, socket, sys, time
# A forked TCP server on 127.0.0.1 (parent and child share the listener), an IPv6 listener
# on ::1, a dual-stack :: listener, a UDP socket on 127.0.0.1, an established pair, a
# TIME_WAIT, and a process with a control character in its name.
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 0)); ls.listen()
l6 = socket.socket(socket.AF_INET6); l6.bind(("::1", 0)); l6.listen()
ds = socket.socket(socket.AF_INET6); ds.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); ds.bind(("::", 0)); ds.listen()
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); us.bind(("127.0.0.1", 0))
c = socket.create_connection(ls.getsockname()); a, _ = ls.accept()
# TIME_WAIT: the side that closes first keeps it.
t = socket.create_connection(ls.getsockname()); ta, _ = ls.accept(); t.close(); ta.close()
pid = os.fork()
if pid == 0:
    import ctypes
    libc = ctypes.CDLL(None)
    libc.prctl(15, b"evil\x1b[31mname", 0, 0, 0)
    time.sleep(600); os._exit(0)
print(os.getpid(), pid, ls.getsockname()[1], flush=True)
time.sleep(600)
