#!/usr/bin/env bash
# Make the stand-in for python:3.11-slim-trixie where no container registry is reachable (CI here):
# a Debian root file system from the Debian mirror (mmdebstrap, minbase) with Debian's Python 3.11,
# venv and pip, laid out like the official image (`python` and `python3` on the PATH in /usr/local/bin,
# LANG=C.UTF-8), imported into podman. Build against it with --build-arg BASE_IMAGE=NAME.
#
#   scripts/make_base_image.sh [NAME]        (default localhost/segmentation-base:bookworm; needs root)
#
# The machine's own extra CA certificates (/usr/local/share/ca-certificates) go in too, and pip is told
# to use the system bundle, so pip inside a build trusts what the machine trusts (a TLS-inspecting proxy).
# docs/deploy.md says what differs from the official image.
set -euo pipefail
name=${1:-localhost/segmentation-base:bookworm}
engine=${CONTAINER_ENGINE:-podman}
suite=${BASE_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ca"
cp /usr/local/share/ca-certificates/*.crt "$work/ca/" 2>/dev/null || true

# Documentation, man pages and translations are of no use in a container: about 20 MB less.
mmdebstrap --variant=minbase --quiet \
    --include=python3.11,python3.11-venv,python3-pip,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="copy-in $work/ca/. /usr/local/share/ca-certificates/" \
    --customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null' \
    --customize-hook='ln -sf /usr/bin/python3.11 "$1/usr/local/bin/python"' \
    --customize-hook='ln -sf /usr/bin/python3.11 "$1/usr/local/bin/python3"' \
    --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" "$work/rootfs.tar" "$mirror"

"$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$work/rootfs.tar" "$name" >/dev/null
echo "$name"
