#!/usr/bin/env bash
# Run one fuzz target for a while, seeded from fixtures/ and fuzz/seeds/:
#
#     bash fuzz/run.sh TARGET SECONDS
#
# TARGET is proc_net, netlink, target, cgroup, docker_proxy, process, escape,
# container_state, nftables, windows_table or socket_fdinfo. New inputs go to
# fuzz/corpus/TARGET (kept between runs, not committed); a crash is written to
# fuzz/artifacts/TARGET/ and ends the run with a non-zero status.
# Needs the nightly toolchain and `cargo install cargo-fuzz --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET SECONDS}
seconds=${2:-180}
fx=fixtures/linux
fc=fixtures/containers
case "$target" in
    proc_net) seeds=("$fx/basic/net" "$fx/broken/net") ;;
    netlink) seeds=(fuzz/seeds/netlink) ;;
    target) seeds=(fuzz/seeds/target) ;;
    cgroup) seeds=("$fx/cgroup") ;;
    docker_proxy) seeds=("$fx/docker-proxy") ;;
    process | escape) seeds=("$fx"/basic/[0-9]*/{comm,cmdline,stat,status}) ;;
    container_state)
        seeds=("$fc"/docker/var/lib/docker/containers/*
            "$fc"/containerd/run/containerd/io.containerd.runtime.v2.task/*/*
            "$fc"/podman/var/lib/containers/storage/overlay-containers) ;;
    # Made from the captured dumps below: each whole (first byte 0) and each phase alone (1).
    nftables) seeds=() ;;
    windows_table) seeds=(fixtures/windows) ;;
    socket_fdinfo) seeds=(fixtures/macos) ;;
    *) echo "unknown fuzz target '$target'" >&2; exit 2 ;;
esac
corpus=fuzz/corpus/$target
mkdir -p "$corpus"
# Regular files only: a captured tree's exe and cwd links point at whole binaries. Each
# is named after its path, since many share a name (every container's config.v2.json).
if [ "${#seeds[@]}" -gt 0 ]; then
    find "${seeds[@]}" -maxdepth 1 -type f -print0 |
        while IFS= read -r -d '' seed; do cp -n "$seed" "$corpus/${seed//\//_}"; done
fi
if [ "$target" = nftables ]; then
    for dir in fixtures/nftables/*/; do
        name=$(basename "$dir")
        { printf '\0'; cat "$dir"{gen,tables,chains,sets,rules,elements,gen-after}.bin; } \
            >"$corpus/fixture-$name"
        for phase in "$dir"*.bin; do
            { printf '\1'; cat "$phase"; } >"$corpus/fixture-$name-$(basename "$phase" .bin)"
        done
    done
fi
cd fuzz
exec cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1
