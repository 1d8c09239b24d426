# Two commands do everything: `make demo` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lifecircle demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.coordinates
	$(BIN)/python -m benchmarks.coverage
	$(BIN)/python -m benchmarks.siting

lint: $(STAMP)
	$(BIN)/ruff check lifecircle tests benchmarks

sample: $(STAMP)
	$(BIN)/python -m lifecircle.sample

clean:
	rm -rf $(VENV) out bench-results
