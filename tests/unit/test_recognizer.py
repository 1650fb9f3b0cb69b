"""Model resolution errors and the repetition-loop guard (no model loaded here)."""

import pytest

from dictation.errors import ModelError
from dictation.recognizer import bundled_model_path, collapse_repeats, resolve_model


def test_default_is_the_bundled_tiny_en():
    path, label = resolve_model(None)
    assert path == str(bundled_model_path())
    assert "tiny.en" in label
    assert resolve_model("tiny.en")[0] == path  # the size name of the bundled model needs no download


def test_folder_without_model(tmp_path):
    with pytest.raises(ModelError, match="not a CTranslate2 model folder"):
        resolve_model(str(tmp_path))


def test_unknown_name():
    with pytest.raises(ModelError, match="unknown model 'huge.en'"):
        resolve_model("huge.en")


def test_named_model_offline_names_both_alternatives(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing downloaded before
    with pytest.raises(ModelError) as e:
        resolve_model("small.en")
    message = str(e.value)
    assert "model folder" in message and "bundled tiny.en" in message


@pytest.mark.parametrize("words, expected", [
    ("the the the the lungs are clear", "the lungs are clear"),
    ("no acute no acute no acute no acute findings", "no acute findings"),
    ("1. 2. 3.", "1. 2. 3."),
    ("very very clear", "very very clear"),  # two copies are speech, three are a loop
    ("The lawns are clear. The lawns are clear.", "The lawns are clear."),  # a phrase twice is a loop
    ("no new nodule no new", "no new nodule no new"),
])
def test_collapse_repeats(words, expected):
    assert " ".join(collapse_repeats(words.split())) == expected
