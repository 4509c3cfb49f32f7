# Every target sets up what it needs from a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the browser test (Chromium, driven by Playwright), the Postgres topology test and the clock runs
# (faketime) need.
SYSTEM_PACKAGES := chromium chromium-driver postgresql faketime

# The `clock`-marked tests run again under Debian's faketime at four instants of the week: one item of the suite
# (oid_sync_dagster_tests/faketime/test_week_instants.py), which also lists the instants.
CLOCK_TEST := oid_sync_dagster_tests/faketime/test_week_instants.py
# Four workers on two cores: the whole-stack tests spend most of their time waiting on Dagster's daemons (a backfill
# daemon tick is 30 s), not on the CPU (clean-clone CI: 8m38 with four, 9m18 with three). Fed one test at a time
# (--maxschedchunk 1) in collection order, where the slow tests come first, longest first (conftest.py), so no worker
# idles at the end while another works through a queue.
# --durations: the slowest in sight.
PYTEST_ARGS ?= -n 4 --dist load --maxschedchunk 1 --durations=20
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps run local-cdf test test-clock lint screenshots bench bench-engine bench-dagster bench-first-run \
	bench-product bench-event-log clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Installs the missing ones of $(SYSTEM_PACKAGES) with apt-get (root, or sudo).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## The main job: Dagster (UI + daemon) on this code location, http://127.0.0.1:3000, instance in
## .oid_sync/dagster_home. Ctrl-C or SIGTERM stops it (another port: .venv/bin/oid-sync dev --port N).
run: $(STAMP)
	$(BIN)/oid-sync dev

## The local CDF on loopback (http://127.0.0.1:8765).
local-cdf: $(STAMP)
	$(BIN)/oid-sync local-cdf

## The whole test suite, ruff included; the clock-sensitive tests at four instants of the week among it.
test: $(STAMP) system-deps
	$(BIN)/ruff check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/ruff format --check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/pytest $(PYTEST_ARGS)

## Only the tests marked `clock`, under faketime at each instant of $(CLOCK_TEST).
test-clock: $(STAMP) system-deps
	$(BIN)/pytest -p no:xdist -s $(CLOCK_TEST)

lint: $(STAMP)
	$(BIN)/ruff check oid_sync_dagster oid_sync_dagster_tests benchmarks

## The README's pictures of the UI (docs/images/*.png) from a fresh `oid-sync dev` and headless Chromium (4 minutes).
screenshots: $(STAMP) system-deps
	$(BIN)/python -m oid_sync_dagster_tests.browser.screenshots

bench: $(STAMP)
	$(BIN)/python -m benchmarks.local_cdf_bench

## The engine's 12-week history against a bare-SDK ceiling, peak RSS, realtime (about 18 minutes).
bench-engine: $(STAMP)
	$(BIN)/python -m benchmarks.engine_bench

## A 12-week backfill of all series through `oid-sync dev` against the engine alone, in one run (about 12 minutes).
bench-dagster: $(STAMP)
	$(BIN)/python -m benchmarks.dagster_bench

## A fresh `oid-sync dev`: seconds until every (series, week) of the history is materialized and checked.
bench-first-run: $(STAMP)
	$(BIN)/python -m benchmarks.first_run_bench

## `oid-sync sync --weeks 4` (the product as a user runs it) against the bare-SDK ceiling (about 3 minutes).
bench-product: $(STAMP)
	$(BIN)/python -m benchmarks.product_bench

## What one event costs Dagster's event log on the shipped SQLite and PostgreSQL topologies (under a minute).
bench-event-log: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.event_log_bench --postgres

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
