"""The terminal UI driven by Textual's Pilot (scripted recognizer: this is about the UI)."""


import numpy as np
import pytest
from textual.widgets import Static, TextArea

from dictation.speech.audio import ArraySource
from dictation.testing import MissingMicrophone, ScriptedRecognizer
from tests.pilot import wait_for
from tests.voice import synthesize
from tui.app import RadscribeApp


def flags_text(app):
    from textual.widgets import Label, ListView

    return "\n".join(str(label.render()) for label in app.screen.query_one("#flags", ListView).query(Label))


@pytest.mark.asyncio
async def test_dictated_text_appears_in_the_report():
    speech = synthesize("there is a small left pleural effusion period", lead=0.3, trail=1.0)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(["small left pleural effusion period"]))
    async with app.run_test() as pilot:
        report = app.query_one("#report", TextArea)
        await wait_for(pilot, lambda: report.text)
        assert report.text == "Small left pleural effusion."
        assert "last" in str(app.query_one("#status", Static).render())  # latency in the status bar


@pytest.mark.asyncio
async def test_no_microphone_says_so_and_typing_still_works():
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.state == "no_microphone")
        status = str(app.query_one("#status", Static).render())
        assert "No microphone" in status and "typing still works" in status
        report = app.query_one("#report", TextArea)
        report.focus()
        await pilot.press("N", "o", "space", "e", "f", "f", "u", "s", "i", "o", "n")
        assert report.text == "No effusion"


@pytest.mark.asyncio
async def test_f4_pauses_and_resumes_listening():
    silence = np.zeros(16000 * 30, np.float32)
    app = RadscribeApp(lambda: ArraySource(silence, realtime=True), ScriptedRecognizer([]))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.state == "listening")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.state == "paused")
        assert "Paused" in str(app.query_one("#status", Static).render())
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.state == "listening")


@pytest.mark.asyncio
async def test_with_a_template_commands_move_the_cursor_and_text_fills_fields(tmp_path):
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in ("go to impression", "pneumonia period")])
    report = Report.new(TemplateLibrary().get("xr-chest"))
    controller = ReportController(report, store=Store(tmp_path / "s.db"))
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True),
                       ScriptedRecognizer(["go to impression", "pneumonia period"]), controller=controller)
    async with app.run_test() as pilot:
        assert "Lungs: (not dictated) The lungs are clear." in app.screen.report_text()
        await wait_for(pilot, lambda: "▶ Pneumonia." in app.screen.report_text())
        status = str(app.query_one("#status", Static).render())
        assert "at Impression" in status and "✓ at Impression" in status


@pytest.mark.asyncio
async def test_the_flags_panel_shows_a_critical_finding_after_the_utterance(tmp_path):
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    said = ["go to impression", "large right pneumothorax period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), store=Store(tmp_path / "s.db"))
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: "Critical finding: pneumothorax" in flags_text(app))
        text = " ".join(flags_text(app).split())  # the panel wraps long lines
        assert "pneumothorax [impression] ACR category 2: communicate within 6 h" in text
        assert text.index("Critical finding") < text.index("defaults not accepted")  # critical first
        assert "7 defaults not accepted, left out of the report (technique, lines tubes, lungs" in text


@pytest.mark.asyncio
@pytest.mark.parametrize("ris_up", [True, False], ids=["delivered", "ris-down"])
async def test_signing_by_voice_sends_to_the_ris_and_a_failure_is_impossible_to_miss(tmp_path, ris_up):
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.destinations import HL7Config, HL7Destination
    from dictation.ris.outbox import Outbox
    from dictation.store import Store
    from tests.peers.hl7 import PythonHL7Peer, free_port

    said = ["go to impression", "no acute abnormality period", "sign as preliminary"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    exam = {"accession": "ACC5", "patient_id": "MRN5", "patient_name": "Doe^Jane", "sex": "F"}
    with PythonHL7Peer() as peer:
        port = peer.port if ris_up else free_port()
        dest = HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=port, timeout_seconds=2))
        outbox = Outbox(Store(tmp_path / "s.db"), [dest], alert_after=0.5)
        controller = ReportController(Report.new(TemplateLibrary().get("xr-chest"), exam=exam),
                                      store=Store(tmp_path / "s.db"), outbox=outbox, checks=False)
        app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said),
                           controller=controller, outbox=outbox)
        async with app.run_test(size=(200, 30)) as pilot:
            status = app.query_one("#status", Static)
            if ris_up:
                await wait_for(pilot, lambda: "outbox: all 1 sent" in str(status.render()))
                assert len(peer.received) == 1
            else:
                await wait_for(pilot, lambda: "NOT DELIVERED to ris" in str(status.render()))
                assert "connection refused" in str(status.render()) and status.has_class("problem")


