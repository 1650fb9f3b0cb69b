"""Every command of the command line on bad input: one line that says what to do, the documented
exit status (2 bad input or usage, 1 a check found problems or a signing was refused), never a
traceback, and nothing stored that should not be."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dictation.data.resources import data_dir
from tests.voice import synthesize, write_wav


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A fresh home: a config with a reader, a store with one draft, good and bad files."""
    d = tmp_path_factory.mktemp("bad")
    (d / "config.toml").write_text('[reader]\nid = "R1"\nfamily = "Smith"\ngiven = "Anna"\n')
    write_wav(d / "speech.wav", synthesize("there is a small left pleural effusion period"))
    write_wav(d / "silence.wav", np.zeros(48000, "float32"))
    (d / "notaudio.wav").write_text("this is not audio\n")
    (d / "empty.wav").write_bytes(b"")
    report = {"id": "r" * 32, "template": "xr-chest", "status": "final", "sections": {"impression": "Normal."},
              "text": "IMPRESSION: Normal.\n", "exam": {"accession": "A1", "exam_time": "garbage"}}
    (d / "bad-time.json").write_text(json.dumps(report))
    (d / "notjson.json").write_text("{ nope")
    (d / "notreport.json").write_text("[1, 2]")
    site = d / "site"
    site.mkdir()
    body = (data_dir("templates") / "generic.j2").read_text()
    (site / "site-div.j2").write_text(body.replace("id: generic", "id: site-div").replace("{{ findings }}", "{{ findings / 2 }}"))
    vocab = d / "vocab"
    shutil.copytree(data_dir("vocab"), vocab)
    (vocab / "corrections.toml").write_text('[corrections]\n"hiller" = hilar\n')
    sentences = d / "vocab-sentences"
    shutil.copytree(data_dir("vocab"), sentences)
    (sentences / "sentences.txt").write_text("The lungs are clear.\nSeen on 03/04/2025.\n")
    (d / "broken-config.toml").write_text("[reader\nid = 1\n")
    (d / "missing-ca.toml").write_text('[[export]]\nname = "ris"\nkind = "hl7"\nhost = "127.0.0.1"\nport = 2575\n'
                                       'tls = true\nca_file = "/nonexistent/ca.pem"\n')
    (d / "site-config.toml").write_text(f'[templates]\nfolders = ["{site}"]\n')
    damaged = d / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    (d / "zero.db").write_bytes(b"")
    (d / "existing-backup.db").write_bytes(b"keep me")
    return d


