"""Guards against what Whisper adds that nobody said: stock phrases on silence, repetition loops,
looped letters, a loop squeezed into the last instant, a whole utterance decoded twice, a stray
short word at the edge of a command. Each judged by the words, their timings and probabilities.
"""

from __future__ import annotations

import re
from typing import Any

from dictation.speech.transcript import Segment, Transcript, Word

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

    Short utterances bring out this loop (`python -m benchmarks commands` saw it on 9 of 31 spoken
    commands). Nobody dictates an entire utterance twice in a row, so a transcript that is
    exactly two copies of the same words is one copy.
    """
    n = len(words)
    if n >= 2 and n % 2 == 0 and [_norm_word(w) for w in words[: n // 2]] == [_norm_word(w) for w in words[n // 2:]]:
        half = words[: n // 2]
        return [*half[:-1], half[-1].rstrip(",;:") or half[-1]]
    return words


def is_hallucination(seg: Any, audio_rms: float) -> bool:
    text = re.sub(r"[^a-z ]", "", seg.text.lower()).strip()
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
        return True  # Whisper's own rule for "there was no speech"
    if text in _HALLUCINATIONS and (seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.7 or audio_rms < 0.005):
        return True
    return False
