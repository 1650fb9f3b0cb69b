"""The reading-room flows with Textual's Pilot, and snapshots of the main screens.

The engine underneath is real (report model, checks, store, outbox); only the recogniser is
scripted, because this is about the UI."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Button, DataTable, Input, Label, ListView, Static, TextArea

from dictation.data.resources import data_dir
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.audio import ArraySource
from dictation.store import Store
from dictation.testing import READER, MissingMicrophone, ScriptedRecognizer
from tests.pilot import broken_checks_vocab, wait_for
from tests.voice import synthesize
from tui.app import RadscribeApp
from tui.screens.report import ReportScreen
from tui.screens.sign import SignScreen
from tui.screens.worklist import WorklistScreen

NOW = 1_795_000_000.0  # a fixed "now" for the turnaround clocks


def rendered(app, selector):
    """What a Static on the current screen shows; empty while the screen is still changing."""
    from textual.css.query import NoMatches

    try:
        return str(app.screen.query_one(selector, Static).render())
    except NoMatches:
        return ""


def worklist_listening(app):
    """The worklist is shown with its studies and listens (its own session has opened its source)."""
    return isinstance(app.screen, WorklistScreen) and bool(app.screen.rows) and app.screen.listening == "listening"


def select_study(app, accession):
    """The worklist's cursor on the study with this accession."""
    app.screen.query_one(DataTable).move_cursor(row=[r.accession for r in app.screen.rows].index(accession))


def flags_text(app):
    from textual.css.query import NoMatches

    try:
        return "\n".join(str(label.render()) for label in app.screen.query_one("#flags", ListView).query(Label))
    except NoMatches:  # not composed yet
        return ""


@pytest.fixture
def library():
    return TemplateLibrary()


def worklist_store(tmp_path):
    store = Store(tmp_path / "s.db")
    store.add_worklist_item("ACC-R1", exam="XR Chest 2 views", exam_code="71046", patient_id="MRN1",
                            patient_name="Doe^Jane", sex="F", facility="General", priority="routine",
                            template_id="xr-chest", ordered_at=NOW - 5 * 3600)
    store.add_worklist_item("ACC-S1", exam="CT Head without contrast", exam_code="70450", patient_id="MRN2",
                            patient_name="Roe^Rick", sex="M", facility="North", priority="stat",
                            template_id="ct-head", ordered_at=NOW - 40 * 60)
    store.add_worklist_item("ACC-U1", exam="CTA Chest PE", patient_id="MRN3", patient_name="Poe^Ann", sex="F",
                            facility="General", priority="urgent", template_id="cta-chest-pe", ordered_at=NOW - 70 * 60)
    return store


def worklist_app(tmp_path, library, said=(), source=None, practice=None, signer=None):
    store = worklist_store(tmp_path)
    if signer is not None:
        store.actor = signer.id

    def make_controller(report, worklist_id):
        return ReportController(report, store=store, practice=practice, signer=signer)

    if said and source is None:
        # The worklist listens too (hands-free "open next"): it hears silence, and the first study
        # opened hears what was said, however long the worklist listened before the key was pressed.
        silence = np.zeros(16000 * 60, np.float32)
        heard = iter([silence, np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])])

        def source():
            return ArraySource(next(heard, silence), realtime=True)
    source = source or MissingMicrophone
    return RadscribeApp(source, ScriptedRecognizer(list(said)), store=store, library=library, practice=practice,
                        make_controller=make_controller, clock=lambda: NOW, show_clock=False), store


def chest_report(library):
    report = Report.new(library.get("xr-chest"), exam={"accession": "ACC-9", "patient_name": "Doe^Jane"})
    report.go_to("indication")
    report.dictate("Chest pain after a fall.")
    report.accept_all_defaults()
    report.go_to("findings.pleura")
    report.dictate("Large right pneumothorax.")
    report.go_to("impression")
    report.dictate("Large right pneumothorax.")
    return report


