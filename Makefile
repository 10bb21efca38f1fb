# The README's two commands: `make quickstart` and `make test`. Both create or reuse .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QS_DIR ?= quickstart_out

.PHONY: install test lint quickstart doctor clean-venv

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt requirements/lmms-eval-runtime.txt scripts/install.sh
	bash scripts/install.sh $(VENV)
	@touch $(STAMP)

test: lint
	$(BIN)/python -m pytest -q --durations=15

# ruff (pyproject.toml), the stage layering (.importlinter) and no import cycles (scripts/check_cycles.py)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_cycles.py

quickstart: $(STAMP)
	$(BIN)/llava-ecg quickstart -o $(QS_DIR)

doctor: $(STAMP)
	$(BIN)/llava-ecg doctor

clean-venv:
	rm -rf $(VENV)
