# paygrant: `make run` starts the pair on the embedded profile, `make test` runs the suite, `make chaos` the chaos run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test chaos lint proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/paygrant up

demo: install
	$(BIN)/paygrant demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# Hundreds of paid checkouts under crashes, a PostgreSQL restart, a Redis flush and bad callbacks;
# prints its figures (-s) and fails on any lost, doubled or false grant. PAYGRANT_CHAOS_SEED replays a run.
chaos: install
	$(BIN)/python -m pytest -s -m chaos tests/chaos

proto: install
	$(BIN)/python -m paygrant.codegen

bench: install
	$(BIN)/python -m bench.relay_throughput
	$(BIN)/python -m bench.ownership_check
	$(BIN)/python -m bench.replica_staleness
	$(BIN)/python -m bench.guarded_calls
	$(BIN)/python -m bench.purchase_stats
	$(BIN)/python -m bench.checkout
	$(BIN)/python -m bench.reconcile

clean:
	rm -rf $(VENV) var
