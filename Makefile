# hypeledger: `make demo` runs the whole system, `make test` runs every test. Both install first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
TEST_WORKERS ?= 2

# Python keeps the modules it compiles (__pycache__/, which git ignores) even where the environment
# says not to: the suite and the demo start hundreds of service processes, and each one compiled
# hypeledger's modules from source again (0.12 s of CPU for a ledger's 64 modules here, where a
# pip-installed image has them compiled), and each pytest worker rewrote every test module again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install venv kafka-jars demo test soak lint fmt bench clean

help:
	@echo "make demo     start Postgres, Apache Kafka and every service; play and check"
	@echo "make test     run the whole test suite (unit, integration, e2e, chaos)"
	@echo "make lint     ruff, mypy --strict and import-linter"
	@echo "make soak     a 10-minute whole-system fault soak with a report (soak-report.md)"
	@echo "make bench    run the benchmarks under bench/ (slow)"

# `install` (tests, lint, benchmarks): the project with the `dev` extra. `make demo` installs only
# the `demo` extra (the local infrastructure, the simulator and the demo need nothing more).
install: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv EXTRA=dev
	@touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv EXTRA=demo
	@touch $(DEMO_STAMP)

venv:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hypeledger needs Python >= 3.11"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip setuptools wheel
	$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRA)]'

# The local Apache Kafka's jars come from Maven Central on the first run (with progress), then
# from the cache; without Java 17+ this says that Tansu stands in. Needs either install first.
kafka-jars:
	@$(PY) -m shared.infra.apache_kafka

demo: $(DEMO_STAMP) kafka-jars
	$(VENV)/bin/hypeledger demo

# Without PYTEST_ARGS: every test but the chaos and serial ones on two workers (pytest-xdist; each
# worker starts its own Postgres and broker), then those alone in one process: the chaos tests
# time restarts, and Schemathesis (serial) generates far fewer requests on an xdist worker. Both
# runs go to the end and either failing (or collecting nothing: pytest's 5) fails `make test`.
test: install kafka-jars
ifeq ($(strip $(PYTEST_ARGS)),)
	@status=0; \
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not chaos and not serial" || status=$$?; \
	$(PY) -m pytest -m "chaos or serial" || status=$$((status ? status : $$?)); \
	exit $$status
else
	$(PY) -m pytest $(PYTEST_ARGS)
endif

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services shared examples bench
	$(VENV)/bin/lint-imports

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The whole-system fault soak, 10 minutes (the suite runs a short one): docs/reliability.md.
soak: install kafka-jars
	$(PY) tests/chaos/soak.py --seconds 600 --players 60 --report soak-report.md

bench: install kafka-jars
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
