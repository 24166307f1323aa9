# syntax=docker/dockerfile:1
# gRPC segmentation server, the lean default: `python -m server` on 0.0.0.0:50051, Prometheus metrics on
# 9464. LiteRT and ONNX Runtime only, no torch: the models of model_repository/ that run on LiteRT (the
# DeepLab and selfie models, the default set) are baked in. Models with a torch runtime need the variant
# built on top of this image: docker/server-torch.Dockerfile (CPU) or docker/server-cuda.Dockerfile.
#
#   make models                              (copies the model files from ../shared/models when there)
#   docker build -f docker/server.Dockerfile -t segmentation-server:0.1.0 .      (from the repository root)
#   docker run --rm -p 127.0.0.1:50051:50051 segmentation-server:0.1.0
#
# Settings are SEGMENTATION_* environment variables (server/config.py). See docs/deploy.md.

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
    && python requirements.py server > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
    && python -m venv /opt/protoc \
    && python requirements.py protoc > protoc.txt \
    && /opt/protoc/bin/pip install --no-cache-dir -r protoc.txt
COPY protos/__init__.py protos/segmentation.proto protos/open_inference.proto protos/
RUN /opt/protoc/bin/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
        protos/segmentation.proto protos/open_inference.proto

# ---- model files (a stage of its own, so a code change does not fetch or check them again) ---------
FROM ${BASE_IMAGE} AS models
WORKDIR /src
COPY scripts/fetch_models.py scripts/
# The configs, and the weights and labels `make models` put beside them (from ../shared/models when
# there). Whatever is missing or does not match its sha256 is downloaded from its upstream URL here.
COPY model_repository/ /model_repository/
RUN python scripts/fetch_models.py --repository /model_repository --mirror /nonexistent

# ---- runtime -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-log-init --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SEGMENTATION_HOST=0.0.0.0 \
    SEGMENTATION_PORT=50051 \
    SEGMENTATION_METRICS_PORT=9464 \
    SEGMENTATION_MODEL_REPOSITORY=/app/model_repository
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=models /model_repository/ model_repository/
COPY --from=build /src/protos/ protos/
COPY segmentation_client/ segmentation_client/
COPY server/ server/
COPY docker/healthcheck.py healthcheck.py
USER 10001:10001
EXPOSE 50051 9464
# SERVING once the default model is loaded; health needs no token.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "grpc"]
CMD ["python", "-m", "server"]
