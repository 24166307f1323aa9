# make run   - set up whatever is missing, then start the service
# make test  - set up whatever is missing, then run the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d" " -f1)
PROTO_OUT := protos/segmentation_pb2.py protos/segmentation_pb2_grpc.py
GRPC_PORT ?= 50051
REST_PORT ?= 8000
UI_PORT ?= 8501

.PHONY: setup run test models proto bench soak clean

setup: $(STAMP) proto models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

proto: $(PROTO_OUT)

$(PROTO_OUT): protos/segmentation.proto $(STAMP)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. protos/segmentation.proto

models: $(STAMP)
	@$(PY) scripts/fetch_models.py --repository model_repository --mirror ../shared/models

run: setup
	$(PY) scripts/run_stack.py --grpc-port $(GRPC_PORT) --rest-port $(REST_PORT) --ui-port $(UI_PORT)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench $(BENCH_ARGS)

soak: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(PROTO_OUT) protos/segmentation_pb2.pyi .pytest_cache
