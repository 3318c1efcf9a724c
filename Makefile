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

# Installs with uv when it can be had (it is itself a quick `pip install`, and it installs the
# wheels in seconds where pip takes minutes); with pip otherwise.
define pip_install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m uv --version >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet uv || true
	if $(BIN)/python -m uv --version >/dev/null 2>&1; then \
	  $(BIN)/python -m uv pip install --quiet --python $(BIN)/python $(1); \
	else $(BIN)/python -m pip install --quiet $(1); fi
endef

# Everything, with the dev tools (tests, notebooks, linters); again only when pyproject changes.
$(VENV)/.installed: pyproject.toml
	$(call pip_install,-e '.[dev]')
	touch $@ $(VENV)/.serving

# What serving needs, no more: `make serve` on a fresh clone installs only this.
$(VENV)/.serving: pyproject.toml
	$(call pip_install,-e .)
	touch $@

test: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: $(VENV)/.serving
	$(BIN)/discerner demo --url http://$(HOST):$(PORT)
	$(BIN)/discerner serve --host $(HOST) --port $(PORT)

# The same on a local PostgreSQL server in $(PG_DIR) (started unless it runs; stop it with
# `$(BIN)/python -m discerner.localpg stop $(PG_DIR)`).
serve-postgres: $(VENV)/.serving
	$(BIN)/python -m discerner.localpg start $(PG_DIR)
	DISCERNER_STORE="$$($(BIN)/python -m discerner.localpg url $(PG_DIR))" $(MAKE) serve

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
