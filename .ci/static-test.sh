#!/usr/bin/env bash
# The fully static build (glibc, crt-static): build it, check that it is static, run it
# against a listener of its own, and check that user names still resolve without NSS's
# shared modules. musl would be the usual static target, but its standard library comes
# only from `rustup target add`, which needs network this CI does not have.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target"
bin=$PWD/target/$target/release/portwho

fail() {
    echo "static-test: $*" >&2
    exit 1
}

file "$bin" | grep -q 'static' || fail "not static: $(file "$bin")"
# glibc's ldd says "not a dynamic executable" (exit 1) or "statically linked".
if ldd_out=$(ldd "$bin" 2>&1); then
    echo "$ldd_out" | grep -q 'statically linked' || fail "ldd: $ldd_out"
else
    echo "$ldd_out" | grep -q 'not a dynamic executable' || fail "ldd: $ldd_out"
fi
"$bin" --version >/dev/null

# A listener owned by nobody, so the USER column needs a real lookup (uid 65534).
listener_pid=
cleanup() {
    if [ -n "$listener_pid" ]; then
        kill "$listener_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
fifo=$(mktemp -u)
mkfifo "$fifo"
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/env python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
' >"$fifo" &
listener_pid=$!
read -r port <"$fifo"
rm -f "$fifo"

"$bin" --listening >/dev/null
row=$("$bin" -n "127.0.0.1:$port/tcp" | sed -n 2p)
echo "$row" | grep -q "^tcp .*127.0.0.1:$port .*LISTEN .*/python3 .*nobody$" ||
    fail "127.0.0.1:$port: $row"

# Without the system's shared libraries (so no libnss_*.so to load), names from
# /etc/passwd still resolve: glibc has the "files" source built in.
empty=$(mktemp -d)
hidden=$(unshare -m sh -c "mount --bind '$empty' /usr/lib/x86_64-linux-gnu && '$bin' -n '127.0.0.1:$port/tcp'" 2>&1) ||
    fail "without shared libraries: $hidden"
rmdir "$empty"
echo "$hidden" | sed -n 2p | grep -q 'nobody$' || fail "without shared libraries: $hidden"

echo "static-test: $(file -b "$bin" | grep -o 'static[-a-z]* linked'), $(stat -c %s "$bin") bytes; runs; user names resolve"
