"""Learning from the radiologist's corrections: pairs typed over what was heard, kept for review."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from dictation.cli import main
from dictation.reporting.controller import ReportController
from dictation.reporting.learning import typed_over
from dictation.reporting.records import UtteranceRecord
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.store import Store


@pytest.mark.parametrize("heard, written, pairs", [
    ("Mild cystic nerve irritation.", "Mild sciatic nerve irritation.", [("cystic", "sciatic", "mild _ nerve")]),
    ("Now join the fusion.", "No joint effusion.", []),  # a negation changed: content, never learned
    ("Small left effusion.", "Small right effusion.", []),  # a side
    ("Measures 11 mm.", "Measures 12 mm.", []),  # a number
    ("Discussed with doctor smyth.", "Discussed with Dr. Smith.", []),  # a name
    ("No effusion.", "No effusion. Mild cardiomegaly.", []),  # only added: nothing was misheard
    ("The men is cuss is torn.", "The meniscus is torn.", [("men is cuss", "meniscus", "the _ is")]),
], ids=["respelled", "negation", "side", "number", "name", "added", "merged"])
def test_only_misheard_spellings_are_learned(heard, written, pairs):
    assert typed_over(heard, written) == pairs


def _typed_over(store, library, heard, written, learn_days=180):
    report = Report.new(library.get("mr-lumbar-spine"))
    report.go_to("impression")
    report.utterances.append(UtteranceRecord(1, "dictation", heard, heard, 0, 1, []))
    report.dictate(heard, utterance=1)
    controller = ReportController(report, store=store, checks=False, learn_days=learn_days)
    outcome = controller.type_into("impression", written)
    controller.close()
    assert outcome.ok and report.slot_text("impression") == written


def test_vocab_suggest_lists_pairs_typed_over_again_and_again(tmp_path, monkeypatch, store_target):
    library = TemplateLibrary()
    store_path = store_target
    store = Store(store_path)
    for _ in range(3):
        _typed_over(store, library, "Left cystic nerve impingement at L5-S1.", "Left sciatic nerve impingement at L5-S1.")
    _typed_over(store, library, "Mild fasset arthropathy.", "Mild facet arthropathy.")  # once only
    _typed_over(store, library, "Mild fasset arthropathy.", "Mild facet arthropathy.", learn_days=0)  # not kept
    assert [(p.heard, p.written, p.times) for p in store.learned_pairs(1)] == [("cystic", "sciatic", 3),
                                                                               ("fasset", "facet", 1)]
    store.close()
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("[vocab]\nlearn_days = 30\n")
    done = CliRunner().invoke(main, ["vocab", "suggest", "--store", str(store_path)])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.output.splitlines() if not line.startswith("#")]
    assert lines == ['"cystic" = "sciatic"   # 3x, mr-lumbar-spine; e.g. "left cystic nerve"']
    old = Store(store_path)
    with old.transaction() as db:
        db.execute("UPDATE learned_corrections SET at = ?", (time.time() - 40 * 86400,))
    old.close()
    forgotten = CliRunner().invoke(main, ["vocab", "suggest", "--store", str(store_path), "--min", "1"])
    assert forgotten.exit_code == 0 and "nothing typed over" in forgotten.output  # older than learn_days
    (tmp_path / "config.toml").write_text("[vocab]\nlearn_days = 0\n")
    off = CliRunner().invoke(main, ["vocab", "suggest", "--store", str(store_path)])
    assert off.exit_code != 0 and "learn_days is 0" in off.output
