# paygrant: `make run` starts the pair on the embedded profile, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint proto bench clean

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

proto: install
	$(BIN)/python -m paygrant.codegen

bench: install
	$(BIN)/python -m bench.relay_throughput
	$(BIN)/python -m bench.ownership_check

clean:
	rm -rf $(VENV) var
