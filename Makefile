# DATAZENtr: `make up` runs the platform, `make test` runs every test. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROXY := node_modules/.bin/configurable-http-proxy

.PHONY: system-deps install up migrate billing-sync test lint format hooks typecheck unit integration e2e bench clean image labextension

# Debian/Ubuntu packages, each installed only when its command is missing:
# Python's venv, Node for the proxy, chromium for the browser tests.
# bubblewrap sandboxes the quality gates of project generation.
# docker.io runs users' sessions (and the Docker tests); debootstrap builds the base image.
SYSTEM_DEPS := node:nodejs npm:npm chromium:chromium git:git bwrap:bubblewrap \
  dockerd:docker.io debootstrap:debootstrap

system-deps:
	@missing=""; \
	for pair in $(SYSTEM_DEPS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	else echo "system packages present"; fi

install: $(VENV)/.installed $(PROXY)

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# rfc3987-syntax (an optional jsonschema format checker jupyter_events pulls in) builds a
	@# lark grammar when imported: 1.5 s of every hub, api and server start, 12 s on a busy
	@# 2-core machine. As in the single-user image: without it jsonschema only skips the
	@# iri/uri format checks, and `pip check` proves nothing else needs it.
	$(BIN)/python -m pip uninstall --quiet -y rfc3987-syntax lark
	$(BIN)/python -m pip check
	@touch $@

$(PROXY): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

up: install
	$(BIN)/python -m hub.launcher up

migrate: install
	$(BIN)/python -m hub.launcher migrate

# Billing: make Stripe's products and prices match the plans table (running it again
# changes nothing). Needs DATAZENTR_STRIPE_SECRET_KEY; see the README's "Billing".
billing-sync: install
	$(BIN)/python -m api.billing.catalogue

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Fix what ruff can (imports, upgrades), format everything, then show what is left to fix.
format: install
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

# Run ruff, mypy and the test-suite layout check before each commit (.pre-commit-config.yaml).
hooks: install
	$(BIN)/pre-commit install

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

test: lint typecheck
	$(BIN)/pytest tests

# The single-user image (and its registry-free base) on the engine at $DOCKER_HOST.
image: install
	$(BIN)/python -m hub.docker_images build

# Rebuild the JupyterLab front end (extensions/lab, TypeScript) into
# extensions/assistant/labextensions/ after changing it; the built output is committed, so
# installing and running the platform never needs this (nor Node packages for it).
labextension: install
	cd extensions/lab && npm ci --no-audit --no-fund --loglevel=error && npm run build

bench: install
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache test-artifacts
