# Two commands do all set-up on a fresh machine (each creates .venv and installs pihlib with its
# book and test extras, then fetches the pretrained assets):
#   make test   lint, run the tests, build the smoke book (warnings as errors) into _build/smoke and
#               check in headless Chromium how it renders
#   make book   run every notebook at PRESET (smoke | cpu | gpu | paper; default cpu) and build
#               the book into _build/html

PYTHON ?= python3
VENV ?= .venv
PRESET ?= cpu
# Real CIFAR-10: the project's shared copy when it is there and nothing else is named
SHARED_CIFAR := $(abspath ../shared/data/cifar10-lossless-3k.npz)
ifeq ($(PIH_CIFAR10),)
ifneq ($(wildcard $(SHARED_CIFAR)),)
export PIH_CIFAR10 := $(SHARED_CIFAR)
endif
endif
# Its JPEG copy of all 60,000 images, whose cost notebook 03 measures against the lossless images
SHARED_JPEG := $(abspath ../shared/data/cifar10-jpeg-60k.tar.gz)
ifeq ($(PIH_CIFAR10_JPEG),)
ifneq ($(wildcard $(SHARED_JPEG)),)
export PIH_CIFAR10_JPEG := $(SHARED_JPEG)
endif
endif
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: test book bench lint assets clean

$(VENV)/.stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[book,test]'
	touch $@

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check pihlib tests benchmarks notebooks

assets: $(VENV)/.stamp
	$(PY) -m pihlib.assets fetch

# the unit tests, then the smoke book (warnings as errors) and the checks of how it renders
test: lint assets
	$(PY) -m pytest
	$(PY) -m pihlib.reproduction build --preset smoke --dest _build/smoke
	PIH_BOOK_HTML=_build/smoke/html $(PY) -m pytest -m book

bench: $(VENV)/.stamp
	$(PY) benchmarks/bench_scramble.py
	$(PY) benchmarks/bench_rho.py
	$(PY) benchmarks/bench_train.py

book: assets
	$(PY) -m pihlib.reproduction build --preset $(PRESET) --dest _build

clean:
	rm -rf _build
