# Discerner: `make serve` sets everything up and serves the API; `make test` checks it all.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export DISCERNER_HOME ?= $(CURDIR)/discerner-data
export MLFLOW_DISABLE_TELEMETRY := true
PG_DIR ?= $(DISCERNER_HOME)/postgres

.PHONY: install test lint format serve serve-postgres bench clean

install: $(VENV)/.installed

# Reinstalls only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

test: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: install
	$(BIN)/discerner demo --url http://$(HOST):$(PORT)
	$(BIN)/discerner serve --host $(HOST) --port $(PORT)

# The same on a local PostgreSQL server in $(PG_DIR) (started unless it runs; stop it with
# `$(BIN)/python -m discerner.localpg stop $(PG_DIR)`).
serve-postgres: install
	$(BIN)/python -m discerner.localpg start $(PG_DIR)
	DISCERNER_STORE="$$($(BIN)/python -m discerner.localpg url $(PG_DIR))" $(MAKE) serve

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
