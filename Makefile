# aof: `make` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install system demo test test-fast date-check lint docs bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install aof with its dev tools
	@echo "aof installed: $(BIN)/aof  (activate with: . $(BIN)/activate)"

# Debian packages the tests use for real: a C compiler (the suite on another day), tmux
# (agents in tmux), bash (completion), chromium and its driver (the dashboard in a real
# browser). Installed when missing, as root or through sudo.
SYSTEM_PACKAGES := gcc libc6-dev tmux bash chromium chromium-driver redis-server

system: ## Install the system packages the tests use (Debian/Ubuntu: apt-get)
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing:$$missing"; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(STAMP) ## Run the demo: the daemon runs a demo fleet's task graph with the demo coder
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest -q

test-fast: $(STAMP) ## Run the tests, skipping the slow real-process races
	$(BIN)/pytest -q -m "not slow"

# The whole suite again with the machine's wall clock 400 days ahead: tests/support/clockshift.c,
# preloaded into the run, moves CLOCK_REALTIME, time() and gettimeofday() of every process in
# it (children and git included); monotonic time, sleeps and timeouts stay real. A test that
# mixes a fixed clock with real processes or real time fails here, whatever today is.
SHIFT_S := 34560000
$(VENV)/clockshift.so: tests/support/clockshift.c Makefile
	mkdir -p $(VENV) && cc -shared -fPIC -O2 -DSHIFT_S=$(SHIFT_S) -o $@ $< -ldl

date-check: $(STAMP) $(VENV)/clockshift.so ## Run the tests with the machine's clock on another day
	AOF_CLOCK_SHIFT_S=$(SHIFT_S) LD_PRELOAD=$(CURDIR)/$(VENV)/clockshift.so \
		$(BIN)/pytest -q -p no:cacheprovider

# The generated files are checked schemas first, as `make docs` writes them before the MCP
# reference: gen_mcp_docs builds a fleet root, and `aof init` copies schemas/ into it.
lint: $(STAMP) ## ruff (lint and format), mypy --strict, and the generated references
	$(BIN)/ruff check aof tests bench
	$(BIN)/ruff format --check aof tests bench
	$(BIN)/mypy
	$(BIN)/python scripts/gen_schemas.py --check
	$(BIN)/python scripts/gen_cli_docs.py --check
	$(BIN)/python scripts/gen_mcp_docs.py --check

docs: $(STAMP) ## Regenerate docs/cli.md, docs/mcp-tools.md and the registry schemas
	$(BIN)/python scripts/gen_cli_docs.py
	$(BIN)/python scripts/gen_schemas.py
	$(BIN)/python scripts/gen_mcp_docs.py

bench: $(STAMP) ## Run the benchmarks (writes bench/results/)
	$(BIN)/python bench/run.py

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
