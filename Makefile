# aof: `make` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint docs bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install aof with its dev tools
	@echo "aof installed: $(BIN)/aof  (activate with: . $(BIN)/activate)"

demo: $(STAMP) ## Run the demo: the daemon runs a demo fleet's task graph with the demo coder
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest -q

test-fast: $(STAMP) ## Run the tests, skipping the slow real-process races
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP) ## ruff, mypy, and the CLI reference check
	$(BIN)/ruff check aof tests bench
	$(BIN)/mypy
	$(BIN)/python scripts/gen_cli_docs.py --check
	$(BIN)/python scripts/gen_schemas.py --check
	$(BIN)/python scripts/gen_mcp_docs.py --check

docs: $(STAMP) ## Regenerate docs/cli.md, docs/mcp-tools.md and the registry schemas
	$(BIN)/python scripts/gen_cli_docs.py
	$(BIN)/python scripts/gen_schemas.py
	$(BIN)/python scripts/gen_mcp_docs.py

bench: $(STAMP) ## Run the benchmarks (writes bench/results/)
	$(BIN)/python bench/run.py

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
