"""The full stop said at the end of an utterance, when the recogniser wrote it as another word
or not at all.

A radiologist who dictates punctuation ends a sentence with "period". tiny.en, asked for a
finding, hears that word after the last one as a near word of its own ("... in the left lower
lobe aorta.", "... of the medial meniscus area.", "... with retraction theory. here") or leaves it
out ("Small left pleural effusion", no mark: the next sentence runs on). The words alone cannot
tell a misheard "period" from a real last word ("the aorta" ends many sentences); the audio can.
The recogniser scores (``Recognizer.score``: how probable Whisper finds exactly those words for
this audio, one encoder pass) the reading as heard against the same reading with its last word,
or its last two, said as "period", and with "period" said after it:
  - a reading with "period" in place of its last words wins when it explains the audio at least
    ``REPLACE_MARGIN`` better than the reading as heard and better than the one with "period"
    after them (then the last words were said too: they stay);
  - a reading with "period" after the last word wins when it explains the audio at least
    ``APPEND_MARGIN`` better than the reading as heard and better than any replacement.
Words that change the meaning (no, left, a number, normal...) are never replaced, and a word a
second reading disputes is left alone. The margins were chosen on the tune material: the
robustness tune scripts, where every sentence ends in "period", and the unseen tune sentences,
said without spoken punctuation, where every last word is real and none may be taken for a mark
(docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from dictation.speech.critical import is_critical, token
from dictation.speech.guards import MEANING_WORDS, continues_word, words_text
from dictation.speech.transcript import Segment, Transcript, Word

REPLACE_MARGIN = 0.3  # mean log-probability per token; real last words on tune reach -0.04 ("... distal left ureter": -0.03)
APPEND_MARGIN = 0.1  # the closest sentence said without a mark on tune: -0.32; a dropped mark: +0.12 and over
MAX_REPLACED = 2


def _replaceable(word: Word) -> bool:
    bare = token(word.word)
    return not is_critical(word.word) and bare not in MEANING_WORDS and not any(c.isdigit() for c in bare)


def full_stop_said(scorer: Any, audio: Any, heard: Transcript, full_stop: str | None,
                   punctuation_words: frozenset[str] = frozenset()) -> Transcript:
    """``heard`` with its end read again for a full stop said (``full_stop``, the word said for
    it, "period"; None when punctuation is not dictated: nothing changes). An utterance that
    already ends in a punctuation word said, or whose last word is the only one, is left as heard.

    The text is what the guards made of the decode (a word written twice may be once in the
    text and twice in the words): readings are built on the text, and words at its end are
    replaced only where they are the words of the text's end."""
    words = heard.words
    tokens = heard.text.split()
    if not full_stop or not words or len(tokens) < 2 or token(tokens[-1]) in punctuation_words | {full_stop}:
        return heard
    groups: list[list[int]] = []  # the words of each whole word ("multi", "-level")
    for i, w in enumerate(words):
        if groups and continues_word(w):
            groups[-1].append(i)
        else:
            groups.append([i])
    written = [words_text([words[i] for i in g]) for g in groups]
    disputed = {i for at, span, _ in heard.disputes for i in range(at, at + span)}
    spoken = f"{full_stop}."
    options: list[tuple[int, str]] = []  # (whole words replaced, reading); 0: the mark said after them
    for k in range(1, MAX_REPLACED + 1):
        if len(tokens) <= k or len(groups) <= k or tokens[-k:] != written[-k:]:
            break
        if any(i in disputed or not _replaceable(words[i]) for g in groups[-k:] for i in g):
            break
        options.append((k, " ".join([*tokens[:-k], spoken])))
    options.append((0, " ".join(tokens).rstrip(".,;:!?") + " " + spoken))
    scores = scorer.score(audio, [" ".join(tokens), *(text for _, text in options)])
    if not all(math.isfinite(s) for s in scores):
        return heard
    (k, text), best = max(zip(options, scores[1:]), key=lambda pair: pair[1])
    if best - scores[0] < (APPEND_MARGIN if k == 0 else REPLACE_MARGIN):
        return heard
    if k == 0:
        last = words[-1]
        kept = [*words[:-1], Word(last.word.rstrip(".,;:!?") or last.word, last.start, last.end, last.probability),
                Word(spoken, last.end, last.end, last.probability)]
    else:
        gone = words[groups[-k][0]:]
        kept = [*words[:groups[-k][0]], Word(spoken, gone[0].start, gone[-1].end, min(w.probability for w in gone))]
    first = heard.segments[0]
    segment = Segment(kept[0].start, kept[-1].end, text, tuple(kept), first.avg_logprob, first.no_speech_prob)
    return replace(heard, text=text, segments=(segment,))


__all__ = ["APPEND_MARGIN", "MAX_REPLACED", "REPLACE_MARGIN", "full_stop_said"]
