# syntax=docker/dockerfile:1
# Streamlit UI: `streamlit run streamlit_app/app.py` on 0.0.0.0:8501, calling the gRPC server at
# UI_GRPC_TARGET. No torch in this image: it installs only what the UI and the client import.
#
#   docker build -f docker/ui.Dockerfile -t segmentation-ui:0.1.0 .      (from the repository root)
#   docker run --rm -p 8501:8501 -e UI_GRPC_TARGET=HOST:50051 segmentation-ui:0.1.0
#
# Settings are UI_* environment variables (streamlit_app/config.py); Streamlit's own are STREAMLIT_*
# (e.g. STREAMLIT_SERVER_PORT). See docs/deploy.md.

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
    && python requirements.py ui > requirements.txt \
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
# Headless (no browser to open, no e-mail prompt), no usage statistics sent anywhere.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/protos/ protos/
COPY segmentation_client/ segmentation_client/
COPY streamlit_app/ streamlit_app/
COPY docker/healthcheck.py healthcheck.py
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "/_stcore/health", "--port-env", "STREAMLIT_SERVER_PORT", "--port", "8501"]
CMD ["streamlit", "run", "streamlit_app/app.py"]
