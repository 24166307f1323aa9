#!/usr/bin/env bash
# Build the images from the repository root with podman (docker where podman is absent).
#
#   scripts/build_images.sh           the server (lean: LiteRT and ONNX Runtime, no torch), bridge and UI
#   scripts/build_images.sh torch     the server's torch variants, layers on top of the lean server image:
#                                     segmentation-server-torch (CPU wheels) and segmentation-server-cuda
#
# BASE_IMAGE picks the base of the server, bridge and UI images. Unset, it is python:3.11-slim-trixie
# when the engine has it or can pull it, else the Debian stand-in (scripts/make_base_image.sh, made here
# when missing), so the same command works where no registry is reachable. ENGINE and IMAGE_TAG (0.1.0)
# can be set too.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
tag=${IMAGE_TAG:-0.1.0}
official=python:3.11-slim-trixie
stand_in=localhost/segmentation-base:bookworm

build=("$engine" build)
# podman: keep HEALTHCHECK (the OCI format drops it), and build on the host's network (a rootful build's
# default network cannot reach the mirrors on some machines).
[ "$engine" = podman ] && build+=(--format docker --network host)

if [ "${1:-}" = torch ]; then
    "${build[@]}" --build-arg "BASE_IMAGE=segmentation-server:$tag" -f docker/server-torch.Dockerfile \
        -t "segmentation-server-torch:$tag" .
    "${build[@]}" --build-arg "BASE_IMAGE=segmentation-server:$tag" -f docker/server-cuda.Dockerfile \
        -t "segmentation-server-cuda:$tag" .
    exit
fi

base=${BASE_IMAGE:-}
if [ -z "$base" ]; then
    if "$engine" image inspect "$official" >/dev/null 2>&1 || "$engine" pull -q "$official" >/dev/null 2>&1; then
        base=$official
    else
        echo "build_images.sh: $official cannot be pulled here: building on the stand-in $stand_in" >&2
        base=$stand_in
    fi
fi
if [ "$base" = "$stand_in" ] && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    CONTAINER_ENGINE=$engine scripts/make_base_image.sh "$base"
fi
for image in server bridge ui; do
    "${build[@]}" --build-arg "BASE_IMAGE=$base" -f "docker/$image.Dockerfile" -t "segmentation-$image:$tag" .
done
