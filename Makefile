# make run        - set up whatever is missing, then start the service
# make test       - set up whatever is missing, check lint and types, then run every test
# make test-fast  - the pure tests only (no server, bridge, browser or window): seconds
# make lint       - ruff, and mypy (--strict for the client library)
# make proto      - regenerate protos/*_pb2*.py from protos/*.proto (the generated modules are committed)
# make images     - build the server (lean, no torch), bridge and UI images with podman (docker without it)
# make images-torch - the server's torch variants on top of the lean image: CPU and CUDA (GBs to download)
# make base-image - the Debian stand-in for python:3.11-slim-trixie (made on the way where no registry is reachable)
# make stack      - the compose stack in the background: gRPC 127.0.0.1:50051, REST :8000, UI :8501
# make stack-down - stop it (SIGTERM, then the services' grace periods); no container is left
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d" " -f1)
GRPC_PORT ?= 50051
REST_PORT ?= 8000
UI_PORT ?= 8501

# Containers: podman where installed, else docker (ENGINE=docker to choose). The project's podman settings
# (docker/containers.conf) are used unless CONTAINERS_CONF names others. BASE_IMAGE: see scripts/build_images.sh.
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE_TAG ?= 0.1.0
CONTAINERS_CONF ?= $(CURDIR)/docker/containers.conf
export CONTAINERS_CONF ENGINE IMAGE_TAG BASE_IMAGE

.PHONY: setup run test test-fast lint models proto bench soak clean images images-torch base-image stack stack-down

setup: $(STAMP) models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# OpenCV's contrib build replaced the plain one (the guided filter); the two must not share a venv.
	$(PY) -m pip uninstall -y -q opencv-python-headless 2>/dev/null || true
	$(PY) -m pip install -q -e '.[service,test,lint]'
	rm -f $(VENV)/.installed-*
	touch $@

proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. protos/*.proto

models: $(STAMP)
	@$(PY) scripts/fetch_models.py --repository model_repository --mirror ../shared/models

run: setup
	$(PY) scripts/run_stack.py --grpc-port $(GRPC_PORT) --rest-port $(REST_PORT) --ui-port $(UI_PORT)

base-image:
	CONTAINER_ENGINE=$(ENGINE) scripts/make_base_image.sh

images: models
	scripts/build_images.sh

images-torch: images
	scripts/build_images.sh torch

stack: images
	$(PY) scripts/stack.py up --engine $(ENGINE)

stack-down: $(STAMP)
	$(PY) scripts/stack.py down --engine $(ENGINE)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy --strict segmentation_client

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m pure $(PYTEST_ARGS)

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	test -x bench/.triton-venv/bin/python || /usr/bin/python3.11 -m venv bench/.triton-venv
	bench/.triton-venv/bin/python -m pip install -q --no-deps -r bench/requirements-triton.txt
	$(PY) -m bench $(BENCH_ARGS)

soak: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .tritonclient-venv bench/.triton-venv .pytest_cache .mypy_cache
