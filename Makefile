# Two commands do all set-up on a fresh machine:
#   make test   create .venv, install pihlib with its test extras, fetch the pretrained assets,
#               lint, run the tests
#   make book   create .venv, install pihlib with its book extras, fetch the assets, build the book
# PRESET (smoke | cpu | gpu | paper) chooses the book's parameters once the notebooks exist.

PYTHON ?= python3
VENV ?= .venv
PRESET ?= cpu
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: test book bench lint assets clean

$(VENV)/.stamp-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test]'
	touch $@

$(VENV)/.stamp-book: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[book,test]'
	touch $@

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check pihlib tests benchmarks

assets: $(VENV)/.stamp-test
	$(PY) -m pihlib.assets fetch

test: lint assets
	$(PY) -m pytest

bench: $(VENV)/.stamp-test
	$(PY) benchmarks/bench_scramble.py
	$(PY) benchmarks/bench_rho.py

book: $(VENV)/.stamp-book
	$(PY) -m pihlib.assets fetch
	PRESET=$(PRESET) $(VENV)/bin/jupyter-book build --warningiserror --keep-going .

clean:
	rm -rf _build
