"""A store that cannot be reached mid-dictation: nothing dictated is lost, the radiologist is
told, signing waits, and the store gets every utterance once, in order, when it is back."""

from __future__ import annotations

import json
import time

import pytest

from dictation.errors import StoreConflict, StoreUnavailable
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.document import Signer
from dictation.speech.transcript import Segment, Transcript, Word
from dictation.store import Store

NIGHT = Signer("R-NIGHT", "Night", "Nora")
SAID = ["No acute intracranial hemorrhage.", "The ventricles are normal in size.", "No midline shift."]


def heard(text):
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, 0.9) for i, w in enumerate(text.split()))
    return Transcript(text, (Segment(0, 1, text, words),), 1.0)


def _controller(store, folder, report=None):
    report = report or Report.new(TemplateLibrary().get("ct-head"))
    return ReportController(report, store=store, checks=False, signer=NIGHT, unsent_folder=folder)


def _away(monkeypatch, store, *, answer_lost=False):
    """The store stops answering (or answers nothing after it committed: ``answer_lost``)."""
    real = store.commit_utterance

    def commit(*args, **kwargs):
        if answer_lost:
            real(*args, **kwargs)
        raise StoreUnavailable(f"{store.where}: the PostgreSQL store cannot be reached (test); nothing was written")

    monkeypatch.setattr(store, "commit_utterance", commit)
    monkeypatch.setattr(store, "commit_kept", lambda *a, **k: commit())
    return lambda: (monkeypatch.undo())


def test_a_server_that_stops_mid_dictation_loses_nothing_and_signing_waits(tmp_path):
    """A real PostgreSQL server stopped between utterances, then started again."""
    from tests.postgres import Cluster

    cluster = Cluster()
    cluster.start()
    try:
        with cluster.database() as url:
            store = Store(url)
            controller = _controller(store, tmp_path)
            report = controller.report
            assert controller.handle(heard(SAID[0]), 0.0, 1.0).unsent == 0
            cluster.stop_server()
            kept = [controller.handle(heard(text), 2.0 + i, 3.0 + i) for i, text in enumerate(SAID[1:])]
            assert [h.unsent for h in kept] == [1, 2]
            assert "cannot be reached" in controller.unsent.reason
            on_disk = json.loads(controller.unsent.path.read_text())
            written = [u.text for u in report.utterances]
            assert len(written) == 3 and [r["text"] for r in on_disk["records"]] == written[1:]
            assert all(text in report.render() for text in written)  # the report pane shows every word
            signing = controller.command("sign_preliminary")
            assert not signing.outcome.ok and "signing waits" in signing.outcome.message
            assert report.status == "draft" and report.version == 0
            cluster.start_again()
            assert controller.flush_unsent(force=True)
            assert not controller.unsent.path.exists() and len(controller.unsent) == 0
            stored = store.utterances(report.id)
            assert [u.seq for u in stored] == list(range(1, len(report.utterances) + 1))
            assert [u.text for u in stored if u.kind == "dictation"] == written
            assert len(load_report(store, report.id).utterances) == len(report.utterances)
            assert controller.command("sign_preliminary").outcome.ok and report.status == "preliminary"
            assert store.verify_chains() == []
            controller.close()
            store.close()
    finally:
        cluster.stop()


def test_a_signing_the_store_does_not_take_has_not_happened(store_target, tmp_path, monkeypatch):
    store = Store(store_target)
    controller = _controller(store, tmp_path)
    report = controller.report
    controller.handle(heard(SAID[0]), 0.0, 1.0)
    back = _away(monkeypatch, store)
    handled = controller.command("sign_preliminary")
    assert not handled.outcome.ok and "not signed: the store cannot be reached" in handled.outcome.message
    assert handled.record.kind == "rejected" and handled.unsent == 1
    assert report.status == "draft" and report.version == 0 and report.signed_at is None
    assert report.utterances[-1] is handled.record  # the signing's record stands in its place
    back()
    assert controller.flush_unsent(force=True)
    assert store.latest_version(report.id) is None and store.report_status(report.id) == "draft"
    assert controller.command("sign_preliminary").outcome.ok
    assert store.report_status(report.id) == "preliminary"
    controller.close()
    store.close()


def test_a_workstation_that_stopped_before_the_store_was_back_gives_it_everything_on_reopening(
        store_target, tmp_path, monkeypatch):
    store = Store(store_target)
    controller = _controller(store, tmp_path)
    report_id = controller.report.id
    controller.handle(heard(SAID[0]), 0.0, 1.0)
    _away(monkeypatch, store, answer_lost=True)  # the first one reaches the store, its answer does not
    controller.handle(heard(SAID[1]), 1.0, 2.0)
    monkeypatch.undo()
    _away(monkeypatch, store)
    controller.handle(heard(SAID[2]), 2.0, 3.0)
    assert len(controller.unsent) == 2
    monkeypatch.undo()  # the workstation stops here (never closed), the store comes back
    again = _controller(store, tmp_path, load_report(store, report_id))
    assert len(again.unsent) == 0 and not again.unsent.path.exists()
    written = [u.text for u in controller.report.utterances]
    stored = store.utterances(report_id)
    assert len(written) == 3 and [u.text for u in stored] == written  # each once, in order: none doubled
    assert [u.text for u in again.report.utterances] == written
    assert all(text in load_report(store, report_id).render() for text in written)
    assert store.verify_chains() == []
    again.close()
    store.close()


