# syntax=docker/dockerfile:1
# gRPC segmentation server, CUDA build: `python -m server` on 0.0.0.0:50051, Prometheus metrics on 9464.
# torch from PyPI's default wheels, which bundle the CUDA runtime libraries; the host needs only the NVIDIA
# driver and the NVIDIA Container Toolkit (which mounts the driver in when the container asks for a GPU).
# The int8 LiteRT DeepLab models are fetched (sha256-checked) at build time and baked in; torchvision
# weights download into TORCH_HOME on first use (mount a volume there), or mount a model repository of your
# own with state dicts (SEGMENTATION_MODEL_REPOSITORY).
#
#   docker build -f docker/server-cuda.Dockerfile -t segmentation-server-cuda:0.1.0 .   (from the repository root)
#   docker run --rm --gpus all -p 127.0.0.1:50051:50051 segmentation-server-cuda:0.1.0
#
# Settings are SEGMENTATION_* environment variables (server/config.py). See docs/deploy.md.

# ---- dependencies and generated protobuf code --------------------------------------------------
FROM python:3.11-slim-trixie AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml docker/requirements.py ./
# Everything from PyPI, torch included (its Linux x86_64 wheels are the CUDA build).
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

# ---- model files (a stage of its own, so a code change does not download them again) -------------
FROM python:3.11-slim-trixie AS models
WORKDIR /src
COPY scripts/fetch_models.py scripts/
COPY model_repository/ /model_repository/
# No mirror inside the build: the files come from upstream and must match their sha256.
RUN python scripts/fetch_models.py --repository /model_repository --mirror /nonexistent

# ---- runtime -------------------------------------------------------------------------------------
FROM python:3.11-slim-trixie AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-log-init --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir -p /home/app/.cache/torch \
    && chown -R app:app /home/app/.cache
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TORCH_HOME=/home/app/.cache/torch \
    SEGMENTATION_HOST=0.0.0.0 \
    SEGMENTATION_PORT=50051 \
    SEGMENTATION_METRICS_PORT=9464 \
    SEGMENTATION_MODEL_REPOSITORY=/app/model_repository \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=models /model_repository/ model_repository/
COPY --from=build /src/protos/ protos/
COPY server/ server/
COPY docker/healthcheck.py healthcheck.py
USER 10001:10001
EXPOSE 50051 9464
# SERVING once the default model is loaded; health needs no token.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "grpc"]
CMD ["python", "-m", "server"]