@pytest.mark.asyncio
async def test_an_utterance_the_speech_server_did_not_read_is_said_on_the_status_line():
    """The group's recognition server stops answering: the status line says at once that this
    workstation reads (drawn as a problem), and stops saying it when the server reads again."""
    from dataclasses import replace

    class Flaky(ScriptedRecognizer):
        reads = ["server", "local", "server"]

        def transcribe(self, audio, options=None, *, plain=False):
            heard = super().transcribe(audio, options, plain=plain)
            if options is None or not options.word_timestamps:
                return heard
            where = self._where.setdefault(self._key(audio), self.reads.pop(0) if self.reads else "server")
            if where == "local":
                return replace(heard, decoder="tiny.en (bundled)",
                               fallback="the speech server did not answer within 3 s")
            return replace(heard, decoder="whisper-1 on asr.group.example")

    said = ["the lungs are clear period", "no pneumothorax period", "normal heart size period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    recognizer = Flaky(said)
    recognizer._where = {}
    seen = []
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), recognizer)
    async with app.run_test() as pilot:
        status = app.query_one("#status", Static)

        def look():
            line = str(status.render())
            if not seen or seen[-1][0] != line:
                seen.append((line, status.has_class("problem")))
            return "Normal heart size." in app.screen.report_text()

        await wait_for(pilot, look)
    local = [(line, problem) for line, problem in seen if "read on this workstation" in line]
    assert local and all(problem for _, problem in local)
    assert "the speech server did not answer within 3 s" in local[0][0]
    assert "read on this workstation" not in seen[-1][0]  # the server read the last one


@pytest.mark.asyncio
async def test_the_screen_never_waits_for_a_store_that_takes_seconds_to_answer(tmp_path, monkeypatch):
    """The session thread holds the report while it stores an utterance; a store slow to answer
    (a server away: seconds) never freezes the screen, which shows the report once it is done."""
    import threading

    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    said = ["go to impression", "pneumonia period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), store=store, unsent_folder=tmp_path)
    storing, answer, answered = threading.Event(), threading.Event(), []
    commit = store.commit_utterance

    def slow(report, record, **kwargs):
        if record.kind == "dictation":
            storing.set()
            answered.append(answer.wait(10))  # True: the test, on the screen's thread, went on meanwhile
        return commit(report, record, **kwargs)

    monkeypatch.setattr(store, "commit_utterance", slow)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller)
    async with app.run_test() as pilot:
        await wait_for(pilot, storing.is_set)
        app.screen._show_report()  # as a partial or a key would, while the session thread stores
        answer.set()
        await wait_for(pilot, lambda: "▶ Pneumonia." in str(app.screen.query_one("#report", Static).render()))
        assert answered == [True]


@pytest.mark.asyncio
async def test_a_store_that_cannot_be_reached_is_said_at_once_and_dictation_goes_on(tmp_path, monkeypatch):
    from dictation.errors import StoreUnavailable
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    said = ["go to impression", "pneumonia period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), store=store, unsent_folder=tmp_path)

    def away(*args, **kwargs):
        raise StoreUnavailable("postgresql://db.example/radscribe: the PostgreSQL store cannot be reached (test)")

    monkeypatch.setattr(store, "commit_utterance", away)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller)
    async with app.run_test() as pilot:
        status = app.query_one("#status", Static)
        await wait_for(pilot, lambda: "▶ Pneumonia." in app.screen.report_text())
        await wait_for(pilot, lambda: "2 utterances kept on this workstation" in str(status.render()))
        assert "the store cannot be reached" in str(status.render()) and status.has_class("problem")
        monkeypatch.undo()  # the store answers again: the screen's timer gives it what was kept
        monkeypatch.setattr("dictation.reporting.unsent.RETRY_SECONDS", 0.0)
        app.screen._renew_lease()
        await wait_for(pilot, lambda: "kept on this workstation" not in str(status.render()))
        assert [u.kind for u in store.utterances(controller.report.id)] == ["command", "dictation"]


@pytest.mark.asyncio
async def test_keys_pressed_while_the_store_is_away_are_kept_here_and_stored_with_their_audit_when_it_answers(
        tmp_path, monkeypatch):
    """A key that changes the report (undo, a field moved to) while the store cannot be reached:
    no traceback, the change kept on this workstation and said, stored and audited once it answers."""
    from dictation.errors import StoreUnavailable
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    said = ["go to impression", "pneumonia period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), store=store, unsent_folder=tmp_path)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller)
    async with app.run_test() as pilot:
        status = app.query_one("#status", Static)
        await wait_for(pilot, lambda: "▶ Pneumonia." in app.screen.report_text())
        await wait_for(pilot, lambda: len(store.utterances(controller.report.id)) == 2)

        def away(*args, **kwargs):
            raise StoreUnavailable("postgresql://db.example/radscribe: the PostgreSQL store cannot be reached (test)")

        monkeypatch.setattr(store, "save_report", away)
        monkeypatch.setattr(store, "commit_kept", away)
        monkeypatch.setattr(store, "audit", away)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: "1 change kept on this workstation" in str(status.render()))
        assert "Pneumonia" not in app.screen.report_text() and app.is_running
        monkeypatch.undo()  # the store answers again: the screen's timer gives it the change
        monkeypatch.setattr("dictation.reporting.unsent.RETRY_SECONDS", 0.0)
        app.screen._renew_lease()
        await wait_for(pilot, lambda: "kept on this workstation" not in str(status.render()))
        assert Report.from_dict(store.report_state(controller.report.id), controller.report.template).slot_text("impression") == ""
        assert [e.action for e in store.audit_log(controller.report.id)][-1:] == ["edit"]
