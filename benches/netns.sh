#!/usr/bin/env bash
# Namespace benchmark: does `portwho --netns all` over many network namespaces cost at most
# 3× what `portwho --listening` costs over the same sockets in one namespace?
#
#   benches/netns.sh [--namespaces N] [--procs P] [--socks S] [--runs R] BINARY
#   benches/netns.sh --setup-only [--namespaces N] [--procs P] [--socks S] [BINARY]
#
# Spread: N network namespaces (`ip netns add pwbench-<pid>-<i>`, lo up), each running
# benches/workload.py with P processes × S sockets (`ip netns exec`); default 50 × 1 × 200.
# Together: the host's own namespace running workload.py with N×P processes × S sockets,
# the same 10 000 sockets. BINARY is timed on `--netns all --listening` with the first and
# on `--listening` with the second (hyperfine, medians; peak RSS by GNU time), and one
# markdown table goes to stdout with the ratio and the target. Progress goes to stderr.
# Runs as root on Linux; removes every namespace and stops every process it started, on
# exit, error or signal.
set -Eeuo pipefail
trap 'echo "netns.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0"
    cat <<'EOF'
Options:
  --namespaces N  namespaces of the spread layout (default 50)
  --procs P       workload processes in each of them (default 1)
  --socks S       sockets per process (default 200)
  --runs R        timed runs per command (default 10)
  --setup-only    set both layouts up one after the other, print the namespace and socket
                  counts, tear them down; times nothing and needs no BINARY
  -h, --help      this text
EOF
}

die() {
    echo "netns.sh: $*" >&2
    exit 2
}
log() { echo "== $*" >&2; }

namespaces=50
procs=1
socks=200
runs=10
setup_only=0
bin=
while [ $# -gt 0 ]; do
    case $1 in
    --namespaces | --procs | --socks | --runs)
        [ $# -ge 2 ] || die "$1 needs a number"
        printf -v "${1#--}" '%s' "$2"
        shift
        ;;
    --namespaces=* | --procs=* | --socks=* | --runs=*)
        opt=${1%%=*}
        printf -v "${opt#--}" '%s' "${1#*=}"
        ;;
    --setup-only) setup_only=1 ;;
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
for n in namespaces procs socks runs; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "--$n must be a positive number, not '${!n}'"
done

[ "$(uname -s)" = Linux ] || die "Linux only"
[ "$(id -u)" = 0 ] || die "run as root: it creates network namespaces, and portwho must see every one"
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$setup_only" = 0 ]; then
    [ -n "$bin" ] || {
        usage >&2
        exit 2
    }
    if ! [ -f "$bin" ] || ! [ -x "$bin" ]; then die "not an executable file: $bin"; fi
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    # The option this benchmark is about; builds before it cannot be measured.
    if ! "$bin" --help 2>/dev/null | grep -q -- --netns; then
        die "$bin has no --netns option (its --help does not mention it): build portwho with the namespaces feature, or use --setup-only to try the setup alone"
    fi
fi

# --- tools --------------------------------------------------------------------------
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "$setup_only" = 0 ]; then
    command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
    [ -x /usr/bin/time ] || missing+=(time)
fi
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# --- scratch space, workloads and teardown ------------------------------------------
tmp=$(mktemp -d /tmp/portwho-netns.XXXXXX)
prefix=pwbench-$$-
created=() # namespaces this run added
wl_pids=() # workload.py processes this run started
wl_out=()  # their stdout files
feed=      # the write end of the pipe that is every workload's stdin

# Running, not a zombie waiting to be reaped (kill -0 succeeds on those).
alive() {
    local stat
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${stat%% *}" != Z ]
}

