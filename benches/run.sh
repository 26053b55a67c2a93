#!/usr/bin/env bash
# Benchmark portwho against ss (and netstat, lsof, fuser) on a loopback workload.
#
#   benches/run.sh [--quick] [--runs N] [PROCSxSOCKS[xOTHERFDS] ...]
#
# Builds the release binary, installs the tools it compares with from Debian's packages
# when missing, starts benches/workload.py for each size (default 500x20 and 2000x20,
# 20 other fds per process), and prints one markdown table per size on stdout: hyperfine
# medians, peak RSS (GNU time, median of a few runs) and syscall totals (strace -c -f),
# with the targets of the "Faster than ss" issue marked met or not met. Progress goes to
# stderr. Runs as root on Linux, from a clean clone; leaves nothing running behind.
set -Eeuo pipefail
trap 'echo "run.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
    cat <<'EOF'
Options:
  --quick     3 timed runs per command, 1 warmup, 1 RSS run; default size 500x20 only
  --runs N    timed runs per command (default 10; reference-only tools get half)
  -h, --help  this text
EOF
}

die() {
    echo "run.sh: $*" >&2
    exit 2
}
log() { echo "== $*" >&2; }

quick=0
runs=
sizes=()
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --runs)
        [ $# -ge 2 ] || die "--runs needs a number"
        runs=$2
        shift
        ;;
    --runs=*) runs=${1#--runs=} ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) sizes+=("$1") ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    runs=${runs:-3} warmup=1 rss_runs=1
    [ ${#sizes[@]} -gt 0 ] || sizes=(500x20)
else
    runs=${runs:-10} warmup=2 rss_runs=5
    [ ${#sizes[@]} -gt 0 ] || sizes=(500x20 2000x20)
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
# lsof and netstat take seconds per run on the big sizes; they are only for reference.
ref_runs=$(((runs + 1) / 2))
[ "$ref_runs" -ge 3 ] || ref_runs=$((runs < 3 ? runs : 3))
for size in "${sizes[@]}"; do
    [[ $size =~ ^[1-9][0-9]*x[1-9][0-9]*(x[0-9]+)?$ ]] || die "bad size '$size' (want PROCSxSOCKS or PROCSxSOCKSxOTHERFDS)"
done

[ "$(uname -s)" = Linux ] || die "Linux only"
[ "$(id -u)" = 0 ] || die "run as root: it installs packages, and ss -p, strace and setpriv need it"
cd "$(dirname "$0")/.."
repo=$PWD

# --- tools --------------------------------------------------------------------------
missing=()
want() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
want hyperfine hyperfine
want strace strace
want netstat net-tools
want lsof lsof
want fuser psmisc
want ss iproute2
want setpriv util-linux
want python3 python3
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

log "cargo build --release"
cargo build --release >&2
built="${CARGO_TARGET_DIR:-$repo/target}/release/portwho"
[ -x "$built" ] || die "no binary at $built"

# --- scratch space and teardown -----------------------------------------------------
tmp=$(mktemp -d /tmp/portwho-bench.XXXXXX)
wl_pid=
cleanup() {
    if [ -n "$wl_pid" ] && kill -0 "$wl_pid" 2>/dev/null; then
        kill -TERM "$wl_pid" 2>/dev/null || true
        wait "$wl_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The binary in a world-readable place, so uid 65534 can run it; a directory that uid
# may write its strace and time reports to.
chmod 755 "$tmp"
install -d -m 755 "$tmp/bin"
install -m 755 "$built" "$tmp/bin/portwho"
pw=$tmp/bin/portwho
install -d -m 700 -o 65534 -g 65534 "$tmp/nobody"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
results=$tmp/results.tsv
: >"$results"

# --- measuring ----------------------------------------------------------------------
# shellcheck source=benches/measure.sh
. "$repo/benches/measure.sh"
# as_nobody: run the next measurement's commands as uid 65534 (both sides).
as_nobody=0
run_as() {
    if [ "$as_nobody" = 1 ]; then "${nobody[@]}" "$@"; else "$@"; fi
}
outdir() { if [ "$as_nobody" = 1 ]; then echo "$tmp/nobody"; else echo "$tmp"; fi; }

# hyperfine medians of two command lines, as the next measurement's user.
medians() {
    local n=$1 a=$2 b=$3 prefix=
    [ "$as_nobody" = 1 ] && prefix="${nobody[*]} "
    interleaved_medians "$n" "$prefix$a" "$prefix$b"
}

# Median peak RSS of one command line, as the next measurement's user.
peak_rss() {
    median_rss "$(outdir)/rss" "$1" run_as
}

# Total syscalls of one command line and every thread and child it starts.
syscalls() {
    local out
    out=$(outdir)/strace
    # shellcheck disable=SC2086
    run_as strace -c -f -U calls,name -o "$out" $1 >/dev/null 2>&1 || true
    awk '$2 == "total" {print $1}' "$out"
}

# Percent of CPU time idle over the next second, host-wide.
idle_pct() {
    local a b
    a=$(head -n 1 /proc/stat)
    sleep 1
    b=$(head -n 1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        n = split(a, x); split(b, y); total = 0
        for (i = 2; i <= n; i++) total += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        print (total > 0 ? int(100 * idle / total) : 100) }'
}

# Other work on a 2-core host moves every number: before each row, wait until the host
# is at least 90% idle, up to 90 seconds in all per run, and count the rows that had to
# start anyway.
busy_rows=0
wait_left=90
wait_quiet() {
    local idle
    while :; do
        idle=$(idle_pct)
        [ "$idle" -ge 90 ] && return 0
        [ "$wait_left" -gt 0 ] || break
        wait_left=$((wait_left - 1))
    done
    log "host busy ($idle% idle); measuring anyway"
    busy_rows=$((busy_rows + 1))
}

# One row: key, query label, portwho command, reference command, runs.
# Commands are word-split, except that a quoted 'sport = :P' stays one word for hyperfine.
row() {
    local key=$1 label=$2 a=$3 b=$4 n=$5 times rss_a rss_b sys_a sys_b
    wait_quiet
    log "$label: $a  vs  $b"
    times=$(medians "$n" "$a" "$b")
    rss_a=$(peak_rss "$a")
    rss_b=$(peak_rss "${b//\'/}")
    sys_a=$(syscalls "$a")
    sys_b=$(syscalls "${b//\'/}")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$key" "$label" "$a" "$b" \
        "${times% *}" "${times#* }" "$rss_a" "$rss_b" "$sys_a" "$sys_b" >>"$results"
}

# One size: start the workload, check portwho sees it, measure every query, stop it.
measure() {
    local procs socks extra line port target fd
    IFS=x read -r procs socks extra <<<"$size"
    extra=${extra:-20}
    log "size $size: starting $procs processes x $socks sockets (+$extra other fds)"
    # Its stdin is a pipe from this shell: if this script dies in any way, the workload
    # sees end of file and stops every process it started.
    coproc WORKLOAD { exec python3 "$repo/benches/workload.py" --procs "$procs" --socks "$socks" --extra-fds "$extra"; }
    wl_pid=$WORKLOAD_PID
    if ! read -r -t 600 -u "${WORKLOAD[0]}" line || [[ $line != READY* ]]; then
        die "workload did not start"
    fi
    read -r _ port target _ <<<"$line"
    sleep 1 # let the setup's short-lived state settle

    # Sanity: both tools see the same listening sockets, and portwho finds the holder.
    local pw_count ss_count
    pw_count=$("$pw" -n --listening --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    ss_count=$(ss -Htuln | wc -l)
    "$pw" --json ":$port" | python3 -c 'import json,sys
want = int(sys.argv[1])
pids = {p["pid"] for s in json.load(sys.stdin) for p in s["processes"]}
sys.exit(0 if want in pids else f"portwho :{sys.argv[2]} misses holder pid {want}: {sorted(pids)}")' "$target" "$port"
    local fds sockets
    # find fails on processes that exit while it walks; the count is still good.
    fds=$({ find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l)
    sockets=$(ss -Htuan | wc -l)
    # How portwho found the owners: the kernel's iterator (root, a kernel with BTF, at least
    # 3000 open files on the host) or /proc.
    local method
    method=$("$pw" -v --listening 2>&1 >/dev/null | grep -m1 'scanned the fds' | sed 's/^portwho: //')
    printf '%s\tinfo\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$procs" "$socks" "$extra" \
        "$port" "$fds" "$sockets" "$pw_count" "$ss_count" "$method" >>"$results"

    row listening "\`--listening\` vs \`ss -tulnp\`" "$pw --listening" "ss -tulnp" "$runs"
    row all "\`--all\` vs \`ss -tuanp\`" "$pw --all" "ss -tuanp" "$runs"
    row port "\`:$port\` vs \`ss -tlnp sport = :$port\`" "$pw :$port" "ss -tlnp 'sport = :$port'" "$runs"
    # The same two queries with owners found by walking /proc, as for a user who is not
    # root, a kernel without BTF or a small host (\`env\` adds its own start, about 0.5 ms).
    row proclistening "\`--listening\` through /proc (\`env PORTWHO_BPF=never\`) vs \`ss -tulnp\`" \
        "env PORTWHO_BPF=never $pw --listening" "ss -tulnp" "$runs"
    row procport "\`:$port\` through /proc (\`env PORTWHO_BPF=never\`) vs \`ss -tlnp sport = :$port\`" \
        "env PORTWHO_BPF=never $pw :$port" "ss -tlnp 'sport = :$port'" "$runs"
    row noowners "\`-n --no-owners --listening\` vs \`ss -tuln\`" "$pw -n --no-owners --listening" \
        "ss -tuln" "$runs"
    as_nobody=1
    row unpriv "\`-n --listening\` vs \`ss -tuln\`, both as uid 65534" "$pw -n --listening" "ss -tuln" "$runs"
    as_nobody=0
    row netstat "\`--listening\` vs \`netstat -tulnp\`" "$pw --listening" "netstat -tulnp" "$ref_runs"
    row lsof "\`-t --listening\` vs \`lsof -nP -iTCP -sTCP:LISTEN\`" "$pw -t --listening" \
        "lsof -nP -iTCP -sTCP:LISTEN" "$ref_runs"
    row fuser "\`:$port/tcp\` vs \`fuser $port/tcp\`" "$pw :$port/tcp" "fuser $port/tcp" "$ref_runs"
    row version "\`--version\` vs \`ss -V\` (startup)" "$pw --version" "ss -V" "$((runs * 20))"
    # The machine formats against the table they describe the same sockets as.
    row prometheus "\`--prometheus\` vs \`--listening\`" "$pw --prometheus" "$pw --listening" "$runs"
    row json "\`--listening --json\` vs \`--listening\`" "$pw --listening --json" "$pw --listening" "$runs"
    row jsonl "\`--listening --jsonl\` vs \`--listening\`" "$pw --listening --jsonl" "$pw --listening" "$runs"

    printf '%s\tbusy\t%s\n' "$size" "$busy_rows" >>"$results"
    busy_rows=0

    log "size $size: stopping the workload"
    fd=${WORKLOAD[1]}
    exec {fd}>&-
    wait "$wl_pid" || die "workload exited with status $?"
    wl_pid=
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for size in "${sizes[@]}"; do
    measure
done

# --- report -------------------------------------------------------------------------
python3 - "$results" "$started" "$runs" "$ref_runs" "$warmup" "$rss_runs" <<'EOF'
import os, platform, subprocess, sys

path, started, runs, ref_runs, warmup, rss_runs = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(path)]


def ms(seconds):
    v = float(seconds) * 1000
    return f"{v:.0f} ms" if v >= 100 else f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB" if kib else "?"


def ratio(a, b):
    return float(a) / float(b)


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError):
        return "?"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {started} on {os.cpu_count()} cores ({cpu}), Linux {platform.release()}; "
      f"{version(['ss', '-V'])}, {version(['hyperfine', '--version'])}.")
print(f"hyperfine: {runs} runs ({ref_runs} for netstat, lsof, fuser), half in each order, {warmup} warmup(s) per half, medians; "
      f"peak RSS: median of {rss_runs} run(s) of `/usr/bin/time -f %M`; "
      f"syscalls: `strace -c -f` total, one run. Each row waits for a host ≥ 90% idle. "
      f"portwho shows owners unless `-q`.")

TARGETS = {"listening": 0.5, "all": 0.5, "port": 0.3, "noowners": 1.2, "unpriv": 1.2}
for size in dict.fromkeys(r[0] for r in rows):
    info = next(r for r in rows if r[0] == size and r[1] == "info")
    _, _, procs, socks, extra, port, fds, sockets, pw_n, ss_n, method = info
    busy = int(next(r[2] for r in rows if r[0] == size and r[1] == "busy"))
    print(f"\n### {procs} processes × {socks} sockets (+{extra} other fds)\n")
    print(f"{int(sockets):,} TCP/UDP sockets and {int(fds):,} fds on the host; P = {port}; "
          f"listening sockets listed: portwho {pw_n}, ss {ss_n}"
          + (f"; **{busy} of the rows below started on a busy host** (under 90% idle)" if busy else "")
          + f".\nOwners (`portwho -v`): {method}.\n")
    print("| query | portwho median | reference median | ratio | portwho peak RSS | ref peak RSS "
          "| portwho syscalls | ref syscalls |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    got = {}
    for r in rows:
        if r[0] != size or r[1] in ("info", "busy"):
            continue
        _, key, label, _, _, t_pw, t_ref, rss_pw, rss_ref, sys_pw, sys_ref = r
        got[key] = r
        print(f"| {label} | {ms(t_pw)} | {ms(t_ref)} | {ratio(t_pw, t_ref):.2f}× "
              f"| {mib(rss_pw)} | {mib(rss_ref)} | {sys_pw or '?'} | {sys_ref or '?'} |")
    print("\nTargets:\n")
    names = {"listening": "`--listening` ≤ 0.5× `ss -tulnp`", "all": "`--all` ≤ 0.5× `ss -tuanp`",
             "port": "`:P` ≤ 0.3× `ss -tlnp sport = :P`",
             "noowners": "`-n --no-owners --listening` ≤ 1.2× `ss -tuln`",
             "unpriv": "`-n --listening` unprivileged ≤ 1.2× `ss -tuln`"}
    mark = lambda ok: "**met**" if ok else "**not met**"
    for key, limit in TARGETS.items():
        r = got[key]
        v = ratio(r[5], r[6])
        print(f"- {names[key]}: {v:.3f}× — {mark(v <= limit)}")
    rss = {k: ratio(got[k][7], got[k][8]) for k in TARGETS}
    each = ", ".join(f"`{k}` {v:.2f}×" for k, v in rss.items())
    print(f"- peak RSS ≤ 1.5× ss's, in each of the five rows above ({each}): "
          f"{mark(max(rss.values()) <= 1.5)}")
    v = float(got["version"][5]) * 1000
    print(f"- `--version` < 2 ms: {v:.2f} ms — {mark(v < 2)}")
    fleet = {"prometheus": ("`--prometheus` ≤ 1.1× `--listening`", 1.1),
             "json": ("`--listening --json` ≤ 1.3× `--listening`", 1.3),
             "jsonl": ("`--listening --jsonl` ≤ 1.3× `--listening`", 1.3)}
    for key, (name, limit) in fleet.items():
        v = ratio(got[key][5], got[key][6])
        print(f"- {name}: {v:.3f}× — {mark(v <= limit)}")
    slow = {k: ratio(got[k][5], got[k][6]) for k in ("proclistening", "procport") if k in got}
    if slow:
        print(f"- through /proc (a host under 3000 open files, not root, or a kernel without BTF): `--listening` "
              f"{slow['proclistening']:.3f}× (target 0.5×), `:P` {slow['procport']:.3f}× (target 0.3×)")
EOF
