"""A short utterance whose words are not a command, checked against the audio itself.

tiny.en writes what it thinks likely, so a command can come out as other words ("undo" →
"And you", "go to impression" → "Got impression", "sign as preliminary" → "Sign up really
binary"). The words still point to the commands it may be: the phrases closest to what was
heard (fuzzy, with an immediately repeated word said once) make a short list, and the
recogniser scores each listed phrase against the utterance's audio (``Recognizer.score``: how
probable Whisper finds exactly those words for this audio). The best phrase is compared with
the words the recogniser chose: about as probable (the margin ``[matching] audio_obey``) it is
the command; a little less (``audio_ask``) it is asked ("Go to impression?"), never obeyed
unasked; less than that it is dictation. Words with nothing a report could say in them ("And
you.", only function words) are no dictation either: a command close to their audio
(``NO_CONTENT_ASK``) is asked rather than written.

Never a command from the audio when what was heard carries a word the phrase does not and
that makes it dictation: a word that changes a finding (no, left, right, a number...) or
spoken punctuation ("no intracranial hemorrhage period" scores close to the macro "normal
intracranial hemorrhage", and stays dictation). Signing is only ever asked, never obeyed this way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from rapidfuzz import fuzz, process

from dictation.reporting.commands import Command, CommandParser, normalise, said_once
from dictation.speech.audio import Samples

SHORTLIST = 8  # phrases scored per utterance: about 10 ms each on one core
MAX_WORDS = 6  # commands are short; longer utterances are dictation
ASK_ONLY = frozenset({"sign_final", "sign_preliminary"})
# How much less probable than function words alone ("And you.") a command may be and still be
# asked: such words are no finding, and tiny.en writes them for short commands it mishears.
NO_CONTENT_ASK = -5.0


class Scorer(Protocol):
    def score(self, audio: Samples, texts: list[str]) -> list[float]: ...


@dataclass(frozen=True)
class Verdict:
    """The command the audio matched: obeyed when ``sure``, otherwise asked."""

    command: Command
    phrase: str
    margin: float  # the phrase's mean token log-probability minus that of the words heard
    sure: bool


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower().replace("-", " ")))


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # importing spaCy takes about half a second

    return frozenset(STOP_WORDS)


def warm_up() -> None:
    """Load the stop words now (the session does, beside the speech model), not on an utterance."""
    _stop_words()


def _no_content(words: set[str]) -> bool:
    """Only function words (spaCy's English stop words, no model needed): nothing a report says."""
    stop = _stop_words()
    return bool(words) and all(w in stop for w in words)


def written_as(phrase: str) -> str:
    """A command phrase as Whisper writes it ("Go to impression.")."""
    return phrase[:1].upper() + phrase[1:] + "."


def audio_command(parser: CommandParser, scorer: Scorer, audio: Samples, heard: str, other_readings: list[str],
                  dictation_words: frozenset[str]) -> Verdict | None:
    """The command this utterance's audio matches though its words (``heard``, and other
    readings of the same audio) are not one; None when it is dictation."""
    said = normalise(heard)
    if not said or len(said.split()) > MAX_WORDS:
        return None
    readings = {said_once(normalise(r)) for r in (heard, *other_readings)} - {""}
    phrases = parser.phrases()
    names = [p for p, _ in phrases]
    closest: dict[int, float] = {}
    for reading in readings:
        for _, score, index in process.extract(reading, names, scorer=fuzz.ratio, limit=SHORTLIST - 2):
            closest[index] = max(closest.get(index, 0.0), score)
    heard_words = _words(heard)
    listed = []
    for index in sorted(closest, key=lambda i: -closest[i])[:SHORTLIST]:
        extra = heard_words - _words(names[index])
        if extra & dictation_words or any(w[:1].isdigit() for w in extra):
            continue  # what was heard says more than the phrase, and it makes it dictation
        listed.append(index)
    if not listed:
        return None
    scores = scorer.score(audio, [written_as(names[i]) for i in listed] + [heard.strip() or "."])
    own = scores[-1]
    best = max(range(len(listed)), key=lambda k: scores[k])
    if not (math.isfinite(own) and math.isfinite(scores[best])):
        return None  # no score (the model could not be asked): the words stand as heard
    margin = scores[best] - own
    commands = parser.commands
    if margin < (min(commands.audio_ask, NO_CONTENT_ASK) if _no_content(heard_words) else commands.audio_ask):
        return None
    phrase, meaning = phrases[listed[best]]
    command = Command(meaning.name, meaning.arg, phrase, round(margin, 2))
    sure = margin >= commands.audio_obey and meaning.name not in ASK_ONLY
    return Verdict(command, phrase, round(margin, 2), sure)


__all__ = ["ASK_ONLY", "NO_CONTENT_ASK", "Verdict", "audio_command", "warm_up", "written_as"]
