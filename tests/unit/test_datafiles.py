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


@pytest.mark.parametrize(
    "loader, name, text, line, says",
    [
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = "."\n"comma" = \n', 3, "not valid TOML"),
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = "."\n\n[punctuaton_extra]\n"x" = "y"\n', 4,
         "unknown section"),
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = 1\n', 2, "must map to text"),
        (load_lexicon, "lexicon.txt", "# comment\npneumothorax\n", 2, "before any [group] heading"),
        (load_lexicon, "lexicon.txt", "[chest]\n[Chest Group\n", 2, "bad heading"),
        (load_lexicon, "lexicon.txt", "[chest]\npneumothorax\neffusion; atelectasis\n", 3, "characters a term cannot have"),
        (load_corrections, "corrections.toml", '[corrections]\n"a" = "b"\n[protected]\nword = ["no"]\n', 4, "unknown key"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_line(tmp_path, loader, name, text, line, says):
    path = write(tmp_path, name, text)
    with pytest.raises(DataFileError) as e:
        loader(path)
    message = str(e.value)
    assert message.startswith(f"{path}:{line}: ") and says in message and "\n" not in message


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
