# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv and install
# everything on first use, and are quick no-ops afterwards (the stamp file tracks pyproject.toml).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recpim-installed

.PHONY: demo test test-deep lint bench check-readme install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: this takes the CPU wheel on disk instead of a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/recpim demo --out out/demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Nightly-style: every property test with 20x its examples, random (tests/conftest.py, profile "deep").
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -m property

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Reruns every cheap figure the README quotes with the settings it states; prints quoted vs measured.
check-readme: $(STAMP)
	$(BIN)/python benchmarks/check_readme.py

clean:
	rm -rf out .pytest_cache