# Stop every workload (end of file on their stdin, then SIGTERM, then SIGKILL), kill
# whatever is left in the namespaces this run created, and delete them.
teardown() {
    local pid ns deadline
    if [ -n "$feed" ]; then
        exec {feed}>&-
        feed=
    fi
    deadline=$((SECONDS + 10))
    for pid in "${wl_pids[@]}"; do
        while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    deadline=$((SECONDS + 10))
    for pid in "${wl_pids[@]}"; do
        while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    done
    wl_pids=()
    wl_out=()
    for ns in "${created[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || log "WARNING: could not delete namespace $ns"
    done
    created=()
}
cleanup() {
    teardown
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Start workload.py (with NS, inside that namespace) on the shared stdin; no wait.
start_workload() {
    local ns=$1 nprocs=$2 out
    out=$tmp/workload-${#wl_out[@]}
    local cmd=(python3 "$repo/benches/workload.py" --procs "$nprocs" --socks "$socks")
    [ -z "$ns" ] || cmd=(ip netns exec "$ns" "${cmd[@]}")
    # Not the write end of its own stdin: it would never see end of file.
    "${cmd[@]}" <"$tmp/feed" >"$out" 2>"$out.err" {feed}>&- &
    wl_pids+=("$!")
    wl_out+=("$out")
}

# Every started workload says READY, or the run fails with what the first failure said.
wait_ready() {
    local i deadline=$((SECONDS + 300))
    for i in "${!wl_pids[@]}"; do
        until grep -q '^READY' "${wl_out[$i]}"; do
            if ! alive "${wl_pids[$i]}"; then
                die "a workload exited before READY: $(cat "${wl_out[$i]}.err")"
            fi
            [ "$SECONDS" -lt "$deadline" ] || die "workloads not READY after 300 s"
            sleep 0.1
        done
    done
}

# Set one layout up: spread (N namespaces × P processes) or together (the host's, N×P).
setup() {
    local layout=$1 i ns
    rm -f "$tmp/feed"
    mkfifo "$tmp/feed"
    exec {feed}<>"$tmp/feed"
    if [ "$layout" = spread ]; then
        log "spread: $namespaces namespaces × $procs process(es) × $socks sockets"
        for ((i = 0; i < namespaces; i++)); do
            ns=$prefix$i
            ip netns add "$ns"
            created+=("$ns")
            ip -n "$ns" link set lo up
            start_workload "$ns" "$procs"
        done
    else
        log "together: the host's namespace, $((namespaces * procs)) processes × $socks sockets"
        start_workload "" $((namespaces * procs))
    fi
    wait_ready
    sleep 1 # let the setup's short-lived state settle
}

# Sockets (`ss -Htan`, TCP; `ss -Htuan`, TCP and UDP; `ss -Htuln`, listening) in the
# namespaces this run created (or, with none, in the host's): "tcp all listening".
count_sockets() {
    local ns tcp=0 all=0 listening=0
    if [ ${#created[@]} -eq 0 ]; then
        echo "$(ss -Htan | wc -l) $(ss -Htuan | wc -l) $(ss -Htuln | wc -l)"
        return
    fi
    for ns in "${created[@]}"; do
        tcp=$((tcp + $(ip netns exec "$ns" ss -Htan | wc -l)))
        all=$((all + $(ip netns exec "$ns" ss -Htuan | wc -l)))
        listening=$((listening + $(ip netns exec "$ns" ss -Htuln | wc -l)))
    done
    echo "$tcp $all $listening"
}

host_before=$(ss -Htuan | wc -l)
host_listening=$(ss -Htuln | wc -l)

# --- setup only ---------------------------------------------------------------------
if [ "$setup_only" = 1 ]; then
    echo "netns.sh --setup-only: $namespaces namespaces × $procs process(es) × $socks sockets, then the host's namespace with $((namespaces * procs)) × $socks"
    echo "before: $(ip netns list | wc -l) named namespaces on the host, $host_before TCP/UDP sockets in the host's"
    setup spread
    echo
    echo "spread: $(ip netns list | wc -l) named namespaces on the host ($(ip netns list | grep -c "^$prefix") of this run), ${#wl_pids[@]} workloads READY"
    echo "| namespace | \`ss -Htan\` (TCP) | \`ss -Htuan\` (TCP, UDP) | workload pids |"
    echo "|---|--:|--:|---|"
    for i in "${!created[@]}"; do
        ns=${created[$i]}
        echo "| $ns | $(ip netns exec "$ns" ss -Htan | wc -l) | $(ip netns exec "$ns" ss -Htuan | wc -l) | $(ip netns pids "$ns" | tr '\n' ' ')|"
    done
    read -r tcp all listening <<<"$(count_sockets)"
    echo "| total | $tcp | $all ($listening listening) | |"
    spread_pids=$(for ns in "${created[@]}"; do ip netns pids "$ns"; done | sort -n)
    teardown
    left=$(ip netns list | grep -c "^$prefix" || true)
    still=0
    for pid in $spread_pids; do
        if alive "$pid"; then still=$((still + 1)); fi
    done
    echo "after teardown: $(ip netns list | wc -l) named namespaces ($left of this run), $still of $(echo "$spread_pids" | wc -w) workload processes still running"
    setup together
    read -r -a together_pids <<<"$(sed -n 's/^READY [0-9]* //p' "${wl_out[0]}")"
    read -r tcp all listening <<<"$(count_sockets)"
    echo
    echo "together: the host's namespace now holds $tcp TCP sockets (\`ss -Htan\`), $all TCP/UDP ($listening listening); $host_before before; ${#together_pids[@]} workload processes READY"
    teardown
    still=0
    for pid in "${together_pids[@]}"; do
        if alive "$pid"; then still=$((still + 1)); fi
    done
    echo "after teardown: $(ss -Htuan | wc -l) TCP/UDP sockets in the host's namespace, $still of ${#together_pids[@]} workload processes still running"
    exit 0
fi

# --- measuring ----------------------------------------------------------------------
warmup=2
rss_runs=3
# shellcheck source=benches/measure.sh
. "$repo/benches/measure.sh"

# Both layouts cannot be up at once (`--netns all` would list both), so hyperfine cannot
# alternate the two commands as measure.sh's interleaved_medians does. The runs go in
# three phases instead, spread (half), together (all), spread (half): load that comes or
# goes steadily during the run weighs on both sides alike.
# time_phase KEY N ARGS...: N timed runs of BINARY ARGS, appended to KEY's list.
phases=0
time_phase() {
    local key=$1 n=$2
    shift 2
    [ "$n" -gt 0 ] || return 0
    phases=$((phases + 1))
    log "$key: hyperfine, $n runs of $bin $*"
    hyperfine -N --style basic --warmup "$warmup" --runs "$n" \
        --export-json "$tmp/hyperfine-$key-$phases.json" "$bin $*" >&2
}

# Does portwho list what ss counts? A warning, not a failure.
check_count() {
    local want=$1 got
    shift
    got=$("$bin" "$@" --json 2>/dev/null | python3 -c 'import json, sys
v = json.load(sys.stdin)
print(len(v) if isinstance(v, list) else "not-a-list")' 2>/dev/null) || got=error
    if [ "$got" = "$want" ]; then
        log "portwho $* --json lists $got sockets, as ss counts"
    else
        log "WARNING: portwho $* --json lists $got sockets; ss counts $want"
    fi
    echo "$got"
}

first=$((runs - runs / 2))
second=$((runs / 2))
started=$(date -u '+%Y-%m-%d %H:%M UTC')

setup spread
read -r _ spread_all spread_listening <<<"$(count_sockets)"
net_namespaces=$(lsns -t net -n 2>/dev/null | wc -l)
spread_listed=$(check_count $((spread_listening + host_listening)) --netns all --listening)
time_phase spread "$first" --netns all --listening
rss_spread=$(median_rss "$tmp/rss" "$bin --netns all --listening")
teardown

setup together
read -r _ together_all together_listening <<<"$(count_sockets)"
together_listed=$(check_count "$together_listening" --listening)
time_phase together "$runs" --listening
rss_together=$(median_rss "$tmp/rss" "$bin --listening")
teardown

if [ "$second" -gt 0 ]; then
    setup spread
    time_phase spread "$second" --netns all --listening
    teardown
fi

# --- report -------------------------------------------------------------------------
python3 - "$tmp" "$started" "$bin" "$namespaces" "$procs" "$socks" "$runs" "$warmup" \
    "$rss_runs" "$host_before" "$host_listening" "$spread_all" "$spread_listening" \
    "$spread_listed" "$together_all" "$together_listening" "$together_listed" \
    "$rss_spread" "$rss_together" "$net_namespaces" <<'EOF'
import glob, json, os, platform, statistics, subprocess, sys

(tmp, started, binary, namespaces, procs, socks, runs, warmup, rss_runs, host_all,
 host_listening, spread_all, spread_listening, spread_listed, together_all,
 together_listening, together_listed, rss_spread, rss_together, net_namespaces) = sys.argv[1:]
host_all, host_listening = int(host_all), int(host_listening)


def times(key):
    out = []
    for f in glob.glob(f"{tmp}/hyperfine-{key}-*.json"):
        for r in json.load(open(f))["results"]:
            out += r["times"]
    return out


def ms(seconds):
    v = seconds * 1000
    return f"{v:.0f} ms" if v >= 100 else f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB" if kib else "?"


def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "?"


spread, together = times("spread"), times("together")
m_spread, m_together = statistics.median(spread), statistics.median(together)
ratio = m_spread / m_together
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
n = int(namespaces)
total = n * int(procs) * int(socks)
print(f"Measured {started} on {os.cpu_count()} cores ({cpu}), Linux {platform.release()}; "
      f"{first_line(['hyperfine', '--version'])}; `{binary}` ({first_line([binary, '--version'])}).")
print(f"{total:,} sockets ({socks} per process, 20 other fds each) either way: spread over {n} "
      f"namespaces × {procs} process(es), or together in the host's namespace with {n * int(procs)} "
      f"processes. The host's namespace held {host_all} TCP/UDP sockets of its own ({host_listening} "
      f"listening), which both commands list; {net_namespaces} network namespaces on the host "
      f"while spread. hyperfine: {len(spread)} and {len(together)} runs (-N, output to /dev/null, "
      f"{warmup} warmups per phase), in three phases: spread, together, spread; medians. "
      f"Peak RSS: median of {rss_runs} runs of `/usr/bin/time -f %M`.\n")
print("| query | sockets | listening listed (ss) | median | peak RSS |")
print("|---|--:|--:|--:|--:|")
print(f"| `--netns all --listening`, spread | {int(spread_all):,} in {n} namespaces + {host_all} "
      f"| {spread_listed} ({int(spread_listening) + host_listening}) | {ms(m_spread)} | {mib(rss_spread)} |")
print(f"| `--listening`, together | {int(together_all):,} in the host's (with its own) "
      f"| {together_listed} ({together_listening}) | {ms(m_together)} | {mib(rss_together)} |")
print(f"| ratio | | | **{ratio:.2f}×** | {int(rss_spread) / int(rss_together):.2f}× |")
print(f"\nTarget: `--netns all --listening` over {n} namespaces ≤ 3× `--listening` over the same "
      f"sockets in one: {ratio:.2f}× — **{'met' if ratio <= 3 else 'not met'}**")
EOF
