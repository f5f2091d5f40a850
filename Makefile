# The commands of README.md: `make demo` (install + demo run), `make test` (install + lint + all
# tests) and `make test-fast` (no whole-workflow runs, no ../shared files; under a minute).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test test-fast lint install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	@echo "Report: results/report.html"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

test: lint
	bash tests/install-system-deps.sh
	$(BIN)/pytest

test-fast: $(BIN)/.installed
	$(BIN)/pytest -q -m "not slow and not shared"

clean:
	rm -rf results logs resources/cohorts .snakemake
