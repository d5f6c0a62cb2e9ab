# Relais: `make run` starts the forum on its defaults, `make test` runs every test.
# Both set everything up first on a fresh Debian machine with Python 3.11.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.toml
STAMP  := $(VENV)/.installed

.PHONY: run test bench install system-deps clean

# Debian's python3 has no venv module until python3-venv is installed.
system-deps:
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "Installing python3-venv (Debian package)…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q python3-venv; }

$(STAMP): setup.cfg pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/relais --config $(CONFIG) init
	$(BIN)/relais --config $(CONFIG) serve

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var *.egg-info
