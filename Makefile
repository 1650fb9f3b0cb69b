# radscribe: `make run` opens the terminal UI, `make test` runs the whole suite.
# Both create .venv with the project installed; as root on Debian they install the Debian
# packages they need with apt-get, otherwise they print the exact command to run.
# `make run` installs what the product needs and nothing more; `make test`, `make lint` and
# `make bench` add their own extras to the same venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
LINT_STAMP := $(VENV)/.installed-lint
BENCH_STAMP := $(VENV)/.installed-bench

# What the product needs on Debian: PortAudio for the microphone.
RUN_DEBS := libportaudio2
# What the tests need too: a virtual microphone (PulseAudio), audio tools, tmux for the UI smoke test,
# DICOM peers (dcmtk's storescp and dsrdump, dicom3tools' dciodvfy), PostgreSQL's server for the
# group store's tests (a throwaway cluster the tests start: tests/postgres.py).
TEST_DEBS := $(RUN_DEBS) pulseaudio pulseaudio-utils libasound2-plugins sox espeak-ng tmux dcmtk dicom3tools openssl \
	postgresql
# Node.js test peers (FHIR, HL7 over TLS), installed from their lockfile.
NODE_PEERS := tests/peers/node
NODE_STAMP := $(NODE_PEERS)/node_modules/.installed
# A real recognition server for the group tests: WhisperLive's OpenAI-compatible REST API, in its
# own venv (it pins its own faster-whisper), serving the bundled model on 127.0.0.1.
# Its venv stays out of tests/ (its packages' own tests are not ours).
WL_PEER := tests/peers/whisper-live
WL_VENV := .venv-whisper-live
WL_STAMP := $(WL_VENV)/.installed

.PHONY: run test lint bench debs-run debs-test node-peers whisper-live-peer wheel-check clean

run: debs-run $(RUN_STAMP)
	$(BIN)/radscribe $(ARGS)

test: debs-test $(TEST_STAMP) node-peers whisper-live-peer
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (pinned rules in pyproject.toml) and mypy: strict on the engine, basic on the UI.
lint: $(LINT_STAMP)
	$(BIN)/ruff check dictation tui tests benchmarks
	$(BIN)/mypy

# Every benchmark, each printing its figures beside a plain baseline (docs/benchmarks.md).
bench: debs-test $(BENCH_STAMP) node-peers whisper-live-peer
	$(BIN)/python -m benchmarks asr
	$(BIN)/python -m benchmarks punctuation
	$(BIN)/python -m benchmarks commands
	$(BIN)/python -m benchmarks listening
	$(BIN)/python -m benchmarks robustness
	$(BIN)/python -m benchmarks kernels
	$(BIN)/python -m benchmarks checks
	$(BIN)/python -m benchmarks export
	$(BIN)/python -m benchmarks tui
	$(BIN)/python -m benchmarks group

node-peers: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_PEERS)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "radscribe: the tests need Node.js 20 and npm (https://nodejs.org)" >&2; exit 1; }
	npm ci --prefix $(NODE_PEERS) --no-audit --no-fund --loglevel=error
	@touch $@

whisper-live-peer: $(WL_STAMP)

$(WL_STAMP): $(WL_PEER)/requirements.txt
	rm -rf $(WL_VENV)
	$(PYTHON) -m venv $(WL_VENV)
	$(WL_VENV)/bin/python -m pip install --quiet -r $(WL_PEER)/requirements.txt
	$(WL_VENV)/bin/python -m pip install --quiet --no-deps whisper-live==0.10.0
	@touch $@

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(RUN_STAMP)

$(LINT_STAMP): pyproject.toml $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	@touch $@

$(BENCH_STAMP): pyproject.toml $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

debs-run:
	@scripts/debian-packages optional $(RUN_DEBS)

debs-test:
	@scripts/debian-packages required $(TEST_DEBS)

# Build the wheel and install it with its dependencies in a fresh venv outside the repo.
wheel-check: $(TEST_STAMP)
	scripts/wheel-check

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache $(NODE_PEERS)/node_modules $(WL_VENV)
