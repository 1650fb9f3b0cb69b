"""Near readings of report text (text/nearby.py) and when one replaces the beam's reading
(speech/rescore.py). The real model scoring them against real speech: tests/integration/test_rescore.py."""

from __future__ import annotations

import pytest

from dictation.speech.critical import is_critical, token
from dictation.speech.rescore import AUDIO_FLOOR, NEARBY, WEIGHT, better_nearby, nearby
from dictation.text.language import LanguageModel, report_language_model
from dictation.text.nearby import near_readings


def meaning(text: str) -> list[str]:
    return [token(w) for w in text.split() if is_critical(w) or token(w).startswith(("normal", "abnormal"))]


def test_a_near_word_no_report_uses_is_brought_to_the_report_word_it_sounds_like():
    lm = report_language_model()
    assert near_readings("Lions are cleared.", lm)[0] == "Lungs are clear."
    assert "No pneumothorax or pleural effusion." in near_readings("No pneumothorax or pural effusion.", lm)
    # Two or three words written where the report has one, their punctuation inside dropped.
    assert "No acute cardiopulmonary disease." in near_readings("No acute cardi, opalman disease.", lm)
    assert "The cardiomediastinal silhouette is normal." in near_readings("The cardiome, mediastinal silhouette is normal.", lm)


@pytest.mark.parametrize("heard", ["Know plural effusion on the write side.", "No plural effusion on the left.",
                                   "There is a 4 mm nodule in the right upper lobe.", "Normal hart size, abnormal plural space.",
                                   "Hypodense lesion in the liver segment seven.", "Lions are cleared without effusions.",
                                   "The lungs are of normality, not of normalities."])
def test_a_word_that_changes_the_meaning_is_never_replaced_removed_or_proposed(heard):
    for reading in near_readings(heard, report_language_model(), limit=16):
        assert meaning(reading) == meaning(heard), reading


@pytest.mark.parametrize("heard", ["Nondisplaced fractur of the distal radius.", "Displaced fractur of the distal radius.",
                                   "Occlusive thrombis in the left popliteal vein.", "The gallbladder is remarkable."])
def test_a_negating_prefix_is_never_added_or_dropped(heard):
    # "nondisplaced" and "displaced" are spelled alike and both report words: one is the other negated.
    negated = [token(w).startswith(("non", "un")) for w in heard.split()]
    readings = near_readings(heard, report_language_model(), limit=16)
    assert readings
    for reading in readings:
        assert [token(w).startswith(("non", "un")) for w in reading.split()] == negated, reading


def test_words_written_as_one_must_each_be_part_of_it_so_a_heard_word_never_just_disappears():
    readings = near_readings("Right face calcified granuloma.", report_language_model(), limit=16)
    assert readings and all(len(r.split()) == 4 for r in readings)


def test_a_reading_every_word_of_which_the_report_vocabulary_knows_is_not_brought_anywhere():
    lm = report_language_model()
    assert nearby(lm, ["The lungs are clear."], 0) == []
    assert nearby(lm, ["Lions are cleared."], 0) == near_readings("Lions are cleared.", lm, NEARBY)[:NEARBY]
    loop = "Lions are cleared Lones are cleared Lions are cleared Lones are cleared"
    assert nearby(lm, [loop, "Lions are cleared."], 1) == []  # the audio's best is a loop: the timing guards' turn
    assert nearby(_NotAReportModel(), ["Lions are cleared."], 0) == []


class _NotAReportModel:
    def logprob(self, text: str) -> float:
        return 0.0


def test_a_near_reading_is_taken_only_when_audio_and_report_text_together_find_it_better_and_the_audio_not_much_worse():
    lm = LanguageModel(["The lungs are clear.", "The lungs are clear.", "Heart size is normal."])
    heard, near = "The lions are cleared.", ["The lungs are clear."]
    gain = WEIGHT * (lm.logprob(near[0]) - lm.logprob(heard))
    assert gain > 3
    assert better_nearby(lm, heard, -10.0, near, [-10.0 - gain + 0.5]) == 0
    assert better_nearby(lm, heard, -10.0, near, [-10.0 - gain - 0.5]) is None  # the audio's margin is larger
    assert better_nearby(lm, heard, -10.0, near, [-10.0 + AUDIO_FLOOR - 0.1]) is None  # the ears heard otherwise
    assert better_nearby(lm, heard, -10.0, [], []) is None
