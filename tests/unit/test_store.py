"""The store on both engines (SQLite, PostgreSQL): reports and utterances survive a new connection;
the SQLite file's durable settings."""

import os
import stat

import pytest

from dictation.errors import StoreError
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.transcript import Segment, Transcript, Word
from dictation.store import Store


def heard(text):
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, 0.9) for i, w in enumerate(text.split()))
    return Transcript(text, (Segment(0, 1, text, words),), 1.0)


def test_wal_full_sync_and_owner_only(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert stat.S_IMODE(os.stat(tmp_path / "s.db").st_mode) == 0o600


def test_every_utterance_is_stored_with_the_report(store_target):
    library = TemplateLibrary()
    store = Store(store_target)
    report = Report.new(library.get("xr-chest"))
    controller = ReportController(report, store=store)
    for text in ["go to indication", "cough period", "go to impression", "pneumonia period", "scratch that"]:
        controller.handle(heard(text), 0.0, 1.0)
    again = Store(store_target)  # a new connection sees everything committed
    rows = again.utterances(report.id)
    assert [r.kind for r in rows] == ["command", "dictation", "command", "dictation", "command"]
    assert rows[1].text == "Cough." and rows[1].slot == "indication"
    loaded = load_report(again, report.id[:8], library)
    assert loaded.slot_text("indication") == "Cough." and loaded.slot_text("impression") == ""
    assert loaded.utterances[3].scratched
    assert [d.id for d in again.drafts()] == [report.id]


def test_unknown_draft_and_not_a_database(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(StoreError, match="no draft"):
        load_report(store, "nope")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a radscribe store"):
        Store(junk)


def test_worklist_orders_stat_first_then_by_age(store_target):
    store = Store(store_target)
    store.add_worklist_item("A1", priority="routine", ordered_at=1.0)
    store.add_worklist_item("A2", priority="stat", ordered_at=3.0)
    store.add_worklist_item("A3", priority="stat", ordered_at=2.0)
    assert [r.accession for r in store.worklist()] == ["A3", "A2", "A1"]
    with pytest.raises(StoreError, match="already on the worklist"):
        store.add_worklist_item("A1")


def test_a_study_signed_final_leaves_the_worklist_whoever_signs_it(store_target):
    """The rule lives in the store: the terminal UI, `radscribe dictate` and the sign screen all
    sign through it, so none of them can forget it."""
    from dictation.config import Config
    from dictation.testing import READER
    from dictation.workstation import Workstation

    station = Workstation(Config(reader=READER), store_target)
    store = station.open_store()
    store.add_worklist_item("A1", priority="stat", template_id="xr-chest", ordered_at=1.0)
    store.add_worklist_item("A2", priority="routine", template_id="xr-chest", ordered_at=2.0)
    item = store.worklist()[0]
    controller = station.controller(station.report_for_study(item, store), store)
    for text in ["go to indication", "cough period", "go to findings", "right lower lobe consolidation period",
                 "go to impression", "pneumonia period", "sign as preliminary"]:
        controller.handle(heard(text), 0.0, 1.0)
    assert [(i.accession, i.report_status) for i in store.worklist()] == [("A1", "preliminary"), ("A2", "")]
    controller.handle(heard("sign report"), 0.0, 1.0)
    assert controller.report.status == "final"
    assert [i.accession for i in Store(store_target).worklist()] == ["A2"]
