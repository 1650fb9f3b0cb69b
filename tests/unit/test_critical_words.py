"""The words that change the meaning, and a second reading that disagrees on one of them."""

from __future__ import annotations

import pytest

from dictation.speech.critical import disputes, is_critical, second_reading
from dictation.speech.transcript import Segment, Transcript, Word


@pytest.mark.parametrize("first, second, expected", [
    ("now join the fusion.", "No joint effusion.", [(0, 4, "No joint effusion.")]),  # a "no" the first lost
    ("There is a joint effusion", "There is no joint effusion", [(2, 1, "no")]),
    ("Small left pleural effusion", "Small right pleural effusion", [(1, 1, "right")]),
    ("Measures 11 mm", "Measures 12 millimeters", [(1, 1, "12")]),
    ("hypodense lesion", "hyperdense lesion", [(0, 1, "hyperdense")]),
    ("The heart is normal", "The heart is abnormal", [(3, 1, "abnormal")]),
    ("joint effusion", "joint effusion no", []),  # a "no" at the very end negates nothing
    ("No pneumothorax", "Known in the forex", []),  # the second reading lost the "no": the first keeps it
    ("Measures 11 mm", "Measures eleven millimeters", []),  # the same number and unit, written otherwise
    ("hypodense lesion", "hypointense lesion", []),  # both say hypo
    ("Right face calcified", "Write these calcified", []),  # the second reading names no side
], ids=["lost-no", "a-for-no", "side", "number", "hypo-hyper", "normal-abnormal", "trailing-no",
        "second-lost-no", "same-number", "same-prefix", "homophone"])
def test_a_second_reading_disputes_only_a_critical_difference(first, second, expected):
    assert disputes(first.split(), second.split()) == expected


def test_critical_words():
    assert all(is_critical(w) for w in ("No", "not", "without", "left,", "Right.", "11", "four", "mm", "hypodense",
                                        "hyperintense", "new", "abnormal", "isn't", "cannot"))
    assert not any(is_critical(w) for w in ("effusion", "the", "know", "write", "pleural"))


def _transcript(text, probability):
    words = tuple(Word(" " + w, i * 0.3, i * 0.3 + 0.25, probability) for i, w in enumerate(text.split()))
    return Transcript(text, (Segment(0.0, len(words) * 0.3, text, words),), len(words) * 0.3)


class Reader:
    """A recogniser that reads the audio without the prompt as ``plain``."""

    def __init__(self, plain):
        self.plain, self.calls = plain, []

    def transcribe(self, audio, options=None):
        self.calls.append(options)
        return _transcript(self.plain, 0.9)


def test_an_unsure_reading_is_read_again_without_the_prompt_and_the_disagreement_kept():
    rec = Reader("No joint effusion.")
    heard = second_reading(rec, None, _transcript("now join the fusion.", 0.4), beam_size=5)
    assert heard.text == "now join the fusion." and heard.disputes == ((0, 4, "No joint effusion."),)
    assert rec.calls[0].prompt is None and rec.calls[0].beam_size == 5


def test_a_confident_reading_is_not_decoded_twice():
    rec = Reader("No joint effusion.")
    heard = second_reading(rec, None, _transcript("now join the fusion.", 0.9), beam_size=5)
    assert heard.disputes == () and rec.calls == []
