"""The words that change the meaning, and a second reading that disagrees on one of them."""

from __future__ import annotations

import pytest

from dictation.speech.critical import NOT_SAID_MARGIN, disputes, is_critical, negation_not_said, second_reading
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
    ("Mediastinal cancer within nodulebis", "meeting a single camter within normal libous.",
     [(3, 1, "normal libous.")]),  # a "normal" the first lost
    ("Loke you've disease", "Know that you've disease.", [(0, 1, "Know that")]),  # "know": how a "no" is written
    ("Mediastinal camter not within normal limits", "Meet the external camp turned out within normal limits",
     [(0, 3, "Meet the external camp turned out")]),  # a negation inside that the second reading has nowhere
    ("The heart is not enlarged", "The heart is known enlarged", []),  # the second reading heard a "no" there
    ("No acute disease", "Acute disease", []),  # an utterance's first word: left to the other checks
], ids=["lost-no", "a-for-no", "side", "number", "hypo-hyper", "normal-abnormal", "trailing-no",
        "second-lost-no", "same-number", "same-prefix", "homophone", "lost-normal", "know-for-no",
        "negation-only-in-first", "negation-heard-as-known", "first-word-negation"])
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


class Audio:
    """How probable the audio finds each reading (summed log-probabilities), as ``Recognizer.score``."""

    def __init__(self, scores):
        self.scores, self.asked = scores, []

    def score(self, audio, texts, *, total=False):
        assert total  # readings a word apart are compared on their sums
        self.asked.append(texts)
        return [self.scores[t] for t in texts]


def test_a_negation_the_audio_bears_as_well_without_is_disputed_with_its_neighbour():
    heard = _transcript("Mediastinum cancer, not within normal limits.", 0.95)  # sure of every word
    audio = Audio({"Mediastinum cancer, not within normal limits.": -20.0,
                   "Mediastinum cancer, within normal limits.": -20.0 + NOT_SAID_MARGIN + 0.2})
    assert negation_not_said(audio, None, heard).disputes == ((2, 2, "within"),)
    # The audio holds the negation: it stands unflagged.
    audio.scores["Mediastinum cancer, within normal limits."] = -20.0 + NOT_SAID_MARGIN - 0.2
    assert negation_not_said(audio, None, heard).disputes == ()
    # A negation last is disputed with the word before it.
    heard = _transcript("The bones are intact, not", 0.95)
    audio = Audio({"The bones are intact, not": -10.0, "The bones are intact,": -11.0})
    assert negation_not_said(audio, None, heard).disputes == ((3, 2, "intact,"),)


def test_a_first_no_and_a_word_already_disputed_are_not_scored():
    heard = _transcript("No pleural effusion.", 0.95)
    audio = Audio({})
    assert negation_not_said(audio, None, heard) is heard and audio.asked == []
    heard = _transcript("There is no effusion, no pneumothorax", 0.95)
    from dataclasses import replace
    heard = replace(heard, disputes=((2, 1, "a"),))
    audio = Audio({"There is no effusion, no pneumothorax": -10.0, "There is no effusion, pneumothorax": -30.0})
    assert negation_not_said(audio, None, heard).disputes == ((2, 1, "a"),)
    assert audio.asked == [["There is no effusion, no pneumothorax", "There is no effusion, pneumothorax"]]


def test_the_second_reading_checks_a_negation_against_the_audio_even_when_every_word_is_sure():
    class Both(Reader, Audio):
        def __init__(self, plain, scores):
            Reader.__init__(self, plain)
            Audio.__init__(self, scores)

    rec = Both("The osseous structures are intact.", {"The darkest structure are not intact.": -12.0,
                                                       "The darkest structure are intact.": -14.8})
    heard = second_reading(rec, None, _transcript("The darkest structure are not intact.", 0.9), beam_size=5)
    assert heard.disputes == ((4, 2, "intact."),) and rec.calls == []  # no second decode of a sure reading


class Prompted(Reader):
    """A recogniser that reads with the prompt as ``heard`` (unsure of every word) and without as ``plain``."""

    def __init__(self, heard, plain):
        super().__init__(plain)
        self.heard = heard

    label = "fake"

    def transcribe(self, audio, options=None, *, plain=False):
        self.calls.append(options)
        return _transcript(self.heard, 0.4) if options is not None and options.prompt else _transcript(self.plain, 0.9)

    def score(self, audio, texts, *, total=False):
        return [0.0] + [-20.0] * (len(texts) - 1)  # the words as heard are what the audio bears best


def test_transcribe_marks_what_dictation_marks_and_names_it_with_plain_decoding_naming_nothing():
    """`radscribe transcribe` reads an unsure utterance a second time as dictation does: the text
    stays as heard, the disagreement on a critical word is in its words and in "check"."""
    import numpy as np

    from dictation.text.pipeline import FileTranscript, TextPipeline, transcribe_audio
    from tests.voice import synthesize

    audio = np.concatenate([np.zeros(8000, np.float32), synthesize("no joint effusion", lead=0.0, trail=0.0),
                            np.zeros(16000, np.float32)])
    rec = Prompted("Now join the fusion.", "No joint effusion.")
    text, utterances, timings = transcribe_audio(audio, rec, TextPipeline())
    assert [o.prompt is None for o in rec.calls] == [False, True]
    assert utterances[0].heard.disputes == ((0, 4, "No joint effusion."),)
    words = utterances[0].segment_json()["words"]
    assert words[0]["other"] == "No joint effusion." and words[0]["span"] == 4 and "other" not in words[1]
    result = FileTranscript("a.wav", text, utterances, "fake", timings)
    start = utterances[0].start  # where the utterance begins in the recording (its first word at 0 s in it)
    assert result.to_json()["check"] == [f"'Now join the fusion.' at {start:.1f} s may be 'No joint effusion.'"]
    assert timings["second_reading_seconds"] >= 0
    rec.calls.clear()  # plain decoding (--raw): read once, nothing named
    once, utterances, _ = transcribe_audio(audio, rec, TextPipeline(), read_twice=False)
    assert once == text and len(rec.calls) == 1 and utterances[0].heard.disputes == ()  # the same text
    assert FileTranscript("a.wav", text, utterances, "fake", timings, checked=False).to_check() == []
