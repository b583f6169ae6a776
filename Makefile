# Two commands do all set-up on a fresh machine (each creates .venv and installs pihlib with its
# book and test extras, then fetches the pretrained assets):
#   make test   lint, run the tests, build the smoke book (warnings as errors) into _build/smoke and
#               check in headless Chromium how it renders
#   make book   run every notebook at PRESET (smoke | cpu | gpu | paper; default cpu) and build
#               the book into _build/html

PYTHON ?= python3
VENV ?= .venv
PRESET ?= cpu
# The project's shared folder ($PIH_SHARED, else beside the checkout), as the tests find it
SHARED := $(abspath $(or $(PIH_SHARED),../shared))
# Real CIFAR-10: the project's shared copy when it is there and nothing else is named
SHARED_CIFAR := $(SHARED)/data/cifar10-lossless-3k.npz
ifeq ($(PIH_CIFAR10),)
ifneq ($(wildcard $(SHARED_CIFAR)),)
export PIH_CIFAR10 := $(SHARED_CIFAR)
endif
endif
# Its JPEG copy of all 60,000 images, whose cost notebook 03 measures against the lossless images
SHARED_JPEG := $(SHARED)/data/cifar10-jpeg-60k.tar.gz
ifeq ($(PIH_CIFAR10_JPEG),)
ifneq ($(wildcard $(SHARED_JPEG)),)
export PIH_CIFAR10_JPEG := $(SHARED_JPEG)
endif
endif
PY := $(VENV)/bin/python
# (no bytecode compiled at install: Python compiles what it imports, once)
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --no-compile
# each phase of `make test` adds its time to this file; the last step prints it
PHASES := $(abspath _build/phases.txt)
TIMED := PHASES=$(PHASES) scripts/timed.sh

.PHONY: test test-phases book bench lint assets clean chromium unit-tests smoke-book

$(VENV)/.stamp: pyproject.toml
	@mkdir -p _build
	$(TIMED) install sh -c 'test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PIP) -e ".[book,test]"'
	touch $@

lint: $(VENV)/.stamp
	$(TIMED) lint $(VENV)/bin/ruff check pihlib pihlib_entry.py tests benchmarks notebooks scripts

assets: $(VENV)/.stamp
	$(TIMED) assets $(PY) -m pihlib.assets fetch

# headless Chromium for the render checks: installed where apt-get can (as root), else one line
# saying what to run, before any long step
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    $(TIMED) chromium sh -c 'apt-get install -y -q chromium >/dev/null 2>&1 || \
	      (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)'; \
	  else \
	    echo "make test needs headless Chromium for the book's render checks: run 'sudo apt-get install chromium' (Debian/Ubuntu) and make test again" >&2; \
	    exit 1; \
	  fi; }

# `make test`: the phases below, then the time of each phase and the total, printed whether they
# passed or failed (make still fails when one did); nothing is printed when no phase ran (Chromium
# missing: one line says what to run)
test:
	@mkdir -p _build && rm -f $(PHASES) && date +%s > $(PHASES).start
	@$(MAKE) --no-print-directory test-phases; rc=$$?; \
	  if [ -s $(PHASES) ]; then \
	    echo "make test, time by phase (tests and smoke book side by side):"; cat $(PHASES); \
	    printf '%-14s %5d s%s\n' total $$(( $$(date +%s) - $$(cat $(PHASES).start) )) \
	      "$$([ $$rc = 0 ] || echo "  (make test failed)")"; \
	  fi; \
	  exit $$rc

# the unit tests and the smoke book (warnings as errors) side by side, a thread each (on 2 cores this
# is ~1.4x faster than one after the other, and both on every thread is slower): each line of their
# output is printed as it comes, marked [tests] or [book]; then the checks of how the book renders
test-phases: chromium lint assets
	$(TIMED) "tests | book" $(MAKE) --no-print-directory -j2 unit-tests smoke-book
	PIH_BOOK_HTML=_build/smoke/html $(TIMED) render-checks $(PY) -m pytest -m book

unit-tests: $(VENV)/.stamp
	OMP_NUM_THREADS=1 $(TIMED) tests scripts/prefixed.sh tests $(PY) -m pytest -v --durations=10

smoke-book: $(VENV)/.stamp
	OMP_NUM_THREADS=1 $(TIMED) smoke-book scripts/prefixed.sh book \
	  $(PY) -m pihlib.reproduction build --preset smoke --dest _build/smoke

bench: $(VENV)/.stamp
	$(PY) benchmarks/bench_scramble.py
	$(PY) benchmarks/bench_rho.py
	$(PY) benchmarks/bench_train.py

book: assets
	$(PY) -m pihlib.reproduction build --preset $(PRESET) --dest _build

clean:
	rm -rf _build
