"""Error rates for the ASR benchmark: word, medical-term and critical-word errors."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import jiwer

CRITICAL = {"no", "new", "left", "right"}
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def words_for_wer(text: str) -> str:
    """Lower case, punctuation removed (decimal points kept), hyphens and slashes split,
    numbers split from units ("4mm" → "4 mm"). The same for every system compared.

    A decimal point written apart ("3 . 5", as the Radiopaedia texts have it) is joined again. Two
    writing conventions that say the same thing are made one, so that a house style is not
    counted as a mishearing: a size "7 x 8" or "7 by 8" is "7 by 8", and a spine level "L4-L5"
    or "L4-5" is "l4 5" (the second letter only when it repeats the first: "L5-S1" stays).
    """
    t = text.lower().replace("’", "'")
    t = re.sub(r"(?<=\d) \. (?=\d)", ".", t)  # "3 . 5": a decimal point split off like a full stop
    t = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", " by ", t)
    t = re.sub(r"\b([ctls])(\d{1,2})\s*[-–/]?\s*\1(\d{1,2})\b", r"\1\2 \3", t)
    t = re.sub(r"(?<=\d)(?=[a-z])", " ", t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)
    t = re.sub(r"[-/–]", " ", t)
    t = re.sub(r"[^\w\s.'%]", " ", t)
    t = t.replace("%", " %")
    return " ".join(t.split())


@dataclass
class ErrorCounts:
    words: int = 0
    errors: int = 0  # substitutions + deletions + insertions
    medical_words: int = 0
    medical_errors: int = 0
    critical_words: int = 0
    critical_errors: int = 0
    critical_examples: list[str] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0

    @property
    def medical_error_rate(self) -> float:
        return self.medical_errors / self.medical_words if self.medical_words else 0.0

    def add(self, other: ErrorCounts) -> None:
        for name in ("words", "errors", "medical_words", "medical_errors", "critical_words", "critical_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.critical_examples.extend(other.critical_examples)


def _is_critical(word: str) -> bool:
    return word in CRITICAL or bool(_NUMBER.match(word))


def align(reference: str, hypothesis: str) -> tuple[list[str], list[bool], list[str], int]:
    """The reference's words (as ``words_for_wer``), whether each was heard right, the words
    inserted, and the error count (substitutions + deletions + insertions)."""
    ref, hyp = words_for_wer(reference), words_for_wer(hypothesis)
    if not ref:
        return [], [], [], 0
    out = jiwer.process_words(ref, hyp if hyp else "<empty>")
    r_words = out.references[0]
    if not hyp:
        return r_words, [False] * len(r_words), [], len(r_words)
    h_words = out.hypotheses[0]
    ok = [False] * len(r_words)
    inserted: list[str] = []
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                ok[i] = True
        elif chunk.type == "insert":
            inserted.extend(h_words[chunk.hyp_start_idx : chunk.hyp_end_idx])
    return r_words, ok, inserted, out.substitutions + out.deletions + out.insertions


def score(reference: str, hypothesis: str, medical: set[str]) -> ErrorCounts:
    r_words, ok, inserted, errors = align(reference, hypothesis)
    c = ErrorCounts(words=len(r_words), errors=errors)
    for i, w in enumerate(r_words):
        if w in medical:
            c.medical_words += 1
            c.medical_errors += not ok[i]
        if _is_critical(w):
            c.critical_words += 1
            if not ok[i]:
                c.critical_errors += 1
                c.critical_examples.append(f"missed {w!r}")
    for w in inserted:
        if _is_critical(w):
            c.critical_errors += 1
            c.critical_examples.append(f"inserted {w!r}")
    return c


def medical_vocabulary(terms: Iterable[str], common: set[str] | None = None) -> set[str]:
    """The medical words of the given terms, without everyday English words."""
    from wordfreq import zipf_frequency

    out = set()
    for term in terms:
        for w in words_for_wer(term).split():
            if len(w) > 2 and not _NUMBER.match(w) and zipf_frequency(w, "en") < 4.0 and (common is None or w not in common):
                out.add(w)
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def critical_errors(reference: str, hypothesis: str) -> int:
    """Words that change the meaning (``dictation.speech.critical.is_critical``: negations, sides,
    numbers and units, hypo-/hyper-, normal/abnormal, new) heard wrong: a critical word of the
    reference missed or replaced, or a critical word in the hypothesis where none was said. A word
    replaced by another counts once."""
    from dictation.speech.critical import is_critical

    ref, hyp = words_for_wer(reference), words_for_wer(hypothesis)
    if not ref:
        return sum(is_critical(w) for w in hyp.split())
    out = jiwer.process_words(ref, hyp if hyp else "<empty>")
    r_words, h_words = out.references[0], (out.hypotheses[0] if hyp else [])
    errors = 0
    for chunk in out.alignments[0]:
        said = r_words[chunk.ref_start_idx:chunk.ref_end_idx]
        heard = h_words[chunk.hyp_start_idx:chunk.hyp_end_idx] if hyp else []
        if chunk.type == "substitute":
            errors += sum(is_critical(r) or is_critical(h) for r, h in zip(said, heard, strict=False))
        elif chunk.type == "delete" or not hyp:
            errors += sum(is_critical(r) for r in said)
        elif chunk.type == "insert":
            errors += sum(is_critical(h) for h in heard)
    return errors
