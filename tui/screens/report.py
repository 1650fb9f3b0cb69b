"""The report screen: dictate into a structured report (or a plain pad without a template).

The DictationSession runs on its own thread and reaches this screen only through messages, one
kind per session event (`tui/messages.py`), each with its own handler. Every utterance is in the store before it is shown (the engine's
ReportController commits first). Keys follow a dictation microphone's buttons: F4 listen, F5/F6
previous/next field, F9 sign, Ctrl+Z/Ctrl+Y undo/redo, Ctrl+K confirm a word marked "check".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, ListItem, ListView, Static, TextArea

from dictation.checks import Flag
from dictation.errors import RadscribeError
from dictation.reporting.controller import ReportController
from dictation.reporting.records import Outcome
from dictation.reporting.report import Report
from dictation.reporting.unsent import RETRY_SECONDS
from dictation.speech.session import DictationSession, Event
from dictation.status import SIGNED_FINAL
from dictation.text.pipeline import TextPipeline
from dictation.text.spoken import join_text

from ..messages import (
    AskedMessage,
    BacklogMessage,
    CommandMessage,
    ErrorMessage,
    FirstFlags,
    FlagsMessage,
    LeaseRenewed,
    LevelMessage,
    LocalReadingMessage,
    PartialMessage,
    PlaybackFailed,
    RejectedMessage,
    StateMessage,
    UnstoredMessage,
    UtteranceMessage,
    session_message,
)
from ..widgets.level import LevelMeter
from ..widgets.report_view import banner_lines, flags_items, report_rich
from ..widgets.status import status_line
from ..widgets.title import TitleBar

if TYPE_CHECKING:
    from ..app import RadscribeApp

class FlagItem(ListItem):
    def __init__(self, flag: Flag | None, text: str) -> None:
        super().__init__(Label(Text(text)))
        self.flag = flag


class ReportScreen(Screen):
    # priority: the report pane (a TextArea) has its own F6, Ctrl+Z and Ctrl+Y
    BINDINGS = [
        Binding("f5", "move(-1)", "Prev field", priority=True),
        Binding("f6", "move(1)", "Next field", priority=True),
        Binding("f2", "edit_field", "Type", priority=True),
        Binding("f3", "play_back", "Play back", priority=True),
        Binding("f9", "sign", "Sign", priority=True),
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("n", "answer(False)", "No", show=False),
        Binding("f7", "amend('addendum')", "Addendum", show=False, priority=True),
        Binding("shift+f7", "amend('correction')", "Correct", show=False, priority=True),
        Binding("ctrl+k", "confirm_words", "Confirm word", show=False, priority=True),
        Binding("ctrl+z", "undo", "Undo", priority=True),
        Binding("ctrl+y", "redo", "Redo", priority=True),
        Binding("escape", "close", "Worklist"),
    ]

    def __init__(self, controller: ReportController | None, *, group: str | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.group = group
        self.flags: list[Flag] = []
        self.last_command = ""
        self.tentative = ""  # what the recogniser is still guessing, shown in the active field
        self.session: DictationSession | None = None
        self._ptt_started = False
        self._renewing = False
        self._show_later = False  # the report pane is shown again once the session thread's change is done

    def title_text(self) -> str:
        if self.controller is None:
            return "radscribe · dictation"
        exam = self.controller.report.exam
        who = str(exam.get("patient_name", "")).replace("^", ", ")
        parts = [exam.get("accession"), self.controller.report.template.title, who, exam.get("facility")]
        return "radscribe · " + " · ".join(str(p) for p in parts if p)

    @property
    def rapp(self) -> RadscribeApp:
        return cast("RadscribeApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar(self.title_text())
        yield Static(id="status")
        yield Static(id="banner")
        yield LevelMeter(id="meter")
        with Horizontal(id="body"):
            if self.controller is None:
                yield TextArea(id="report", soft_wrap=True)  # the plain pad: type into it
            else:
                with VerticalScroll(id="report-scroll"):
                    yield Static(id="report")
            if self.controller is not None:
                with Vertical(id="side"):
                    yield Static("Checks", id="flags-title")
                    yield ListView(id="flags")
        yield Static(id="tentative")
        yield Footer()

    def on_mount(self) -> None:
        if not self.query("#report-scroll, #report"):
            return  # removed before it was shown (a study closed at once): nothing to start
        if self.controller is not None:
            self.query_one("#report-scroll").border_title = self.controller.report.template.title
            self._show_report()
            self._show_flags([])
            self._show_banner()
        else:
            self.query_one("#report", TextArea).border_title = "Report"
        self.show_status()
        app = self.rapp
        self.session = DictationSession(app.source_factory, self._post_session_event,
                                        recognizer=app.recognizer_factory, controller=self.controller,
                                        pipeline=None if self.controller else TextPipeline(group=self.group),
                                        segmenter=app.segmenter())
        app.session = self.session
        self.session.start()
        if self.controller is not None:
            self.run_worker(self._first_check, thread=True, exit_on_error=False)
            self.set_interval(RETRY_SECONDS, self._renew_lease)  # the hold, and what the store could not take

    def _first_check(self) -> None:
        """Load the checks off the UI thread and show what an opened draft already has."""
        assert self.controller is not None
        self.controller.run_checks()
        self.post_message(FirstFlags())

    def on_first_flags(self, message: FirstFlags) -> None:
        if self._live and self.controller is not None:  # the latest check's, which may be newer than this one
            self._show_flags(self.controller.flags)

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.stop()
            if self.rapp.session is self.session:
                self.rapp.session = None
        if self.controller is not None:
            self.controller.close()  # another workstation may open the study now

    def _renew_lease(self) -> None:
        """On a worker thread: a store that cannot be reached may take seconds to say so, and
        the screen must not wait for it."""
        if self.controller is None or self._renewing:
            return
        self._renewing = True
        controller = self.controller

        def renew() -> None:
            error = ""
            try:
                controller.renew_lease()  # and stores what was kept here while the store was away
            except RadscribeError as e:  # a damaged or busy store: said, dictation goes on (stored per utterance)
                error = str(e)
            self.post_message(LeaseRenewed(error))

        self.run_worker(renew, thread=True, group="renew-lease")

    def on_lease_renewed(self, message: LeaseRenewed) -> None:
        self._renewing = False
        if message.error:
            self.rapp.detail = message.error
        if self._live:
            self.show_status()

    # -- engine events -------------------------------------------------------------------------

    def _post_session_event(self, event: Event) -> None:
        """The session thread's way in: one message per event, never a direct call."""
        self.post_message(session_message(event))

    @property
    def _live(self) -> bool:
        # Events the dictation thread posted before it stopped may arrive after the screen has gone.
        return self.is_mounted and bool(self.query(LevelMeter))

    def on_level_message(self, message: LevelMessage) -> None:
        if self._live:
            meter = self.query_one(LevelMeter)
            meter.db = message.event.db
            meter.speech = message.event.speech_probability >= 0.5

    def on_partial_message(self, message: PartialMessage) -> None:
        if not self._live:
            return
        e = message.event
        self.tentative = " ".join(t for t in (e.committed, e.tentative) if t)
        if self.controller is not None:
            self._show_report()  # tentative words shown in place, styled apart
        else:
            self.query_one("#tentative", Static).update(Text(self.tentative))

    def on_command_message(self, message: CommandMessage) -> None:
        if not self._live:
            return
        e = message.event
        self._after_utterance()
        self.rapp.latency = e.latency
        self.last_command = ("✓ " if e.ok else "✗ ") + e.message
        self.tentative = ""
        self.query_one("#tentative", Static).update("")
        self._show_report()
        self.show_status()
        if not e.ok and e.command.name == "sign_final" and self.controller is not None:
            self.action_sign()  # the sign screen says what is missing and records the communication
        elif e.ok and e.command.name == "close_study":
            self.action_close()
        elif e.ok and e.command.name in ("open_next", "open_stat"):
            self.rapp.open_next(stat=e.command.name == "open_stat")
        elif e.ok and e.command.name == "play_back":
            self.play(slot=None)

    def on_rejected_message(self, message: RejectedMessage) -> None:
        if self._live:
            self.last_command = "✗ " + message.event.message
            self.query_one("#tentative", Static).update("")
            self.show_status()

    def on_utterance_message(self, message: UtteranceMessage) -> None:
        if not self._live:
            return
        e = message.event
        self._after_utterance()
        self.rapp.latency = e.latency
        self.tentative = ""
        self.query_one("#tentative", Static).update("")
        if self.controller is not None:
            self._show_report()
        else:  # the plain pad: the text goes at the end
            report = self.query_one("#report", TextArea)
            report.load_text(join_text(report.text, e.utterance.text))
            report.move_cursor(report.document.end)
        self.show_status()

    def on_flags_message(self, message: FlagsMessage) -> None:
        if self._live and self.controller is not None:  # the latest check's: a message may arrive after a newer check
            self._show_flags(self.controller.flags)

    def on_state_message(self, message: StateMessage) -> None:
        if not self._live:
            return
        e, app = message.event, self.rapp
        app.state, app.detail = e.state, e.detail or app.detail
        if e.state == "listening" and app.push_to_talk and not self._ptt_started and self.session is not None:
            self._ptt_started = True
            self.session.pause()  # push-to-talk: F4 to speak one utterance
        self.show_status()

    def on_asked_message(self, message: AskedMessage) -> None:
        if self._live:
            self.last_command = "? " + message.event.message + " (or Y / N)"
            self.query_one("#tentative", Static).update("")
            self.show_status()

    def action_answer(self, yes: bool) -> None:
        """Y / N: the answer to a held near-command, as saying yes or no would give."""
        if self.controller is None or self.controller.question is None:
            return
        handled = self.controller.answer(yes)
        if handled is not None:
            self.last_command = ("✓ " if handled.outcome.ok else "✗ ") + handled.outcome.message
        self._show_report()
        self.show_status()

    def on_unstored_message(self, message: UnstoredMessage) -> None:
        if self._live:
            self.show_status()  # the line reads the count from the controller

    def on_local_reading_message(self, message: LocalReadingMessage) -> None:
        self.rapp.local_reading = message.event.reason
        if self._live:
            self.show_status()

    def on_backlog_message(self, message: BacklogMessage) -> None:
        if self._live:
            self.rapp.backlog = message.event
            self.show_status()

    def on_error_message(self, message: ErrorMessage) -> None:
        if self._live:
            self.rapp.detail = message.event.message
            self.show_status()

    def _after_utterance(self) -> None:
        """Push-to-talk: listening stops after each utterance until F4 again."""
        if self.rapp.push_to_talk and self.session is not None:
            self.session.pause()

    def _show_report(self) -> None:
        if self.controller is None or not self.query("#report"):
            return
        # Read between two changes of the session thread, never during one; while it waits for
        # the store (seconds when the store is away), shown a moment later: the screen never waits.
        if not self.controller.lock.acquire(timeout=0.05):
            if not self._show_later:
                self._show_later = True
                self.set_timer(0.25, self._show_report_later)
            return
        try:
            shown = report_rich(self.controller.report, self.tentative)
        finally:
            self.controller.lock.release()
        self.query_one("#report", Static).update(shown)

    def _show_report_later(self) -> None:
        self._show_later = False
        self._show_report()

    def report_text(self) -> str:
        """What the report pane shows, as plain text (tests, accessibility)."""
        if self.controller is None:
            return self.query_one("#report", TextArea).text
        with self.controller.lock:
            return report_rich(self.controller.report, self.tentative).plain

    def _show_flags(self, flags: list[Flag]) -> None:
        self.flags = list(flags)
        self.rapp.refresh_critical()  # a critical finding dictated or told here changes the list
        # Old items are removed before the new ones go in (clear() completes later): the panel
        # never shows the previous flags mixed with the new ones. Rebuilds run in order.
        self.call_later(self._rebuild_flags, list(flags))

    async def _rebuild_flags(self, flags: list[Flag]) -> None:
        if not self.is_mounted or not self.query("#flags"):
            return  # the study was closed while the checks ran
        panel = self.query_one("#flags", ListView)
        await panel.clear()
        # Without the report's lock (never waiting for a slow store): only its list of communications
        # and its exam's time zone are read, each in one step, safe beside the session thread's change.
        report, off = (self.controller.report, self.controller.checks_off) if self.controller else (None, "")
        await panel.extend(FlagItem(flag, text) for flag, text in flags_items(flags, report, off))
        self.query_one("#flags-title", Static).update(Text(f"Checks ({len(flags)})" if flags else "Checks"))
        self._show_banner()

    def _show_banner(self) -> None:
        """A red line above the report while a safety check cannot run: it stays until it can."""
        if not self.query("#banner") or self.controller is None:
            return
        banner = self.query_one("#banner", Static)
        lines = banner_lines(self.controller.checks_off, self.controller.licence, self.controller.order_changed())
        banner.update(Text("\n".join(lines)))
        banner.display = bool(lines)

    def show_status(self) -> None:
        if not self.is_mounted:
            return
        line, problem = status_line(self.rapp, self.controller, self.last_command)
        status = self.query_one("#status", Static)
        status.update(Text(line))
        status.set_class(problem, "problem")

    # -- actions ---------------------------------------------------------------------------------

    def _edit(self, outcome_fn: Callable[[Report], Outcome]) -> None:
        if self.controller is None:
            return
        outcome = self.controller.edit(outcome_fn)  # in turn with the utterances; stored (a text change audited)
        self.last_command = ("✓ " if outcome.ok else "✗ ") + outcome.message
        self._show_report()
        if self.controller.checks_ready:  # never load the NLP pipeline on the UI thread
            flags, changed = self.controller.run_checks()
            if changed:
                self._show_flags(flags)
        self.show_status()

    def action_confirm_words(self) -> None:
        """A flagged critical word is right as heard (the latest utterance's; "confirm" by voice)."""
        if self.controller is None:
            return
        handled = self.controller.command("confirm_words")
        self.last_command = ("✓ " if handled.outcome.ok else "✗ ") + handled.outcome.message
        self._after_sign(None)

    def action_move(self, step: int) -> None:
        self._edit(lambda r: r.move(step))

    def action_undo(self) -> None:
        if self.controller is None:  # the plain pad: the text area's own undo
            self.query_one("#report", TextArea).action_undo()
            return
        self._edit(lambda r: r.undo())

    def action_redo(self) -> None:
        if self.controller is None:
            self.query_one("#report", TextArea).action_redo()
            return
        self._edit(lambda r: r.redo())

    def action_play_back(self) -> None:
        """F3: hear the last dictation in the active field, as it was recorded."""
        if self.controller is not None:
            self.play(slot=self.controller.report.slot.key)

    def play(self, slot: str | None) -> None:
        assert self.controller is not None
        found = self.controller.last_audio(slot)
        if found is None:
            self.last_command = "✗ nothing dictated here to play back (audio is kept for this study only)"
            self.show_status()
            return
        record, audio = found
        self.last_command = f"▶ playing “{record.text[:50]}”"
        self.show_status()
        player = self.rapp.player

        def run() -> None:
            try:
                player(audio)
            except Exception as e:
                self.post_message(PlaybackFailed(f"{type(e).__name__}: {e}"))

        self.run_worker(run, thread=True, exit_on_error=False)

    def on_playback_failed(self, message: PlaybackFailed) -> None:
        self.last_command = f"✗ cannot play back: {message.why}"
        self.show_status()

    def action_edit_field(self) -> None:
        """Type into the active field (corrections by keyboard)."""
        if self.controller is None:
            self.query_one("#report", TextArea).focus()  # the plain pad is typed into directly
            return
        report = self.controller.report
        if report.status in SIGNED_FINAL and not report.amendment:
            self.last_command = "✗ the report is signed final: F7 starts an addendum, Shift+F7 a correction"
            self.show_status()
            return
        from .edit import EditFieldScreen

        key = "addendum" if report.amendment == "addendum" else report.slot.key

        controller = self.controller

        def done(text: str | None) -> None:
            if text is not None:
                self._edit(lambda r: controller.type_into(key, text))

        self.app.push_screen(EditFieldScreen(report), callback=done)

    def action_sign(self) -> None:
        if self.controller is None:
            return
        if not self.controller.checks_ready:
            self.last_command = "✗ the checks are still loading; sign in a moment"
            self.show_status()
            return
        from .sign import SignScreen

        self.app.push_screen(SignScreen(self.controller), callback=self._after_sign)

    def _after_sign(self, message: str | None) -> None:
        if message:
            self.last_command = message
        self._show_report()
        if self.controller is not None and self.controller.checks_ready:
            self._show_flags(self.controller.run_checks()[0])
        self.show_status()

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        """Enter on a flag: the cursor goes to the field the flag is about."""
        item = event.item
        if not isinstance(item, FlagItem) or item.flag is None or self.controller is None:
            return
        key = item.flag.slot or item.flag.section
        report = self.controller.report
        if key and key not in [s.key for s in report.template.slots]:
            key = next((s.key for s in report.template.slots if s.section.key == key), None)
        if key:
            self._edit(lambda r: r.go_to(key))

    def action_amend(self, kind: str) -> None:
        """After signing final: start an addendum (F7) or a correction (Shift+F7)."""
        if self.controller is None:
            return
        handled = self.controller.command(f"begin_{kind}")
        self.last_command = ("✓ " if handled.outcome.ok else "✗ ") + handled.outcome.message
        self._show_report()
        self.show_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc goes back to the worklist only when there is one under this report (not with
        --template or --audio): the footer offers no key that does nothing."""
        if action == "close":
            from .worklist import WorklistScreen

            stack = self.app.screen_stack
            return len(stack) > 1 and isinstance(stack[-2], WorklistScreen)
        return True

    def action_close(self) -> None:
        from .worklist import WorklistScreen

        stack = self.app.screen_stack
        if len(stack) > 1 and isinstance(stack[-2], WorklistScreen):
            self.app.pop_screen()  # back to the worklist; the draft is in the store