@pytest.mark.asyncio
async def test_a_study_ordered_or_claimed_elsewhere_shows_at_once(store_target, library, monkeypatch):
    """Another workstation claims a study and the RIS orders a STAT one: both show on this
    worklist without a key pressed (PostgreSQL: a notification; SQLite: the file's data_version).
    The clocks' own refresh is pushed out of the test's reach, so only the watcher can show them."""
    monkeypatch.setattr(WorklistScreen, "clock_refresh_seconds", 3600.0)
    store = Store(store_target, actor="W1")
    store.add_worklist_item("ACC-R1", exam="XR Chest 2 views", patient_id="MRN1", facility="General",
                            priority="routine", template_id="xr-chest", ordered_at=NOW - 3600)
    elsewhere = Store(store_target, actor="W2")
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), store=store, library=library,
                       make_controller=lambda report, worklist_id: ReportController(report, store=store),
                       clock=lambda: NOW, show_clock=False)
    try:
        async with app.run_test(size=(130, 20)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, WorklistScreen) and len(app.screen.rows) == 1)
            table = app.screen.query_one(DataTable)

            def row_of(accession):
                return next(" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)
                            if accession in " ".join(str(c) for c in table.get_row_at(i)))

            # The watcher may start listening a moment after the screen shows: act until it hears.
            for n in range(20):
                elsewhere.add_worklist_item(f"ACC-STAT{n}", exam="CT Head", patient_id=f"MRN{n}", facility="General",
                                            priority="stat", template_id="ct-head", ordered_at=NOW - 60)
                try:
                    await wait_for(pilot, lambda: len(app.screen.rows) > 1, seconds=2.0)
                    break
                except AssertionError:
                    continue
            assert "STAT" in str(table.get_row_at(0)[0])  # the new STAT study is first
            item = elsewhere.worklist_item("ACC-R1")
            elsewhere.claim_study(item.id, "W2")
            await wait_for(pilot, lambda: "W2" in row_of("ACC-R1"), seconds=30.0)
    finally:
        elsewhere.close()


@pytest.mark.asyncio
async def test_the_worklist_is_stat_first_with_turnaround_clocks(tmp_path, library):
    app, _ = worklist_app(tmp_path, library)
    async with app.run_test(size=(130, 20)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["STAT", "URGENT", "ROUTINE"]
        assert [r[1] for r in rows] == ["40 min", "1 h 10", "5 h 00"]
        styles = [table.get_row_at(i)[1].style for i in range(3)]
        assert styles == ["bold red", "yellow", "green"]  # STAT 40 min > 30; urgent 70 of 120; routine 5 h of 24


@pytest.mark.asyncio
async def test_open_a_study_dictate_and_come_back_to_its_draft(tmp_path, library):
    said = ["go to impression", "large right pneumothorax period"]
    app, store = worklist_app(tmp_path, library, said)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: worklist_listening(app))
        await pilot.press("enter")  # the STAT study on top
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.controller.report.exam["accession"] == "ACC-S1"
        await wait_for(pilot, lambda: "Critical finding: pneumothorax" in flags_text(app))
        await pilot.press("escape")
        assert isinstance(app.screen, WorklistScreen)
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert str(table.get_row_at(0)[6]) == "draft"
    (draft,) = [d for d in store.drafts() if d.accession == "ACC-S1"]
    assert draft.utterances == 2  # everything said is in the store


@pytest.mark.asyncio
async def test_the_worklist_never_listens_behind_another_screen(tmp_path, library):
    """A listen the worklist asked for (after a refresh) that runs once another screen is on top
    starts nothing: the screen on top has the microphone."""
    from tui.screens.help import HelpScreen

    app, _ = worklist_app(tmp_path, library, ["open next"])
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: worklist_listening(app))
        worklist = app.screen
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and worklist.session is None)
        worklist._listen()  # as the deferred call would
        assert worklist.session is None and app.session is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: worklist_listening(app))  # shown again: it listens again


@pytest.mark.asyncio
async def test_a_flag_jumps_to_its_field(tmp_path, library):
    controller = ReportController(chest_report(library), store=Store(tmp_path / "s.db"))
    controller.report.go_to("indication")
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: "Critical finding: pneumothorax" in flags_text(app))
        panel = app.screen.query_one("#flags", ListView)
        panel.focus()
        panel.index = 0
        await pilot.press("enter")
        assert controller.report.slot.key == "findings.pleura"
        lines = app.screen.report_text().splitlines()
        assert "▶ Pleura: Large right pneumothorax." in lines, [x for x in lines if "Pleura" in x]


