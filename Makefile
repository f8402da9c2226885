# codesift — `make run` starts the whole stack, `make test` runs the tests. Both set up what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
PORT   ?= 8012
# torch first and pinned: the CPU build. TORCH_INDEX names the index to take it from (deploy/Dockerfile
# uses https://download.pytorch.org/whl/cpu: PyPI's Linux torch is a multi-GB CUDA build); empty: pip's
# configured index, e.g. a mirror that holds the CPU wheel.
TORCH       := torch==2.13.0
TORCH_INDEX ?=

.PHONY: help install browser run test test-fast lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with every package (pip)

CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	# the browser tests drive Debian's Chromium (Playwright's own download is unreachable offline)
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null

browser: $(CHROMIUM)  ## install Chromium for the browser tests

run: install  ## start the stack on the embedded default, index this repository, serve http://127.0.0.1:$(PORT)/
	$(BIN)/codesift --data-dir $(DATA) up --port $(PORT) --index codesift=.

test: install browser  ## run every test (unit, integration against a real nats-server, browser e2e)
	$(BIN)/pytest

test-fast: install  ## the tests that take seconds, not minutes
	$(BIN)/pytest -m "not slow"

lint: install  ## ruff
	$(BIN)/ruff check shared services codesift tests bench

bench: install  ## search benchmark (prints a table)
	$(BIN)/python -m bench.search

clean:  ## remove the venv, caches and data
	rm -rf $(VENV) .cache data .pytest_cache
