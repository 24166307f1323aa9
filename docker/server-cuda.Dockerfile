# syntax=docker/dockerfile:1
# gRPC segmentation server, CUDA build: the lean server image plus torch and torchvision from PyPI, whose
# Linux x86_64 wheels are the CUDA build and bundle the CUDA runtime libraries; the host needs only the
# NVIDIA driver and the NVIDIA Container Toolkit (which mounts the driver in when the container asks for
# a GPU). The lean image comes first (docker/server.Dockerfile): this one only adds a layer on top of it.
#
#   docker build -f docker/server.Dockerfile -t segmentation-server:0.1.0 .
#   docker build -f docker/server-cuda.Dockerfile -t segmentation-server-cuda:0.1.0 .
#   docker run --rm --gpus all -p 127.0.0.1:50051:50051 segmentation-server-cuda:0.1.0
#
# torchvision weights download into TORCH_HOME on first use (mount a volume there), or mount a model
# repository of your own with state dicts (SEGMENTATION_MODEL_REPOSITORY). See docs/deploy.md.

# The lean server image this adds torch to.
ARG BASE_IMAGE=segmentation-server:0.1.0
FROM ${BASE_IMAGE}
USER 0:0
COPY pyproject.toml docker/requirements.py /tmp/torch-requirements/
# Versions are the pins of pyproject.toml (requirements.py reads them).
RUN python /tmp/torch-requirements/requirements.py torch --pyproject /tmp/torch-requirements/pyproject.toml \
        > /tmp/torch-requirements/torch.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/torch-requirements/torch.txt \
    && rm -rf /tmp/torch-requirements \
    && mkdir -p /home/app/.cache/torch \
    && chown -R 10001:10001 /home/app/.cache
ENV TORCH_HOME=/home/app/.cache/torch \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
