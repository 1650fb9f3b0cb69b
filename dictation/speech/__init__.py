"""From sound to words: audio sources, the segmenter (Silero VAD), the recogniser (faster-whisper)
and the live dictation session that wires them to a report.

    audio.py        AudioSource: microphone (sounddevice), a file paced like one, arrays; decoding files
    segmenter.py    utterance boundaries from the samples (Silero VAD)
    recognizer.py   the speech model: loading, guards against Whisper's hallucinations, streaming push API
    session.py      DictationSession: audio thread -> utterances -> recogniser -> controller, as events

Same audio, same text on every x86-64 machine: CTranslate2 multiplies int8 matrices with Intel
MKL on Intel processors and with oneDNN elsewhere, and oneDNN picks its kernels by the
processor's instructions (AVX-512 VNNI, AVX2...). Each gives slightly different numbers, and
tiny.en's text then differs: of 60 utterances (`python -m benchmarks kernels`,
docs/benchmarks.md "Same text on every machine"), 29 came out differently with MKL and 27 with
oneDNN's AVX-512 VNNI kernels than with its AVX2 ones. So the recogniser uses oneDNN's AVX2
kernels everywhere (every x86-64 processor since about 2015 has AVX2): the same text on Intel and
AMD, at a cost where AVX-512 VNNI is there (those 60 utterances decoded in 11.6 s against 8.7 s
on the benchmark machine). Set ``CT2_USE_MKL`` or ``ONEDNN_MAX_CPU_ISA`` to choose
otherwise; ARM processors use other kernels.
"""

import os as _os
import platform as _platform


def _same_kernels_everywhere() -> None:
    if _platform.machine().lower() not in ("x86_64", "amd64"):
        return
    _os.environ.setdefault("CT2_USE_MKL", "0")
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            has_avx2 = any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:  # not Linux: leave the choice to the libraries
        return
    if has_avx2:
        _os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")


_same_kernels_everywhere()