@pytest.mark.asyncio
async def test_sign_final_is_blocked_until_the_communication_is_recorded(tmp_path, library):
    store = Store(tmp_path / "s.db")
    controller = ReportController(chest_report(library), store=store, signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: "Critical finding" in flags_text(app))
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, SignScreen)
        assert app.screen.query_one("#final", Button).disabled
        problems = str(app.screen.query_one("#sign-problems", Static).render())
        assert "critical finding pneumothorax: record who was told" in problems
        app.screen.query_one("#recipient", Input).value = "Dr. Jane Roe"
        app.screen.query_one("#role", Input).value = "ED physician"
        await pilot.click("#record")
        await pilot.pause()
        assert not app.screen.query_one("#final", Button).disabled
        await pilot.click("#final")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)
        assert controller.report.status == "final"
        assert "to Dr. Jane Roe (ED physician) by telephone" in app.screen.report_text()
        # The checks panel shows the finding as told, not as still open.
        await wait_for(pilot, lambda: "communicated to Dr. Jane Roe by telephone at" in flags_text(app))
        assert "‼ Critical finding: pneumothorax" not in flags_text(app)
    saved = load_report(store, controller.report.id, library)
    assert saved.status == "final" and saved.communicated() == {"pneumothorax"}
    kinds = [(u.kind, u.command) for u in store.utterances(controller.report.id)]
    assert kinds[-1] == ("command", "sign_final")


@pytest.mark.asyncio
async def test_with_the_checks_off_a_red_banner_stays_and_no_final_can_be_signed(tmp_path, library, monkeypatch):
    monkeypatch.setenv("RADSCRIBE_VOCAB_DIR", str(broken_checks_vocab(tmp_path / "vocab")))
    report = chest_report(library)
    report.record_communication("Dr Roe", "", "telephone", NOW, ["pneumothorax"])
    controller = ReportController(report, store=Store(tmp_path / "s.db"), signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 45)) as pilot:
        banner = app.screen.query_one("#banner", Static)
        await wait_for(pilot, lambda: banner.display and "clinical checks are off" in str(banner.render()))
        assert "critical_findings.toml" in str(banner.render())
        assert "Nothing is being checked" in flags_text(app) and "Nothing to look at" not in flags_text(app)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, SignScreen)
        assert app.screen.query_one("#final", Button).disabled
        assert "clinical checks are off" in str(app.screen.query_one("#sign-problems", Static).render())
        assert "Not checked" in str(app.screen.query_one("#sign-flags", Static).render())  # not "no open flags"
        await pilot.click("#preliminary")
        await pilot.pause()
        assert controller.report.status == "preliminary"
        assert "not checked" in str(app.screen.query_one("#status", Static).render())
        assert app.screen.query_one("#banner", Static).display  # still there after signing


@pytest.mark.asyncio
async def test_a_preliminary_can_be_signed_with_open_flags(tmp_path, library):
    controller = ReportController(chest_report(library), store=Store(tmp_path / "s.db"))
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: "Critical finding" in flags_text(app))
        await pilot.press("f9")
        await pilot.pause()
        await pilot.click("#preliminary")
        await pilot.pause()
        assert controller.report.status == "preliminary"
        assert "✓ signed preliminary" in str(app.screen.query_one("#status", Static).render())


@pytest.mark.asyncio
async def test_quitting_with_a_draft_open_asks(tmp_path, library):
    said = ["go to impression", "no acute abnormality period"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(library.get("xr-chest")), store=Store(tmp_path / "s.db"), checks=False)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller,
                       show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(controller.report.utterances) == 2)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert "is a draft" in str(app.screen.query_one("#quit-question", Static).render())
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)  # still here
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0  # "y" quit the app (without it, run_test would leave it None)


@pytest.mark.asyncio
async def test_f5_f6_and_undo_redo_by_keyboard(tmp_path, library):
    controller = ReportController(chest_report(library), store=Store(tmp_path / "s.db"))
    controller.report.go_to("impression")
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        assert controller.report.slot.key == "findings.other"
        await pilot.press("f6", "f6")
        assert controller.report.slot.key == "recommendations"
        await pilot.press("ctrl+z")
        assert controller.report.slot_text("impression") == ""  # the impression dictation undone
        await pilot.press("ctrl+y")
        assert controller.report.slot_text("impression") == "Large right pneumothorax."


@pytest.mark.asyncio
async def test_f1_lists_every_voice_command_and_key(tmp_path, library):
    from dictation.reporting.commands import default_commands

    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), show_clock=False)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text", Static).render())
        for phrases in default_commands().phrases.values():
            assert f"“{phrases[0]}”" in text
        for key in ("F4", "F5 / F6", "F9", "Ctrl+Z / Ctrl+Y", "Ctrl+Q"):
            assert key in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)


