# wawp-gateway: `make run` starts everything locally, `make test` checks everything.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: run test lint types unit integration fmt generate bench chaos soak clean install prometheus

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

## run: install what is needed and start broker + Wawp sandbox + worker on 127.0.0.1
run: $(STAMP)
	$(BIN)/wawp-gateway dev

## test: lint, types and every test (unit + integration on the embedded broker)
test: $(STAMP) lint types prometheus
	$(BIN)/wawp-gateway generate --check
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

## prometheus: promtool and the prometheus server that tests/ops run (Debian package `prometheus`),
## installed only when promtool is missing. The tests start their own server on a free port, so the
## package's system service must not run: policy-rc.d (101) keeps it from starting during the
## install, and it is stopped and disabled afterwards in case an init system started it anyway.
prometheus:
	@command -v promtool >/dev/null 2>&1 || { \
	  set -e; sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  listening() { bash -c 'exec 3<>/dev/tcp/127.0.0.1/9090' 2>/dev/null; }; \
	  taken_before=; if listening; then taken_before=1; fi; \
	  policy=/usr/sbin/policy-rc.d; \
	  if [ ! -e $$policy ]; then \
	    trap '$$sudo rm -f '$$policy EXIT; \
	    printf '#!/bin/sh\nexit 101\n' | $$sudo tee $$policy >/dev/null; $$sudo chmod 755 $$policy; \
	  fi; \
	  install="$$sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends prometheus"; \
	  $$install || { $$sudo apt-get update -q && $$install; } \
	    || { echo "could not install the Debian package prometheus"; exit 1; }; \
	  if [ -d /run/systemd/system ]; then $$sudo systemctl stop prometheus >/dev/null 2>&1 || true; \
	  else $$sudo service prometheus stop >/dev/null 2>&1 || true; fi; \
	  $$sudo systemctl disable prometheus >/dev/null 2>&1 || true; \
	  $$sudo update-rc.d prometheus disable >/dev/null 2>&1 || true; \
	  if [ -z "$$taken_before" ] && listening; then \
	    echo "port 9090 is taken since prometheus was installed: stop its service (systemctl disable --now prometheus)"; \
	    exit 1; \
	  fi; \
	  command -v promtool >/dev/null; \
	}

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

fmt: $(STAMP)
	$(BIN)/ruff check --fix service tests bench
	$(BIN)/ruff format service tests bench

generate: $(STAMP)
	$(BIN)/wawp-gateway generate

## bench: the benchmark (about 20 minutes): gateway vs raw aiokafka+aiohttp vs naive FastStream, restore, webhook receiver,
## plus the HTTP stacks and the webhook window's memory with 1,000,000 ids; writes bench/results/*.json and
## bench/results/latest.md.
## `make bench BENCH_ARGS=--quick` is the smoke run (small counts, default scenarios, a few minutes).
BENCH_ARGS ?= --scenarios all
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## chaos: the big chaos run (a few minutes): 20,000 commands, 10 kill -9 of workers, 3 workers;
## `make test` runs the same test small. Knobs: tests/chaos/harness.py (ChaosSize)
chaos: $(STAMP)
	CHAOS_COMMANDS=20000 CHAOS_KILLS=10 CHAOS_WORKERS=3 $(BIN)/pytest tests/chaos -q -s

## soak: a steady rate through broker, sandbox, worker, webhook receiver and tracker for a set
## time (default 30 minutes at 300 commands/s), sampling each process's RSS, the lag, results, keys
## and metric series; prints the RSS slope after the warm-up and a verdict (bench/soak.py).
## Not part of `make test`. Knobs: make soak SOAK_ARGS="--minutes 10 --rate 200"
SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .run .mypy_cache .ruff_cache .pytest_cache .hypothesis
