"""The full stop said at the end of an utterance, judged by the bundled model on synthesised
speech (both voices, clean and perturbed): a "period" written as another word becomes the mark,
a "period" left out is added, and a real last word said without a mark is never taken for one."""

from __future__ import annotations

import pytest

from dictation.speech.marks import full_stop_said
from tests.unit.test_marks import _heard
from tests.voice import perturb, synthesize

RENDERINGS = [("piper", None), ("piper", 3), ("espeak", None), ("espeak", 4)]


def _audio(said: str, voice: str, seed: int | None):
    audio = synthesize(said, voice=voice)
    return audio if seed is None else perturb(audio, seed)


@pytest.mark.parametrize("voice, seed", RENDERINGS)
def test_a_period_heard_as_a_word_or_not_written_is_the_full_stop(recognizer, voice, seed):
    audio = _audio("there is airspace consolidation in the left lower lobe period", voice, seed)
    misheard = full_stop_said(recognizer, audio, _heard("There is airspace consolidation in the left lower lobe aorta."), "period")
    assert misheard.text == "There is airspace consolidation in the left lower lobe period."
    audio = _audio("a tear of the posterior horn of the medial meniscus period", voice, seed)
    left_out = full_stop_said(recognizer, audio, _heard("A tear of the posterior horn of the medial meniscus."), "period")
    assert left_out.text == "A tear of the posterior horn of the medial meniscus period."


@pytest.mark.parametrize("voice, seed", RENDERINGS)
@pytest.mark.parametrize("said", ["mild tortuosity of the aorta", "no focal consolidation in the right middle lobe area",
                                  "the stone lies in the distal left ureter", "the cyst is in the lower pole of the kidney"])
def test_a_real_last_word_said_without_a_mark_stays(recognizer, voice, seed, said):
    heard = _heard(said.capitalize() + ".")
    assert full_stop_said(recognizer, _audio(said, voice, seed), heard, "period") is heard
