#!/usr/bin/env bash
# The Debian package as a user gets it: build it with cargo-deb, install it with dpkg, check
# the binary, man page and completions are where the system looks for them, remove it.
# Runs as root (dpkg). Leaves an already installed portwho package alone.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so CI builds the same packager every time; `--locked` uses its own lock file.
cargo_deb_version=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
    cargo install cargo-deb --version "$cargo_deb_version" --locked
fi

if dpkg-query -W -f='${Status}' portwho 2>/dev/null | grep -q 'install ok installed'; then
    echo "package-test: a portwho package is installed already; not replacing it" >&2
    exit 1
fi

deb=target/debian/portwho.deb
cargo deb --output "$deb"

installed=no
scratch=
cleanup() {
    [ -z "$scratch" ] || rm -rf "$scratch"
    if [ "$installed" = yes ]; then
        dpkg -r portwho >/dev/null
    fi
}
trap cleanup EXIT

dpkg -i "$deb"
installed=yes

fail() {
    echo "package-test: $*" >&2
    exit 1
}

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
# The absolute path: a `cargo install`ed portwho may come first on PATH.
[ "$(/usr/bin/portwho --version)" = "portwho $version" ] ||
    fail "/usr/bin/portwho --version: $(/usr/bin/portwho --version)"
# 0 or 1 (listeners or none); 2 would be an error.
/usr/bin/portwho -q --listening || [ $? -eq 1 ] || fail "portwho --listening failed"

[ "$(man -w portwho)" = /usr/share/man/man1/portwho.1.gz ] ||
    fail "man -w portwho: $(man -w portwho 2>&1)"
warnings=$(man --warnings -l "$(man -w portwho)" 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "man portwho warns: $warnings"

for file in \
    /usr/share/bash-completion/completions/portwho \
    /usr/share/zsh/vendor-completions/_portwho \
    /usr/share/fish/vendor_completions.d/portwho.fish \
    /usr/share/doc/portwho/README.md; do
    [ -f "$file" ] || fail "$file is missing"
done
# The units that refresh node_exporter's textfile metrics: installed, valid, disabled.
units=/usr/lib/systemd/system
for unit in portwho-prometheus.service portwho-prometheus.timer; do
    [ -f "$units/$unit" ] || fail "$units/$unit is missing"
    if compgen -G "/etc/systemd/system/*.wants/$unit" >/dev/null; then
        fail "$unit is enabled; the package must ship it disabled"
    fi
done
if command -v systemd-analyze >/dev/null; then
    verified=$(systemd-analyze verify "$units/portwho-prometheus.service" \
        "$units/portwho-prometheus.timer" 2>&1) || fail "systemd-analyze verify: $verified"
fi
# The service's command as it stands in the unit, writing into a scratch directory instead
# of node_exporter's.
textfile=/var/lib/prometheus/node-exporter
exec_start=$(sed -n 's/^ExecStart=//p' "$units/portwho-prometheus.service")
case $exec_start in
"/usr/bin/portwho --prometheus --output $textfile/portwho.prom") ;;
*) fail "unexpected ExecStart: $exec_start" ;;
esac
scratch=$(mktemp -d)
/usr/bin/portwho --prometheus --output "$scratch/portwho.prom" || fail "the service's command failed"
grep -q '^# TYPE portwho_socket_listening gauge$' "$scratch/portwho.prom" ||
    fail "the service's command wrote no metrics: $(head -c 300 "$scratch/portwho.prom")"
if command -v promtool >/dev/null; then
    checked=$(promtool check metrics <"$scratch/portwho.prom" 2>&1) ||
        fail "promtool check metrics: $checked"
fi
[ "$(ls -A "$scratch")" = portwho.prom ] || fail "left behind: $(ls -A "$scratch")"
rm -rf "$scratch"

# bash-completion loads completions/NAME on first use; this is what it does then.
bash --norc -c 'source /usr/share/bash-completion/completions/portwho && complete -p portwho' |
    grep -q -- '-F _portwho_target' || fail "the bash completion does not register"

dpkg -r portwho >/dev/null
installed=no
[ ! -e /usr/bin/portwho ] || fail "/usr/bin/portwho is still there after dpkg -r"
[ -z "$(man -w portwho 2>/dev/null)" ] || fail "the man page is still there after dpkg -r"
[ ! -e "$units/portwho-prometheus.timer" ] || fail "the timer is still there after dpkg -r"

echo "package-test: $deb installs, works and removes cleanly"
