# Two commands do everything: `make demo` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Browser tests drive Debian's chromium headless; Chinese text needs a CJK font.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test bench lint sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

$(CHROMIUM) $(CJK_FONT):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium fonts-noto-cjk

demo: $(STAMP)
	$(BIN)/lifecircle demo

test: $(STAMP) $(CHROMIUM) $(CJK_FONT)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m benchmarks.coordinates
	$(BIN)/python -m benchmarks.coverage
	$(BIN)/python -m benchmarks.siting
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.batch
	$(BIN)/python -m benchmarks.registers

lint: $(STAMP)
	$(BIN)/ruff check lifecircle tests benchmarks tools examples
	$(BIN)/ruff format --check lifecircle tests benchmarks tools examples

sample: $(STAMP)
	$(BIN)/python -m tools.sample

clean:
	rm -rf $(VENV) out bench-results
