"""Audio sources: decoding, bad files, pacing, levels."""

import subprocess
import time

import numpy as np
import pytest

from dictation.errors import UnreadableAudio
from dictation.speech.audio import BLOCK_SAMPLES, SAMPLE_RATE, ArraySource, FileSource, decode_file, make_block
from tests.voice import write_wav


def tone(seconds=1.0, amplitude=0.5):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_decodes_other_rates_and_formats(tmp_path):
    wav = write_wav(tmp_path / "a.wav", tone(1.0))
    flac = tmp_path / "a.flac"
    subprocess.run(["sox", str(wav), "-r", "44100", "-c", "2", str(flac)], check=True)
    audio = decode_file(flac)
    assert audio.dtype == np.float32
    assert abs(len(audio) - SAMPLE_RATE) < 200  # resampled to 16 kHz mono


def _file(d, name, content):
    path = d / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("name, content, message", [
    ("missing.wav", None, "no such file"),
    ("empty.wav", b"", "the file is empty"),
    ("notes.wav", b"FINDINGS: normal\n" * 20, "not an audio file"),
    ("", None, "it is a folder"),
])
def test_bad_files_give_one_clear_error(tmp_path, name, content, message):
    path = _file(tmp_path, name, content) if name else tmp_path
    with pytest.raises(UnreadableAudio, match=message) as e:
        decode_file(path)
    assert "\n" not in str(e.value)


def test_blocks_and_levels():
    audio = tone(0.5, amplitude=0.5)
    blocks = list(ArraySource(audio))
    assert all(len(b.samples) == BLOCK_SAMPLES for b in blocks[:-1])
    assert sum(len(b.samples) for b in blocks) == len(audio)
    b = blocks[3]
    assert b.peak == pytest.approx(0.5, abs=0.01)
    assert b.rms == pytest.approx(0.5 / np.sqrt(2), abs=0.01)
    assert make_block(np.zeros(512, np.float32), 0).level_db == -100.0


def test_file_source_paces_like_a_microphone(tmp_path):
    path = write_wav(tmp_path / "a.wav", tone(1.0))
    start = time.monotonic()
    with FileSource(path, realtime=True) as source:
        n = sum(len(b.samples) for b in source)
    elapsed = time.monotonic() - start
    assert n == SAMPLE_RATE
    assert elapsed >= 0.95  # a second of audio cannot arrive faster than a second


def test_file_source_without_pacing_does_not_wait(tmp_path):
    path = write_wav(tmp_path / "a.wav", tone(5.0))
    start = time.monotonic()
    with FileSource(path) as source:
        list(source)
    assert time.monotonic() - start < 2.5  # far less than the 5 s a paced source would take
