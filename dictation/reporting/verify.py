"""A short utterance whose words are not a command, checked against the audio itself.

tiny.en writes what it thinks likely, so a command can come out as other words ("undo" →
"And you", "go to impression" → "Got impression", "sign as preliminary" → "Sign up really
binary"). The words still point to the commands it may be: the phrases closest to what was
heard (fuzzy, with an immediately repeated word said once) make a short list, and the
recogniser scores each listed phrase against the utterance's audio (``Recognizer.score``: how
probable Whisper finds exactly those words for this audio). The best phrase is compared with
the best reading of the same audio that is no command (the words heard with the dictation
prompt, and the second look's words when they are no command): about as probable (the margin
``[matching] audio_obey``) it is the command; a little less (``audio_ask``) it is asked ("Go
to impression?"), never obeyed unasked; less than that it is dictation. When that best
reading has nothing a report could say in it ("And you.", only function words) it is no
dictation either: a command close to its audio (``NO_CONTENT_ASK``) is asked rather than written.

The second look (the command phrases as the prompt) is a suggestion, never a command by
itself: a prompt of commands makes Whisper write something close to a command for many short
sounds (espeak-ng's "Not seen." came out "Go to see it.", close enough to "go to sleep"). Its
phrase is scored with the others; as two readings then agree on it, it is obeyed within a wider
margin (``SUGGESTED_OBEY``) than a phrase only the short list brought. Measured against the
words heard alone, a phrase looked better than it was: "Clear." heard "Clear layer" (-5.1) made
"Clear field." (-5.4) look about as probable, and the field was cleared, while the second look's
reading "Clear." scored -1.8. Hence the best reading that is no command. A reading that opens
with the first two words of a longer phrase ("Go to court." for "go to cord") is not such a
reading: it is the command with its end misheard, no sentence of a report; the phrase is weighed
against the others, and when there are none, against it as a command two readings heard, and
asked within the wider margin (``NO_CONTENT_ASK``) rather than written ("go to parplagal vein" is
asked as "Go to popliteal vein?").

Two different commands about as probable on the audio ("Go to lines." and "Go to lungs." for
"Dr learned") are a guess: the better one is obeyed only when some reading heard, spelled alike,
the words that set it apart (``RIVAL``; an article sets nothing apart); otherwise it is asked,
never obeyed into the wrong field. A phrase of which the words heard are only the end ("the
heart," for "go to the heart") is asked too: nothing was heard where the command opens, and a
field is answered in such words.

Never a command from the audio when what was heard carries a word the phrase does not and
that makes it dictation: a word that changes a finding (no, left, right, a number...) or
spoken punctuation ("no intracranial hemorrhage period" scores close to the macro "normal
intracranial hemorrhage", and stays dictation); when the second look heard that very command
("No two indication" read again as "Go to indication.") it may be asked, never obeyed. Signing
is obeyed from the audio only when the second look heard it too ("Sine is final." read again as
"Sign as final.") and the audio bears it out; otherwise it is asked. So is a phrase with a word
that changes a meaning (no, left, normal, a number) that no reading heard ("a comparison" is not
obeyed as the macro "no comparison" on the audio's word alone).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Protocol

from rapidfuzz import fuzz, process

from dictation.reporting.commands import Command, CommandParser, meaning_words, normalise, said_once
from dictation.speech.audio import SAMPLE_RATE, Samples
from dictation.speech.critical import second_reading, unprompted
from dictation.speech.guards import MEANING_WORDS, without_stray_edges
from dictation.speech.marks import full_stop_said
from dictation.speech.recognizer import DecodeOptions, Reads
from dictation.speech.transcript import Transcript

SHORTLIST = 8  # phrases scored per utterance: about 10 ms each on one core
MAX_WORDS = 6  # commands are short; longer utterances are dictation
ASK_ONLY = frozenset({"sign_final", "sign_preliminary"})
# How much less probable than function words alone ("And you.") a command may be and still be
# asked: such words are no finding, and tiny.en writes them for short commands it mishears.
NO_CONTENT_ASK = -5.0
# A phrase the second look heard too is obeyed this much less probable than the best reading
# that is no command. Chosen on tune measurements (11 commands and 40 short dictations said
# alone, Piper and espeak-ng, 6 seeds): 48 commands the second look heard scored -2.0 to +3.3
# (four below -0.9), the three short dictations it turned into a command -2.3 to -3.6.
SUGGESTED_OBEY = -1.6
# Two different commands about as probable on the audio ("Go to lines." and "Go to lungs." for
# espeak-ng's "Dr learned", read again "Go to learn."): the better one is obeyed only when some
# reading heard the words that set it apart, spelled alike; otherwise it is asked. Chosen on tune
# measurements (the robustness benchmark's tune scripts, espeak-ng, seeds 1 and 2: 59 commands
# found on the audio): the two wrong targets obeyed were 0.25 and 0.65 better than the next
# command, the correct ones obeyed without their words heard 0.76 and 0.91 better (now asked), and
# every other correct one heard its words or was more than 1.0 better.
RIVAL = 1.0


# A stop phrase misheard as a start phrase keeps the tool listening: a phone call would be written
# into the report. A start phrase said while listening changes nothing, so there its stop twin is
# scored against the audio and obeyed when it is about as probable: erring to stop is seen at once
# and mended by saying the start phrase again; erring to go on listening is not. Start phrase →
# (its twin, the margin twin − start). Each margin is the middle of the gap measured on tune
# recordings (each phrase said alone, 10 seeds, Piper and espeak-ng), twin − start:
#   start listening: "stop listening" heard so (9 of 10 espeak-ng seeds) -1.9 to -1.2; really said -2.8 to -4.4
#   mic on: "mic off" heard as "mic on"/"My car" -0.1 to +1.5; really said -2.4 to -4.2
#   microphone on: "microphone off" heard "Microphone not." (4 of 10 Piper seeds) +0.3 to +1.8; really said -0.8 to -1.9
#   wake up: "mic off" heard "Make up" (8 of 10 espeak-ng seeds) -0.8 to +2.9; really said -6.5 to -8.9
TWINS = {"start listening": ("stop listening", -2.4), "mic on": ("mic off", -1.3),
         "microphone on": ("microphone off", -0.3), "wake up": ("mic off", -3.5)}


class Scorer(Protocol):
    def score(self, audio: Samples, texts: list[str]) -> list[float]: ...


@dataclass(frozen=True)
class Verdict:
    """The command the audio matched: obeyed when ``sure``, otherwise asked."""

    command: Command
    phrase: str
    margin: float  # the phrase's mean token log-probability minus that of the best reading that is no command
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


def nothing_to_write(text: str) -> bool:
    """Only function words, none of them a word that changes a finding or a number ("And you.",
    never "No." or "None."): nothing a report would say."""
    from dictation.speech.critical import NUMBER_WORDS, is_critical

    words = _words(text)
    return _no_content(words) and not any(is_critical(w) or w in NUMBER_WORDS for w in words)


def as_command(parser: CommandParser, heard: Transcript) -> Transcript | None:
    """This reading if it is a command; or the reading without a word at its edge that the
    model barely heard (a stray "in" after "go to indication") if that is one; else None."""
    if parser.parse(heard.text) is not None:
        return heard
    for trimmed in without_stray_edges(heard):
        if parser.parse(trimmed.text) is not None:
            return trimmed
    return None


def near_command(parser: CommandParser, heard: Transcript, punctuation_words: frozenset[str]) -> Command | None:
    """The command this utterance is but for one word at its start or end ("let's scratch
    that", "scratch that now"): worth a question, never obeyed or written unasked. A word that
    changes a finding's meaning (no, left, a number...) or spoken punctuation makes it
    dictation, not a question."""
    words = heard.text.split()
    if len(words) < 2 or len(words) > 6:
        return None
    for rest, extra in ((words[1:], words[0]), (words[:-1], words[-1])):
        norm = normalise(extra)
        if not norm or norm in MEANING_WORDS or norm in punctuation_words or norm[:1].isdigit():
            continue
        command = parser.parse(" ".join(rest))
        if command is not None and command.name not in ASK_ONLY:
            return command
    return None


def _opens_like(reading: str, phrase: str) -> bool:
    """The reading opens with the first two words of a longer command phrase and differs after
    them ("Go to court." and "go to cord"; not "Clear fluid." and "clear field")."""
    words, own = said_once(normalise(reading)).split(), phrase.split()
    return len(own) >= 3 and len(words) >= 3 and words[:2] == own[:2] and words != own


ARTICLES = frozenset({"the", "a", "an"})  # "go to the indication" says what "go to indication" says


def _heard_apart(phrase: str, rival: str, readings: set[str]) -> bool:
    """Some reading has, spelled alike, each word that sets ``phrase`` apart from ``rival``
    ("lungs" for "go to lungs" against "go to lines"). Articles set nothing apart. When the
    phrase has no word of its own ("go to findings" against "go to other findings"), no reading
    may have the rival's own words."""
    heard = {w for r in readings for w in r.split()}

    def said(word: str) -> bool:
        return any(fuzz.ratio(word, w) >= 70 for w in heard)

    own, other = set(phrase.split()) - ARTICLES, set(rival.split()) - ARTICLES
    if not own - other:
        return not any(said(word) for word in other - own)
    return all(said(word) for word in own - other)


def _ends(said: str, phrase: str) -> bool:
    """The words heard (normalised) are the last words of the phrase, none of its first two
    ("the heart" of "go to the heart"; not "to liver" of "go to liver")."""
    heard = [w for w in said_once(said).split() if w not in ARTICLES]
    own = [w for w in phrase.split() if w not in ARTICLES]
    return 0 < len(heard) <= len(own) - 2 and own[-len(heard):] == heard


def written_as(phrase: str) -> str:
    """A command phrase as Whisper writes it ("Go to impression.")."""
    return phrase[:1].upper() + phrase[1:] + "."


def _phrase_of(parser: CommandParser, names: list[str], reading: str) -> int | None:
    """The phrase a reading parses as (the closest of the command's phrases), or None."""
    command = parser.parse(reading)
    if command is None:
        return None
    same = [i for i, (_, c) in enumerate(parser.phrases()) if (c.name, c.arg) == (command.name, command.arg)]
    said = said_once(normalise(reading))
    return max(same, key=lambda i: fuzz.ratio(said, names[i])) if same else None


def audio_command(parser: CommandParser, scorer: Scorer, audio: Samples, heard: str, other_readings: list[str],
                  dictation_words: frozenset[str]) -> Verdict | None:
    """The command this utterance's audio matches though its words (``heard``) are not one;
    None when it is dictation. ``other_readings``: other decodes of the same audio (the second
    look); one that parses as a command puts its phrase on the list, one that does not is a
    reading the phrases must match."""
    said = normalise(heard)
    if not said or len(said.split()) > MAX_WORDS:
        return None
    readings = {said_once(normalise(r)) for r in (heard, *other_readings)} - {""}
    phrases = parser.phrases()
    names = [p for p, _ in phrases]
    closest: dict[int, float] = {}
    suggested: set[int] = set()
    plain = [heard.strip() or "."]  # the readings that are no command: what a phrase must match
    for other in other_readings:
        index = _phrase_of(parser, names, other)
        if index is not None:
            closest[index] = 101.0  # the second look's command: always scored, never taken unscored
            suggested.add(index)
        elif other.strip() and other.strip() not in plain:
            plain.append(other.strip())
    for reading in readings:
        for _, score, index in process.extract(reading, names, scorer=fuzz.ratio, limit=SHORTLIST - 2):
            closest[index] = max(closest.get(index, 0.0), score)
    heard_words = _words(heard)
    heard_meaning = frozenset().union(*map(meaning_words, readings))
    listed = []
    ask_only = set()  # phrases that may be asked about, never obeyed unasked
    for index in sorted(closest, key=lambda i: -closest[i])[:SHORTLIST]:
        extra = heard_words - _words(names[index])
        if extra & dictation_words or any(w[:1].isdigit() for w in extra):
            if index not in suggested:
                continue  # what was heard says more than the phrase, and it makes it dictation
            ask_only.add(index)  # the second look heard the command where the words say "no ...": ask
        if meaning_words(names[index]) - heard_meaning:
            ask_only.add(index)  # the phrase says "no", "left", "normal"... that no reading heard: ask
        listed.append(index)
    if not listed:
        return None
    scores = scorer.score(audio, [written_as(names[i]) for i in listed] + plain)
    best = max(range(len(listed)), key=lambda k: scores[k])
    # The best reading that is no command; a reading that opens with the phrase's own first words
    # ("Go to court." for "go to cord") is the command misheard at its end, not dictation to
    # weigh it against, unless there is nothing else.
    others = [k for k in range(len(listed), len(scores)) if not _opens_like(plain[k - len(listed)], names[listed[best]])]
    own = max(others or range(len(listed), len(scores)), key=lambda k: scores[k])
    if not (math.isfinite(scores[own]) and math.isfinite(scores[best])):
        return None  # no score (the model could not be asked): the words stand as heard
    margin = scores[best] - scores[own]
    commands = parser.commands
    # Nothing a report could say, or only readings of the command with its end misheard ("go to
    # parplagal vein"): no dictation to write either, so a command close to its audio is asked.
    no_dictation = not others or _no_content(_words(plain[own - len(listed)]))
    if margin < (min(commands.audio_ask, NO_CONTENT_ASK) if no_dictation else commands.audio_ask):
        return None
    phrase, meaning = phrases[listed[best]]
    command = Command(meaning.name, meaning.arg, phrase, round(margin, 2))
    # Signing from the audio needs both: the second look heard it, and the audio bears it out.
    # Signing: the ordinary margin. Every other reading opening with the phrase's words counts
    # as the second look hearing the command.
    wider = (listed[best] in suggested or not others) and meaning.name not in ASK_ONLY
    obey = min(commands.audio_obey, SUGGESTED_OBEY) if wider else commands.audio_obey
    # The closest other command on the audio: as probable, and no reading heard what sets the two apart.
    rivals = [k for k in range(len(listed)) if (phrases[listed[k]][1].name, phrases[listed[k]][1].arg)
              != (meaning.name, meaning.arg)]
    rival = max(rivals, key=lambda k: scores[k], default=None)
    rivalled = (rival is not None and scores[best] - scores[rival] < RIVAL
                and not _heard_apart(names[listed[best]], names[listed[rival]], readings))
    # The words heard are the phrase's end alone ("the heart," for "go to the heart"): nothing was
    # heard where the command opens, and a field answered in a word or two sounds so: asked.
    headless = _ends(said, names[listed[best]])
    sure = (margin >= obey and listed[best] not in ask_only and not rivalled and not headless
            and (meaning.name not in ASK_ONLY or listed[best] in suggested))
    return Verdict(command, phrase, round(margin, 2), sure)


def listening_twin(parser: CommandParser, scorer: Scorer, audio: Samples, heard: Transcript | None,
                   listening: bool) -> Transcript | None:
    """``heard`` (a command, in its words or as the phrase the audio matched), or read as its stop
    twin when it is a start phrase said while listening and the audio finds the twin about as
    probable (``TWINS``)."""
    if heard is None or not listening:
        return heard
    command = parser.parse(heard.reading or heard.text)
    if command is None or command.phrase not in TWINS:
        return heard
    phrase, margin = TWINS[command.phrase]
    twin, said = scorer.score(audio, [written_as(phrase), written_as(command.phrase)])
    if math.isfinite(twin) and math.isfinite(said) and twin - said >= margin:
        return replace(heard, reading=phrase)
    return heard


SECOND_LOOK_SECONDS = 3.0  # utterances up to this long that are no command get the second look


def _look(command_prompt: str) -> DecodeOptions:
    """The second look's decode: the command phrases as the prompt."""
    return DecodeOptions(prompt=command_prompt)


def further_decodes(seconds: float, command_prompt: str, beam_size: int) -> list[DecodeOptions]:
    """The decodes ``second_look`` may ask for after the first, in the order it asks for them:
    worth starting on the other core while the first is made (``dictation.speech.ahead``)."""
    return ([_look(command_prompt)] if seconds <= SECOND_LOOK_SECONDS else []) + [unprompted(beam_size)]


def second_look(parser: CommandParser, recognizer: Reads, audio: Samples, heard: Transcript, *,
                listening: bool, command_prompt: str, keep_words: frozenset[str], beam_size: int,
                full_stop: str | None = None) -> Transcript:
    """Final text of an utterance, with a second look when it may be a misheard command.

    The dictation prompt makes the model expect findings, so a short command can come out as
    "Sin is preliminary". A short utterance that is not a command is decoded once more with the
    command phrases as the prompt; what that reading suggests is obeyed only when the audio bears
    it out (or asked, when it nearly does). ``keep_words`` are the words that keep a reading
    dictation (meaning words, spoken punctuation)."""
    # "Start listening" while listening: perhaps its twin "stop listening".
    command = listening_twin(parser, recognizer, audio, as_command(parser, heard), listening)
    if command is None and len(audio) <= SECOND_LOOK_SECONDS * SAMPLE_RATE:
        # The words heard are no command (or one with a word too many, "let's scratch that"): a
        # second look with the command phrases as the prompt suggests one, and the audio decides
        # between the closest phrases and the readings that are no command. A near command the
        # audio does not bear out is asked.
        second = recognizer.transcribe(audio, _look(command_prompt))
        suggested = as_command(parser, second)
        verdict = audio_command(parser, recognizer, audio, heard.text,
                                [suggested.text if suggested is not None else second.text], keep_words)
        if verdict is not None:
            return listening_twin(parser, recognizer, audio, replace(
                heard, reading=verdict.phrase, reading_sure=verdict.sure), listening) or heard
    if command is not None:
        return command
    # Dictation: where a reading without the prompt hears a critical word otherwise, it is marked;
    # a "period" heard as another word, or not written, is read again.
    heard = second_reading(recognizer, audio, heard, beam_size)
    return full_stop_said(recognizer, audio, heard, full_stop, keep_words) if listening else heard


__all__ = ["ASK_ONLY", "NO_CONTENT_ASK", "RIVAL", "SUGGESTED_OBEY", "TWINS", "Verdict", "audio_command", "further_decodes",
           "listening_twin", "nothing_to_write", "second_look", "warm_up", "written_as"]
