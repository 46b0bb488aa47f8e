# Two set-up commands for a new machine: `make demo` and `make test`.
# Everything installs into .venv; tests that need Chromium install it (Debian) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m llmbench demo

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy --strict src/llmbench

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: install
	$(PY) benchmarks/sse_parser.py
	$(PY) benchmarks/client_overhead.py
	$(PY) benchmarks/mock_capacity.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
