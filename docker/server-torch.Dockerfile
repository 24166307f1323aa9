# syntax=docker/dockerfile:1
# gRPC segmentation server with torch (CPU): the lean server image plus torch and torchvision from the
# PyTorch CPU wheel index, for models of the torchvision, torch_export and torchscript runtimes. The lean
# image comes first (docker/server.Dockerfile): this one only adds a layer on top of it.
#
#   docker build -f docker/server.Dockerfile -t segmentation-server:0.1.0 .
#   docker build -f docker/server-torch.Dockerfile -t segmentation-server-torch:0.1.0 .
#   docker run --rm -p 127.0.0.1:50051:50051 -e SEGMENTATION_MODELS='[]' segmentation-server-torch:0.1.0
#
# torchvision weights download into TORCH_HOME on first use (mount a volume there), or mount a model
# repository of your own with state dicts (SEGMENTATION_MODEL_REPOSITORY). See docs/deploy.md.

# The lean server image this adds torch to.
ARG BASE_IMAGE=segmentation-server:0.1.0
FROM ${BASE_IMAGE}
# The CPU wheels carry no CUDA libraries (about 1.5 GB smaller than PyPI's torch, which is the CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
USER 0:0
COPY pyproject.toml docker/requirements.py /tmp/torch-requirements/
# Versions are the pins of pyproject.toml (requirements.py reads them).
RUN python /tmp/torch-requirements/requirements.py torch --pyproject /tmp/torch-requirements/pyproject.toml \
        > /tmp/torch-requirements/torch.txt \
    && /opt/venv/bin/pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" -r /tmp/torch-requirements/torch.txt \
    && rm -rf /tmp/torch-requirements \
    && mkdir -p /home/app/.cache/torch \
    && chown -R 10001:10001 /home/app/.cache
ENV TORCH_HOME=/home/app/.cache/torch
USER 10001:10001
