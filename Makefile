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
# What the tests need too: a virtual microphone (PulseAudio), audio tools, tmux for the UI smoke test.
TEST_DEBS := $(RUN_DEBS) pulseaudio pulseaudio-utils libasound2-plugins sox espeak-ng tmux

.PHONY: run test debs-run debs-test venv bench wheel-check clean

run: debs-run venv
	$(BIN)/radscribe $(ARGS)

test: debs-test venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) dist build .pytest_cache
