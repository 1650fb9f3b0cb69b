"""Choosing among the beam's readings with a language model of report text.

Beam search ends with several readings of an utterance (as many as the beam is wide), and
returning them all costs no more than returning the best: measured on 40 perturbed utterances,
the same time and the same best reading. The best by the audio alone is often a near word no
report uses; each reading is weighed by the audio (its summed token log-probability) plus
``WEIGHT`` × its log-probability as report text (``dictation.text.language``), and the best of
that sum is the reading. A reading is a candidate only when it has the same words that change
the meaning as the audio's best (no, left, a number, normal...): the language model never
chooses a negation, a side or a number; where the readings disagree on one, the audio's choice
stands and the critical-word checks that follow see it as before.

The reading a report would say is often not among the beam's at all ("Lungs are clear." when
the model wrote "Lions are cleared."): beam search drops it early by the audio alone. When the
chosen reading has a word the report vocabulary does not know, near readings of report text
(``dictation.text.nearby``: words spelled or sounding alike, never a word that changes the
meaning) are scored against the audio too (teacher-forced, as Whisper scores its own readings),
and one is taken when the audio and the language model together find it better and the audio
alone does not find it much worse (``AUDIO_FLOOR``).

The decode runs inside faster-whisper; ``choosing`` sets, for the current thread, what the
model's beam search hands its readings to (``dictation.speech.models``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol

from dictation.speech.critical import is_critical, token
from dictation.speech.guards import looks_repeated, said_once
from dictation.text.language import LanguageModel, words

# Chosen on the tune part of the unseen-material benchmark (60 chest X-ray sentences, three voices,
# the 5-best of each prompted decode rescored offline): WER with Piper 0.284 → 0.251 at every
# weight from 0.3 to 0.8 (0.266 at 0.1), espeak-ng unchanged within 0.006; a bonus per word
# only made it worse. The middle of the flat stretch.
WEIGHT = 0.5
# Near readings of report text offered to the audio (``nearby``): the language model's two
# likeliest. Scoring costs about 50 ms a reading, the chosen one included; on the tune part two
# gave the WER of four (Piper 0.198 against 0.195, espeak-ng 0.633 against 0.636, 0.683 both) and
# on 12 development-set dictations replayed live the end-of-utterance latency p50 0.76 s against
# 0.91 s (0.58 s without near readings, the same day). ``AUDIO_FLOOR``: how much less probable the
# audio may find one than the reading it would replace: the language model never overrides ears
# that clearly heard otherwise. On the tune part (180
# perturbed sentences, three voices) 43 near readings were taken; the two the audio found 9.3
# less probable were one better and one worse ("effusions or pneumothoraces" made singular); the
# others were at most 6.6 less probable.
NEARBY = 2
AUDIO_FLOOR = -8.0


class ScoresText(Protocol):
    def logprob(self, text: str) -> float: ...


_model: ContextVar[ScoresText | None] = ContextVar("radscribe_language_model", default=None)


@contextlib.contextmanager
def choosing(model: ScoresText | None) -> Iterator[None]:
    """Within this block, this thread's decodes choose their reading with ``model`` (None: the audio alone)."""
    reset = _model.set(model)
    try:
        yield
    finally:
        _model.reset(reset)


def language_model() -> ScoresText | None:
    return _model.get()


def as_left(text: str) -> str:
    """A reading as the recogniser's guards leave it: a loop, a sentence or a word written twice, once."""
    return " ".join(said_once(text.split()))


def _critical(text: str) -> list[str]:
    return [token(w) for w in text.split() if is_critical(w)]


def choose(model: ScoresText, texts: list[str], audio_scores: list[float]) -> int:
    """The index of the reading to keep: ``texts`` in the beam's order (best by the audio first),
    ``audio_scores`` their summed log-probabilities. Readings are compared as the guards will
    leave them: the audio's best is often a sentence written twice, which the guards write once,
    and another reading with the sentence once and a fragment after it ("... lobe, and the right
    front lobe") is not the same meaning, nor is it better text. A reading that still looks
    written twice is never chosen, and when the audio's best does, it stands: the guards that
    follow read such a loop against the audio's timings (on the tune part a loop of three copies
    of a sentence was chosen over another loop the guards could undo)."""
    if len(texts) < 2:
        return 0
    left = [as_left(t) for t in texts]
    if looks_repeated(left[0].split()):
        return 0  # a loop the guards must take apart by the audio's timings: no reading is chosen for it
    meaning = _critical(left[0])
    candidates = [i for i, t in enumerate(left) if _critical(t) == meaning and not looks_repeated(t.split())]
    return max(candidates, key=lambda i: audio_scores[i] + WEIGHT * model.logprob(left[i]))


def nearby(model: ScoresText, texts: list[str], k: int) -> list[str]:
    """Readings of report text near the chosen one ``texts[k]`` (``dictation.text.nearby``) for
    the audio to score. None when every word of it is in the report vocabulary (nothing to
    bring nearer: the cost of scoring is saved), when the audio's best is a loop the guards must
    take apart, or when the model is not a report language model."""
    from dictation.text.nearby import near_readings

    if not isinstance(model, LanguageModel) or looks_repeated(as_left(texts[0]).split()):
        return []
    chosen = as_left(texts[k])
    if all(w in model.known for w in words(chosen)):
        return []
    meaning = _critical(chosen)
    return [t for t in near_readings(chosen, model, NEARBY) if _critical(t) == meaning and not looks_repeated(t.split())]


def better_nearby(model: ScoresText, chosen: str, audio: float, near: list[str], near_audio: list[float]) -> int | None:
    """The index of the near reading to take instead of ``chosen``, or None. ``audio`` and
    ``near_audio`` are their summed log-probabilities given the audio, scored alike (teacher-forced,
    without the prompt). Taken when the audio plus ``WEIGHT`` × the language model is higher than
    the chosen reading's, and the audio finds it at most ``AUDIO_FLOOR`` less probable."""
    best = audio + WEIGHT * model.logprob(chosen)
    scored = [(a + WEIGHT * model.logprob(t), i) for i, (t, a) in enumerate(zip(near, near_audio)) if a - audio >= AUDIO_FLOOR]
    top = max(scored, default=(float("-inf"), -1))
    return top[1] if top[0] > best else None


__all__ = ["AUDIO_FLOOR", "NEARBY", "WEIGHT", "ScoresText", "as_left", "better_nearby", "choose", "choosing", "language_model", "nearby"]
