# The two commands: `make run` and `make test`. Both set up a virtualenv from scratch when needed.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup models run lint test test-cluster load bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first: the pinned CPU build, so nothing below resolves a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

setup: $(STAMP)

models: setup
	$(BIN)/pixelray models build

# A Ray cluster of its own; RAY_ADDRESS=host:port joins a running one instead (scripts/run.sh).
run: models
	BIN=$(BIN) scripts/run.sh configs/local.yaml

# Lint, format and types: pinned in the dev extra and configured in pyproject.toml; zero findings.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Lint first: a finding fails in seconds instead of after the suite.
test: models lint
	sh scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Not part of CI: loads the machine for several minutes (benchmarks/README.md has the figures).
bench: models
	sh scripts/ensure-wrk.sh
	PYTHONPATH=$(CURDIR) $(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Several Ray nodes on this machine; one dies under traffic (not part of `make test`: ~2 min).
test-cluster: models
	$(BIN)/python -m pytest -p no:cacheprovider -m cluster -s tests/cluster $(PYTEST_ARGS)

# Locust, headless, against `serve run configs/local.yaml`; fails on errors or slow reads.
load: models
	BIN=$(BIN) benchmarks/load.sh

clean:
	rm -rf $(VENV) .pixelray
