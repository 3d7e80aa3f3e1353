# The two set-up commands of the README: `make demo` and `make test`. Both create .venv first.
# The first interpreter that really runs and is 3.11+ (pyenv shims exist for versions that are not installed).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CODE   := src tests benchmarks

.PHONY: env test test-fast compat lint format demo bench proto vendor clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" && $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "modelyard needs Python 3.11 or newer; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing modelyard and its dependencies into $(VENV) (about a minute the first time)"
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	@echo "==> ready: source $(VENV)/bin/activate"
	@touch $@

lint: env
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layers and forbidden imports of pyproject.toml [tool.importlinter]

format: env
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

test: lint
	$(BIN)/pytest

compat:  # modelyard beside the latest tritonclient[all] and kserve, in a fresh venv (downloads them; about 2 min)
	bash tests/compat/beside_triton_and_kserve.sh

test-fast: env  # in-process tests only: no server process, CLI or fresh interpreter (about a minute)
	$(BIN)/pytest -m "not e2e"

demo: env  # make demo ARGS="--http-port 8080"
	$(BIN)/modelyard demo $(ARGS)

# Regenerate the gRPC modules from protocol/grpc/grpc_predict_v2.proto with protoc 30 (grpcio-tools 1.72), in a
# venv of its own: its code loads on Protobuf 6.30 and later, which keeps modelyard installable beside tritonclient.
proto:
	test -x .proto-venv/bin/python || $(PYTHON) -m venv .proto-venv
	.proto-venv/bin/python -m pip install -q 'grpcio-tools==1.72.1'
	cd src/modelyard/protocol/grpc && ../../../../.proto-venv/bin/python -m grpc_tools.protoc -I. --python_out=. \
		--pyi_out=. grpc_predict_v2.proto

# The dashboard's browser libraries, from npm into the package's static files, where they are committed: a wheel
# or `pip install -e .` then serves the UI offline, with no CDN and no node at run time. To upgrade one, change its
# version here, run `make vendor`, look at the dashboard, and commit; tests/ui/test_vendor.py checks the pins.
UPLOT_VERSION := 1.6.32
HTMX_VERSION  := 2.0.11
VENDOR        := src/modelyard/ui/static/vendor
vendor:
	rm -rf .vendor && mkdir .vendor
	cd .vendor && npm pack --silent uplot@$(UPLOT_VERSION) htmx.org@$(HTMX_VERSION) >/dev/null
	mkdir .vendor/uplot .vendor/htmx
	tar -xzf .vendor/uplot-$(UPLOT_VERSION).tgz -C .vendor/uplot
	tar -xzf .vendor/htmx.org-$(HTMX_VERSION).tgz -C .vendor/htmx
	cp .vendor/uplot/package/dist/uPlot.iife.min.js .vendor/uplot/package/dist/uPlot.min.css $(VENDOR)/
	cp .vendor/uplot/package/LICENSE $(VENDOR)/LICENSE.uPlot
	cp .vendor/htmx/package/dist/htmx.min.js $(VENDOR)/
	cp .vendor/htmx/package/LICENSE $(VENDOR)/LICENSE.htmx
	rm -rf .vendor

bench: env
	$(BIN)/python benchmarks/registry.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
