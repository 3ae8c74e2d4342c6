# Alpha Panda: `make run` brings the pipeline up on this machine, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install browser run test test-unit test-e2e broker-start broker-stop broker-status topics bench clean

help:
	@echo "make run     install (first time), start the embedded broker and the pipeline with simulated data"
	@echo "make test    install (first time) and run every test"
	@echo "make test-unit | test-e2e | bench | broker-start | broker-stop | broker-status | topics | clean"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/alphapanda run

# Debian's chromium for the dashboard tests (Playwright drives it by path; it never downloads a
# browser). Installed with apt when missing; without apt or root the browser tests skip themselves.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium with apt-get for the browser tests"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
		  || { apt-get update -qq >/dev/null 2>&1 && \
		       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; } \
		|| echo "could not install chromium with apt-get: the browser tests will be skipped"; \
	else \
		echo "chromium not found at $(CHROMIUM) and apt-get is unavailable (or not root): the browser tests will be skipped"; \
	fi

test: install browser
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: install
	$(PY) -m pytest -q tests/unit tests/agents

test-e2e: install
	$(PY) -m pytest -q -m e2e

bench: install
	$(VENV)/bin/alphapanda bench

broker-start: install
	$(VENV)/bin/alphapanda broker start

broker-stop: install
	$(VENV)/bin/alphapanda broker stop

broker-status: install
	$(VENV)/bin/alphapanda broker status

topics: install
	$(VENV)/bin/alphapanda topics create

clean:
	rm -rf var .pytest_cache .hypothesis
