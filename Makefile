# wawp-gateway: `make run` starts everything locally, `make test` checks everything.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: run test lint types unit integration fmt generate bench chaos clean install

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
test: $(STAMP) lint types
	$(BIN)/wawp-gateway generate --check
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

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
## plus the HTTP stacks; writes bench/results/*.json and bench/results/latest.md
bench: $(STAMP)
	$(BIN)/python -m bench --scenarios all

## chaos: the big chaos run (a few minutes): 20,000 commands, 10 kill -9 of workers, 3 workers;
## `make test` runs the same test small. Knobs: tests/chaos/harness.py (ChaosSize)
chaos: $(STAMP)
	CHAOS_COMMANDS=20000 CHAOS_KILLS=10 CHAOS_WORKERS=3 $(BIN)/pytest tests/chaos -q -s

clean:
	rm -rf $(VENV) .run .mypy_cache .ruff_cache .pytest_cache .hypothesis
