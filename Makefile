# Yuanshi — every target installs what it needs first.
#   make demo   run the whole system on an embedded chain: cars, settlement, claims, redemptions
#   make test   lint, type-check, verify the contract artifacts, run the whole test suite

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_OK  := $(VENV)/.installed
NODE_OK := node_modules/.installed

# The long stateful property run; CI uses this size (about five minutes of examples on this machine).
YUANSHI_STATEFUL_EXAMPLES ?= 150
export YUANSHI_STATEFUL_EXAMPLES

.PHONY: demo test lint typecheck contracts contracts-check postgres browser bench clean

$(PY_OK): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $@

$(NODE_OK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(PY_OK)
	$(VENV)/bin/yuanshi demo

test: $(PY_OK) $(NODE_OK) lint typecheck contracts-check postgres browser
	$(PY) -m pytest -n 2 --dist loadfile

postgres:
	bash scripts/ensure-postgres.sh

browser:
	bash scripts/ensure-browser.sh

lint: $(PY_OK)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(PY_OK)
	$(VENV)/bin/mypy

contracts: $(NODE_OK)
	node contracts/compile.mjs

contracts-check: $(NODE_OK)
	node contracts/compile.mjs --check

bench: $(PY_OK) $(NODE_OK)
	$(PY) -m bench.gas

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis test-output
