# Two commands on a fresh machine:
#   make demo   - set up (.venv, pinned CPU torch, the project) and run `embedstore demo`
#   make test   - set up, check the house rules (`make lint`) and run the whole test suite (what .ci/run calls)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-$(shell cat pyproject.toml requirements-ci.txt requirements-s3.txt 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml requirements-ci.txt requirements-s3.txt scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/embedstore demo --out embedstore-demo

test: setup lint
	OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider

# The house rules (docs/architecture.md): style, layers / independence / no cycles (pyproject
# [tool.importlinter]) and types of the checked rooms (pyproject [tool.mypy]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --config-file pyproject.toml

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) embedstore-demo
