#!/usr/bin/env bash
# portwho for Windows, built here (x86_64-pc-windows-gnu) and run under wine against
# listeners this script starts: TCP and UDP on 127.0.0.1 and ::1, each bound to port 0 by
# python3 on the Linux side. Wine's GetExtendedTcpTable/GetExtendedUdpTable show the
# host's sockets, so portwho.exe must list them with the right ports, states and
# families, answer every mode (the table, JSON, -q, the waits, --free, --audit, --diff),
# exit 1 for a free port and 2 for bad input and for what needs Linux. Wine names no
# socket's owner (pid 0), so owner resolution is tested on fixtures by `cargo test`.
#
# Needs: rustup's x86_64-pc-windows-gnu target, Debian's gcc-mingw-w64-x86-64 and wine64
# (.ci/run installs them), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
cargo build --target "$target"
exe="${CARGO_TARGET_DIR:-target}/$target/debug/portwho.exe"

work=$(mktemp -d)
listeners=
cleanup() {
    [ -n "$listeners" ] && kill "$listeners" 2>/dev/null
    # The wineserver of this prefix, if it still runs.
    WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cp "$exe" "$work/portwho.exe"
# Rust's std imports ProcessPrng from bcryptprimitives.dll, which Debian's wine lacks: the
# stand-in goes beside the .exe (see the C file).
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
    .ci/wine/bcryptprimitives.c -ladvapi32

export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# A new prefix, made once (wineboot), so the runs below time nothing but portwho.
wine wineboot --init >/dev/null 2>&1 || true

# The listeners: their ports on stdout, one line "tcp4 tcp6 udp4 udp6 free", then they
# wait to be killed. "free" was bound and closed: nothing uses it.
python3 - >"$work/ports" <<'PY' &
import os, socket, sys, time
made = []
for family, kind, addr in [
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
]:
    s = socket.socket(family, kind)
    s.bind((addr, 0))
    if kind == socket.SOCK_STREAM:
        s.listen()
    made.append(s)
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
free = probe.getsockname()[1]
probe.close()
print(*[s.getsockname()[1] for s in made], free, flush=True)
time.sleep(600)
PY
listeners=$!
for _ in $(seq 50); do [ -s "$work/ports" ] && break; sleep 0.1; done
read -r tcp4 tcp6 udp4 udp6 free <"$work/ports"
echo "listeners: tcp 127.0.0.1:$tcp4, tcp [::1]:$tcp6, udp 127.0.0.1:$udp4, udp [::1]:$udp6; free: $free"

failures=0
runs=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# portwho.exe ARGS: its stdout in $work/out, stderr in $work/err, status in $status.
run() {
    runs=$((runs + 1))
    set +e
    (cd "$work" && wine portwho.exe "$@") >"$work/out" 2>"$work/err"
    status=$?
    set -e
    # Wine writes what the program writes; Windows's line ends, if any, do not count.
    sed -i 's/\r$//' "$work/out" "$work/err"
}
expect() {
    local want=$1
    shift
    run "$@"
    if [ "$status" -ne "$want" ]; then
        fail "portwho $* exited $status, not $want; stderr: $(cat "$work/err")"
    fi
}
ports=":$tcp4 :$tcp6 :$udp4 :$udp6"

# The listing as JSON: each listener once, with its family and state; what Windows lacks
# is null; ephemeral is Windows's dynamic range, 49152-65535.
# shellcheck disable=SC2086 # the ports are words
expect 0 --listening --json $ports
python3 - "$work/out" "$tcp4" "$tcp6" "$udp4" "$udp6" <<'PY' || fail "JSON listing"
import json, sys
records = json.load(open(sys.argv[1]))
tcp4, tcp6, udp4, udp6 = map(int, sys.argv[2:])
want = [
    ("tcp", "ipv4", "127.0.0.1", tcp4, "LISTEN"),
    ("tcp", "ipv6", "::1", tcp6, "LISTEN"),
    ("udp", "ipv4", "127.0.0.1", udp4, "UNCONN"),
    ("udp", "ipv6", "::1", udp6, "UNCONN"),
]
got = [(r["proto"], r["family"], r["local_addr"], r["local_port"], r["state"]) for r in records]
ok = True
for w in want:
    if got.count(w) != 1:
        print(f"expected {w} once in {got}")
        ok = False
for r in records:
    port = r["local_port"]
    checks = {
        "uid": r["uid"] is None,
        "inode": r["inode"] is None,
        "v6only": r["v6only"] is None,
        "remote": r["remote_addr"] is None and r["remote_port"] is None,
        "ephemeral": r["ephemeral"] == (49152 <= port <= 65535),
        "firewall": r.get("firewall") is None,
        "netns": r["netns"] == {"inode": None, "name": None},
        "processes": r["processes"] == [],
    }
    for name, good in checks.items():
        if not good:
            print(f"{name} wrong in {r}")
            ok = False
sys.exit(0 if ok else 1)
PY

# The table for one port: a header and the listener's row.
expect 0 ":$tcp4"
grep -Eq "^tcp +127\.0\.0\.1:$tcp4 +LISTEN" "$work/out" || fail "table of :$tcp4: $(cat "$work/out")"
expect 0 -u -6 -n
grep -Eq "^udp +\[::1\]:$udp6 +UNCONN" "$work/out" || fail "-u -6: $(cat "$work/out")"
grep -Eq "^(tcp|udp) +127\.0\.0\.1:" "$work/out" && fail "-u -6 listed IPv4: $(cat "$work/out")"
expect 0 -q ":$udp4/udp"
[ -s "$work/out" ] && fail "-q printed: $(cat "$work/out")"

# A free port: exit 1, and the diagnosis says it is free.
expect 1 ":$free"
grep -q "port $free is free" "$work/out" || fail "free port: $(cat "$work/out")"
expect 1 -q ":$free"

# The waits, --free, --audit and --diff, each answered at once.
expect 0 --wait-listen ":$tcp6" --timeout 5
expect 0 --wait-free ":$free" --timeout 5
# --free offers ports below Windows's dynamic range (49152-65535), none in use.
expect 0 --free 20000 --count 3
python3 - "$work/out" $ports <<'PY' || fail "--free 20000 --count 3: $(cat "$work/out")"
import sys
offered = [int(line) for line in open(sys.argv[1])]
used = {int(p.lstrip(":")) for p in sys.argv[2:]}
sys.exit(0 if len(offered) == 3 and all(20000 <= p < 49152 and p not in used for p in offered) else 1)
PY
expect 1 --free 49152
grep -q "no free port at or after 49152" "$work/err" || fail "--free 49152 said: $(cat "$work/err")"
run --audit
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || fail "--audit exited $status: $(cat "$work/err")"
# shellcheck disable=SC2086
expect 0 --listening --json $ports
cp "$work/out" "$work/baseline.json"
# shellcheck disable=SC2086
expect 0 --diff baseline.json $ports

# --kill reads and plans as everywhere; wine names no owner, so there is nobody to end.
expect 1 --kill --yes ":$tcp4"
grep -q "nothing to signal: no process holds a listening socket there" "$work/err" ||
    fail "--kill said: $(cat "$work/err")"

# Output that cannot be written: one line, exit 2. A reader that went away: exit 0.
runs=$((runs + 2))
set +e
(cd "$work" && wine portwho.exe -n) >/dev/full 2>"$work/err"
status=$?
(cd "$work" && wine portwho.exe --all -n) 2>/dev/null | head -1 >/dev/null
piped=${PIPESTATUS[0]}
set -e
[ "$status" -eq 2 ] && grep -q "^portwho: cannot write output: " "$work/err" ||
    fail "> /dev/full exited $status: $(cat "$work/err")"
[ "$piped" -eq 0 ] || fail "| head -1 exited $piped"

# Bad input, and what needs Linux: one line on stderr, exit 2.
expect 2 :99999
grep -q "^portwho: " "$work/err" || fail "bad target said: $(cat "$work/err")"
expect 2 --netns all
[ "$(cat "$work/err")" = "portwho: --netns needs Linux's network namespaces; this is Windows" ] ||
    fail "--netns said: $(cat "$work/err")"
expect 2 --proc-root /proc
grep -q "needs Linux's /proc; this is Windows" "$work/err" || fail "--proc-root said: $(cat "$work/err")"
PORTWHO_BPF=always expect 2
grep -q "PORTWHO_BPF needs Linux" "$work/err" || fail "PORTWHO_BPF said: $(cat "$work/err")"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "more than one line: $(cat "$work/err")"

if [ "$failures" -gt 0 ]; then
    echo "windows-test: $failures failed"
    exit 1
fi
echo "windows-test: $runs runs of portwho.exe under $(wine --version), all as expected"
