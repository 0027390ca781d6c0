# The two commands a new user needs: `make book` and `make test`. Both create .venv and install on first use.
SHELL := /bin/bash
# Python 3.11, 3.12 and 3.13 are supported; constraints.txt was made on 3.11, the version CI uses. PYTHON=python3.12 picks another.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Never touch a model hub or dataset host, at build or test time.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# `make book DATA=/path/to/PortraitCraft PREDICTIONS="a.jsonl b.json"` runs the book on real data.
LAB := data/lab
DATA ?= $(LAB)
PREDICTIONS ?=
LAB_TRAIN ?= 300
LAB_TEST ?= 100
LAB_SEED ?= 0
PYTEST_ARGS ?=

.PHONY: book test install lab baseline browser check-book clean help

help:
	@echo "make book   build the analysis book on the composition lab (or DATA=..., PREDICTIONS=...)"
	@echo "make test   run the test suite"

# pyproject.toml states ranges; constraints.txt the exact versions tested, which make installs (reproducible builds).
# pip's own settings apply, e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu for CPU-only torch (CI).
# .[lmms] (lmms-eval, not part of .[all]) too: the test suite runs lmms-eval once.
# A second OpenCV distribution, kept as a wheel for the test that installs it beside ours (tests use no network).
OPENCV_PEER := opencv-python==5.1.0.95
$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,lmms]'
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --dest $(VENV)/opencv-peer '$(OPENCV_PEER)'
	@touch $@

install: $(INSTALLED)

$(LAB)/track_1_train.json: $(INSTALLED) $(wildcard src/portraitcraft/lab/*.py)
	$(BIN)/portraitcraft demo-data $(LAB) --n-train $(LAB_TRAIN) --n-test $(LAB_TEST) --seed $(LAB_SEED)

lab: $(LAB)/track_1_train.json

# Predictions of the CPU feature baseline on the lab's test split, for Table 3. Training it takes minutes (far
# beyond the book's budget), so it runs once and the book only scores the file. An interrupted run resumes
# (feature cache, saved model and finished records are kept); a change of the lab or of the feature or
# baseline code since the model or the records were made starts it afresh.
BASELINE_RUN := $(LAB)/runs/feature-baseline.jsonl
BASELINE_MODEL := $(LAB)/runs/feature-baseline.model
$(BASELINE_RUN): $(LAB)/track_1_train.json src/portraitcraft/features.py src/portraitcraft/baseline.py
	@for made in $(BASELINE_MODEL)/manifest.json $@.partial $@; do \
	  if [ -f $$made ] && [ -n "$$(find $^ -newer $$made)" ]; then rm -rf $(BASELINE_MODEL) $@.partial $@; break; fi; \
	done
	$(BIN)/portraitcraft baseline predict $(LAB) --out $@.partial --model-dir $(BASELINE_MODEL) --jobs 2
	mv $@.partial $@

baseline: $(BASELINE_RUN)

# On the lab, the book also scores the feature baseline's predictions (Table 3).
book: install $(if $(filter $(LAB),$(DATA)),lab $(BASELINE_RUN))
	$(BIN)/portraitcraft book --data $(DATA) $(foreach p,$(if $(filter $(LAB),$(DATA)),$(BASELINE_RUN)) $(PREDICTIONS),--predictions $(p))

# Headless Chromium for the page checks (Debian's package) where it is absent; a machine without it skips them.
# CHROMIUM=/path/to/chrome names another Chromium-based browser and skips the installation.
browser:
	@test -n "$$CHROMIUM" || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (apt-get install -y --no-install-recommends chromium || sudo -n apt-get install -y --no-install-recommends chromium) || \
	  echo "no Chromium: the browser checks will be skipped"

# Every page of the built book in headless Chromium at 1280 px: console errors, offline loading, plotly drawn, and
# what a reader sees (overlapping or cut-off text, text under 10 px, empty sections, raw output, legends over
# data, a figure or note twice, raw floats and timestamps, cut text, install messages in captions); screenshots.
# First, without a browser: every internal link and #anchor of every page holds (portraitcraft.book.links).
check-book: install browser
	$(BIN)/python -m portraitcraft.book.links book/_build/html
	$(BIN)/python -m portraitcraft.book.browser book/_build/html --screenshots book/_build/screenshots

test: install lab browser
	$(BIN)/ruff check src tests scripts notebooks
	# worksteal: a worker that runs out of tests takes some queued on the other (the tests' durations vary widely)
	$(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)
	# the notebooks' own cells and the invariants asserted in them, on the lab (nbval reads the jupytext sources);
	# a notebook's cells share a kernel: each notebook runs whole on one worker (loadfile)
	$(BIN)/python -m pytest --nbval-lax notebooks -p no:cacheprovider -n 2 --dist loadfile

clean:
	rm -rf book/_build book/executed $(LAB)
