# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both work on a fresh Debian machine as root, and again on one where everything already runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test unit typecheck lint docs venv rig rig-down bench clean

$(BIN)/coop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test,docs,dashboard]'
	@touch $(BIN)/coop

venv: $(BIN)/coop

rig:
	rig/up

rig-down:
	rig/down

## Main job: install coop, make sure a local engine is up, deploy the bundled demo app.
demo: venv
	rig/up --engine-only
	PATH="$(CURDIR)/$(BIN):$$PATH" demo/run

# Test files run in parallel (pytest-xdist, one file per worker at a time, so module fixtures stay
# shared): the integration tests mostly wait on the swarm, so 3 workers pay off even on 2 cores.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 3

## The whole test suite against the real rig (engine, registry, sshd, git, restic), after the type check.
test: venv lint typecheck rig
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

## mypy --check-untyped-defs over src/ (settings in pyproject.toml).
typecheck: venv
	$(BIN)/mypy

## ruff: lint rules and formatting (settings in pyproject.toml); a finding fails `make test`.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The documentation site into site/ (mkdocs-material; warnings are errors). The reference is generated from the code.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d site

## Fast pure tests only (no rig needed).
unit: venv
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/cli

bench: venv
	$(BIN)/python benchmarks/startup

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
