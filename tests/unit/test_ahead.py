"""Decodes made ahead by the model's second copy: taken when made, never waited for long, never
made for a recognition server (fakes; the real model's copies are compared in
tests/integration/test_live_session.py)."""

import threading

import numpy as np
import pytest

import dictation.speech.ahead as ahead
from dictation.speech.ahead import Ahead, Background, two_cores_free
from dictation.speech.recognizer import DecodeOptions
from dictation.speech.transcript import Transcript

LOOK = DecodeOptions(prompt="go to findings, undo")
PLAIN = DecodeOptions(prompt=None, hotwords=None)


class Copy:
    """The low-priority copy: each decode waits for ``go`` and says which copy made it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.go = threading.Event()
        self.go.set()
        self.started: list[str | None] = []
        self.made = threading.Semaphore(0)

    def transcribe(self, audio, options=None, *, plain=False):
        self.started.append(options.prompt)
        self.go.wait(5)
        self.made.release()
        return Transcript(f"{self.name} {options.prompt}", (), len(audio) / 16000, 0.0)

    def score(self, audio, texts, *, total=False):
        return [0.0] * len(texts)


class Model(Copy):
    reads_locally = True

    def __init__(self, copy: Copy | None = None) -> None:
        super().__init__("first")
        self.copy = copy

    def background(self):
        return self.copy if self.copy is not None else self

    twin = background


def audio(seed: int = 0):
    return np.random.default_rng(seed).standard_normal(8000).astype(np.float32)


@pytest.fixture(autouse=True)
def two_cores(monkeypatch):
    """Decoding ahead is on when other programs leave two cores (a machine running the tests
    beside other work may not): these tests are of what happens when it is on."""
    monkeypatch.setattr(ahead, "two_cores_free", lambda loadavg=None: True)


@pytest.fixture
def worker():
    """``worker(held=False)``: (its copy, the model, the worker); a held copy decodes only once
    let go. Each worker is stopped after the test, its copies let go first."""
    started: list[tuple[Background, Model]] = []

    def start(held: bool = False, model: Model | None = None) -> tuple[Copy | None, Model, Background]:
        model = model or Model(Copy("copy"))
        if held and model.copy is not None:
            model.copy.go.clear()
        background = Background(model)
        started.append((background, model))
        return model.copy, model, background

    yield start
    for background, model in started:
        for c in (model, model.copy):
            if c is not None:
                c.go.set()
        background.stop()


def until_started(copy: Copy) -> None:
    """Until the copy has begun its first decode."""
    while copy.started == []:
        threading.Event().wait(0.01)


def test_a_decode_the_copy_made_is_the_one_the_reading_takes_and_other_audio_is_decoded_by_the_model(worker):
    copy, model, background = worker()
    utterance = audio()
    background.ahead(utterance, [LOOK, PLAIN])
    assert copy.made.acquire(timeout=5) and copy.made.acquire(timeout=5)
    reader = Ahead(model, background)
    assert reader.transcribe(utterance, LOOK).text == "copy go to findings, undo"
    assert reader.transcribe(utterance, PLAIN).text == "copy None"
    assert model.started == []
    # The same words from other audio, or other options, are the model's own decode.
    assert reader.transcribe(audio(1), PLAIN).text == "first None"
    assert reader.transcribe(utterance, DecodeOptions(prompt="findings")).text == "first findings"
    assert copy.started == ["go to findings, undo", None]


def test_a_decode_not_started_is_left_to_the_reading_and_never_made_by_the_copy(worker):
    copy, model, background = worker(held=True)
    utterance = audio()
    background.ahead(utterance, [LOOK, PLAIN])
    reader = Ahead(model, background)
    assert reader.transcribe(utterance, PLAIN).text == "first None"  # the copy is still on LOOK
    copy.go.set()
    assert copy.made.acquire(timeout=5)
    assert reader.transcribe(utterance, LOOK).text == "copy go to findings, undo"
    assert not copy.made.acquire(timeout=0.3)
    assert copy.started == ["go to findings, undo"]


def test_a_decode_the_copy_is_making_is_waited_for_only_up_to_a_bound(worker, monkeypatch):
    monkeypatch.setattr(ahead, "AHEAD_WAIT_S", 0.05)
    copy, model, background = worker(held=True)  # starved: a busy machine and the copy at the lowest priority
    utterance = audio()
    background.ahead(utterance, [PLAIN])
    until_started(copy)
    assert Ahead(model, background).transcribe(utterance, PLAIN).text == "first None"
    copy.go.set()


def test_decodes_asked_ahead_are_forgotten_when_the_speech_goes_on_and_replaced_by_the_next(worker):
    copy, model, background = worker(held=True)
    first, second = audio(0), audio(1)
    background.ahead(first, [LOOK, PLAIN])
    until_started(copy)
    background.forget()  # PLAIN of the first is dropped; LOOK is already being made
    background.ahead(second, [PLAIN])
    copy.go.set()
    assert copy.made.acquire(timeout=5) and copy.made.acquire(timeout=5)
    assert not copy.made.acquire(timeout=0.3)
    assert copy.started == ["go to findings, undo", None]
    reader = Ahead(model, background)
    assert reader.transcribe(second, PLAIN).text == "copy None"
    assert reader.transcribe(first, PLAIN).text == "first None"


def test_a_partial_waits_for_the_decodes_asked_ahead_and_is_then_made(worker):
    copy, model, background = worker(held=True)
    background.ahead(audio(0), [PLAIN])
    background.submit(7, audio(1), DecodeOptions(beam_size=1, prompt="partial"))
    assert not background.idle
    copy.go.set()
    assert copy.made.acquire(timeout=5) and copy.made.acquire(timeout=5)
    assert copy.started == [None, "partial"]
    for _ in range(100):
        if (done := background.result(7)) is not None:
            break
        threading.Event().wait(0.01)
    assert done is not None and done.text == "copy partial"
    assert background.result(8) is None


def test_nothing_is_decoded_ahead_beside_a_busy_program(worker, monkeypatch):
    monkeypatch.setattr(ahead, "two_cores_free", lambda loadavg=None: False)
    copy, model, background = worker()
    background.ahead(audio(), [PLAIN])
    threading.Event().wait(0.2)
    assert Ahead(model, background).transcribe(audio(), PLAIN).text == "first None"
    assert copy.started == []


def test_two_cores_are_free_only_when_other_programs_leave_them(monkeypatch, tmp_path):
    import os
    from pathlib import Path

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    own = sum(p.read_text().rpartition(")")[2].split()[0] == "R" for p in Path("/proc/self/task").glob("*/stat"))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text(f"0.50 0.40 0.30 {own}/300 1234\n")
    assert two_cores_free(loadavg)  # only this process running
    loadavg.write_text(f"2.90 2.50 1.80 {own + 2}/300 1234\n")
    assert not two_cores_free(loadavg)  # two busy loops beside it
    assert two_cores_free(tmp_path / "absent") is (len(os.sched_getaffinity(0)) >= 4)  # unreadable: cores decide


def test_nothing_is_decoded_ahead_for_a_recognition_server_or_without_a_second_copy(worker):
    server = Model(Copy("copy"))
    server.reads_locally = False  # its decodes go to the server: the local copy cannot make them
    alone = Model(None)  # the copy could not be loaded: the model itself, shared by two threads
    for model in (server, alone):
        _, _, background = worker(model=model)
        background.ahead(audio(), [PLAIN])
        threading.Event().wait(0.2)
        assert Ahead(model, background).transcribe(audio(), PLAIN).text == "first None"
        assert model.started == [None] and (model.copy is None or model.copy.started == [])
    assert ahead.reader(server) == (server, None)  # no worker loads a copy it would never use


def test_the_reader_takes_the_decodes_of_a_worker_on_the_models_second_copy():
    copy = Copy("copy")
    model = Model(copy)
    reader, worker = ahead.reader(model)
    try:
        worker.ahead(audio(), [PLAIN])
        assert copy.made.acquire(timeout=5)
        assert reader.transcribe(audio(), PLAIN).text == "copy None" and model.started == []
    finally:
        worker.stop()
