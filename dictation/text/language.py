"""A language model of report text: which of the recogniser's readings a report would say.

Whisper's beam search keeps several readings of an utterance; the best by the audio alone is
often a near word no report uses ("adinopathy", "nephrosta, me too") while the next one is the
term ("adenopathy", "nephrostomy too"). A word trigram model of report sentences, with
interpolated Kneser-Ney smoothing (Chen and Goodman, 1998), says how likely each reading is as
report text; ``dictation.speech.rescore`` weighs that against the audio's own score.

The model is built, in a few milliseconds, from text the reporting leads maintain and the
project may redistribute: ``vocab/sentences.txt`` (report sentences, one per line; a site's
file adds to it), as written and as said with their punctuation, the lexicon's terms and the
command phrases of the open template. No patient text ships in it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from dictation.data.files import read_text
from dictation.data.resources import vocab_layers
from dictation.errors import DataFileError

DISCOUNT = 0.75  # Kneser-Ney's absolute discount (the usual value for small counts)
_BEGIN, _END = "<s>", "</s>"


def words(text: str) -> list[str]:
    """The words the model counts: lower case, hyphenated words split, punctuation dropped."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("-", " "))


class LanguageModel:
    """Word trigrams with interpolated Kneser-Ney smoothing; unseen words get a small share of
    the unigram mass (add-half), so any reading has a finite score."""

    def __init__(self, sentences: Iterable[str]) -> None:
        trigrams: Counter[tuple[str, str, str]] = Counter()
        for sentence in sentences:
            w = [_BEGIN, _BEGIN, *words(sentence), _END]
            trigrams.update(zip(w, w[1:], w[2:]))
        self.trigrams = trigrams
        # Counts of each context, how many different words follow it, and the continuation counts
        # (how many different words come before a bigram, a word) that stand in for lower orders.
        self._context2: Counter[tuple[str, str]] = Counter()
        self._followers2: Counter[tuple[str, str]] = Counter()
        self._bigrams: Counter[tuple[str, str]] = Counter()
        for (a, b, c), n in trigrams.items():
            self._context2[(a, b)] += n
            self._followers2[(a, b)] += 1
            self._bigrams[(b, c)] += 1
        self._context1: Counter[str] = Counter()
        self._followers1: Counter[str] = Counter()
        self._unigrams: Counter[str] = Counter()
        for (b, c), n in self._bigrams.items():
            self._context1[b] += n
            self._followers1[b] += 1
            self._unigrams[c] += 1
        self._bigram_types = sum(self._unigrams.values())
        self._vocabulary = len(self._unigrams) + 1

    def vocabulary(self) -> list[str]:
        """The words the model has counted (sentence ends left out)."""
        return [w for w in self._unigrams if w != _END]

    @property
    def known(self) -> Counter[str]:
        """How many different words come before each word the model has counted."""
        return self._unigrams

    def probability(self, a: str, b: str, c: str) -> float:
        """P(c | a b), the smoothed trigram probability (``<s>`` before a sentence, ``</s>`` its end)."""
        p = (self._unigrams[c] + 0.5) / (self._bigram_types + 0.5 * self._vocabulary)
        n = self._context1[b]
        if n:
            p = max(self._bigrams[(b, c)] - DISCOUNT, 0) / n + DISCOUNT * self._followers1[b] / n * p
        n = self._context2[(a, b)]
        if n:
            p = max(self.trigrams[(a, b, c)] - DISCOUNT, 0) / n + DISCOUNT * self._followers2[(a, b)] / n * p
        return p

    def logprob(self, text: str) -> float:
        """Natural log-probability of ``text`` as one sentence (its end included)."""
        w = [_BEGIN, _BEGIN, *words(text), _END]
        return sum(math.log(self.probability(a, b, c)) for a, b, c in zip(w, w[1:], w[2:]))


# What a report sentence shared with every workstation must not carry: an identifier (six digits
# or more in a row) or a date.
_IDENTIFYING = re.compile(r"\d{6,}|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b")


def load_sentences(path: Path | None = None) -> list[str]:
    """The sentences of one ``sentences.txt`` (no path: the built-in file and the site's after
    it), one per line, ``#`` starting a comment line. A line with no word, or with what looks
    like an identifier or a date, is an error that names the file and line."""
    out: list[str] = []
    for layer in [Path(path)] if path is not None else vocab_layers("sentences.txt"):
        for number, raw in enumerate(read_text(layer).splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not words(line):
                raise DataFileError(layer, number, f"{line!r} has no word: one report sentence per line")
            if _IDENTIFYING.search(line):
                raise DataFileError(layer, number, "looks like an identifier or a date: report sentences only, "
                                                   "never a patient's details")
            out.append(line)
    return out


def spoken_form(sentence: str, said: dict[str, str]) -> str:
    """``sentence`` with its marks as a radiologist says them ("... clear period"): ``said`` maps
    a mark to its spoken word (from the spoken forms' ``[punctuation]``)."""
    return re.sub(r"([.,:;])(?=\s|$)", lambda m: f" {said[m.group(1)]}" if m.group(1) in said else "", sentence)


@cache
def vocabulary_text() -> tuple[str, ...]:
    """Each sentence twice, as written and as said with its punctuation (the recogniser writes a
    spoken "period" as the word when punctuation is dictated), and the lexicon's terms."""
    from dictation.text.correction import default_term_lexicon
    from dictation.text.spoken import default_rules

    said: dict[str, str] = {}
    for phrase, mark in default_rules().punctuation.items():
        said.setdefault(mark, " ".join(phrase))
    sentences = load_sentences()
    text = sentences + [spoken_form(s, said) for s in sentences]
    text += [t for terms in default_term_lexicon().groups.values() for t in terms]
    return tuple(text)


@cache
def report_language_model(phrases: tuple[str, ...] = ()) -> LanguageModel:
    """The model of the built-in and site vocabulary (its sentences and lexicon terms) and of
    ``phrases``, what is said to the tool besides report text (the command phrases of a
    template): a reading "Go to impression." must not lose to "Go to impressions." because no
    report sentence says it. Built once per set of phrases (a few milliseconds)."""
    return LanguageModel(vocabulary_text() + phrases)


__all__ = ["DISCOUNT", "LanguageModel", "load_sentences", "report_language_model", "spoken_form", "vocabulary_text", "words"]
