# The two commands: `make demo` and `make test`. Both run the same idempotent setup first.
.PHONY: setup demo test check bench clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) scripts/demo.py

test: setup
	$(VENV)/bin/pytest -q

check: setup
	$(VENV)/bin/ruff check src tests bench scripts examples
	$(VENV)/bin/mypy src

bench: setup
	@set -e; for script in bench/*.py; do echo "== $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) tools build .pytest_cache .mypy_cache .ruff_cache
