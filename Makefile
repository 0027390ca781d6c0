# The two commands a new user needs: `make book` and `make test`. Both create .venv and install on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
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

.PHONY: book test install lab clean help

help:
	@echo "make book   build the analysis book on the composition lab (or DATA=..., PREDICTIONS=...)"
	@echo "make test   run the test suite"

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	@touch $@

install: $(INSTALLED)

$(LAB)/track_1_train.json: $(INSTALLED) $(wildcard src/portraitcraft/lab/*.py)
	$(BIN)/portraitcraft demo-data $(LAB) --n-train $(LAB_TRAIN) --n-test $(LAB_TEST) --seed $(LAB_SEED)

lab: $(LAB)/track_1_train.json

book: install $(if $(filter $(LAB),$(DATA)),lab)
	$(BIN)/portraitcraft book --data $(DATA) $(foreach p,$(PREDICTIONS),--predictions $(p))

test: install lab
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	# the notebooks' own cells and the invariants asserted in them, on the lab (nbval reads the jupytext sources)
	$(BIN)/python -m pytest --nbval-lax notebooks -p no:cacheprovider

clean:
	rm -rf book/_build book/executed $(LAB)
