#!/usr/bin/env bash
# Where the kernel's fd iterator starts to pay: portwho with PORTWHO_BPF=always and =never
# on small loopback workloads, beside the host's open-file count (fs/file-nr), which is
# what portwho's default (PORTWHO_BPF=auto) compares with its threshold.
#
#   sudo benches/small-hosts.sh [PROCS ...]     # default: 10 25 50 100 200
#
# Needs root (only root loads the iterator), python3 and hyperfine (benches/run.sh installs
# it); builds the release binary first. Prints one line per size: medians of 40 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "small-hosts.sh: run as root" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "small-hosts.sh: needs hyperfine" >&2; exit 2; }
cargo build --release --quiet
pw="${CARGO_TARGET_DIR:-$PWD/target}/release/portwho"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 25 50 100 200)
json=$(mktemp)
trap 'rm -f "$json"' EXIT
echo "| processes × 20 sockets (+20 fds) | open files | \`:P\` always | \`:P\` never | \`--listening\` always | \`--listening\` never |"
echo "|--:|--:|--:|--:|--:|--:|"
for procs in "${sizes[@]}"; do
    coproc WORKLOAD { exec python3 benches/workload.py --procs "$procs" --socks 20 --extra-fds 20; }
    read -r -t 600 -u "${WORKLOAD[0]}" line
    [[ $line == READY* ]] || { echo "workload did not start" >&2; exit 1; }
    read -r _ port _ <<<"$line"
    sleep 1
    files=$(cut -f1 /proc/sys/fs/file-nr)
    hyperfine -N -w 5 -r 40 --export-json "$json" \
        "env PORTWHO_BPF=always $pw :$port" "env PORTWHO_BPF=never $pw :$port" \
        "env PORTWHO_BPF=always $pw --listening" "env PORTWHO_BPF=never $pw --listening" \
        >/dev/null 2>&1
    python3 - "$json" "$procs" "$files" <<'PY'
import json, sys
path, procs, files = sys.argv[1:]
ms = [f"{r['median'] * 1000:.1f} ms" for r in json.load(open(path))["results"]]
print(f"| {procs} | {files} | " + " | ".join(ms) + " |")
PY
    fd=${WORKLOAD[1]}
    exec {fd}>&-
    wait "$WORKLOAD_PID"
done
