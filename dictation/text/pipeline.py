"""Recognised speech → report text: the stages after the model, and whole-file transcription.

``TextStages`` says which stages run (prompting, spoken-to-written rules, vocabulary
correction), so the benchmark can show what each one adds and the product can run them all.
A recording is cut into utterances by the same segmenter the microphone path uses.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dictation.errors import RadscribeError
from dictation.speech import ahead
from dictation.speech.audio import Samples, decode_file
from dictation.speech.critical import second_reading, unprompted, unsure
from dictation.speech.guards import MEANING_WORDS
from dictation.speech.models import prompt_fits
from dictation.speech.recognizer import DecodeOptions, Recognizer
from dictation.speech.segmenter import SegmenterOptions, Utterance, split_utterances
from dictation.speech.transcript import Transcript
from dictation.text.correction import Correction, Corrector, TermLexicon, default_corrector, default_term_lexicon
from dictation.text.language import LanguageModel, report_language_model, vocabulary_text
from dictation.text.spoken import Normalizer, join_text


@dataclass(frozen=True)
class TextStages:
    prompt: bool = True
    normalize: bool = True
    correct: bool = True
    rescore: bool = True  # the beam's readings weighed by the language model of report text


@dataclass
class WrittenUtterance:
    """One utterance as the report will show it, with what the model heard underneath."""

    text: str
    heard: Transcript
    start: float = 0.0
    end: float = 0.0
    corrections: list[Correction] = field(default_factory=list)

    def segment_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "words": self.heard.words_json(self.start),  # as a stored utterance's words
            **({"decoder": self.heard.decoder} if self.heard.decoder else {}),
        }

    def to_check(self) -> list[str]:
        """The words that change the meaning to check, as the critical-word flags name them: where
        another reading of the audio heard otherwise, and those the recogniser was unsure of."""
        words = self.heard.words
        out = []
        for at, span, other in self.heard.disputes:
            if at >= len(words):
                continue
            said = " ".join(w.word.strip() for w in words[at:at + span])
            out.append(f"{said!r} at {self.start + words[at].start:.1f} s may be {other!r}")
        disputed = {i for at, span, _ in self.heard.disputes for i in range(at, at + span)}
        out += [f"{w.word.strip()!r} at {self.start + w.start:.1f} s heard with {w.probability:.0%} confidence"
                for i, w in enumerate(words) if i not in disputed and unsure(w.word, w.probability, i)]
        return out


class TextPipeline:
    """Spoken-to-written rules, then vocabulary correction, for one utterance at a time."""

    def __init__(self, stages: TextStages = TextStages(), *, normalizer: Normalizer | None = None,
                 corrector: Corrector | None = None, lexicon: TermLexicon | None = None, group: str | None = None) -> None:
        self.stages = stages
        self.normalizer = normalizer or Normalizer()
        self.corrector = corrector or default_corrector()
        self.lexicon = lexicon or default_term_lexicon()
        if group and group not in self.lexicon.groups:  # a template's group is linted; a typed one is checked here
            known = ", ".join(g for g in self.lexicon.groups if g != "general")
            raise RadscribeError(f"no lexicon group {group!r} (groups: {known})")
        self.group = group
        self.phrases: tuple[str, ...] = ()  # said besides report text (``saying``)
        if stages.rescore:
            vocabulary_text()  # read once and cached: a broken sentences.txt stops here, not at the first utterance

    @functools.cached_property
    def _prompt(self) -> str | None:
        """Built and counted once: the lexicon, group and stages of a pipeline never change."""
        return self.lexicon.prompt(self.group, fits=prompt_fits) if self.stages.prompt else None

    @functools.cached_property
    def language_model(self) -> LanguageModel | None:
        return report_language_model(self.phrases) if self.stages.rescore else None

    def saying(self, phrases: Iterable[str]) -> TextPipeline:
        """This pipeline with ``phrases`` (a template's command phrases) in its language model too."""
        other = copy.copy(self)
        other.__dict__.pop("language_model", None)
        other.phrases = tuple(phrases)
        return other

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(prompt=self._prompt, language_model=self.language_model)

    @functools.cached_property
    def punctuation_words(self) -> frozenset[str]:
        """Every word of a spoken punctuation phrase ("period", "comma", "new", "paragraph"...)."""
        return frozenset(w for phrase in self.normalizer.rules.punctuation for w in phrase)

    @functools.cached_property
    def keep_words(self) -> frozenset[str]:
        """Words that keep a reading dictation, never a command or a full stop: the words that change
        a meaning (no, left, normal...) and those of spoken punctuation."""
        return frozenset(MEANING_WORDS) | self.punctuation_words

    @functools.cached_property
    def full_stop(self) -> str | None:
        """The word said for a full stop when punctuation is dictated ("period"); None when it is not."""
        if not self.stages.normalize or not self.normalizer.spoken_punctuation:
            return None
        return next((p[0] for p, mark in self.normalizer.rules.punctuation.items() if mark == "." and len(p) == 1), None)

    def written(self, heard: Transcript, before: str = "") -> tuple[str, list[Correction]]:
        text = heard.text
        if self.stages.normalize:
            text = self.normalizer(text, before=before)
        corrections: list[Correction] = []
        if self.stages.correct:
            text, corrections = self.corrector.correct(text)
        return text, corrections


@dataclass
class FileTranscript:
    path: str
    text: str
    utterances: list[WrittenUtterance]
    model: str
    timings: dict[str, float]
    checked: bool = True  # the critical words were checked (not with plain decoding)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "text": self.text, "segments": [u.segment_json() for u in self.utterances],
                "model": self.model, "timings": self.timings, "check": self.to_check()}

    def to_check(self) -> list[str]:
        return [line for u in self.utterances for line in u.to_check()] if self.checked else []


