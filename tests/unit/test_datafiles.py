"""Malformed vocabulary files give one clear error naming file and line; the checker exits 1."""

import shutil
import subprocess
import sys

import pytest

from dictation.data.resources import data_dir
from dictation.errors import DataFileError
from dictation.text.correction import load_corrections, load_term_lexicon
from dictation.text.spoken import load_spoken_rules


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtin_vocabulary_loads():
    assert load_spoken_rules().punctuation[("period",)] == "."
    assert "pneumothorax" in {t.lower() for t in load_term_lexicon().terms}
    assert load_corrections().phrases["plural effusion"] == "pleural effusion"


@pytest.mark.parametrize(
    "loader, name, text, line, says",
    [
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = "."\n"comma" = \n', 3, "not valid TOML"),
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = "."\n\n[punctuaton_extra]\n"x" = "y"\n', 4,
         "unknown section"),
        (load_spoken_rules, "spoken.toml", '[punctuation]\n"period" = 1\n', 2, "must map to text"),
        (load_term_lexicon, "lexicon.txt", "# comment\npneumothorax\n", 2, "before any [group] heading"),
        (load_term_lexicon, "lexicon.txt", "[chest]\n[Chest Group\n", 2, "bad heading"),
        (load_term_lexicon, "lexicon.txt", "[chest]\npneumothorax\neffusion; atelectasis\n", 3, "characters a term cannot have"),
        (load_corrections, "corrections.toml", '[corrections]\n"a" = "b"\n[protected]\nword = ["no"]\n', 4, "unknown key"),
        (load_corrections, "corrections.toml", '[corrections]\n"a" = "b"\n[vocabulary]\nwords = ["osseous",\n  "joint effusion"]\n',
         5, "not one word"),
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


def test_export_destinations_and_orders_in_the_config(tmp_path):
    from dictation.config import load_config

    good = tmp_path / "good.toml"
    good.write_text('[reader]\nid = "R1"\nfamily = "Smith"\n\n[orders]\nport = 2576\ntemplates = { "71046" = "xr-chest" }\n\n'
                    '[[export]]\nname = "ris"\nkind = "hl7"\nhost = "10.0.0.5"\nport = 2575\nobx = "report"\n\n'
                    '[[export]]\nname = "drop"\nkind = "dir"\npath = "/srv/drop"\n')
    config = load_config(good)
    assert [d.name for d in config.destinations] == ["ris", "drop"] and config.destinations[0].obx == "report"
    assert config.orders_port == 2576 and config.order_templates == {"71046": "xr-chest"} and config.reader.id == "R1"
    for text, message in [
        ('[[export]]\nname = "ris"\nkind = "hl7"\nhost = "x"\nport = 99999\n', "port"),
        ('[[export]]\nname = "ris"\nkind = "fax"\n', "kind"),
        ('[[export]]\nname = "ris"\nkind = "hl7"\nhost = "x"\nport = 1\nobx = "all"\n', "obx"),
        ('[[export]]\nname = "a"\nkind = "dir"\npath = "/x"\n\n[[export]]\nname = "a"\nkind = "dir"\npath = "/y"\n', "two [[export]]"),
        ('[orders]\nport = "2576"\n', "[orders]"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(DataFileError) as e:
            load_config(bad)
        assert message in str(e.value) and "bad.toml:" in str(e.value), str(e.value)
