"""The language model of report text (text/language.py) and how it chooses among the beam's
readings (speech/rescore.py). The real model choosing on real speech is in
tests/integration/test_transcribe.py."""

from __future__ import annotations

import math
import shutil

import pytest

from dictation.data import resources
from dictation.data.resources import data_dir
from dictation.errors import DataFileError
from dictation.reporting.controller import ReportController
from dictation.reporting.lint import check_vocabulary
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.rescore import WEIGHT, as_left, choose
from dictation.text.language import LanguageModel, load_sentences, report_language_model, spoken_form, words
from dictation.text.pipeline import TextPipeline, TextStages

SENTENCES = ["No pleural effusion or pneumothorax.", "There is no pleural effusion.", "Small left pleural effusion.",
             "The lungs are clear.", "No focal consolidation."]


def test_the_probabilities_after_any_context_add_up_to_at_most_one_with_little_left_for_unseen_words():
    lm = LanguageModel(SENTENCES)
    vocabulary = {w for s in SENTENCES for w in words(s)} | {"</s>"}
    for context in (("<s>", "<s>"), ("no", "pleural"), ("pleural", "effusion"), ("lungs", "are"), ("never", "seen")):
        total = sum(lm.probability(*context, w) for w in vocabulary)
        assert 0.9 < total <= 1.0 + 1e-9, (context, total)


def test_report_text_is_likelier_than_a_near_word_no_report_uses_and_every_reading_has_a_score():
    lm = LanguageModel(SENTENCES)
    assert lm.logprob("No pleural effusion or pneumothorax.") > lm.logprob("No plural effusion or pneumothorax.") + 3
    assert lm.logprob("no pleural effusion") > lm.logprob("pleural no effusion")  # word order counts
    assert math.isfinite(lm.logprob("Lions are cleared.")) and math.isfinite(lm.logprob(""))


class Text:
    """A language model whose log-probabilities the test sets (-20 for a text not listed)."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def logprob(self, text: str) -> float:
        return self.scores.get(text, -20.0)


def test_the_reading_a_report_would_say_wins_when_the_audio_finds_it_about_as_probable():
    texts = ["No pneumonia, adinopathy or masses.", "No pneumonia, adenopathy or masses."]
    text = Text({texts[0]: -30.0, texts[1]: -24.0})
    assert choose(text, texts, [-4.0, -4.5]) == 1  # 0.5 worse by the audio, 6 × WEIGHT better as text
    assert choose(text, texts, [-4.0, -4.0 - 6 * WEIGHT - 0.1]) == 0  # the audio's margin is larger: it stands


def test_the_language_model_never_chooses_a_negation_a_side_or_a_number():
    for texts in (["Pleural effusion.", "No pleural effusion."], ["Left pleural effusion.", "Right pleural effusion."],
                  ["A 4 mm nodule.", "A 5 mm nodule."], ["Normal heart size.", "Abnormal heart size."]):
        text = Text({texts[1]: 0.0})  # the second reading is far likelier as report text
        assert choose(text, texts, [-3.0, -3.1]) == 0, texts
    assert choose(Text({}), ["Only one reading."], [-1.0]) == 0


def test_sentences_are_read_from_the_built_in_file_and_a_site_adds_its_own(tmp_path):
    built_in = load_sentences()
    assert "The lungs are clear." in built_in and not any(s.startswith("#") for s in built_in)
    (tmp_path / "sentences.txt").write_text("# our phrasing\nNo acute intrathoracic process.\n", encoding="utf-8")
    resources.set_site_vocab(tmp_path)
    try:
        assert load_sentences() == [*built_in, "No acute intrathoracic process."]
    finally:
        resources.set_site_vocab(None)


@pytest.mark.parametrize("line", ["Seen on 03/04/2025 in clinic.", "MRN 12345678 follow-up.", "...", "Compared with 2024-11-02."])
def test_a_sentence_with_an_identifier_a_date_or_no_word_is_refused_with_its_file_and_line(tmp_path, line):
    path = tmp_path / "sentences.txt"
    path.write_text(f"The lungs are clear.\n{line}\n", encoding="utf-8")
    with pytest.raises(DataFileError) as e:
        load_sentences(path)
    assert str(e.value).startswith(f"{path}:2:")


def test_vocab_check_names_a_broken_sentences_file(tmp_path):
    folder = tmp_path / "vocab"
    shutil.copytree(data_dir("vocab"), folder)
    assert check_vocabulary(folder) == []
    (folder / "sentences.txt").write_text("Patient seen 12/01/2026.\n", encoding="utf-8")
    assert [p for p in check_vocabulary(folder) if "sentences.txt:1:" in p and "identifier or a date" in p]


def test_a_reports_decodes_weigh_readings_with_report_text_and_the_templates_command_phrases():
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False)
    with_commands = controller.decode_options().language_model
    assert with_commands is not None and with_commands is controller.pipeline.language_model
    assert with_commands.logprob("Go to impression.") > report_language_model().logprob("Go to impression.") + 3
    assert controller.decode_options() == controller.decode_options()  # the same model: decodes made ahead match
    assert TextPipeline(TextStages(rescore=False)).decode_options().language_model is None


def test_sentences_are_learnt_as_written_and_as_said_with_their_punctuation():
    said = {".": "period", ",": "comma", ":": "colon"}
    assert spoken_form("No effusion, no pneumothorax. Heart: normal. L4-L5 2.5 cm.", said) == (
        "No effusion comma no pneumothorax period Heart colon normal period L4-L5 2.5 cm period")
    lm = report_language_model()
    # Dictated punctuation is report text too: the spoken mark is likelier than a near word in its place.
    assert lm.logprob("the lungs are clear period") > lm.logprob("the lungs are clear area") + 3
    assert lm.logprob("no pleural effusion comma or pneumothorax") > lm.logprob("no pleural effusion common or pneumothorax")


def test_readings_are_compared_as_the_guards_leave_them_so_a_fragment_after_the_sentence_never_wins():
    texts = ["A lesion in the right lobe period. A lesion in the right lobe period.",  # the guards write it once
             "A lesion in the right lobe period.",
             "A lesion in the right lobe period, and the right lobe period."]  # a second "right": another meaning
    fragment_liked = Text({"A lesion in the right lobe period, and the right lobe period.": 0.0})
    assert choose(fragment_liked, texts, [-8.0, -5.1, -8.4]) != 2
    sentence_liked = Text({"A lesion in the right lobe period.": -10.0})
    assert choose(sentence_liked, texts, [-8.0, -5.1, -8.4]) == 1


def test_a_reading_that_still_looks_written_twice_is_never_chosen_and_a_loop_of_the_audio_stands():
    phrase = "not that you prefer the unknown amount of it"  # nine words: longer than the guards' word loops
    loop = f"{phrase} {phrase} {phrase}"
    texts = [loop, f"{loop} it is", f"{phrase}."]
    assert as_left(loop) == loop  # the textual guards leave it: the timing guards after the decode take it apart
    loved = Text({as_left(texts[1]): 0.0, as_left(texts[2]): 0.0})
    assert choose(loved, texts, [-9.0, -9.5, -9.6]) == 0
    texts = ["No focal consolidation in", "No focal consolidation in no focal consolidation in", "No focal consolidation."]
    assert choose(Text({texts[1]: 0.0}), texts, [-5.0, -5.2, -5.3]) == 0
    assert choose(Text({texts[2]: 0.0}), texts, [-5.0, -5.2, -5.3]) == 2
