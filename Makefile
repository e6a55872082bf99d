# The template repository's commands. `make demo` and `make test` are the README's two commands.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python

export DVC_NO_ANALYTICS := 1
export ITERATIVE_DO_NOT_TRACK := 1
export BENTOML_DO_NOT_TRACK := True

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast test-fresh lint bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed ## create .venv with the template's pinned dev tools
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --python $(PY) --quiet --compile-bytecode --group dev
	@touch $@

demo: setup ## bake the defaults into build/demo and run the whole local loop
	$(PY) scripts/demo.py

test: setup ## the template's test suite (bakes, lints, runs the generated project; three workers, slowest files first)
	@# --no-loadscope-reorder: xdist would hand out the files with the most tests first (its default), the
	@# slowest (a few long tests each) last; conftest.HEAVY_FIRST orders them instead. Three workers on two
	@# cores: the tests wait on servers, containers and git often enough that a third fills the gaps (the same
	@# commit: 20 min 12 s against 21 min 34 s with two, the same CPU)
	$(PY) -m pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=12

test-fresh: ## the fresh-machine check (root): purge the tests' system packages and the test cache, then make test
	bash scripts/fresh-machine-check.sh

test-fast: setup ## the template's tests without the slow ones that run a baked project
	$(PY) -m pytest -m "not slow"

lint: setup ## lint and type-check the template's own code (ruff, mypy)
	$(BIN)/ruff check hooks tests scripts benchmarks
	$(BIN)/ruff format --check hooks tests scripts benchmarks
	$(BIN)/mypy hooks tests scripts benchmarks

bench: setup ## benchmarks (minutes; see benchmarks/README.md)
	$(PY) benchmarks/run.py

clean: ## remove build/ and caches
	rm -rf build .pytest_cache .ruff_cache