@pytest.mark.asyncio
async def test_f2_types_a_correction_into_the_active_field(tmp_path, library):
    store = Store(tmp_path / "s.db")
    controller = ReportController(chest_report(library), store=store, signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: "Critical finding" in flags_text(app))
        await pilot.press("f2")
        await pilot.pause()
        editor = app.screen.query_one("#edit-text", TextArea)
        assert editor.text == "Large right pneumothorax."
        editor.text = "Large right pneumothorax with mediastinal shift."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert controller.report.slot_text("impression") == "Large right pneumothorax with mediastinal shift."
        await pilot.press("ctrl+z")
        assert controller.report.slot_text("impression") == "Large right pneumothorax."
    saved = load_report(store, controller.report.id, library)
    assert saved.slot_text("impression") == "Large right pneumothorax."  # the undo was stored too


@pytest.mark.asyncio
async def test_open_next_by_voice_from_the_worklist_and_from_a_study(tmp_path, library):
    speech = synthesize("open next", lead=0.3, trail=1.2)
    silence = np.zeros(16000 * 60, np.float32)
    sources = iter([speech, speech])  # the worklist hears "open next"; so does the first study

    def source():
        return ArraySource(next(sources, silence), realtime=True)

    app, store = worklist_app(tmp_path, library, source=source)
    app._recognizer = ScriptedRecognizer(["open next", "open next"])
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen))
        first = app.screen.controller.report.exam["accession"]
        assert first == "ACC-S1"  # STAT first
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen)
                       and app.screen.controller.report.exam["accession"] != first)
        assert app.screen.controller.report.exam["accession"] == "ACC-U1"  # then the urgent one
        assert len(app.screen_stack) == 2  # worklist + this study: the first one was closed, not stacked
    assert any(d.accession == "ACC-S1" for d in store.drafts())  # its draft is kept


# -- snapshots (pytest-textual-snapshot; regenerate with --snapshot-update after a deliberate change) --

def test_snapshot_worklist(snap_compare, tmp_path, library):
    app, _ = worklist_app(tmp_path, library)

    async def ready(pilot):
        await wait_for(pilot, lambda: app.state == "no_microphone")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 16), run_before=ready)


def test_snapshot_report_with_flags(snap_compare, tmp_path, library):
    controller = ReportController(chest_report(library), signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)

    async def ready(pilot):
        await wait_for(pilot, lambda: "Critical finding" in flags_text(app))
        await wait_for(pilot, lambda: app.state == "no_microphone")

    assert snap_compare(app, terminal_size=(140, 42), run_before=ready)


def test_snapshot_sign_screen(snap_compare, tmp_path, library):
    controller = ReportController(chest_report(library), signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)

    async def ready(pilot):
        await wait_for(pilot, lambda: "Critical finding" in flags_text(app))
        await wait_for(pilot, lambda: app.state == "no_microphone")
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, SignScreen) and "cannot be signed" in rendered(app, "#sign-problems"))
        app.screen.query_one("#when", Input).value = "2026-11-28 03:12"
        for box in app.screen.query(Input):
            box.cursor_blink = False  # the snapshot never depends on when in the blink it is taken

    assert snap_compare(app, terminal_size=(140, 42), run_before=ready)


def test_the_report_pane_underlines_unsure_words_and_shows_tentative_text_apart(library):
    from dictation.reporting.records import UtteranceRecord
    from tui.widgets.report_view import report_rich

    report = Report.new(library.get("xr-chest"))
    report.go_to("impression")
    words = [{"word": " No", "probability": 0.31}, {"word": " pneumothorax.", "probability": 0.97}]
    report.utterances.append(UtteranceRecord(1, "dictation", "No pneumothorax.", "No pneumothorax.", 0, 1, words))
    report.dictate("No pneumothorax.", utterance=1)
    text = report_rich(report, tentative="small left eff")
    plain = text.plain
    line_start = plain.index("▶ No pneumothorax.")
    no = line_start + 2
    styles_at = lambda i: {str(s.style) for s in text.spans if s.start <= i < s.end}
    assert "underline" in styles_at(no) and "underline" not in styles_at(no + 4)  # "No" unsure, "pneumothorax" not
    tentative = plain.index("small left eff")
    assert any("italic" in s for s in styles_at(tentative)) and "on grey23" in styles_at(tentative)  # active line
    assert "(not dictated)" in plain and any("dim" in s for s in styles_at(plain.index("(not dictated)")))


