"""Guards against what Whisper adds that nobody said: stock phrases on silence, repetition loops,
looped letters, a loop squeezed into the last instant, a whole utterance decoded twice, a stray
short word at the edge of a command. Each judged by the words, their timings and probabilities.
"""

from __future__ import annotations

import difflib
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

    Three copies for one word ("very very" is speech, "the the the" is a loop); two for two
    words or more: nobody dictates the same phrase twice in a row, but Whisper does
    ("cholecystitis, perichole, cholecystitis, perichole."). Two words twice stay twice when one
    is a number or changes a finding ("4 mm, 4 mm" may be two nodules, "small, small"): never
    dropped silently.
    """
    out = list(words)
    changed = True
    while changed:
        changed = False
        for n in range(1, 9):
            fewest = min_copies if n < 2 else 2
            i = 0
            while i + n * fewest <= len(out):
                gram = [w.lower().strip(".,;:") for w in out[i : i + n]]
                copies_needed = min_copies if n == 2 and any(_carries_meaning(_norm_word(w)) for w in gram) else fewest
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
_PIECE_RUN = re.compile(r"(?<![a-z0-9])([a-z]{1,3})(?:-\1){3,}(?![a-z0-9])", re.IGNORECASE)


def drop_letter_runs(words: list[str]) -> list[str]:
    """Drop a "word" with one letter four or more times in a row ("Bbbbbbbbbbbb…"), or one piece
    of up to three letters four or more times joined by hyphens ("C-I-C-C-C-C-C-C").

    A loop inside a single token sequence, seen on a long MSK dictation (`bench asr`, the
    Radiopaedia texts) and on espeak-ng's "at C5 C6" (the robustness benchmark's tune part): no
    English or medical word has such a run, and the compression-ratio check misses it when the
    rest of a long utterance is sound. Numbers are left alone (100000, "5-5-5-5"): a number is
    never dropped silently; "L4-L5" and "C5-C6-C7" are no run.
    """
    return [w for w in words if not _LETTER_RUN.search(w) and not _PIECE_RUN.search(w)]


_TAIL_HALLUCINATIONS = {"thanks", "thank", "you", "bye", "so"}


def _norm_word(w: str) -> str:
    return re.sub(r"[^a-z0-9']", "", w.lower())


def continues_word(w: Word) -> bool:
    """A piece of a hyphenated word: faster-whisper gives "multi-level" as "multi" and "-level"."""
    return len(w.word) > 1 and w.word[0] == "-" and w.word[1].isalnum()


def words_text(words: list[Word]) -> str:
    """The text of ``words`` as written: spaced, a hyphenated word's pieces joined again."""
    return "".join(w.word if k and continues_word(w) else (" " if k else "") + w.word for k, w in enumerate(words))


def _whole_words(words: list[Word]) -> tuple[list[str], list[int]]:
    """Each word's normalised whole word (both pieces of "multi", "-level" read "multilevel") and
    the index of the whole word it belongs to."""
    group: list[int] = []
    for k, w in enumerate(words):
        group.append(group[-1] if k and continues_word(w) else k)
    whole: dict[int, str] = {}
    for k, g in enumerate(group):
        whole[g] = whole.get(g, "") + _norm_word(words[k].word)
    return [whole[g] for g in group], group


# Words that change a finding's meaning: never dropped as the fragment of a loop.
MEANING_WORDS = {"no", "not", "non", "new", "left", "right", "without", "hypo", "hyper", "ab", "normal"}


def _loop_fragment(word: str, head: set[str]) -> bool:
    """The start of a word already said, where a capped loop stopped (never a meaning word or number)."""
    return (len(word) >= 2 and word not in MEANING_WORDS and not word[0].isdigit()
            and any(h.startswith(word) for h in head))


def _squeezed(w: Word) -> bool:
    """A word the alignment gave no time: no speech behind it."""
    return w.end - w.start < 0.02


def _unsupported_runs(words: list[Word]) -> set[int]:
    """The words of every run of two or more words with no speech behind them that only repeats
    what was said elsewhere in the utterance (or ends on the start of such a word, where a
    capped loop stopped), or that the model itself barely believed (p < 0.1). A meaning word
    (no, left, right, a number...) is dropped only as a repeat of itself."""
    drop: set[int] = set()
    i = 0
    while i < len(words):
        if not _squeezed(words[i]):
            i += 1
            continue
        j = i
        while j < len(words) and _squeezed(words[j]):
            j += 1
        if j - i >= 2:
            if _run_is_unsupported(words, i, len(words)):
                drop.update(range(i, len(words)))  # a loop that starts with no time and runs to the end
                break
            if _run_is_unsupported(words, i, j):
                drop.update(range(i, j))
        i = j
    return drop


