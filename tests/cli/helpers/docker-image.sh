#!/usr/bin/env bash
# The docker tests' image, portwho-test-busybox:latest, built from this host's static
# busybox when docker does not have it yet (a no-op when it does):
#
#   tests/cli/helpers/docker-image.sh
#
# The image holds /bin/busybox (Debian's busybox-static) and the links /bin/sh,
# /bin/httpd, /bin/nc and /bin/sleep to it, nothing else: `docker import` of a tarball,
# so no registry, no Dockerfile, no network. .ci/run calls it, and so do the tests'
# helpers (tests/cli/containers.rs) before their first container. Concurrent callers
# wait for each other (flock). Needs docker and a static /bin/busybox.
set -euo pipefail

image=portwho-test-busybox:latest
busybox=/bin/busybox

fail() {
    echo "docker-image.sh: $*" >&2
    exit 1
}

command -v docker >/dev/null || fail "docker is not installed (Debian: apt-get install docker.io)"
present() { docker image inspect "$image" >/dev/null 2>&1; }
present && exit 0

# One builder at a time; the others find the image when they get the lock.
exec 9>/tmp/portwho-test-docker-image.lock
flock 9
present && exit 0

[ -x "$busybox" ] || fail "$busybox is missing (Debian: apt-get install busybox-static)"
work=$(mktemp -d /tmp/portwho-test-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/tmp" "$work/root/www"
cp "$busybox" "$work/root/bin/busybox"
for applet in sh httpd nc sleep; do
    ln -s busybox "$work/root/bin/$applet"
done
tar -C "$work/root" --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
docker import --change 'CMD ["/bin/sh"]' --change 'WORKDIR /www' \
    --message "portwho tests: $busybox and links to it" \
    "$work/rootfs.tar" "$image" >/dev/null

# A busybox that needs shared libraries (Debian's busybox rather than busybox-static)
# cannot run in an image that has none: say so now, not in every test.
if ! out=$(docker run --rm --network none "$image" /bin/sh -c 'echo ok' 2>&1) || [ "$out" != ok ]; then
    docker image rm "$image" >/dev/null 2>&1 || true
    fail "$busybox does not run in the image (is it the static one? apt-get install busybox-static): $out"
fi
echo "docker-image.sh: built $image from $busybox" >&2
