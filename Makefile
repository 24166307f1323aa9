# make run        - set up whatever is missing, then start the service
# make test       - set up whatever is missing, check lint and types, then run every test
# make test-fast  - the pure tests only (no server, bridge, browser or window): seconds
# make lint       - ruff, and mypy (--strict for the client library)
# make proto      - regenerate protos/*_pb2*.py from protos/*.proto (the generated modules are committed)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d" " -f1)
GRPC_PORT ?= 50051
REST_PORT ?= 8000
UI_PORT ?= 8501

.PHONY: setup run test test-fast lint models proto bench soak clean

setup: $(STAMP) models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[service,test,lint]'
	rm -f $(VENV)/.installed-*
	touch $@

proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. protos/*.proto

models: $(STAMP)
	@$(PY) scripts/fetch_models.py --repository model_repository --mirror ../shared/models

run: setup
	$(PY) scripts/run_stack.py --grpc-port $(GRPC_PORT) --rest-port $(REST_PORT) --ui-port $(UI_PORT)

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
