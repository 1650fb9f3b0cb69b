"""`python -m benchmarks kernels`: the same audio through CTranslate2's different int8 kernels.

CTranslate2 multiplies int8 matrices with Intel MKL on Intel processors and with oneDNN
elsewhere, and oneDNN picks its kernels by the processor's instructions. radscribe pins oneDNN's
AVX2 kernels on every x86-64 machine (dictation/speech/__init__.py). This decodes the same
utterances (the robustness benchmark's tune scripts, both voices, perturbed) under each choice,
each in a process of its own (the choice is made when the library loads), and prints how many
utterances came out with other text than the pinned kernels', and the decode time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.asr import machine
from benchmarks.robustness import TUNE

# The robustness benchmark's first tune scripts (the figures recorded were measured on these).
SCRIPTS = ("xr-chest", "ct-head", "us-abdomen")
# (name, environment): the product's choice first.
CHOICES = [
    ("oneDNN, AVX2 kernels (pinned: the product)", {}),
    ("oneDNN, best kernels for this CPU", {"CT2_USE_MKL": "0", "ONEDNN_MAX_CPU_ISA": "ALL"}),
    ("Intel MKL (CTranslate2's default on Intel)", {"CT2_USE_MKL": "1", "ONEDNN_MAX_CPU_ISA": "ALL"}),
]

_DECODE = """
import json, sys, time
import numpy as np
from dictation.speech.recognizer import Recognizer
data = np.load(sys.argv[1])
rec = Recognizer()
t0 = time.perf_counter()
texts = [rec.transcribe(data[k]).text for k in sorted(data.files, key=int)]
print(json.dumps({"seconds": time.perf_counter() - t0, "texts": texts}))
"""


def _utterances(count: int) -> list[np.ndarray]:
    from dictation.speech.segmenter import split_utterances
    from tests.voice import VOICES, speak_with_pauses

    out: list[np.ndarray] = []
    seed = 0
    while len(out) < count:
        for voice in VOICES:
            for script in (TUNE[t] for t in SCRIPTS):
                out += [u.audio for u in split_utterances(speak_with_pauses([t for t, _ in script], voice=voice, seed=seed))]
        seed += 1
    return out[:count]


def run(echo: Callable[[str], None], utterances: int = 60) -> dict[str, object]:
    echo(f"machine: {machine()}")
    audio = _utterances(utterances)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "utterances.npz"
        np.savez(path, **{str(i): a for i, a in enumerate(audio)})
        for name, env in CHOICES:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _DECODE, str(path)], env={**os.environ, **env},
                                  capture_output=True, text=True, timeout=3600, check=False)
            if done.returncode != 0:
                echo(f"{name}: failed ({done.stderr.strip().splitlines()[-1:]})")
                continue
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            results[name]["wall"] = time.perf_counter() - started
    pinned = results.get(CHOICES[0][0])
    echo(f"{len(audio)} utterances (the robustness tune scripts, Piper and espeak-ng, perturbed), beam 5, one thread")
    echo(f"{'kernels':<46} {'other text than pinned':>22} {'decode s':>9}")
    out: dict[str, object] = {}
    for name, r in results.items():
        texts = r["texts"]
        assert isinstance(texts, list)
        differ = sum(a != b for a, b in zip(texts, pinned["texts"])) if pinned else 0  # type: ignore[arg-type]
        echo(f"{name:<46} {differ:>14}/{len(texts):<7} {r['seconds']:>9.1f}")
        out[name] = {"differ": differ, "utterances": len(texts), "seconds": r["seconds"]}
    return out