def _run_is_unsupported(words: list[Word], i: int, j: int) -> bool:
    """Every word of ``words[i:j]`` repeats a word said elsewhere, is the start of one where a
    capped loop stopped (last word of the utterance), or was barely believed (not a meaning word);
    or the run is a copy of what was said before it with a word in four spelled otherwise ("Acute
    the vein trombosis of the left ..." after "... thrombosis of the left ...", every word at one
    instant), none of them a word that changes a finding."""
    whole, group = _whole_words(words)
    inside = set(group[i:j])  # a word half in the run is no repeat of itself
    others = {whole[k] for k in range(len(words)) if not i <= k < j and group[k] not in inside}
    for k in range(i, j):
        norm = whole[k]
        if norm in others:
            continue
        if k == j - 1 == len(words) - 1 and _loop_fragment(norm, others):
            continue
        if words[k].probability < 0.1 and norm not in MEANING_WORDS and not norm[:1].isdigit():
            continue
        return _misheard_copy([whole[m] for m in range(i, j) if m == i or group[m] != group[m - 1]],
                              [whole[m] for m in range(i) if m == 0 or group[m] != group[m - 1]])
    return True


def _misheard_copy(run: list[str], before: list[str]) -> bool:
    """``run`` (four words or more) is what was said before it once more or over and over, started
    or stopped inside, with at most one word in four spelled otherwise (alike in spelling, neither
    a word that changes a finding)."""
    if len(run) < 4 or not before:
        return False
    said = before * (len(run) // len(before) + 2)  # a loop says it again from the start
    ops = difflib.SequenceMatcher(a=said, b=run, autojunk=False).get_opcodes()
    misheard = 0
    for n, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "equal" or (op == "delete" and n in (0, len(ops) - 1)):
            continue
        if op == "replace" and i2 - i1 > j2 - j1 and n in (0, len(ops) - 1):  # the copy starts or stops inside
            i1, i2 = (i2 - (j2 - j1), i2) if n == 0 else (i1, i1 + (j2 - j1))
        if op == "replace" and i2 - i1 == j2 - j1 and all(map(_misheard_word, said[i1:i2], run[j1:j2])):
            misheard += j2 - j1
            continue
        return False
    return 4 * misheard <= len(run)


def trim_hallucinated_tail(segs: list[Segment]) -> list[Segment]:
    """Cut what Whisper adds where nobody spoke, judged by word timings and confidence.

    Patterns seen on short utterances: a loop squeezed into the last instant, where the
    alignment gives the repeated words no duration ("sign as preliminary sign as preliminary
    sign ..."; or, cut by the decode's token cap mid-word, "shortness of breath period,
    shortness of breath period, short", seen with the dictation prompt); the same sentence
    decoded twice, once with no time at all ("Sine has really been varied. Sine has really
    been", the first five words at 0.0 s, espeak-ng's voice); and a stock word at the end with
    almost no probability ("go to findings, Thanks." with p=0.02). A run of words with no time is
    dropped only when it repeats what the utterance says elsewhere, or the model barely believed
    it; a squeezed word that is new and believed stays, so nothing said is dropped.
    """
    words = [w for s in segs for w in s.words]
    if not words:
        return segs
    drop = _unsupported_runs(words)
    kept = [w for k, w in enumerate(words) if k not in drop]
    while len(kept) > 1 and _norm_word(kept[-1].word) in _TAIL_HALLUCINATIONS and kept[-1].probability < 0.1:
        kept.pop()
    if len(kept) == len(words) or not kept:
        return segs
    return _one_segment(segs, kept, segs[0].start)


def _one_segment(segs: list[Segment], kept: list[Word], start: float) -> list[Segment]:
    """The words kept of ``segs`` as one segment from ``start``, the last word without a trailing comma."""
    last = kept[-1]
    kept = [*kept[:-1], Word(last.word.rstrip(",;:") or last.word, last.start, last.end, last.probability)]
    first = segs[0]
    return [Segment(start, kept[-1].end, words_text(kept), tuple(kept), first.avg_logprob,
                    first.no_speech_prob)]


def reread_without_speech(segs: list[Segment], audio: Any) -> list[Segment]:
    """A reading of one window (no timestamp tokens) without what was read again after it where
    nobody spoke.

    faster-whisper reads the audio after the window's last word once more; on an utterance's
    last fraction of a second (the end of the last word, the silence kept after it) that second
    pass writes words nobody said: "Right knee pain after a twisting injury period. through.",
    "Delta findings. . .", elsewhere "here" or "Good." (probabilities from 0.02 to 0.8, so they
    cannot judge it). What it read is kept only where the segmenter finds speech in that audio
    (a reading that stopped short, the rest of the sentence said), or where it names a critical
    word (kept, and flagged as heard unsure). An echo of the last word is speech to the
    segmenter: a word read there stays ("... with retraction theory. here")."""
    from dictation.speech.audio import SAMPLE_RATE
    from dictation.speech.critical import is_critical
    from dictation.speech.segmenter import split_utterances

    if len(segs) < 2 or not segs[0].words:
        return segs
    rest = audio[int(segs[0].words[-1].end * SAMPLE_RATE):]
    if split_utterances(rest) or any(is_critical(w.word) for s in segs[1:] for w in s.words):
        return segs
    return segs[:1]


def copy_without_speech(segs: list[Segment]) -> tuple[list[Segment], tuple[tuple[int, int, str], ...]]:
    """An utterance written as one sentence twice over, one copy with little or no speech behind
    it → the copy the audio bears out, and where the dropped copy named a critical word otherwise.

    Seen with espeak-ng's voice and the dictation prompt: "write up a quadrant pain period,
    right up a quadrant pain period" for one "right upper quadrant pain period", the second
    copy's first five words aligned to no time at all. The copies may differ in a word or two, a
    word that changes a finding among them ("write"/"right"); the copy with fewer words that had
    no time is kept, and each critical word where the dropped copy says otherwise comes back as
    a dispute (index into the kept words, 1, what the dropped copy said), so the radiologist
    sees it flagged: never chosen silently. Two copies both with speech behind them (a sentence
    really said twice, "small left ... small right pleural effusion") are left as they are.
    """
    from rapidfuzz import fuzz

    from dictation.speech.critical import is_critical, token

    words = [w for s in segs for w in s.words]
    n = len(words)
    for k in sorted(range(3, n - 2), key=lambda k: abs(2 * k - n)):
        if abs(2 * k - n) > 2:
            break
        first, second = words[:k], words[k:]
        a, b = [token(w.word) for w in first], [token(w.word) for w in second]
        pairs: list[tuple[int, int]] = []  # (index in first, index in second) of words that differ
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            if op != "replace" or i2 - i1 != j2 - j1:
                break
            pairs += list(zip(range(i1, i2), range(j1, j2)))
        else:
            if len(pairs) > max(1, min(len(a), len(b)) // 4) or not all(
                    is_critical(first[i].word) or is_critical(second[j].word) or fuzz.ratio(a[i], b[j]) >= 60
                    for i, j in pairs):
                continue
            gaps = [sum(map(_squeezed, copy)) for copy in (first, second)]
            drop = 0 if gaps[0] > gaps[1] else 1
            if gaps[drop] < max(2, len((first, second)[drop]) / 2) or gaps[drop] == gaps[1 - drop]:
                continue  # both copies have speech behind them: said twice, or not known to be a copy
            kept, dropped = (second, first) if drop == 0 else (first, second)
            places = [(j, i) for i, j in pairs] if drop == 0 else pairs  # (index in kept, index in dropped)
            found = tuple((k, 1, dropped[d].word.strip(" ,.;:")) for k, d in places
                          if is_critical(kept[k].word) or is_critical(dropped[d].word))
            return _one_segment(segs, kept, kept[0].start), found
    return segs, ()


def without_stray_edges(heard: Transcript, max_probability: float = 0.5) -> list[Transcript]:
    """The readings of the transcript without a stray word at its end, at its start, or both
    (in that order; none when no edge word is stray).

    Whisper adds a short word the speaker never said before or after a short phrase ("go to
    indication in", p=0.22 on the word "in"): a short word (four letters at most) that the
    model itself gives less than even odds, any word it gives less than 0.2, or the neighbouring
    word said again. Words that change a finding's meaning are never stray. Each edge is tried
    alone too: an unsure first word can be part of the phrase ("go" at p=0.25 in "go to
    recommendations, trans"). The caller decides what a shorter reading is worth (a command must
    then match whole); the transcript itself is not changed.
    """
    words = heard.words
    if len(words) < 2:
        return []

    def stray(w: Word, neighbour: Word) -> bool:
        norm = _norm_word(w.word)
        if norm and norm == _norm_word(neighbour.word):
            return True  # the word before or after, said again ("go to indication indication")
        if not norm or norm in MEANING_WORDS:
            return False
        # Short words under even odds; any word the model all but ruled out ("Stop listening.
        # Again." with p=0.06 on "Again", seen in the commands benchmark).
        return (w.probability < max_probability and len(norm) <= 4) or w.probability < 0.2

    head, tail = stray(words[0], words[1]), stray(words[-1], words[-2])
    spans = [(0, len(words) - 1)] if tail else []
    spans += [(1, len(words))] if head else []
    spans += [(1, len(words) - 1)] if head and tail and len(words) > 2 else []
    return [_reading(heard, words[lo:hi]) for lo, hi in spans]


def _reading(heard: Transcript, kept: list[Word]) -> Transcript:
    last = kept[-1]
    kept = [*kept[:-1], Word(last.word.rstrip(",;:") or last.word, last.start, last.end, last.probability)]
    text = words_text(kept)
    first = heard.segments[0]
    segment = Segment(kept[0].start, kept[-1].end, text, tuple(kept), first.avg_logprob, first.no_speech_prob)
    return Transcript(text, (segment,), heard.duration, heard.decode_seconds, decoder=heard.decoder,
                      fallback=heard.fallback)


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


# Words whose change changes a finding: a copy that differs from another in one of these is
# never taken for the same sentence said twice (beside MEANING_WORDS and anything with a digit).
_NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty",
    "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "half", "point",
}
_CONTRAST_WORDS = _NUMBER_WORDS | {
    "upper", "lower", "anterior", "posterior", "medial", "lateral", "superior", "inferior", "proximal",
    "distal", "bilateral", "unilateral", "mild", "mildly", "moderate", "moderately", "severe", "severely",
    "small", "large", "acute", "chronic", "increased", "decreased", "stable", "unchanged", "improved",
    "worsened", "positive", "negative", "present", "absent",
}
# A finding negated ("nonocclusive", "unremarkable"): one prefix more or less than its opposite, so spelled alike.
NEGATING_PREFIXES = ("non", "un")
_CONTRAST_PREFIXES = ("hypo", "hyper", "intra", "extra", "infra", "supra", "sub", "pre", "post", *NEGATING_PREFIXES, "ab")