def transcribe_audio(audio: Samples, recognizer: Recognizer, pipeline: TextPipeline,
                     segmenter: SegmenterOptions | None = None, *,
                     read_twice: bool = True) -> tuple[str, list[WrittenUtterance], dict[str, float]]:
    """The recording's written text, utterance by utterance. ``read_twice``: where the recogniser
    was unsure of a word, the critical words are checked against a second reading of the audio
    without the prompt, as in dictation (``Transcript.disputes``; made ahead on the model's
    second copy when two cores are free): the text is the same, the places to check are marked."""
    t0 = time.perf_counter()
    utterances: list[Utterance] = split_utterances(audio, segmenter)
    t1 = time.perf_counter()
    options = pipeline.decode_options()
    text = ""
    out: list[WrittenUtterance] = []
    decode = second = 0.0
    reader, background = ahead.reader(recognizer) if read_twice else (recognizer, None)
    try:
        for u in utterances:
            if background is not None:
                background.ahead(u.audio, [unprompted(options.beam_size)])
            heard = recognizer.transcribe(u.audio, options)
            decode += heard.decode_seconds
            if read_twice:
                t = time.perf_counter()
                heard = second_reading(reader, u.audio, heard, options.beam_size)
                second += time.perf_counter() - t
            written, corrections = pipeline.written(heard, before=text)
            if not written:
                continue
            text = join_text(text, written)
            out.append(WrittenUtterance(written, heard, u.start, u.end, corrections))
    finally:
        if background is not None:
            background.stop()
    t2 = time.perf_counter()
    timings = {"audio_seconds": round(len(audio) / 16000, 3), "segment_seconds": round(t1 - t0, 3),
               "decode_seconds": round(decode, 3), "second_reading_seconds": round(second, 3),
               "text_seconds": round(t2 - t1 - decode - second, 4), "total_seconds": round(t2 - t0, 3)}
    return text, out, timings


def transcribe_file(path: str | Path, recognizer: Recognizer, pipeline: TextPipeline | None = None, *,
                    read_twice: bool = True) -> FileTranscript:
    t0 = time.perf_counter()
    audio = decode_file(path)
    decode_audio = time.perf_counter() - t0
    text, utterances, timings = transcribe_audio(audio, recognizer, pipeline or TextPipeline(), read_twice=read_twice)
    timings = {"decode_audio_seconds": round(decode_audio, 3), **timings}
    timings["real_time_factor"] = round((timings["total_seconds"] + decode_audio) / max(timings["audio_seconds"], 1e-6), 4)
    return FileTranscript(str(path), text, utterances, recognizer.label, timings, checked=read_twice)
