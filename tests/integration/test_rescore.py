"""The language model choosing among the beam's readings, with the real bundled model on synthesised speech."""

from dataclasses import replace

import pytest

from dictation.speech.critical import is_critical, token
from dictation.text.pipeline import TextPipeline
from tests.voice import synthesize

pytestmark = pytest.mark.model


class Refuses:
    """A language model that finds one text impossible and every other equally likely; it records what it was asked."""

    def __init__(self, refused: str) -> None:
        self.refused, self.asked = refused, []

    def logprob(self, text: str) -> float:
        self.asked.append(text)
        return -1e6 if text == self.refused else 0.0


def test_another_reading_of_the_beam_is_taken_with_its_own_words_and_timings_and_the_same_meaning(recognizer):
    audio = synthesize("there is a small left pleural effusion without pneumothorax")
    options = TextPipeline(group="chest").decode_options()
    alone = recognizer.transcribe(audio, replace(options, language_model=None))
    refuses = Refuses(alone.text)
    chosen = recognizer.transcribe(audio, replace(options, language_model=refuses))
    first = refuses.asked[:options.beam_size]  # every reading the beam ended with (a guard may decode again after)
    assert alone.text in first and len(set(first)) == options.beam_size
    assert chosen.text != alone.text and chosen.text in refuses.asked
    assert [token(w) for w in chosen.text.split() if is_critical(w)] == [token(w) for w in alone.text.split() if is_critical(w)]
    assert " ".join(w.word for w in chosen.words).split() == chosen.text.split()
    assert all(0 <= w.start <= w.end <= len(audio) / 16000 + 0.01 and 0 < w.probability <= 1 for w in chosen.words)
    # Without a language model the decode is the audio's best, as before: the same text again.
    assert recognizer.transcribe(audio, replace(options, language_model=None)).text == alone.text


def test_a_near_reading_the_report_text_prefers_is_scored_by_the_audio_which_keeps_what_was_said(recognizer):
    from dictation.text.language import LanguageModel
    from dictation.text.nearby import near_readings

    audio = synthesize("the lungs are clear")
    options = TextPipeline(group="chest").decode_options()
    heard = recognizer.transcribe(audio, replace(options, language_model=None)).text
    assert "clear" in heard.lower()
    # A report vocabulary that never says "clear" but "clean", a word spelled alike: offered, and refused by the ears.
    clean = LanguageModel(["The lungs are clean."] * 20)
    assert any("clean" in r for r in near_readings(heard, clean))
    chosen = recognizer.transcribe(audio, replace(options, language_model=clean))
    assert "clear" in chosen.text.lower() and "clean" not in chosen.text.lower()
    said, near = recognizer.score(audio, ["The lungs are clear.", "The lungs are clean."], total=True)
    assert said > near
