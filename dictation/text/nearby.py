"""Readings of report text that sound like what the recogniser wrote: offered to the audio.

Beam search keeps only what the audio alone finds likely early in a reading; "Lungs are clear."
is often not among the five readings at all when the model heard "Lions are cleared.", though
the audio scores it nearly as well. Near readings are built from a reading's words: each word,
or two or three written where the report has one ("cardi opalman" for "cardiopulmonary"), may
become a word of the report vocabulary spelled or sounding alike (Metaphone); the language
model of report text walks those choices and keeps the few likeliest sentences. They are only
proposals: the audio scores each one (``dictation.speech.rescore``), and a word that changes the
meaning (no, left, a number, normal, a negating prefix...) is never replaced, nor ever proposed.
"""

from __future__ import annotations

import heapq
import math
import re
from functools import cache

import jellyfish
from rapidfuzz import fuzz, process

from dictation.speech.critical import NO_HEARD_AS, is_critical
from dictation.speech.guards import NEGATING_PREFIXES
from dictation.text.language import LanguageModel, words

# Set once before any measurement and not tuned: how alike a vocabulary word must be to be
# offered, how many are offered per span, and how wide the walk is. The audio decides among them.
SPELLED_ALIKE = 72  # rapidfuzz ratio of the spellings (or of their Metaphone codes, below)
SOUNDS_ALIKE = 84
PER_SPAN = 4  # vocabulary words considered for one span of heard words
LONGEST_SPAN = 3  # heard words that may be one word of the report ("cardi opal man")
BEAM = 16
# The cost of a word replaced, in the language model's nats, at no likeness; a word spelled exactly
# alike costs nothing. Keeps the walk near what was heard: a sentence the report vocabulary likes
# far better but that shares no sound with the reading is never proposed.
UNLIKENESS = 6.0

_CORE = re.compile(r"^([^\w']*)(.*?)([^\w']*)$")


def _meaning(word: str) -> bool:
    """A word that changes the meaning (with normality, abnormalities, a negating prefix...), or
    how a reading writes a "no" it heard ("Know acute disease", which the negation check reads):
    never replaced, never proposed."""
    bare = word.lower().lstrip("(\"'")
    return is_critical(word) or bare.startswith(("normal", "abnormal", NO_HEARD_AS, *NEGATING_PREFIXES))


@cache
def _index(model: LanguageModel) -> tuple[list[str], list[str]]:
    vocabulary = sorted(w for w in model.vocabulary() if w.isalpha() and len(w) >= 3 and not _meaning(w))
    return vocabulary, [jellyfish.metaphone(w) for w in vocabulary]


def _alike(heard: str, model: LanguageModel) -> list[tuple[str, float]]:
    """Vocabulary words spelled or sounding like ``heard`` (letters only), with their likeness 0-1."""
    vocabulary, sounds = _index(model)
    found: dict[str, float] = {}
    for word, score, _ in process.extract(heard, vocabulary, scorer=fuzz.ratio, limit=PER_SPAN, score_cutoff=SPELLED_ALIKE):
        found[word] = score / 100
    code = jellyfish.metaphone(heard)
    for _, score, i in process.extract(code, sounds, scorer=fuzz.ratio, limit=PER_SPAN, score_cutoff=SOUNDS_ALIKE):
        spelled = fuzz.ratio(heard, vocabulary[i]) / 100
        if spelled >= 0.5:
            found[vocabulary[i]] = max(found.get(vocabulary[i], 0.0), (score / 100 + spelled) / 2)
    return sorted(found.items(), key=lambda kv: -kv[1])[:PER_SPAN]


def near_readings(text: str, model: LanguageModel, limit: int = 4) -> list[str]:
    """Up to ``limit`` readings of ``text`` with heard words replaced by report words alike,
    likeliest (language model and likeness) first; never ``text`` itself, never a change to a
    word that changes the meaning. Punctuation after a replaced span stays; case follows. A
    reading of more than 40 words (a fast reader's long utterance) is left as it is."""
    tokens = text.split()
    if not tokens or len(tokens) > 40 or limit < 1:
        return []
    parts = [_CORE.match(t).groups() for t in tokens]  # type: ignore[union-attr]  # the pattern matches any string
    cores = [core.lower() for _, core, _ in parts]
    fixed = [_meaning(t) or not core.isalpha() for t, core in zip(tokens, cores)]
    # Choices at each position: (end, written words, counted words, cost).
    choices: list[list[tuple[int, str, list[str], float]]] = []
    for i in range(len(tokens)):
        here = [(i + 1, tokens[i], words(tokens[i]), 0.0)]
        for j in range(i + 1, min(len(tokens), i + LONGEST_SPAN) + 1):
            if any(fixed[i:j]) or (j - i > 1 and any(t.endswith((".", "?", "!", ";", ":")) for t in tokens[i:j - 1])):
                break
            heard = "".join(cores[i:j])
            if len(heard) < 3:
                continue
            for word, likeness in _alike(heard, model):
                if j - i == 1 and word == cores[i]:
                    continue
                # Words written as one must each be part of it: "face calcified" is not "calcified".
                if j - i > 1 and any(fuzz.ratio(c, word) / 100 > likeness - 0.1 for c in cores[i:j]):
                    continue
                written = parts[i][0] + (word.capitalize() if parts[i][1][:1].isupper() else word) + parts[j - 1][2]
                here.append((j, written, [word], UNLIKENESS * (1 - likeness)))
        choices.append(here)
    # Beam search over the choices, scored by the trigram model (its two-word context) less the costs.
    beams: dict[int, list[tuple[float, tuple[str, ...], tuple[str, str]]]] = {0: [(0.0, (), ("<s>", "<s>"))]}
    for i in range(len(tokens)):
        for score, written, context in beams.pop(i, []):
            for end, piece, counted, cost in choices[i]:
                s, (a, b) = score - cost, context
                for w in counted:
                    s += math.log(model.probability(a, b, w))
                    a, b = b, w
                beams.setdefault(end, []).append((s, (*written, piece), (a, b)))
        for end in list(beams):
            beams[end] = heapq.nlargest(BEAM, beams[end], key=lambda x: x[0])
    ended = sorted(((s + math.log(model.probability(*c, "</s>")), " ".join(w)) for s, w, c in beams.get(len(tokens), [])),
                   reverse=True)
    out: list[str] = []
    for _, reading in ended:
        if reading != text and reading not in out:
            out.append(reading)
        if len(out) == limit:
            break
    return out


__all__ = ["near_readings"]
