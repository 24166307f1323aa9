# syntax=docker/dockerfile:1
# REST bridge: `python -m rest_bridge` (FastAPI on uvicorn) on 0.0.0.0:8000, calling the gRPC server at
# BRIDGE_GRPC_TARGET. No torch in this image: it installs only what the bridge and the client import.
#
#   docker build -f docker/bridge.Dockerfile -t segmentation-bridge:0.1.0 .      (from the repository root)
#   docker run --rm -p 127.0.0.1:8000:8000 -e BRIDGE_GRPC_TARGET=HOST:50051 segmentation-bridge:0.1.0
#
# Settings are BRIDGE_* environment variables (rest_bridge/config.py). See docs/deploy.md.

# The base image, a build argument so the same file builds on a stand-in where no registry is reachable
# (scripts/make_base_image.sh; docs/deploy.md).
ARG BASE_IMAGE=python:3.11-slim-trixie

# ---- dependencies and generated protobuf code --------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml docker/requirements.py ./
# Versions are the pins of pyproject.toml (requirements.py reads them).
RUN python -m venv /opt/venv \
    && python requirements.py bridge > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
    && python -m venv /opt/protoc \
    && python requirements.py protoc > protoc.txt \
    && /opt/protoc/bin/pip install --no-cache-dir -r protoc.txt
COPY protos/__init__.py protos/segmentation.proto protos/open_inference.proto protos/
RUN /opt/protoc/bin/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
        protos/segmentation.proto protos/open_inference.proto

# ---- runtime -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-log-init --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRIDGE_HOST=0.0.0.0 \
    BRIDGE_PORT=8000
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/protos/ protos/
COPY segmentation_client/ segmentation_client/
COPY rest_bridge/ rest_bridge/
COPY docker/healthcheck.py healthcheck.py
USER 10001:10001
EXPOSE 8000
# Liveness: the bridge answers. /readyz (the gRPC server behind it serves) is for load balancers.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "/healthz", "--port-env", "BRIDGE_PORT", "--port", "8000"]
CMD ["python", "-m", "rest_bridge"]
