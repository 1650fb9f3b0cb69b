# radscribe: `make run` opens the terminal UI, `make test` runs the whole suite.
# Both create .venv with the project installed; as root on Debian they install the Debian
# packages they need with apt-get, otherwise they print the exact command to run.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# What the product needs on Debian: PortAudio for the microphone.
RUN_DEBS := libportaudio2
# What the tests need too: a virtual microphone (PulseAudio), audio tools, tmux for the UI smoke test,
# DICOM peers (dcmtk's storescp and dsrdump, dicom3tools' dciodvfy).
TEST_DEBS := $(RUN_DEBS) pulseaudio pulseaudio-utils libasound2-plugins sox espeak-ng tmux dcmtk dicom3tools openssl
# Node.js test peers (FHIR, HL7 over TLS), installed from their lockfile.
NODE_PEERS := tests/peers/node
NODE_STAMP := $(NODE_PEERS)/node_modules/.installed

.PHONY: run test debs-run debs-test venv node-peers bench wheel-check clean

run: debs-run venv
	$(BIN)/radscribe $(ARGS)

test: debs-test venv node-peers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

node-peers: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_PEERS)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "radscribe: the tests need Node.js 20 and npm (https://nodejs.org)" >&2; exit 1; }
	npm ci --prefix $(NODE_PEERS) --no-audit --no-fund --loglevel=error
	@touch $@

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

debs-run:
	@scripts/debian-packages optional $(RUN_DEBS)

debs-test:
	@scripts/debian-packages required $(TEST_DEBS)

bench: venv
	$(BIN)/radscribe bench asr

# Build the wheel and install it with its dependencies in a fresh venv outside the repo.
wheel-check: venv
	scripts/wheel-check

clean:
	rm -rf $(VENV) dist build .pytest_cache $(NODE_PEERS)/node_modules
