#!/usr/bin/env bash
# Watch benchmark: how much CPU does `portwho --watch` use on a host where nothing changes?
#
#   benches/watch.sh [--procs P] [--socks S] [--interval SECS] [--seconds T] BINARY
#
# In a private network namespace (unshare --net, loopback up) it starts benches/workload.py
# with P processes x S sockets (default 500 x 20: 10 000 sockets, 7 000 of them
# listening), then runs BINARY --watch SECS (default 2) with stdout to /dev/null, once
# plain and once with --jsonl. Each waits for the first look (stderr says "watching"),
# reads the process's CPU time (utime + stime, /proc/PID/stat) then and T seconds later
# (default 60), and stops it with SIGTERM (exit status 0 expected). Prints one markdown
# table on stdout: the first look's CPU, the CPU over the T seconds, and that as a share of
# one core against the target (at most 1% at --watch 2). Progress goes to stderr. Runs as
# root on Linux; builds nothing; stops everything it started on exit, error or signal.
set -Eeuo pipefail
trap 'echo "watch.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

usage() {
    sed -n '2,14s/^# \{0,1\}//p' "$0"
    cat <<'EOF'
Options:
  --procs P        workload processes (default 500)
  --socks S        sockets per process (default 20)
  --interval SECS  the --watch interval (default 2)
  --seconds T      how long each watch is measured once set up (default 60)
  -h, --help       this text
EOF
}

die() {
    echo "watch.sh: $*" >&2
    exit 2
}
log() { echo "== $*" >&2; }

procs=500
socks=20
interval=2
seconds=60
bin=
while [ $# -gt 0 ]; do
    case $1 in
    --procs | --socks | --interval | --seconds)
        [ $# -ge 2 ] || die "$1 needs a value"
        printf -v "${1#--}" '%s' "$2"
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
        [ -z "$bin" ] || die "one BINARY only (see --help)"
        bin=$1
        ;;
    esac
    shift
done
[ -n "$bin" ] || {
    usage >&2
    exit 2
}
for n in procs socks seconds; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "--$n must be a positive number, not '${!n}'"
done
[[ $interval =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--interval must be a number of seconds"
[ -x "$bin" ] || die "not an executable file: $bin"
[ "$(uname -s)" = Linux ] || die "Linux only"
[ "$(id -u)" = 0 ] || die "run as root: the workload and portwho run in a private network namespace"
"$bin" --help | grep -q -- '--watch' || die "$bin has no --watch"
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# Sockets of other work on this host would come and go and be looked into: the measurement
# runs where nothing but the workload lives.
if [ "${PORTWHO_WATCH_BENCH_INSIDE:-}" != 1 ]; then
    log "entering a private network namespace"
    exec env PORTWHO_WATCH_BENCH_INSIDE=1 unshare --net -- "$0" --procs "$procs" \
        --socks "$socks" --interval "$interval" --seconds "$seconds" "$bin"
fi
ip link set lo up

tmp=$(mktemp -d /tmp/portwho-watch-bench.XXXXXX)
wl_pid=
watch_pid=
cleanup() {
    for pid in $watch_pid $wl_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting $procs processes x $socks sockets"
coproc WORKLOAD { exec python3 "$repo/benches/workload.py" --procs "$procs" --socks "$socks"; }
wl_pid=$WORKLOAD_PID
if ! read -r -t 600 -u "${WORKLOAD[0]}" line || [[ $line != READY* ]]; then
    die "workload did not start"
fi
sleep 1
ticks=$(getconf CLK_TCK)
total=$(ss -tuan | tail -n +2 | wc -l)
listening=$(ss -tuln | tail -n +2 | wc -l)

# utime + stime of a process, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

results=$tmp/results
: >"$results"
measure() {
    local label=$1 start first after code
    shift
    log "$label: --watch $interval for $seconds s"
    start=$(date +%s.%N)
    "$bin" --watch "$interval" "$@" >/dev/null 2>"$tmp/stderr" &
    watch_pid=$!
    until grep -q 'watching' "$tmp/stderr"; do
        kill -0 "$watch_pid" 2>/dev/null || die "$label: portwho --watch ended: $(cat "$tmp/stderr")"
        sleep 0.05
    done
    first=$(cpu_ticks "$watch_pid")
    sleep "$seconds"
    after=$(cpu_ticks "$watch_pid")
    kill -TERM "$watch_pid"
    code=0
    wait "$watch_pid" || code=$?
    watch_pid=
    [ "$code" = 0 ] || die "$label: exit status $code after SIGTERM"
    printf '%s\t%s\t%s\t%s\n' "$label" "$first" "$((after - first))" "$start" >>"$results"
}

measure "\`--watch $interval\`"
measure "\`--watch $interval --jsonl\`" --jsonl

echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, Linux $(uname -r);" \
    "$("$bin" --version); $total TCP/UDP sockets ($listening listening) from" \
    "$procs x $socks; CPU time from /proc/PID/stat ($ticks ticks a second)."
echo
python3 - "$results" "$ticks" "$seconds" "$interval" <<'EOF'
import sys

path, ticks, seconds, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"| command | first look (CPU) | CPU over {seconds} s ({int(seconds / interval)} looks) "
      "| per look | share of one core | target |")
print("|---|--:|--:|--:|--:|---|")
for line in open(path):
    label, first, spent, _ = line.rstrip("\n").split("\t")
    first_ms = int(first) * 1000 / ticks
    spent_ms = int(spent) * 1000 / ticks
    share = spent_ms / 1000 / seconds * 100
    looks = max(1, int(seconds / interval))
    verdict = "≤ 1%: **met**" if share <= 1 else "≤ 1%: **not met**"
    print(f"| {label} | {first_ms:.0f} ms | {spent_ms:.0f} ms | {spent_ms / looks:.1f} ms "
          f"| {share:.2f}% | {verdict} |")
EOF
