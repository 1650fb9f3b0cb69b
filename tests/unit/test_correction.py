"""The vocabulary corrector: fixes mishearings of medical terms, never the radiologist's words."""

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dictation.text.correction import default_corrector, default_term_lexicon
from tests.datasets import DATA


@pytest.fixture(scope="module")
def corrector():
    return default_corrector()


@pytest.mark.parametrize(
    "heard, written",
    [
        ("There is a small left plural effusion.", "There is a small left pleural effusion."),
        ("No name a thorax.", "No pneumothorax."),
        ("The hiller regions are normal.", "The hilar regions are normal."),
        ("There is a disc bolge.", "There is a disc bulge."),  # fuzzy: sound and spelling
        ("Pericolcystic fluid.", "Pericholecystic fluid."),
        ("A hopodense lesion.", "A hypodense lesion."),
        ("New hyper dense focus.", "New hyperdense focus."),  # split word
        ("The can use medullaris terminates at L1.", "The conus medullaris terminates at L1."),  # anchored phrase
        ("Surrounding fat straining.", "Surrounding fat stranding."),
        ("Large right pneumothorax with left were mediastinal shift.", "Large right pneumothorax with leftward mediastinal shift."),
        ("No oceus lesion.", "No osseous lesion."),  # one word of a lexicon term ("osseous lesion")
        ("Subcondral cyst with synovil thickening.", "Subchondral cyst with synovial thickening."),  # [vocabulary]
        ("Infraspinatus tendonosis.", "Infraspinatus tendinosis."),  # not "infraspinatus tendon"
    ],
)
def test_fixes_misheard_terms(corrector, heard, written):
    assert corrector(heard) == written


@pytest.mark.parametrize(
    "text",
    [
        "No new nodule. The left lung is clear. There is no right pneumothorax.",
        "The heart is normal in size and the lungs are clear.",
        "There are filling defects in the segmental pulmonary arteries.",  # plural stays plural
        "Hypointense T1 signal and a hamartoma.",  # rare real words the lexicon lacks
        "Prevertebral soft tissues are normal.",
        "Degenerative changes with osteophytes.",
        "The common bile duct measures 4 mm.",
        "The nodules on the left were stable; those on the right were not.",
        "Partial tear biceps tendon.",  # never "triceps tendon": a heard word is not swallowed
        "Scattered T2 hyperintensities.",  # a plural the vocabulary knows
    ],
)
def test_leaves_correct_text_alone(corrector, text):
    assert corrector(text) == text


def test_reference_texts_of_the_development_set_pass_unchanged(corrector):
    data = tomllib.loads((DATA / "devset.toml").read_text())
    changed = [(d["written"], corrector(d["written"])) for d in data["dictation"] if corrector(d["written"]) != d["written"]]
    assert changed == []


_protected_words = ["no", "new", "left", "right", "not", "known", "now", "normal", "mild", "severe"]
_common = ["the", "lung", "is", "clear", "there", "with", "small", "large", "heart", "size", "and", "in", "of",
           "lobe", "upper", "lower", "effusion", "nodule", "seen", "stable"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_protected_words + _common), min_size=1, max_size=12))
def test_never_changes_protected_or_common_words(words):
    text = " ".join(words)
    assert default_corrector()(text) == text


def test_protected_words_are_never_produced(corrector):
    # "lift lower lobe" must not become "left lower lobe": a laterality is never invented.
    assert "left" not in corrector("lift lower lobe").lower()
    assert "right" not in corrector("rite upper lobe").lower()


def test_prompt_is_short_and_from_the_group():
    lexicon = default_term_lexicon()
    prompt = lexicon.prompt("chest")
    assert "pleural effusion" in prompt and "pneumothorax" in prompt
    assert "intracranial hemorrhage" not in prompt  # a neuro term does not bias a chest X-ray
    assert len(prompt.split(",")) <= 41


def test_a_prompt_longer_than_the_model_keeps_loses_terms_at_its_end_never_its_example():
    """Whisper keeps the last 223 tokens of a prompt: the lexicon leaves terms off the end until
    the whole prompt is kept, so the style example at its start (spoken punctuation) survives."""
    from dictation.speech.models import PROMPT_TOKENS, _prompt_tokenizer, prompt_fits
    from dictation.text.pipeline import TextPipeline

    lexicon = default_term_lexicon()
    style = lexicon.prompt("chest", max_terms=0)
    assert lexicon.prompt("ankle", fits=lambda p: len(p) <= len(style) + 30).startswith(style + " ")
    assert lexicon.prompt("ankle", fits=lambda p: False) == style  # no term fits: the example alone
    assert not prompt_fits(lexicon.prompt("ankle", max_terms=200)) and prompt_fits(style)
    count = _prompt_tokenizer()
    for group in (None, "ankle", "shoulder", "chest"):  # all but chest were over the limit with 40 terms
        prompt = TextPipeline(group=group).decode_options().prompt
        assert prompt.startswith(style + " ") and len(count.encode(" " + prompt, add_special_tokens=False).ids) <= PROMPT_TOKENS
    assert len(TextPipeline(group="chest").decode_options().prompt.split(",")) == 40  # a prompt that fits keeps its 40 terms
