"""The real microphone path, no mocks: speech played into a PulseAudio null sink, captured by
sounddevice from the default source (the sink's monitor), recognised by `radscribe listen`."""

import json
import select
import subprocess
import time

import pytest

from .conftest import pulseaudio_server

pytestmark = [pytest.mark.microphone, pytest.mark.model]


def test_dictation_through_the_virtual_microphone(virtual_microphone, radscribe_cmd, recordings):
    env = virtual_microphone
    listen = subprocess.Popen([*radscribe_cmd, "listen", "--json", "--seconds", "40", "--group", "chest"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = listen.stderr.readline()
            if "listening on" in line or not line:
                break
        assert "listening on" in line, line + (listen.stderr.read() if listen.poll() is not None else "")
        time.sleep(0.5)
        played = subprocess.run(["paplay", "-d", "virtmic", str(recordings["chest"])], env=env, capture_output=True,
                                text=True, timeout=60)
        assert played.returncode == 0, played.stderr
        # Wait for the final text itself (it comes after the end-of-utterance silence and the
        # decode, later on a busy machine), not for a fixed time.
        got: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "pneumothorax" not in " ".join(got).lower():
            ready, _, _ = select.select([listen.stdout], [], [], 1.0)
            if ready:
                line = listen.stdout.readline()
                if not line:
                    break
                got.append(line)
    finally:
        listen.terminate()
        out, err = listen.communicate(timeout=30)
    out = "".join(got) + out
    utterances = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    text = " ".join(u["text"] for u in utterances).lower()
    assert "left pleural effusion" in text and "pneumothorax" in text, (out, err)
    assert all(u["words"] for u in utterances)


def test_missing_microphone_is_one_line(virtual_microphone, radscribe_cmd):
    out = subprocess.run([*radscribe_cmd, "listen", "--device", "no-such-microphone", "--seconds", "5"],
                         env=virtual_microphone, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("radscribe: no microphone 'no-such-microphone' found"), out.stderr
    assert "Traceback" not in out.stderr


def test_microphone_vanishing_mid_dictation_keeps_what_was_said(tmp_path, radscribe_cmd, recordings):
    """The sound server dies while the radiologist speaks: what was captured is recognised and
    printed, then one line says what happened."""
    with pulseaudio_server(tmp_path / "pulse") as env:
        listen = subprocess.Popen([*radscribe_cmd, "listen", "--seconds", "40", "--group", "chest"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "listening on" not in line:
            line = listen.stderr.readline()
            if not line:
                break
        assert "listening on" in line
        time.sleep(0.5)
        player = subprocess.Popen(["paplay", "-d", "virtmic", str(recordings["chest"])], env=env,
                                  stderr=subprocess.DEVNULL)
        time.sleep(3.0)  # about two thirds of the dictation
        subprocess.run(["pulseaudio", "--kill"], env=env, timeout=30)
        player.wait(timeout=30)
        try:
            out, err = listen.communicate(timeout=180)  # the captured speech is decoded first: slower when busy
        except subprocess.TimeoutExpired:
            listen.kill()
            listen.communicate()
            raise
    assert listen.returncode == 2
    assert "there is a small left" in out.lower(), (out, err)  # the words before the server died
    ours = [line for line in err.splitlines() if line.startswith("radscribe:") and "listening" not in line]
    assert len(ours) == 1 and "what was captured is kept" in ours[0], err
    assert "Traceback" not in err


def test_play_back_reaches_the_speakers(virtual_microphone, tmp_path):
    """"Play that back" through the real output path: sounddevice plays into the null sink, whose
    monitor `parec` records; what it records is the speech, not silence."""
    import os
    import sys

    import numpy as np

    env = virtual_microphone
    raw = tmp_path / "heard.raw"
    with subprocess.Popen(["parec", "-d", "virtmic.monitor", "--raw", "--format=s16le", "--rate=16000",
                           "--channels=1", str(raw)], env=env) as rec:
        time.sleep(0.5)
        script = ("import numpy as np; from tests.voice import synthesize; from tui.app import play_audio; "
                  "play_audio(synthesize('small left pleural effusion', lead=0.2, trail=0.2))")
        played = subprocess.run([sys.executable, "-c", script], env={**env, "PYTHONPATH": os.getcwd()},
                                capture_output=True, text=True, timeout=60)
        time.sleep(0.5)
        rec.terminate()
        rec.wait(10)
    assert played.returncode == 0, played.stderr
    heard = np.frombuffer(raw.read_bytes(), dtype=np.int16).astype(np.float32) / 32768
    assert len(heard) > 16000  # over a second recorded
    loud = np.sqrt(np.mean(heard ** 2))
    assert loud > 0.01, loud  # speech, not silence