def cases(d: Path) -> list[tuple[str, list[str], dict[str, str], int, str]]:
    """(name, arguments, environment changes, exit status, what the line must say)."""
    site, vocab = {"RADSCRIBE_CONFIG": str(d / "site-config.toml")}, {"RADSCRIBE_VOCAB_DIR": str(d / "vocab")}
    return [
        ("transcribe-missing", ["transcribe", str(d / "nope.wav")], {}, 2, "nope.wav"),
        ("transcribe-not-audio", ["transcribe", str(d / "notaudio.wav")], {}, 2, "notaudio.wav"),
        ("transcribe-empty", ["transcribe", str(d / "empty.wav")], {}, 2, "empty.wav"),
        ("transcribe-silence", ["transcribe", str(d / "silence.wav")], {}, 2, "no speech found"),
        ("transcribe-group", ["transcribe", str(d / "speech.wav"), "--group", "nosuch"], {}, 2, "no lexicon group 'nosuch'"),
        ("dictate-nothing", ["dictate", str(d / "speech.wav")], {}, 2, "give --template ID"),
        ("dictate-template", ["dictate", str(d / "speech.wav"), "--template", "xr-chst"], {}, 2, "did you mean xr-chest"),
        ("dictate-resume-nope", ["dictate", str(d / "speech.wav"), "--template", "xr-chest", "--resume", "nope"], {}, 2,
         "no report with id 'nope'"),
        ("dictate-silence", ["dictate", str(d / "silence.wav"), "--template", "xr-chest"], {}, 2, "nothing stored"),
        ("dictate-broken-body", ["dictate", str(d / "speech.wav"), "--template", "site-div"], site, 2, "site-div.j2"),
        ("check-missing", ["check", str(d / "nope.txt")], {}, 2, "nope.txt"),
        ("templates-show", ["templates", "show", "nosuch"], {}, 2, "no template 'nosuch'"),
        ("templates-check-body", ["templates", "check", str(d / "site" / "site-div.j2")], {}, 1, "rendering"),
        ("vocab-corrections", ["vocab", "check", str(d / "vocab")], {}, 1, "corrections.toml:2"),
        ("dictate-sentences", ["dictate", str(d / "speech.wav"), "--template", "xr-chest"],
         {"RADSCRIBE_VOCAB_DIR": str(d / "vocab-sentences")}, 2, "sentences.txt:2"),
        ("ui-vocab", ["--audio", str(d / "speech.wav"), "--template", "xr-chest"], vocab, 2, "corrections.toml:2"),
        ("config-broken", ["drafts"], {"RADSCRIBE_CONFIG": str(d / "broken-config.toml")}, 2, "broken-config.toml:1"),
        ("config-missing-ca", ["outbox"], {"RADSCRIBE_CONFIG": str(d / "missing-ca.toml")}, 2, "ca_file '/nonexistent/ca.pem' does not exist"),
        ("export-not-json", ["export", str(d / "notjson.json"), "--dir", str(d / "out")], {}, 2, "not JSON"),
        ("export-not-report", ["export", str(d / "notreport.json"), "--dir", str(d / "out")], {}, 2, "not a radscribe report"),
        ("export-exam-time", ["export", str(d / "bad-time.json"), "--hl7", "127.0.0.1:9"], {}, 2, "exam_time 'garbage' is not a time"),
        ("export-hl7-port", ["export", str(d / "bad-time.json"), "--hl7", "127.0.0.1:99999"], {}, 2, "from 1 to 65535"),
        ("export-dicom", ["export", str(d / "bad-time.json"), "--dicom", "AE@127.0.0.1:abc"], {}, 2, "AET@HOST:PORT"),
        ("worklist-birth", ["worklist", "add", "X1", "--exam", "CT", "--birth-date", "garbage"], {}, 2, "not a date"),
        ("worklist-birth-month", ["worklist", "add", "X2", "--exam", "CT", "--birth-date", "1990-31-01"], {}, 2, "not a date"),
        ("drafts-show", ["drafts", "show", "nope"], {}, 2, "no report with id 'nope'"),
        ("drafts-discard", ["drafts", "discard", "nope", "--yes"], {}, 2, "no report with id 'nope'"),
        ("versions", ["versions", "nope"], {}, 2, "no report with id 'nope'"),
        ("audit", ["audit", "nope"], {}, 2, "no report with id 'nope'"),
        ("store-damaged", ["drafts", "--store", str(d / "damaged.db")], {}, 2, "damaged.db"),
        ("store-zero", ["drafts", "--store", str(d / "zero.db")], {}, 2, "0 bytes"),
        ("store-check-damaged", ["store", "check", "--store", str(d / "damaged.db")], {}, 1, "restore the last backup"),
        ("backup-exists", ["backup", str(d / "existing-backup.db")], {}, 2, "never overwrites"),
        ("backup-no-folder", ["backup", str(d / "nofolder" / "b.db")], {}, 2, "no such folder"),
        ("usage-option", ["dictate", str(d / "speech.wav"), "--jsn"], {}, 2, "No such option '--jsn'"),
        ("usage-command", ["dictat"], {}, 2, "No such command 'dictat'"),
        ("usage-port", ["listen-orders", "--port", "99999"], {}, 2, "99999 is not in the range"),
        ("listen-missing", ["listen", "--audio", str(d / "nope.wav")], {}, 2, "nope.wav"),
        ("stats-since", ["stats", "--since", "yesterdayish"], {}, 2, "yesterdayish"),
        ("review-score", ["review", "score", "999", "2a", "--comment", "x"], {}, 2, "999"),
        ("outbox-retry", ["outbox", "retry", "999"], {}, 2, "#999"),
        ("outbox-release", ["outbox", "release", "999"], {}, 2, "#999"),
        ("worklist-ack", ["worklist", "ack", "NOPE"], {}, 2, "NOPE"),
        ("dictate-accession", ["dictate", str(d / "speech.wav"), "--accession", "NOPE"], {}, 2, "no study with accession"),
    ]


@pytest.mark.parametrize("name", [c[0] for c in cases(Path("/x"))])
def test_bad_input_is_one_line_and_the_documented_exit_status(name, world, radscribe_cmd, tmp_path):
    case = next(c for c in cases(world) if c[0] == name)
    _, args, extra, status, says = case
    env = {**os.environ, "RADSCRIBE_CONFIG": str(world / "config.toml"), "RADSCRIBE_STORE": str(tmp_path / "store.db"),
           **extra}
    done = subprocess.run([*radscribe_cmd, *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    assert done.returncode == status, (done.returncode, done.stdout[-500:], done.stderr[-1000:])
    assert says in done.stderr + done.stdout, (done.stdout[-500:], done.stderr[-1000:])
    if status == 2:  # bad input: exactly one line, on stderr, that says what to do
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("radscribe: "), lines
    if name in ("dictate-silence", "dictate-nothing", "dictate-template", "dictate-resume-nope"):
        listed = subprocess.run([*radscribe_cmd, "drafts"], env=env, capture_output=True, text=True, timeout=60)
        assert "utterances" not in listed.stdout  # nothing was stored