def _carries_meaning(word: str) -> bool:
    """A word whose change changes a finding: a negation, a side, a number, a size, hypo-/hyper-..."""
    return (word in MEANING_WORDS or word in _CONTRAST_WORDS or any(c.isdigit() for c in word)
            or word.startswith(_CONTRAST_PREFIXES))


def _misheard_word(a: str, b: str) -> bool:
    """``b`` may be ``a`` misheard: the two alike in spelling, neither a word that changes a finding."""
    from rapidfuzz import fuzz

    return not _carries_meaning(a) and not _carries_meaning(b) and fuzz.ratio(a, b) >= 60


def _same_sentence_misheard(first: list[str], second: list[str]) -> bool:
    """The second copy is the first with at most one word in four misheard: a word for a word,
    the two alike in spelling, and neither a word that changes a finding."""
    changed = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=first, b=second, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op != "replace" or i2 - i1 != 1 or j2 - j1 != 1:
            return False
        if not _misheard_word(first[i1], second[j1]):
            return False
        changed += 1
    return changed <= max(1, len(first) // 4)


def sentence_said_once(words: list[str]) -> list[str]:
    """An utterance that is one sentence written twice, the second copy a little off
    ("shortness of breath after a fall. Chordness of breath after a fall.") → the first copy.

    Seen when the template's recognition prompt conditions the decode (the same audio decoded
    without it gave the sentence once). Nobody dictates the same sentence twice in one breath;
    but two copies that differ in a word that changes a finding (no, left, upper, a number,
    hypo-/hyper-...) are both kept, for the radiologist to see, never one chosen silently.
    """
    n = len(words)
    for k in sorted(range(3, n - 2), key=lambda k: abs(2 * k - n)):
        if abs(2 * k - n) > 2:
            break
        if not words[k - 1].endswith((".", ",", ";", "?", "!")):
            continue
        if _same_sentence_misheard([_norm_word(w) for w in words[:k]], [_norm_word(w) for w in words[k:]]):
            return [*words[: k - 1], words[k - 1].rstrip(",;") or words[k - 1]]
    return words


def word_said_once(words: list[str]) -> list[str]:
    """A word, or a phrase of two or three words, written twice in a row → once ("pleural
    pleural effusion", "pain, pain", "disc bulge, disc bulge").

    tiny.en writes one spoken word twice when it is unsure of it, splitting the word's time
    between the copies (the benchmark's tune part: 24 of 100 dictated sentences with the
    espeak-ng voice, 3 of 100 with Piper; the speaker said each word once every time), and now
    and then a short phrase. The later copy is kept (its punctuation goes on with the sentence).
    A copy with a word that changes a finding (no, left, right...) or a number is never dropped:
    written twice it stays for the radiologist to see; nor is a copy that ends a sentence.
    """
    out: list[str] = []
    for word in words:
        out.append(word)
        for n in (1, 2, 3):
            first, second = [_norm_word(w) for w in out[-2 * n:-n]], [_norm_word(w) for w in out[-n:]]
            if len(out) >= 2 * n and first == second and not out[-n - 1].endswith((".", "?", "!")) and all(
                    w and w not in MEANING_WORDS and w not in _NUMBER_WORDS and not any(c.isdigit() for c in w)
                    for w in first):  # two sentences ("Mild disc bulge. Disc bulge at ...") are no copy
                del out[-2 * n:-n]
                break
    return out


def said_once(words: list[str]) -> list[str]:
    """The words of a reading as the textual guards leave them: letter runs dropped, a loop, a
    sentence or a word written twice, once (the recogniser's reading, and each reading of the beam
    the language model weighs, go through this one chain)."""
    return word_said_once(sentence_said_once(undouble(collapse_repeats(drop_letter_runs(words)))))


def looks_repeated(words: list[str]) -> bool:
    """The decode may have written something twice: the utterance is a copy of itself, near
    enough ("No intracranial hemorrhage period, no intercranial hemorrhage period,"), or a phrase
    of two words or more comes twice in a row ("cholecystitis, perichone, cholecystitis,
    perichone", "tend tend tend"). Two sentences really said can look so too ("small left
    pleural effusion. ... small right pleural effusion.").
    Only a reason to read the audio again (``Recognizer.transcribe``), never to drop a word."""
    from rapidfuzz import fuzz

    norm = [n for n in (_norm_word(w) for w in words) if n]
    n = len(norm)
    for size in range(2, n // 2 + 1):
        for i in range(n - 2 * size + 1):
            if norm[i : i + size] == norm[i + size : i + 2 * size]:
                return True
    for k in range(2, n - 1):
        first = " ".join(norm[:k])
        if len(first) < 8:
            continue
        rest = norm[k:]
        if any(fuzz.ratio(first, " ".join(tail)) >= 75 for tail in (rest, rest[:-1]) if tail):
            return True
    return False


def written_without_speech(segs: list[Segment]) -> bool:
    """A word after the first that the alignment gave no time: a word with no speech behind it."""
    return any(_squeezed(w) for w in [w for s in segs for w in s.words][1:])


def reads_all_that_was_said(again: list[Segment], first: list[Segment]) -> bool:
    """A second reading keeps everything the first had speech behind: at least as many words
    (one fewer at most) as the first reading's words with time (all its words when decoded
    without timings; a loop counted once), and every word that changes a finding among those
    (no, left, right, a number...) as many times. Word timings cannot judge it alone: the
    alignment stretches a reading that stopped short over the rest of the audio."""
    from collections import Counter

    timed_words = [w.word for s in first for w in s.words if not _squeezed(w)]
    if not any(s.words for s in first):
        timed_words = [w for s in first for w in s.text.split()]
    timed = [w for w in collapse_repeats([_norm_word(w) for w in timed_words]) if w]
    read = [w for w in (_norm_word(w) for s in again for w in s.text.split()) if w]

    def meaning(words: list[str]) -> Counter[str]:
        return Counter(w for w in words if _carries_meaning(w))

    return len(read) >= len(timed) - 1 and not meaning(timed) - meaning(read)


def is_hallucination(seg: Any, audio_rms: float) -> bool:
    text = re.sub(r"[^a-z ]", "", seg.text.lower()).strip()
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
        return True  # Whisper's own rule for "there was no speech"
    if text in _HALLUCINATIONS and (seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.7 or audio_rms < 0.005):
        return True
    return False
