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
cleanup() {
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
# bash-completion loads completions/NAME on first use; this is what it does then.
bash --norc -c 'source /usr/share/bash-completion/completions/portwho && complete -p portwho' |
    grep -q -- '-F _portwho_target' || fail "the bash completion does not register"

dpkg -r portwho >/dev/null
installed=no
[ ! -e /usr/bin/portwho ] || fail "/usr/bin/portwho is still there after dpkg -r"
[ -z "$(man -w portwho 2>/dev/null)" ] || fail "the man page is still there after dpkg -r"

echo "package-test: $deb installs, works and removes cleanly"
