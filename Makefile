# Every target sets up what it needs from a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the browser test (Chromium, driven by Playwright), the Postgres topology test and the clock runs
# (faketime) need.
SYSTEM_PACKAGES := chromium chromium-driver postgresql faketime

# The instants (UTC) the `clock`-marked tests run at again, under Debian's faketime: Sunday noon (last week's source
# window complete), Sunday 23:59:30 (Monday 00:00 is crossed inside the tests), Monday 03:00 (realtime reaches back
# into last week) and a Wednesday. The clock starts there and runs on.
CLOCK_INSTANTS := 2026-12-06T12:00:00 2026-12-06T23:59:30 2026-12-07T03:00:00 2026-12-09T12:00:00
# Two workers for two cores, fed one test at a time (--maxschedchunk 1) in collection order, where the slow tests
# come first (conftest.py): the longest start first and the short ones fill in, so neither worker idles while the
# other works through a queue (the default chunks left one idle for minutes). --durations: the slowest in sight.
PYTEST_ARGS ?= -n 2 --dist load --maxschedchunk 1 --durations=20
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps run local-cdf test test-clock lint screenshots bench bench-engine bench-dagster bench-first-run clean

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

## The whole test suite, ruff included, then the clock-sensitive tests at four instants of the week.
test: $(STAMP) system-deps
	$(BIN)/ruff check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/ruff format --check oid_sync_dagster oid_sync_dagster_tests benchmarks
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-clock

## The tests marked `clock`, under faketime at each of $(CLOCK_INSTANTS).
test-clock: $(STAMP) system-deps
	bash oid_sync_dagster_tests/faketime/run.sh $(BIN)/pytest $(CLOCK_INSTANTS)

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
