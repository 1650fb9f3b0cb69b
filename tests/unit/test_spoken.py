"""Spoken → written rules (vocab/spoken.toml) on the forms a radiologist says and Whisper writes."""

import pytest

from dictation.text.spoken import Normalizer, join_text


@pytest.fixture(scope="module")
def norm():
    return Normalizer()


@pytest.mark.parametrize(
    "heard, written",
    [
        # punctuation and layout
        ("there is a small effusion period no pneumothorax full stop", "There is a small effusion. No pneumothorax."),
        ("findings colon normal", "Findings: normal"),
        ("mild comma moderate semicolon severe", "Mild, moderate; severe"),
        ("well hyphen defined", "Well-defined"),
        ("open parenthesis series three close parenthesis", "(Series 3)"),  # a sentence start
        ("first line new line second line", "First line\nSecond line"),
        ("first paragraph new paragraph second paragraph", "First paragraph\n\nSecond paragraph"),
        ("is it stable question mark", "Is it stable?"),
        ("no effusion period period", "No effusion."),  # a mark said twice is one
        ("no effusion comma period", "No effusion."),  # a sentence end wins over a mark said with it
        ("no effusion period comma", "No effusion."),
        ("mild comma comma moderate", "Mild, moderate"),
        ("series three close parenthesis period", "Series 3)."),  # a parenthesis is no such mark
        # numbers and units
        ("four millimeters", "4 mm"),
        ("two point three centimeters", "2.3 cm"),
        ("eleven by eight millimeters", "11 x 8 mm"),
        ("four by three by two centimeters", "4 x 3 x 2 cm"),
        ("one hundred twenty hounsfield units", "120 HU"),
        ("twenty five percent", "25%"),
        ("series two image thirty four", "Series 2 image 34"),
        ("follow up in three months", "Follow up in 3 months"),
        # spine levels
        ("L four L five", "L4-L5"),
        ("C five six", "C5-C6"),
        ("L five S one", "L5-S1"),
        ("T twelve L one", "T12-L1"),
        ("T twelve", "T12"),
        # list items
        ("number one small effusion period number two no pneumothorax period", "1. Small effusion.\n2. No pneumothorax."),
        # a list after a said line break: the break is not doubled
        ("impression colon new paragraph number one mild edema period", "Impression:\n\n1. Mild edema."),
        ("impression colon new line number one mild edema period", "Impression:\n1. Mild edema."),
    ],
)
def test_spoken_forms(norm, heard, written):
    assert norm(heard) == written


@pytest.mark.parametrize(
    "heard, written",
    [
        # What Whisper itself writes for the same speech
        ("There is a 4mm nodule.", "There is a 4 mm nodule"),
        ("At L4 L5, there's a disc bulge period.", "At L4-L5 there is a disc bulge."),
        ("At C5-6.", "At C5-C6"),
        ("At C56 there is", "At C5-C6 there is"),
        ("L5-S1 is normal period.", "L5-S1 is normal."),
        ("It measures 11 by 8 mm period.", "It measures 11 x 8 mm."),
        ("The duct measures for millimeters period.", "The duct measures 4 mm."),
        ("No pneumothorax, x-period.", "No pneumothorax x."),
        ("New paragraph. Impression colon.", "\n\nImpression:"),
    ],
)
def test_whisper_forms(norm, heard, written):
    assert norm(heard) == written


@pytest.mark.parametrize(
    "text",
    [
        "one of the nodules is calcified",  # a count stays a word
        "there are two nodules",
        "the sigmoid colon is normal",  # the organ, not the mark
        "in the postoperative period",
        "no new nodule in the left or right lung",
    ],
)
def test_words_left_alone(norm, text):
    assert norm(text).lower() == text


def test_colon_opening_a_sentence_is_the_organ(norm):
    assert norm("normal period colon is unremarkable period") == "Normal. Colon is unremarkable."


def test_a_lone_punctuation_utterance_is_the_mark(norm):
    assert join_text("There is a small effusion", norm("period", before="There is a small effusion")) == "There is a small effusion."


