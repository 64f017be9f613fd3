# Thin, self-documenting targets. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup reports validate test lint benchmark clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the package with its test tools

reports: $(STAMP)  ## validate the timeline and render every report variant into reports/
	$(PY) -m analysis render

validate: $(STAMP)  ## check the timeline and print every problem
	$(PY) -m analysis validate

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest

lint: $(STAMP)  ## ruff lint and format check
	$(PY) -m ruff check analysis tests benchmarks
	$(PY) -m ruff format --check analysis tests benchmarks

benchmark: $(STAMP)  ## run the benchmarks and print their tables
	$(PY) benchmarks/run.py

clean:  ## remove the virtual environment and everything generated in reports/ (its README stays)
	rm -rf $(VENV)
	find reports -mindepth 1 ! -name README.md -exec rm -rf {} +
