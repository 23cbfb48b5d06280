# The two commands: `make run` and `make test`. Both set up a virtualenv from scratch when needed.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup models run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first: the pinned CPU build, so nothing below resolves a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

setup: $(STAMP)

models: setup
	$(BIN)/pixelray models build

run: models
	$(BIN)/serve run configs/local.yaml

test: models
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Not part of CI: loads the machine for several minutes (benchmarks/README.md has the figures).
bench: models
	PYTHONPATH=$(CURDIR) $(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pixelray