def test_capitalisation_follows_what_came_before(norm):
    assert norm("no pneumothorax", before="Small effusion.") == "No pneumothorax"
    assert norm("with atelectasis", before="Small effusion") == "with atelectasis"
    assert norm("number one small effusion", before="Impression:") == "1. Small effusion"


def test_case_list_and_acronyms(norm):
    assert norm("color doppler flow on the CT") == "Color Doppler flow on the CT"


def test_auto_punctuation_mode_keeps_whisper_marks():
    auto = Normalizer(spoken_punctuation=False)
    assert auto("The lungs are clear. No effusion, no pneumothorax.") == "The lungs are clear. No effusion, no pneumothorax."


@pytest.mark.parametrize("before, new, joined", [
    ("", "Text", "Text"), ("Small effusion", ".", "Small effusion."), ("A.", "B", "A. B"), ("A\n", "B", "A\nB"),
    ("Small effusion.", ".", "Small effusion."), ("Small effusion,", ".", "Small effusion."),  # said again after a pause
    ("Small effusion.", ",", "Small effusion."), ("(Series 3)", ".", "(Series 3)."),
])
def test_join_text(before, new, joined):
    assert join_text(before, new) == joined


@pytest.mark.parametrize(
    "heard, written",
    [
        # "comma" heard as a near word, where the next word opens a clause
        ("right lower lobe common consistent with pneumonia period", "Right lower lobe, consistent with pneumonia."),
        ("artery territory comic consistent with acute infarct", "Artery territory, consistent with acute infarct"),
        ("blood flow kama concerning for torsion period", "Blood flow, concerning for torsion."),
        # ...or where the recogniser heard a pause after it (it wrote a mark), or at the end
        ("hemorrhage common, mass effect", "Hemorrhage, mass effect"),
        ("in the right lower lobe common", "In the right lower lobe,"),
        # ...or where a list goes on after it in the same sentence (a list word or another comma)
        ("no airspace disease common pneumothorax or effusion period", "No airspace disease, pneumothorax or effusion."),
        ("no pneumonia common edema comma or effusion", "No pneumonia, edema, or effusion"),
        ("no pneumonia common edema common nodules or masses period", "No pneumonia, edema, nodules or masses."),
        ("no pneumonia common edema period and no effusion", "No pneumonia common edema. And no effusion"),
        ("left common femoral and popliteal veins period", "Left common femoral and popliteal veins."),
        ("extensor and common flexor origins are intact", "Extensor and common flexor origins are intact"),
        # "period" heard as "theory" where the utterance ends; never a list rule for a full stop
        ("no pleural effusion theory", "No pleural effusion."),
        ("effusion theory and edema", "Effusion theory and edema"),
        ("right lower quadrant pain with fever periods", "Right lower quadrant pain with fever."),  # heard plural
        ("irregular menstrual periods", "Irregular menstrual periods"),
        ("brief periods of apnea", "Brief periods of apnea"),
        ("pelvic pain since the last menstrual period", "Pelvic pain since the last menstrual period"),
        # a clinical word is never a near word, even at the end ("coma" stays "coma")
        ("history of seizure and coma", "History of seizure and coma"),
        # the ordinary word: its neighbours say so
        ("the common bile duct is normal period", "The common bile duct is normal."),
        ("thrombus in the left common femoral vein period", "Thrombus in the left common femoral vein."),
        ("this is a common finding period", "This is a common finding."),
        ("these are common, with no follow up needed", "These are common with no follow up needed"),
        ("common consistent with", "Common consistent with"),  # nothing before it
        # no opener, no pause: not decided on the spelling alone
        ("hemorrhage common mass effect", "Hemorrhage common mass effect"),
    ],
)
def test_a_punctuation_word_heard_as_a_near_word_is_decided_by_its_context(norm, heard, written):
    assert norm(heard) == written


def test_heard_as_must_name_a_punctuation_word(tmp_path):
    from dictation.errors import DataFileError
    from dictation.text.spoken import load_spoken_rules

    path = tmp_path / "spoken.toml"
    path.write_text('[punctuation]\n"comma" = ","\n\n[heard_as]\n"common" = "coma"\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="'coma' is not a one-word entry of \\[punctuation\\]"):
        load_spoken_rules(path)
