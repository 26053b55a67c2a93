# shellcheck shell=bash disable=SC2154
# Measuring helpers shared by run.sh and compare.sh (sourced, not run).
# Both need $tmp (a scratch directory), $warmup and $rss_runs set by the caller (hence
# SC2154 off: shellcheck cannot see them).

# hyperfine medians, in seconds, of two command lines: "A B". hyperfine runs one command's
# runs, then the other's; so that load coming or going between them does not favour one
# side, half the runs go A then B and half B then A, and the medians are over both.
# Further arguments go to hyperfine.
interleaved_medians() {
    local n=$1 a=$2 b=$3
    shift 3
    rm -f "$tmp"/hyperfine-*.json
    hyperfine -N --style basic "$@" --warmup "$warmup" --runs $((n - n / 2)) \
        --export-json "$tmp/hyperfine-ab.json" "$a" "$b" >&2
    if [ $((n / 2)) -gt 0 ]; then
        hyperfine -N --style basic "$@" --warmup "$warmup" --runs $((n / 2)) \
            --export-json "$tmp/hyperfine-ba.json" "$b" "$a" >&2
    fi
    python3 - "$a" "$b" "$tmp"/hyperfine-*.json <<'PY'
import json, statistics, sys
a, b, *files = sys.argv[1:]
times = {a: [], b: []}
for f in files:
    for r in json.load(open(f))["results"]:
        times[r["command"]] += r["times"]
print(statistics.median(times[a]), statistics.median(times[b]))
PY
}

# Median peak RSS in KiB of one command line (word-split; no quoting needed here), each
# run written to OUT; any further arguments are a command that runs it (setpriv ...).
median_rss() {
    local out=$1 cmd=$2 i
    shift 2
    for ((i = 0; i < rss_runs; i++)); do
        # shellcheck disable=SC2086
        "$@" /usr/bin/time -f %M -o "$out" $cmd >/dev/null 2>&1 || true
        tail -n 1 "$out"
    done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