@pytest.mark.asyncio
async def test_play_that_back_plays_the_last_dictation_as_recorded(tmp_path, library):
    said = ["go to impression", "small left effusion period", "play that back"]
    parts = [synthesize(t, lead=0.3, trail=1.0) for t in said]
    played = []
    controller = ReportController(Report.new(library.get("xr-chest")), store=Store(tmp_path / "s.db"), checks=False)
    app = RadscribeApp(lambda: ArraySource(np.concatenate(parts), realtime=True), ScriptedRecognizer(said),
                       controller=controller, show_clock=False, player=played.append)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(played) == 1)
        dictation = next(u for u in controller.report.utterances if u.kind == "dictation")
        assert played[0] is controller.playback.audio[dictation.seq]
        assert abs(len(played[0]) / 16000 - (dictation.end - dictation.start)) < 0.05  # that utterance's audio
        await pilot.press("f3")  # the same by key, for the active field
        await wait_for(pilot, lambda: len(played) == 2)
        assert played[1] is played[0]
        await pilot.press("f5")  # a field with nothing dictated
        await pilot.press("f3")
        await pilot.pause()
        assert "nothing dictated here to play back" in str(app.screen.query_one("#status", Static).render())


@pytest.mark.asyncio
async def test_settings_level_test_and_apply(tmp_path, library):
    from tui.screens.settings import SettingsScreen

    speech = synthesize("testing one two three", lead=0.2, trail=0.3)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), show_clock=False)
    app.test_source = lambda device: ArraySource(speech, realtime=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await app.push_screen(SettingsScreen(devices=[{"index": 3, "name": "USB dictation mic", "channels": 1,
                                                       "samplerate": 48000.0}]))
        await pilot.pause()
        await pilot.click("#test")
        status = app.screen.query_one("#test-status", Static)
        await wait_for(pilot, lambda: "Loudest" in str(status.render()))
        assert "good" in str(status.render())
        app.screen.query_one("#silence", Input).value = "90"
        await pilot.click("#apply")
        await pilot.pause()
        assert "from 200 to 3000" in str(status.render()) and app.end_silence_ms == 600
        from textual.widgets import Select, Switch

        app.screen.query_one("#device", Select).value = "3"
        app.screen.query_one("#silence", Input).value = "900"
        app.screen.query_one("#ptt", Switch).value = True
        await pilot.click("#apply")
        await pilot.pause()
        assert (app.device, app.end_silence_ms, app.push_to_talk) == (3, 900, True)
        app.screen.query_one("#model", Input).value = str(tmp_path / "no-such-model")
        await pilot.pause(0.3)  # a Textual button ignores presses for 0.2 s after one
        await pilot.click("#apply")
        await pilot.pause()
        assert "✗ model:" in str(status.render()) and app.model_label == "tiny.en (bundled)"
        app.screen.query_one("#model", Input).value = "tiny.en"
        assert "end_silence_ms = 900" in str(app.screen.query_one("#settings-config", Static).render())


@pytest.mark.asyncio
async def test_push_to_talk_takes_one_utterance_per_f4(tmp_path, library):
    said = ["no pneumothorax period", "heart size is normal period"]
    parts = [synthesize(t, lead=1.0, trail=1.5) for t in said]
    controller = ReportController(Report.new(library.get("xr-chest")), store=Store(tmp_path / "s.db"), checks=False)
    controller.report.go_to("impression")
    app = RadscribeApp(lambda: ArraySource(np.concatenate(parts), realtime=True), ScriptedRecognizer(said),
                       controller=controller, show_clock=False, push_to_talk=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused")  # push-to-talk starts quiet
        await pilot.press("f4")
        await wait_for(pilot, lambda: len(controller.report.utterances) == 1)
        await wait_for(pilot, lambda: app.state == "paused")  # and stops after the utterance
        await pilot.pause(len(parts[1]) / 16000 + 1.0)  # the second sentence is spoken while paused
        assert len(controller.report.utterances) == 1
        assert controller.report.slot_text("impression") == "No pneumothorax."


@pytest.mark.asyncio
async def test_scratch_that_by_voice_removes_the_last_dictation_on_screen(tmp_path, library):
    said = ["go to impression", "small left effusion period", "scratch that"]
    speech = np.concatenate([synthesize(t, lead=0.3, trail=1.0) for t in said])
    controller = ReportController(Report.new(library.get("xr-chest")), store=Store(tmp_path / "s.db"), checks=False)
    app = RadscribeApp(lambda: ArraySource(speech, realtime=True), ScriptedRecognizer(said), controller=controller,
                       show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: "▶ Small left effusion." in app.screen.report_text())
        await wait_for(pilot, lambda: "scratched" in str(app.screen.query_one("#status", Static).render()))
        assert "Small left effusion." not in app.screen.report_text()
        assert controller.report.utterances[1].scratched


@pytest.mark.asyncio
async def test_a_draft_left_without_a_worklist_item_is_offered_on_the_next_start(tmp_path, library):
    app, store = worklist_app(tmp_path, library)
    left = chest_report(library)  # as a crash during `radscribe --template xr-chest` would leave it
    store.save_report(left)
    async with app.run_test(size=(140, 20)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        last = [str(c) for c in table.get_row_at(table.row_count - 1)]
        assert last[0] == "DRAFT" and last[3] == "xr-chest"
        assert "1 unfinished draft below" in str(app.screen.query_one("#worklist-status", Static).render())
        table.move_cursor(row=table.row_count - 1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen) and app.screen.controller.report.id == left.id


# -- the teleradiology practice ----------------------------------------------------------------------

def normal_chest(library):
    report = Report.new(library.get("xr-chest"), exam={"accession": "ACC-N1"})
    report.go_to("indication")
    report.dictate("Cough.")
    report.accept_all_defaults()
    report.go_to("impression")
    report.dictate("No acute abnormality.")
    return report


def practice_app(tmp_path, library, said=()):
    """The worklist with two facilities: North (US-NV, where the reader has no licence) and
    General (US-CA, a licence expiring in 5 days), each with its own turnaround limits."""
    import datetime as dt

    from dictation.practice.facilities import Facility, Licence, Practice
    from dictation.ris.document import Signer

    practice = Practice({"North": Facility(id="North", jurisdiction="US-NV", time_zone="America/Los_Angeles",
                                           turnaround_minutes={"stat": 60}),
                         "General": Facility(id="General", jurisdiction="US-CA", turnaround_minutes={"urgent": 60})},
                        (Licence(jurisdiction="US-CA", expires=dt.date.today() + dt.timedelta(days=5)),))
    return worklist_app(tmp_path, library, said, practice=practice, signer=Signer("R-ME", "Me", "Mo"))


@pytest.mark.asyncio
async def test_facility_limits_licence_warnings_and_time_zone_on_the_worklist(tmp_path, library):
    app, store = practice_app(tmp_path, library)
    notes = []
    app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=(150, 24)) as pilot:
        await pilot.pause()
        assert any("licence for US-CA expires on" in n for n in notes)  # near expiry: said at start
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][4] == "North ⚠ no licence" and rows[1][4] == "General"
        # North's STAT limit is 60 min here (40 min waited: yellow, not red); General's urgent 60 (70: red).
        assert [table.get_row_at(i)[1].style for i in range(3)] == ["yellow", "bold red", "green"]
        await pilot.press("enter")  # the North STAT study
        assert isinstance(app.screen, ReportScreen)
        assert any("you hold no licence for US-NV (North): this study cannot be signed by you" in n for n in notes)
        report = app.screen.controller.report
        assert report.exam["time_zone"] == "America/Los_Angeles"
        handled = app.screen.controller.command("sign_preliminary")
        assert not handled.outcome.ok and report.status == "draft"


@pytest.mark.asyncio
async def test_an_uncommunicated_critical_result_stays_visible_across_studies(tmp_path, library):
    said = ["go to impression", "large right pneumothorax period"]
    app, store = practice_app(tmp_path, library, said)
    async with app.run_test(size=(150, 30)) as pilot:
        await wait_for(pilot, lambda: worklist_listening(app))
        await pilot.press("down", "enter")  # the General urgent study
        await wait_for(pilot, lambda: "Critical finding: pneumothorax" in flags_text(app))
        await wait_for(pilot, lambda: "not communicated: pneumothorax (ACC-U1)" in app.critical_line)
        await wait_for(pilot, lambda: "not communicated: pneumothorax" in rendered(app, "#status"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "pneumothorax (ACC-U1)" in rendered(app, "#worklist-critical"))
        assert "min left" in rendered(app, "#worklist-critical")
        await pilot.press("enter")  # another study: the line is still there
        await wait_for(pilot, lambda: "pneumothorax (ACC-U1)" in rendered(app, "#status"))


@pytest.mark.asyncio
async def test_addendum_on_a_signed_report_with_f7(tmp_path, library):
    from tui.screens.edit import EditFieldScreen

    report = normal_chest(library)
    store = Store(tmp_path / "s.db")
    controller = ReportController(report, store=store, signer=READER)
    assert controller.command("sign_final").outcome.ok
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f7")
        assert report.amendment == "addendum" and "ADDENDUM (being dictated" in app.screen.report_text()
        assert "final · addendum open" in str(app.screen.query_one("#status", Static).render())
        await pilot.press("f2")
        assert isinstance(app.screen, EditFieldScreen)
        app.screen.query_one(TextArea).text = "Outside CT reviewed: no change."
        await pilot.press("ctrl+s")
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, SignScreen))
        assert "the addendum to" in str(app.screen.query_one("#sign-title", Static).render())
        await pilot.click("#final")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen))
    assert report.status == "corrected" and [v.kind for v in store.versions(report.id)] == ["final", "addendum"]
    assert "Outside CT reviewed: no change." in store.versions(report.id)[1].text


