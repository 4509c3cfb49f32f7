# Every target sets up what it needs from a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run local-cdf test lint bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: for now, the local CDF on loopback.
run: $(STAMP)
	$(BIN)/oid-sync local-cdf

local-cdf: run

## The whole test suite, ruff included.
test: $(STAMP)
	$(BIN)/ruff check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/ruff format --check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check oid_sync_dagster oid_sync_dagster_tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.local_cdf_bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