def test_a_signing_that_reached_the_store_though_its_answer_was_lost_is_never_written_over(
        store_target, tmp_path, monkeypatch):
    """The store committed the signing but its answer never came: the workstation took the
    signing back and dictation went on. When the store answers, what was dictated after is not
    written over the signed report: the file stays, and the radiologist is told to add it."""
    store = Store(store_target)
    controller = _controller(store, tmp_path)
    report = controller.report
    controller.handle(heard(SAID[0]), 0.0, 1.0)
    _away(monkeypatch, store, answer_lost=True)
    assert not controller.command("sign_preliminary").outcome.ok  # taken back here...
    assert store.report_status(report.id) == "preliminary"  # ...though the store has it
    monkeypatch.undo()
    _away(monkeypatch, store)
    controller.handle(heard(SAID[1]), 1.0, 2.0)
    monkeypatch.undo()
    with pytest.raises(StoreConflict, match="signed in the store .* addendum"):
        controller.flush_unsent(force=True)
    assert controller.unsent.path.exists() and len(controller.unsent) == 2  # nothing lost
    assert store.report_status(report.id) == "preliminary" and store.latest_version(report.id).version == 1
    assert SAID[1] not in " ".join(u.text for u in store.utterances(report.id))
    store.close()


def test_kept_utterances_do_not_overwrite_a_draft_another_workstation_took_meanwhile(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.db")
    controller = _controller(store, tmp_path)
    report = controller.report
    _away(monkeypatch, store)
    controller.handle(heard(SAID[0]), 0.0, 1.0)
    monkeypatch.undo()
    store.release_lease(report.id, controller.hold.lease)  # the lease ran out while the store was away
    store.take_lease(report.id, "elsewhere:1", 300)
    with pytest.raises(StoreConflict, match="opened by another radscribe"):
        controller.flush_unsent(force=True)
    assert controller.unsent.path.exists() and len(controller.unsent) == 1  # still here, not lost
    assert store.utterances(report.id) == []
    store.close()


def test_a_file_of_kept_utterances_that_cannot_be_read_stops_the_opening_and_stays(tmp_path):
    store = Store(tmp_path / "s.db")
    report = Report.new(TemplateLibrary().get("ct-head"))
    store.save_report(report)
    (tmp_path / f"{report.id}.json").write_text("{not json")
    with pytest.raises(Exception, match="cannot be read") as caught:
        _controller(store, tmp_path, report)
    assert "\n" not in str(caught.value)
    assert (tmp_path / f"{report.id}.json").read_text() == "{not json"
    store.close()


def test_while_the_store_is_away_it_is_tried_again_only_every_few_seconds(tmp_path, monkeypatch):
    from dictation.reporting import unsent

    store = Store(tmp_path / "s.db")
    controller = _controller(store, tmp_path)
    tries = []
    _away(monkeypatch, store)
    monkeypatch.setattr(store, "commit_kept", lambda *a, **k: (tries.append(1), (_ for _ in ()).throw(
        StoreUnavailable("away"))))
    for i, text in enumerate(SAID):
        controller.handle(heard(text), float(i), i + 1.0)
    assert len(controller.unsent) == 3 and tries == []  # each utterance does not wait for a timeout
    monkeypatch.setattr(unsent, "RETRY_SECONDS", 0.0)
    time.sleep(0.01)
    assert not controller.flush_unsent() and tries == [1]
    store.close()


def test_changes_made_on_the_screen_while_the_store_is_away_survive_a_stop_and_are_audited_once(tmp_path, monkeypatch):
    """An undo and a typed field while the store is away: kept in the workstation's file after the
    utterance kept before them; a workstation that stops then gives the store the report as
    changed on reopening, each change's audit entry once, even when the store went away again
    between two of them."""
    store = Store(tmp_path / "s.db")
    controller = _controller(store, tmp_path)
    report_id = controller.report.id
    controller.handle(heard(SAID[0]), 0.0, 1.0)
    _away(monkeypatch, store)
    monkeypatch.setattr(store, "save_report", lambda *a, **k: store.commit_kept())
    controller.handle(heard(SAID[1]), 1.0, 2.0)
    assert controller.edit(lambda r: r.undo()).ok
    assert controller.edit(lambda r: controller.type_into("impression", "No acute findings.")).ok
    controller.edit(lambda r: r.move(1))  # the cursor moved: stored with the report, no audit entry
    assert controller.unsent.describe() == "1 utterance and 3 changes"
    monkeypatch.undo()  # the workstation stops; the store answers, but fails once after the report went in
    real_audit, failed = store.audit, []

    def audit_once_away(action, *args, **kwargs):
        if action == "edit" and len(failed) == 1 and not failed[0]:
            failed[0] = True
            raise StoreUnavailable("the PostgreSQL store cannot be reached (test)")
        if action == "edit" and not failed:
            failed.append(False)
        return real_audit(action, *args, **kwargs)

    monkeypatch.setattr(store, "audit", audit_once_away)
    again = _controller(store, tmp_path, load_report(store, report_id))
    assert again.unsent.describe() == "2 changes"  # the report and the first change's entry went in
    monkeypatch.undo()
    assert again.flush_unsent(force=True) and not again.unsent.path.exists()
    stored = load_report(store, report_id)
    assert [u.text for u in store.utterances(report_id)] == [u.text for u in controller.report.utterances]
    assert "No acute findings." in stored.render() and "ventricles" not in stored.render()  # undone, typed
    assert [e.detail for e in store.audit_log(report_id) if e.action == "edit"] == ["undone", "typed into Impression"]
    again.close()
    store.close()