@pytest.mark.asyncio
async def test_peer_review_screen_records_a_radpeer_score(tmp_path, library):
    from textual.widgets import RadioSet

    from dictation.practice.review import sample
    from tui.screens.review import ReviewScreen

    app, store = practice_app(tmp_path, library)
    report = normal_chest(library)
    from dictation.ris.document import Signer

    other = ReportController(report, store=store, signer=Signer("R-OTHER", "Other", "Olga"))
    assert other.command("sign_final").outcome.ok
    assert {k: len(v) for k, v in sample(store, 100).items()} == {"R-OTHER": 1}
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause()
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert "No acute abnormality." in str(app.screen.query_one("#review-text", Static).render())
        radios = app.screen.query_one(RadioSet)
        # Every score's meaning on one line, not cut at the edge of the screen.
        room = radios.content_size.width
        assert all(len(str(b.label)) + 4 <= room for b in radios.query("RadioButton"))
        radios.query("RadioButton")[2].value = True  # 2b
        await pilot.click("#save")
        assert "needs a comment" in str(app.screen.query_one("#review-problem", Static).render())
        app.screen.query_one("#review-comment", Input).value = "Missed pneumothorax on the left."
        app.screen.query_one("#save", Button).press()
        await wait_for(pilot, lambda: isinstance(app.screen, WorklistScreen))
    (review,) = store.reviews()
    assert (review.score, review.reviewer, review.comment) == ("2b", "R-ME", "Missed pneumothorax on the left.")


