# The two commands the README promises: `make run` and `make test`. Each sets up its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: run test lint typecheck unit deps-check bench protos clean

$(STAMP): pyproject.toml sdk/pyproject.toml plugins/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e sdk -e plugins -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/planner run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check planner plugins sdk tests benchmarks examples
	$(BIN)/ruff format --check planner plugins sdk tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# The optional extras ([prophet]: a python-dateutil clash; [otlp]; [aic]) must resolve together with everything else.
deps-check: $(STAMP)
	$(BIN)/python -m pip install --dry-run --quiet -e sdk -e plugins -e ".[prophet,otlp,aic]"

test: lint typecheck deps-check unit

protos: $(STAMP)
	$(BIN)/python protos/generate.py

bench: $(STAMP)
	$(BIN)/python benchmarks/tick_overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
