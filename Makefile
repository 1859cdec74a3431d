# Two commands for a newcomer:
#   make demo   set up everything, then compare optimizers on real digits
#   make test   set up everything, then lint, type-check and run the suite
#
# Set-up is idempotent: a virtual environment in .venv, the package and its
# test tools installed into it, the database migrated by the commands that
# need it. Nothing here needs root except the optional system packages
# (a dataset and a browser), which are installed only when allowed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATASET ?= mnist-10k
# Extra pip arguments, e.g. PIP_EXTRA="--no-cache-dir".
PIP_EXTRA ?=

.PHONY: install install-test system-packages demo test lint typecheck pytest \
	bench clean

# The stamp files make `install` a no-op until pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_EXTRA) --upgrade pip
	$(BIN)/pip install $(PIP_EXTRA) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install $(PIP_EXTRA) -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Debian packages the suite uses: Fashion-MNIST and a headless browser.
# Installed when running as root with apt-get; otherwise the script says
# what to install and the tests that need them skip (never under CI).
system-packages:
	@sh scripts/system-packages.sh

demo: install
	$(BIN)/trainjobs demo --dataset $(DATASET)

lint: install-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install-test
	$(BIN)/mypy

pytest: install-test
	$(BIN)/python -m pytest

test: install-test system-packages lint typecheck pytest

bench: install-test
	@sh scripts/system-packages.sh bench
	$(BIN)/python -m bench.core_vs_bare
	$(BIN)/python -m bench.service
	$(BIN)/python -m bench.downsample

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
