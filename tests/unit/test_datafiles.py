"""Malformed vocabulary files give one clear error naming file and line; the checker exits 1."""

import shutil
import subprocess
import sys

import pytest

from dictation.correction import load_corrections, load_lexicon
from dictation.errors import DataFileError
from dictation.resources import data_dir
from dictation.spoken import load_spoken_rules


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtin_vocabulary_loads():
    assert load_spoken_rules().punctuation[("period",)] == "."
    assert "pneumothorax" in {t.lower() for t in load_lexicon().terms}
    assert load_corrections().phrases["plural effusion"] == "pleural effusion"


def test_bad_toml_names_file_and_line(tmp_path):
    p = write(tmp_path, "spoken.toml", '[punctuation]\n"period" = "."\n"comma" = \n')
    with pytest.raises(DataFileError) as e:
        load_spoken_rules(p)
    assert f"{p}:3:" in str(e.value)


def test_unknown_section_is_rejected_with_its_line(tmp_path):
    p = write(tmp_path, "spoken.toml", '[punctuation]\n"period" = "."\n\n[punctuaton_extra]\n"x" = "y"\n')
    with pytest.raises(DataFileError) as e:
        load_spoken_rules(p)
    assert f"{p}:4:" in str(e.value) and "unknown section" in str(e.value)


def test_wrong_value_type_is_rejected(tmp_path):
    p = write(tmp_path, "spoken.toml", '[punctuation]\n"period" = 1\n')
    with pytest.raises(DataFileError) as e:
        load_spoken_rules(p)
    assert f"{p}:2:" in str(e.value)


def test_lexicon_term_before_heading(tmp_path):
    p = write(tmp_path, "lexicon.txt", "# comment\npneumothorax\n")
    with pytest.raises(DataFileError) as e:
        load_lexicon(p)
    assert f"{p}:2:" in str(e.value) and "heading" in str(e.value)


def test_lexicon_bad_heading_and_bad_term(tmp_path):
    with pytest.raises(DataFileError, match=r":2: bad heading"):
        load_lexicon(write(tmp_path, "lexicon.txt", "[chest]\n[Chest Group\n"))
    with pytest.raises(DataFileError, match=r":3: term"):
        load_lexicon(write(tmp_path, "lexicon.txt", "[chest]\npneumothorax\neffusion; atelectasis\n"))


def test_corrections_unknown_key(tmp_path):
    p = write(tmp_path, "corrections.toml", '[corrections]\n"a" = "b"\n[protected]\nword = ["no"]\n')
    with pytest.raises(DataFileError) as e:
        load_corrections(p)
    assert f"{p}:4:" in str(e.value)


def test_vocab_check_command(tmp_path):
    good = tmp_path / "vocab"
    shutil.copytree(data_dir("vocab"), good)
    run = [sys.executable, "-m", "dictation.cli", "vocab", "check", str(good)]
    ok = subprocess.run(run, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (good / "lexicon.txt").write_text("pneumothorax\n")
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{good / 'lexicon.txt'}:1:" in bad.stdout