@pytest.mark.asyncio
async def test_a_broken_site_template_is_said_and_the_worklist_stays(tmp_path, library):
    site = tmp_path / "site"
    site.mkdir()
    body = (data_dir("templates") / "xr-chest.j2").read_text()
    (site / "xr-chest.j2").write_text(body.replace("title:", "title: [broken", 1))
    broken = TemplateLibrary([site])
    store = worklist_store(tmp_path)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), store=store, library=broken,
                       make_controller=lambda report, wid: ReportController(report, store=store), clock=lambda: NOW,
                       show_clock=False)
    app.station.__dict__["library"] = broken  # the workstation's library is the broken one too
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause()
        select_study(app, "ACC-R1")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WorklistScreen)  # not opened, not crashed
        said = [n.message for n in app._notifications]
        assert any("cannot open ACC-R1" in m and "xr-chest.j2" in m for m in said), said


@pytest.mark.asyncio
async def test_rough_edges_of_the_worklist_and_the_report_screen(tmp_path, library):
    empty = Store(tmp_path / "empty.db")
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), store=empty, library=library,
                       make_controller=lambda report, wid: ReportController(report, store=empty), clock=lambda: NOW,
                       show_clock=False)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("n")  # open next on an empty worklist: said, not silent
        await pilot.pause()
        assert any("no study waiting" in n.message for n in app._notifications)
        await pilot.press("f1")
        await pilot.pause()
        assert "Esc, F1 or Q closes this help" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
    # A report opened on its own (--template): Esc has nowhere to go, so the footer does not offer it.
    controller = ReportController(Report.new(library.get("xr-chest")), store=Store(tmp_path / "s.db"), checks=False)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause()
        assert app.screen.check_action("close", ()) is False
        controller.report.type_text("impression", "No acute abnormality.")  # typed, nothing said
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert "is a draft" in str(app.screen.query_one("#quit-question", Static).render())
        await pilot.press("n")


