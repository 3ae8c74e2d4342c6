# Alpha Panda: `make run` brings the pipeline up on this machine, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install java kafka browser prometheus run test test-unit test-e2e broker-start broker-stop broker-status topics bench clean

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

install: $(STAMP) kafka

# Java and Maven for the embedded Kafka broker: installed with apt when missing (as root on
# Debian/Ubuntu); otherwise `kafka` says what is missing and `run` falls back to Tansu.
java:
	@if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing a JDK and Maven with apt-get for the embedded Kafka broker"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null 2>&1 \
		  || { apt-get update -qq >/dev/null 2>&1 && \
		       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null 2>&1; }; } \
		|| echo "could not install a JDK and Maven with apt-get: the embedded broker falls back to Tansu"; \
	else \
		echo "java or mvn not found and apt-get unavailable (or not root): install a JDK 17+ and Maven, or the embedded broker falls back to Tansu"; \
	fi

# The pinned Apache Kafka (and the other major, for its compatibility test) from Maven Central
# into .kafka/ (git-ignored); a no-op once there.
kafka: $(STAMP) java
	@$(PY) -c 'import sys; from alphapanda.embedded_broker.install import main; sys.exit(main(sys.argv[1:]))'

run: install
	$(VENV)/bin/alphapanda run

# $(call from_apt,PRESENT,PACKAGE,WHAT FOR): nothing when the shell test PRESENT holds; else
# Debian's PACKAGE with apt-get (as root, updating the lists once if the first try fails), and a
# failed install stops `make test` rather than letting those tests skip; without apt-get or root,
# a line saying what goes without it (those tests then skip themselves, naming what is missing,
# and pytest's summary lists every skip with its reason).
define from_apt
@if $(1); then :; \
elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	echo "installing $(2) with apt-get for $(3)"; \
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1 && \
	       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null 2>&1; }; } \
	|| { echo "apt-get could not install $(2), which $(3) need: run 'apt-get install $(2)' to see why"; exit 1; }; \
else \
	echo "$(2) not found and apt-get is unavailable (or not root): $(3) will be skipped"; \
fi
endef

# Debian's chromium for the dashboard tests (Playwright drives it by path; it never downloads a
# browser).
CHROMIUM ?= /usr/bin/chromium
browser:
	$(call from_apt,[ -x "$(CHROMIUM)" ],chromium,the browser tests)

# Debian's prometheus (it brings promtool) for the monitoring tests: the alert rules' unit tests
# and a real Prometheus scraping a real worker.
prometheus:
	$(call from_apt,command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1,prometheus,the monitoring tests)

# The browser tests' screenshots (the dashboard, the trader's view) end up here to look at.
SCREENSHOTS ?= $(CURDIR)/var/screenshots
# Two processes for the test files (most e2e time is waiting on brokers and workers), then the few
# tests that measure rates or wall time, alone. Both parts always run; either failing fails.
PYTEST := ALPHAPANDA_SCREENSHOTS=$(SCREENSHOTS) $(PY) -m pytest -q -rs -p no:cacheprovider
test: install browser prometheus
	@$(PYTEST) -n 2 --dist loadfile -m "not serial"; parallel=$$?; \
	$(PYTEST) -m serial; serial=$$?; \
	[ $$parallel -eq 0 ] && [ $$serial -eq 0 ]

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
