"""The report screen: dictate into a structured report (or a plain pad without a template).

The DictationSession runs on its own thread and reaches this screen only through
`SessionEvent` messages. Every utterance is in the store before it is shown (the engine's
ReportController commits first). Keys follow a dictation microphone's buttons: F4 listen,
F5/F6 previous/next field, F9 sign, Ctrl+Z/Ctrl+Y undo/redo; Enter on a flag jumps to its field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ListItem, ListView, Static, TextArea

from dictation.checks import Flag
from dictation.report import Report
from dictation.reporting import ReportController
from dictation.session import (CommandApplied, DictationSession, FlagsChanged, LevelChanged, PartialText, SessionError,
                               StateChanged, UtteranceCommitted, UtteranceRejected)
from dictation.spoken import join_text
from dictation.transcribe import TextPipeline

from ..messages import SessionEvent
from ..widgets.level import LevelMeter

if TYPE_CHECKING:
    from ..app import RadscribeApp

STATE_TEXT = {
    "loading": "Loading the speech model…",
    "listening": "● Listening",
    "paused": "❚❚ Paused (F4 to listen)",
    "recognising": "… Recognising",
    "asleep": "☾ Asleep (say “start listening”)",
    "no_microphone": "No microphone",
    "error": "Error",
    "stopped": "Stopped",
}
SEVERITY_MARK = {"critical": "‼", "warning": "!", "info": "·"}


class FlagItem(ListItem):
    def __init__(self, flag: Flag | None, text: str) -> None:
        super().__init__(Label(Text(text)))
        self.flag = flag


class ReportScreen(Screen):
    # priority: the report pane (a TextArea) has its own F6, Ctrl+Z and Ctrl+Y
    BINDINGS = [
        Binding("f5", "move(-1)", "Prev field", priority=True),
        Binding("f6", "move(1)", "Next field", priority=True),
        Binding("f9", "sign", "Sign", priority=True),
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

    @property
    def rapp(self) -> RadscribeApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=self.rapp.show_clock)
        yield Static(id="status")
        yield LevelMeter(id="meter")
        with Horizontal(id="body"):
            yield TextArea(id="report", soft_wrap=True)
            if self.controller is not None:
                with Vertical(id="side"):
                    yield Static("Checks", id="flags-title")
                    yield ListView(id="flags")
        yield Static(id="tentative")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one("#report", TextArea)
        area.border_title = "Report"
        if self.controller is not None:
            area.read_only = True  # built by voice; typed corrections go through the engine (issue 6 next)
            area.border_title = self.controller.report.template.title
            self._show_report()
            self._show_flags([])
        self.show_status()
        app = self.rapp
        app.session = DictationSession(app.source_factory, lambda e: self.post_message(SessionEvent(e)),
                                       recognizer=app.recognizer_factory, controller=self.controller,
                                       pipeline=None if self.controller else TextPipeline(group=self.group))
        app.session.start()
        if self.controller is not None:
            self.run_worker(self._first_check, thread=True, exit_on_error=False)

    def _first_check(self) -> None:
        """Load the checks off the UI thread and show what an opened draft already has."""
        assert self.controller is not None
        flags, _ = self.controller.run_checks()
        self.app.call_from_thread(self._show_flags, flags)

    def on_unmount(self) -> None:
        if self.rapp.session is not None:
            self.rapp.session.stop()
            self.rapp.session = None

    # -- engine events -------------------------------------------------------------------------

    def on_session_event(self, message: SessionEvent) -> None:
        # Events the dictation thread posted before it stopped may arrive after the screen has gone.
        if not self.is_mounted or not self.query(LevelMeter):
            return
        app = self.rapp
        e = message.event
        if isinstance(e, LevelChanged):
            meter = self.query_one(LevelMeter)
            meter.db = e.db
            meter.speech = e.speech_probability >= 0.5
        elif isinstance(e, PartialText):
            self.query_one("#tentative", Static).update(Text(" ".join(t for t in (e.committed, e.tentative) if t)))
        elif isinstance(e, CommandApplied):
            app.latency = e.latency
            self.last_command = ("✓ " if e.ok else "✗ ") + e.message
            self.query_one("#tentative", Static).update("")
            self._show_report()
            self.show_status()
            if not e.ok and e.command.name == "sign_final" and self.controller is not None:
                self.action_sign()  # the sign screen says what is missing and records the communication
        elif isinstance(e, UtteranceRejected):
            self.last_command = "✗ " + e.message
            self.query_one("#tentative", Static).update("")
            self.show_status()
        elif isinstance(e, UtteranceCommitted) and self.controller is not None:
            app.latency = e.latency
            self.query_one("#tentative", Static).update("")
            self._show_report()
            self.show_status()
        elif isinstance(e, UtteranceCommitted):
            app.latency = e.latency
            report = self.query_one("#report", TextArea)
            report.load_text(join_text(report.text, e.utterance.text))
            report.move_cursor(report.document.end)
            self.query_one("#tentative", Static).update("")
            self.show_status()
        elif isinstance(e, FlagsChanged):
            self._show_flags(e.flags)
        elif isinstance(e, StateChanged):
            app.state, app.detail = e.state, e.detail or app.detail
            self.show_status()
        elif isinstance(e, SessionError):
            app.detail = e.message
            self.show_status()

    def _show_report(self) -> None:
        if self.controller is not None:
            self.query_one("#report", TextArea).load_text(report_view(self.controller.report))

    def _show_flags(self, flags: list[Flag]) -> None:
        self.flags = list(flags)
        panel = self.query_one("#flags", ListView)
        panel.clear()
        items = flags_items(flags)
        panel.extend(FlagItem(flag, text) for flag, text in items)
        self.query_one("#flags-title", Static).update(Text(f"Checks ({len(flags)})" if flags else "Checks"))

    def show_status(self) -> None:
        if not self.is_mounted:
            return
        app = self.rapp
        status = self.query_one("#status", Static)
        parts = [STATE_TEXT.get(app.state, app.state)]
        if app.state == "no_microphone":
            parts.append("connect one, or run radscribe --audio FILE; typing still works")
        elif app.state == "error":
            parts.append(app.detail)
        elif app.state == "listening" and app.detail:
            parts.append(app.detail)
        if self.controller is not None:
            report = self.controller.report
            parts.append(f"{report.status} · at {report.slot.title}")
            if self.last_command:
                parts.append(self.last_command)
        if app.outbox_line:
            parts.append(app.outbox_line)
        parts.append(f"model {app.model_label}")
        if app.latency is not None:
            parts.append(f"last {app.latency * 1000:.0f} ms")
        status.update(Text("  ·  ".join(parts)))
        status.set_class(app.state in ("no_microphone", "error") or app.outbox_line.startswith("⚠"), "problem")

    # -- actions ---------------------------------------------------------------------------------

    def _edit(self, outcome_fn) -> None:  # type: ignore[no-untyped-def]
        if self.controller is None:
            return
        outcome = outcome_fn(self.controller.report)
        self.last_command = ("✓ " if outcome.ok else "✗ ") + outcome.message
        if outcome.ok and self.controller.store is not None:
            self.controller.store.save_report(self.controller.report)
        self._show_report()
        if self.controller.checks_ready:  # never load the NLP pipeline on the UI thread
            flags, changed = self.controller.run_checks()
            if changed:
                self._show_flags(flags)
        self.show_status()

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

    def action_close(self) -> None:
        from .worklist import WorklistScreen

        stack = self.app.screen_stack
        if len(stack) > 1 and isinstance(stack[-2], WorklistScreen):
            self.app.pop_screen()  # back to the worklist; the draft is in the store


def flags_items(flags: list[Flag]) -> list[tuple[Flag | None, str]]:
    """The flags panel, one entry per flag (unaccepted defaults summed up in one line)."""
    if not flags:
        return [(None, "Nothing to look at yet.")]
    out: list[tuple[Flag | None, str]] = []
    defaults = [f for f in flags if f.kind == "default_not_accepted"]
    for f in flags:
        if f.kind == "default_not_accepted":
            continue
        where = f.slot or f.section or ""
        text = f"{SEVERITY_MARK[f.severity]} {f.message}" + (f"  [{where}]" if where else "")
        if f.acr_category:
            text += f"\n   ACR category {f.acr_category}: communicate within {minutes(f.deadline_minutes)}"
        out.append((f, text))
    if defaults:
        names = ", ".join((f.slot or "").split(".")[-1].replace("_", " ") for f in defaults)
        out.append((defaults[0], f"{SEVERITY_MARK['info']} {len(defaults)} default{'s' if len(defaults) > 1 else ''} "
                                 f"not accepted, left out of the report ({names}): say “accept defaults”"))
    return out


def minutes(value: int | None) -> str:
    if not value:
        return "?"
    if value >= 1440 and value % 1440 == 0:
        return f"{value // 1440} d"
    if value >= 60 and value % 60 == 0:
        return f"{value // 60} h"
    return f"{value} min"


def report_view(report: Report) -> str:
    """The report as the radiologist sees it while dictating: every field, the active one marked,
    defaults nobody accepted shown as such (they are not in the report until accepted)."""
    lines: list[str] = [f"{report.template.title}   [{report.status}]", ""]
    active = report.slot.key
    for section in report.template.spec.sections:
        slots = [s for s in report.template.slots if s.section.key == section.key]
        lines.append(section.title.upper() + ("" if not section.required else " *"))
        for slot in slots:
            marker = "▶ " if slot.key == active else "  "
            accepted = report.slot_text(slot.key)
            pending = [p.text for p in report.slots[slot.key] if not p.accepted]
            label = f"{slot.field.title}: " if slot.field else ""
            if accepted:
                lines.append(f"{marker}{label}{accepted}")
            elif pending:
                lines.append(f"{marker}{label}(not dictated) {' '.join(pending)}")
            else:
                lines.append(f"{marker}{label}…".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
