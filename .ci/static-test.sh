#!/usr/bin/env bash
# A fully static binary: build it, check that it is static, run it against a listener of
# its own, and check that user names resolve without any shared library on the system.
#   .ci/static-test.sh musl   x86_64-unknown-linux-musl, when its standard library is
#                             installed (`rustup target add` downloads it); skipped if not
#   .ci/static-test.sh gnu    glibc with crt-static: needs only Debian's libc6-dev
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
musl)
    target=x86_64-unknown-linux-musl
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo "static-test: skipped musl: $target is not installed (rustup target add $target)"
        exit 0
    fi
    cargo build --release --target "$target"
    ;;
gnu)
    target=x86_64-unknown-linux-gnu
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target"
    ;;
*)
    echo "usage: $0 musl|gnu" >&2
    exit 2
    ;;
esac
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

# Listeners owned by nobody (in /etc/passwd) and by a uid /etc/passwd lacks, so the USER
# column needs real lookups: a static glibc that asked NSS for the unknown uid would load
# libnss_systemd.so.2 and crash (SIGSEGV, seen here); portwho reads /etc/passwd instead.
listener_pids=()
cleanup() {
    for pid in "${listener_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
# Prints the port of a new TCP listener on 127.0.0.1 owned by uid $1.
listen_as() {
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    setpriv --reuid="$1" --regid="$1" --clear-groups /usr/bin/env python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
' >"$fifo" &
    listener_pids+=("$!")
    read -r port <"$fifo"
    rm -f "$fifo"
}
unknown_uid=54321
while getent passwd "$unknown_uid" >/dev/null; do
    unknown_uid=$((unknown_uid + 1))
done
listen_as 65534
nobody_port=$port
listen_as "$unknown_uid"
unknown_port=$port

"$bin" --listening >/dev/null || fail "--listening failed"
row=$("$bin" -n "127.0.0.1:$nobody_port/tcp" | sed -n 2p)
echo "$row" | grep -q "^tcp .*127.0.0.1:$nobody_port .*LISTEN .*/python3 .*nobody$" ||
    fail "127.0.0.1:$nobody_port: $row"
row=$("$bin" -n "127.0.0.1:$unknown_port/tcp" | sed -n 2p) ||
    fail "127.0.0.1:$unknown_port (uid $unknown_uid): exit $?"
echo "$row" | grep -q " $unknown_uid$" || fail "127.0.0.1:$unknown_port: $row"
"$bin" -q -U nobody "127.0.0.1:$nobody_port/tcp" || fail "-U nobody found nothing"

# Without the system's shared libraries (so no libnss_*.so to load), names from
# /etc/passwd still resolve.
empty=$(mktemp -d)
hidden=$(unshare -m sh -c "mount --bind '$empty' /usr/lib/x86_64-linux-gnu && '$bin' -n '127.0.0.1:$nobody_port/tcp'" 2>&1) ||
    fail "without shared libraries: $hidden"
rmdir "$empty"
echo "$hidden" | sed -n 2p | grep -q 'nobody$' || fail "without shared libraries: $hidden"

echo "static-test: $target: $(file -b "$bin" | grep -o 'static[-a-z]* linked'), $(stat -c %s "$bin") bytes; runs; user names resolve"