def test_tentative_words_after_a_default_are_spaced(library):
    from tui.widgets.report_view import report_rich

    report = Report.new(library.get("xr-chest"))
    report.go_to("findings.lines_tubes")
    plain = report_rich(report, tentative="there is a moderate").plain
    line = next(x for x in plain.splitlines() if x.startswith("▶"))
    assert "tubes. there is a moderate" in line, line


@pytest.mark.asyncio
async def test_a_draft_is_discarded_from_the_worklist_after_asking(tmp_path, library):
    app, store = worklist_app(tmp_path, library)
    item = next(r for r in store.worklist() if r.accession == "ACC-R1")
    report = Report.new(library.get("xr-chest"), exam={"accession": "ACC-R1"})
    store.save_report(report, worklist_id=item.id)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause()
        select_study(app, "ACC-R1")
        await pilot.press("d")
        await pilot.pause()
        assert "Discard the draft of ACC-R1?" in str(app.screen.query_one("#quit-question", Static).render())
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, WorklistScreen)
    assert store.draft_for(item.id) is None and store.report_status(report.id) == "discarded"
    assert store.audit_log()[-1].action == "discard"


@pytest.mark.asyncio
async def test_a_word_a_second_reading_heard_otherwise_is_marked_until_ctrl_k_confirms_it(tmp_path, library):
    from dictation.reporting.records import UtteranceRecord

    report = Report.new(library.get("xr-chest"), exam={"accession": "ACC-9"})
    report.accept_all_defaults()
    report.go_to("impression")
    words = [{"word": w, "probability": 0.6} for w in (" Now", " join", " the", " fusion.")]
    words[0].update(other="No joint effusion.", span=4)
    report.utterances.append(UtteranceRecord(1, "dictation", "Now join the fusion.", "Now join the fusion.", 0, 1, words))
    report.dictate("Now join the fusion.", utterance=1)
    controller = ReportController(report, store=Store(tmp_path / "s.db"), signer=READER)
    app = RadscribeApp(MissingMicrophone, ScriptedRecognizer([]), controller=controller, show_clock=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: "No joint effusion." in flags_text(app))
        pane = app.screen.query_one("#report", Static).render()
        marked = [s for s in pane.spans if "yellow" in str(s.style)]
        assert [pane.plain[s.start:s.end] for s in marked] == ["Now join the fusion"]
        assert any("critical word not confirmed" in p for p in controller.signing_problems("final"))
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: "No joint effusion." not in flags_text(app))
        assert "confirmed 'Now join the fusion' as heard" in str(app.screen.query_one("#status", Static).render())
        assert not any("critical word" in p for p in controller.signing_problems("final"))
    stored = load_report(controller.store, report.id, library)
    assert stored.utterances[0].confirmed == [0]  # kept with the report


@pytest.mark.asyncio
async def test_a_study_another_reader_has_open_is_shown_skipped_by_open_next_and_not_opened(tmp_path, library):
    from dictation.ris.document import Signer

    app, store = worklist_app(tmp_path, library, signer=Signer("R-NIGHT", "Night", "Nora"))
    store.claim_study(store.worklist_item("ACC-S1").id, "R-DAY")  # another workstation's reader
    notes = []
    app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=(170, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert "being read by R-DAY since" in str(table.get_row_at(0)[4])  # the STAT study on top
        await pilot.press("enter")
        assert isinstance(app.screen, WorklistScreen)
        assert any("ACC-S1 is being read by R-DAY" in n for n in notes)
        await pilot.press("n")  # open next: the most urgent study nobody else reads
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.controller.report.exam["accession"] == "ACC-U1"
        assert store.worklist_item("ACC-U1").claimed_by == "R-NIGHT"
        await pilot.press("escape")  # closed: the claim ends at once
        await pilot.pause()
        assert store.worklist_item("ACC-U1").claimed_by == ""
