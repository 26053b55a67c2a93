#!/usr/bin/env bash
# A/B benchmark: did a change move portwho's performance? Times two builds side by side.
#
#   benches/compare.sh [--runs N] OLD_BINARY NEW_BINARY [PROCSxSOCKS[xOTHERFDS] ...]
#
# For each size (default 500x20, 20 other fds per process) it starts benches/workload.py
# once, checks that both binaries print the same thing, then times both with hyperfine on
# the same six queries and measures their peak RSS (GNU time). Prints one markdown table
# on stdout: command, old and new median, new/old ratio, old and new peak RSS. Progress
# goes to stderr. Runs as root on Linux (both binaries run as root); installs hyperfine
# and GNU time from Debian's packages when missing; leaves nothing running behind.
set -Eeuo pipefail
trap 'echo "compare.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
    cat <<'EOF'
Options:
  --runs N    timed runs per command and binary (default 20), half old first, half new first
  -h, --help  this text
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 2
}
log() { echo "== $*" >&2; }

runs=20
warmup=2
rss_runs=3
args=()
while [ $# -gt 0 ]; do
    case $1 in
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
    --)
        shift
        args+=("$@")
        break
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) args+=("$1") ;;
    esac
    shift
done
[ ${#args[@]} -ge 2 ] || {
    usage >&2
    exit 2
}
old_bin=${args[0]}
new_bin=${args[1]}
sizes=("${args[@]:2}")
[ ${#sizes[@]} -gt 0 ] || sizes=(500x20)
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
for size in "${sizes[@]}"; do
    [[ $size =~ ^[1-9][0-9]*x[1-9][0-9]*(x[0-9]+)?$ ]] || die "bad size '$size' (want PROCSxSOCKS or PROCSxSOCKSxOTHERFDS)"
done
for bin in "$old_bin" "$new_bin"; do
    if ! [ -f "$bin" ] || ! [ -x "$bin" ]; then die "not an executable file: $bin"; fi
done

[ "$(uname -s)" = Linux ] || die "Linux only"
[ "$(id -u)" = 0 ] || die "run as root: both binaries are measured as root (owners of every process's sockets)"
repo=$(cd "$(dirname "$0")/.." && pwd)

# --- tools --------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# --- scratch space and teardown -----------------------------------------------------
tmp=$(mktemp -d /tmp/portwho-compare.XXXXXX)
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

# Both binaries copied under the same file name, so that they differ in nothing but their
# code (argv[0], the page cache), and so that hyperfine's two command lines differ even
# when the same binary is given twice.
install -d "$tmp/old" "$tmp/new"
install -m 755 "$old_bin" "$tmp/old/portwho"
install -m 755 "$new_bin" "$tmp/new/portwho"
old=$tmp/old/portwho
new=$tmp/new/portwho
results=$tmp/results.tsv
notes=$tmp/notes.txt
: >"$results"
: >"$notes"

# --- measuring ----------------------------------------------------------------------
# shellcheck source=benches/measure.sh
. "$repo/benches/measure.sh"

# hyperfine medians, in seconds, of the same arguments under both binaries: "OLD NEW".
medians() {
    interleaved_medians "$1" "$2" "$3" --output null
}

# Median peak RSS in KiB of one command line.
peak_rss() {
    median_rss "$tmp/rss" "$1"
}

# One row: label, then the arguments, given to both binaries.
row() {
    local label=$1 cmd_args=$2 times rss_old rss_new
    log "$size: $label"
    times=$(medians "$runs" "$old $cmd_args" "$new $cmd_args")
    rss_old=$(peak_rss "$old $cmd_args")
    rss_new=$(peak_rss "$new $cmd_args")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$label" "${times% *}" "${times#* }" \
        "$rss_old" "$rss_new" >>"$results"
}

# Do both binaries print the same thing? Only for queries whose output the workload keeps
# still (listening sockets and the one port P); `--all` also lists connections that come
# and go on the host (TIME_WAIT and the rest), so a difference there is only reported.
same_output() {
    local port=$1 stable=() differ=() moving=() q shown
    for q in "--listening" "--listening --json" ":$port" "--json :$port" "--all --json"; do
        shown=${q/:$port/:P}
        # shellcheck disable=SC2086
        "$old" $q >"$tmp/out-old" 2>/dev/null || true
        # shellcheck disable=SC2086
        "$new" $q >"$tmp/out-new" 2>/dev/null || true
        if cmp -s "$tmp/out-old" "$tmp/out-new"; then
            stable+=("\`$shown\`")
        elif [ "$q" = "--all --json" ]; then
            moving+=("\`$shown\`")
        else
            differ+=("\`$shown\`")
            log "WARNING: old and new print different things for '$q' (diff old new, first lines):"
            diff "$tmp/out-old" "$tmp/out-new" | head -n 20 >&2 || true
        fi
    done
    {
        if [ ${#differ[@]} -eq 0 ]; then
            printf '%s: outputs matched: old and new print the same stdout for %s' "$size" "${stable[*]}"
        else
            printf '%s: **WARNING: outputs differ** for %s' "$size" "${differ[*]}"
            [ ${#stable[@]} -eq 0 ] || printf '; same for %s' "${stable[*]}"
        fi
        if [ ${#moving[@]} -gt 0 ]; then
            printf '; %s differs, which connections coming and going on the host can explain' "${moving[*]}"
        fi
        printf '.\n'
    } | tee -a "$notes" | sed 's/^/== /' >&2
}

# One size: start the workload, check the outputs, measure every query, stop it.
measure() {
    local procs socks extra line port target fd bin method_old method_new
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

    # Sanity: each binary finds the holder of P (a warning, as for different outputs).
    for bin in "$old" "$new"; do
        "$bin" --json ":$port" 2>/dev/null | python3 -c 'import json,sys
want = int(sys.argv[1])
try:
    pids = {p["pid"] for s in json.load(sys.stdin) for p in s["processes"]}
except (ValueError, KeyError, TypeError) as e:
    sys.exit(f"== WARNING: {sys.argv[3]} --json :{sys.argv[2]} is not the JSON expected: {e}")
if want not in pids:
    sys.exit(f"== WARNING: {sys.argv[3]} :{sys.argv[2]} misses holder pid {want}: {sorted(pids)}")' \
            "$target" "$port" "${bin#"$tmp"/}" || true
    done
    same_output "$port"
    # How each found the owners (the kernel's iterator or /proc), in its own words.
    method_old=$("$old" -v --listening 2>&1 >/dev/null | grep -m1 'scanned the fds' | sed 's/^portwho: //' || true)
    method_new=$("$new" -v --listening 2>&1 >/dev/null | grep -m1 'scanned the fds' | sed 's/^portwho: //' || true)
    printf '%s: P = %s; owners, old: %s; new: %s.\n' "$size" "$port" "${method_old:-?}" "${method_new:-?}" >>"$notes"

    row "\`--listening\`" "--listening"
    row "\`--all\`" "--all"
    row "\`:P\`" ":$port"
    row "\`--listening --json\`" "--listening --json"
    row "\`--all --json\`" "--all --json"
    row "\`--json :P\`" "--json :$port"

    log "size $size: stopping the workload"
    fd=${WORKLOAD[1]}
    exec {fd}>&-
    wait "$wl_pid" || die "workload exited with status $?"
    wl_pid=
}

describe() {
    local v sum
    v=$("$2" --version 2>/dev/null | head -n 1 || true)
    sum=$(sha256sum "$2" | cut -c1-12)
    printf '%s: %s (%s, sha256 %s)' "$1" "$3" "${v:-?}" "$sum"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for size in "${sizes[@]}"; do
    measure
done

# --- report -------------------------------------------------------------------------
{
    echo "Measured $started on $(nproc) cores, Linux $(uname -r), $(hyperfine --version)."
    echo "$(describe old "$old" "$old_bin"); $(describe new "$new" "$new_bin")."
    echo "hyperfine -N: $runs run(s) per binary and command (half old first, half new first," \
        "$warmup warmups before each half), medians; peak RSS: median of $rss_runs runs of" \
        "\`/usr/bin/time -f %M\`; output to /dev/null; as root."
    echo
    cat "$notes"
    echo
} >"$tmp/head.md"
cat "$tmp/head.md"
python3 - "$results" "${#sizes[@]}" <<'EOF'
import sys

path, nsizes = sys.argv[1], int(sys.argv[2])
rows = [line.rstrip("\n").split("\t") for line in open(path)]


def ms(seconds):
    v = float(seconds) * 1000
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB" if kib else "?"


print("| command | old median ms | new median ms | new/old ratio | old RSS | new RSS |")
print("|---|--:|--:|--:|--:|--:|")
for size, label, t_old, t_new, rss_old, rss_new in rows:
    name = f"{label} ({size})" if nsizes > 1 else label
    print(f"| {name} | {ms(t_old)} | {ms(t_new)} | {float(t_new) / float(t_old):.2f}× "
          f"| {mib(rss_old)} | {mib(rss_new)} |")
EOF
