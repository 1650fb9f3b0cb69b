"""The full stop said at the end of an utterance, read again against the audio (speech/marks.py),
with a scorer whose figures the test sets; the real model on real speech is in
tests/integration/test_spoken_marks.py."""

from __future__ import annotations

from dataclasses import replace

from dictation.speech.marks import APPEND_MARGIN, REPLACE_MARGIN, full_stop_said
from dictation.speech.transcript import Segment, Transcript, Word


def _heard(text: str, probability: float = 0.3) -> Transcript:
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, probability) for i, w in enumerate(text.split()))
    return Transcript(text, (Segment(0.0, len(words) * 0.3, text, words),), len(words) * 0.3)


class Audio:
    """Mean log-probability per token of each reading, as ``Recognizer.score``; -5 for a reading not listed."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores, self.asked = scores, []

    def score(self, audio, texts, *, total=False):
        assert not total  # readings of different lengths are compared per token
        self.asked.append(texts)
        return [self.scores.get(t, -5.0) for t in texts]


def test_a_last_word_the_audio_bears_better_as_period_becomes_the_full_stop():
    heard = _heard("Airspace consolidation in the left lower lobe aorta.")
    audio = Audio({"Airspace consolidation in the left lower lobe aorta.": -0.9,
                   "Airspace consolidation in the left lower lobe period.": -0.9 + REPLACE_MARGIN + 0.01})
    out = full_stop_said(audio, None, heard, "period")
    assert out.text == "Airspace consolidation in the left lower lobe period."
    assert [w.word for w in out.words][-2:] == ["lobe", "period."]
    assert (out.words[-1].start, out.words[-1].end) == (heard.words[-1].start, heard.words[-1].end)
    assert audio.asked == [["Airspace consolidation in the left lower lobe aorta.",
                            "Airspace consolidation in the left lower lobe period.",
                            "Airspace consolidation in the left lower lobe period.".replace("lobe period", "period"),
                            "Airspace consolidation in the left lower lobe aorta period."]]
    # Just short of the margin: the word stays as heard.
    audio.scores["Airspace consolidation in the left lower lobe period."] = -0.9 + REPLACE_MARGIN - 0.01
    assert full_stop_said(audio, None, heard, "period") is heard


def test_two_last_words_may_be_one_period_and_a_word_read_after_it():
    heard = _heard("Supraspinatus tear with retraction theory. here")
    audio = Audio({"Supraspinatus tear with retraction theory. here": -1.0,
                   "Supraspinatus tear with retraction period.": -0.6})
    assert full_stop_said(audio, None, heard, "period").text == "Supraspinatus tear with retraction period."


def test_a_real_last_word_and_a_period_said_after_it_keep_the_word():
    """Both the word and the mark in the audio: the mark is added, the word kept."""
    heard = _heard("Mild tortuosity of the aorta.")
    audio = Audio({"Mild tortuosity of the aorta.": -0.8, "Mild tortuosity of the period.": -0.5,
                   "Mild tortuosity of the aorta period.": -0.3})
    assert full_stop_said(audio, None, heard, "period").text == "Mild tortuosity of the aorta period."
    # Said without a mark: nothing the audio bears better, nothing changes.
    audio = Audio({"Mild tortuosity of the aorta.": -0.3, "Mild tortuosity of the aorta period.": -0.3 + APPEND_MARGIN - 0.01})
    assert full_stop_said(audio, None, heard, "period") is heard


def test_words_that_change_the_meaning_are_never_taken_for_the_mark():
    for text in ("Small effusion on the left", "There is no", "The lesion measures 12", "The study is normal"):
        heard = _heard(text)
        audio = Audio({f"{text.rsplit(' ', 1)[0]} period.": 5.0})  # the audio would bear it: never asked
        out = full_stop_said(audio, None, heard, "period")
        assert out.text == heard.text and all(text.rsplit(" ", 1)[0] + " period." not in asked for asked in audio.asked)
    # Nor across one: "left" guards the word before it too.
    audio = Audio({"Effusion on the period.": 5.0})
    assert full_stop_said(audio, None, _heard("Effusion on the left side"), "period").text == "Effusion on the left side"


def test_a_disputed_word_a_punctuation_word_said_and_no_dictated_punctuation_are_left_alone():
    audio = Audio({"Small cyst period.": 5.0, "Small cyst area period.": 5.0})
    heard = replace(_heard("Small cyst area."), disputes=((2, 1, "left"),))  # a second reading heard a side there
    out = full_stop_said(audio, None, heard, "period")
    assert out.text == "Small cyst area period."  # not replaced; the mark after it is still read
    for text in ("Small cyst period.", "Small cyst comma", "Cyst."):
        assert full_stop_said(Audio({}), None, _heard(text), "period", frozenset({"comma"})).text == text
    asked = Audio({"Small cyst period.": 5.0})
    assert full_stop_said(asked, None, _heard("Small cyst area."), None).text == "Small cyst area." and asked.asked == []


def test_a_word_the_guards_wrote_once_is_not_written_twice_again():
    """The text is the guards' (a word the decoder wrote twice, written once); the words are the decoder's."""
    decoded = _heard("Small reactive high high muscle")
    heard = replace(decoded, text="Small reactive high muscle")
    audio = Audio({"Small reactive high muscle": -1.0, "Small reactive high muscle period.": -0.5})
    out = full_stop_said(audio, None, heard, "period")
    assert out.text == "Small reactive high muscle period." and [w.word for w in out.words][-2:] == ["muscle", "period."]
    audio = Audio({"Small reactive high muscle": -1.0, "Small reactive high period.": -0.2})
    assert full_stop_said(audio, None, heard, "period").text == "Small reactive high period."
    # Where the text's end is not the words' end, its words are not replaced.
    odd = replace(decoded, text="Small reactive hydrocele")
    audio = Audio({"Small reactive hydrocele": -1.0, "Small reactive period.": 5.0})
    assert full_stop_said(audio, None, odd, "period").text == "Small reactive hydrocele"


def test_half_of_a_hyphenated_word_is_never_replaced_and_a_failed_score_changes_nothing():
    pieces = _heard("Chronic appearing multi -level")  # faster-whisper's pieces of one word
    heard = replace(pieces, text="Chronic appearing multi-level")
    audio = Audio({"Chronic appearing period.": 5.0, "Chronic appearing multi-level": -1.0})
    out = full_stop_said(audio, None, heard, "period")
    assert out.text == "Chronic appearing period." and [w.word for w in out.words] == ["Chronic", "appearing", "period."]
    assert "Chronic appearing multi period." not in audio.asked[0]
    failed = Audio({"Small cyst area.": float("-inf")})
    heard = _heard("Small cyst area.")
    assert full_stop_said(failed, None, heard, "period") is heard
