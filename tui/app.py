"""The radscribe terminal UI: dictation into a report, hands-free or by keyboard.

A thin face on the engine: the DictationSession runs on its own thread and reaches the UI only
through ``SessionEvent`` messages. The model loads there too, so the screen is usable at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Static, TextArea

from dictation.audio import AudioSource, FileSource, MicrophoneSource
from dictation.checks import Flag
from dictation.errors import RadscribeError
from dictation.export.outbox import Outbox
from dictation.recognizer import Recognizer
from dictation.report import Report
from dictation.reporting import ReportController
from dictation.session import (CommandApplied, DictationSession, FlagsChanged, LevelChanged, PartialText, SessionError,
                               StateChanged, UtteranceCommitted, UtteranceRejected)
from dictation.spoken import join_text
from dictation.transcribe import TextPipeline

from .messages import OutboxStates, SessionEvent
from .widgets.level import LevelMeter

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


class RadscribeApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "radscribe"
    BINDINGS = [
        Binding("f4", "toggle_listening", "Listen on/off", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, source: Callable[[], AudioSource], recognizer: Callable[[], Recognizer] | Recognizer,
                 *, model_label: str = "tiny.en (bundled)", group: str | None = None,
                 controller: ReportController | None = None, outbox: Outbox | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.outbox = outbox  # with its own Store: it delivers on its own thread
        self.outbox_line = ""
        self._outbox_stop = threading.Event()
        self._outbox_thread: threading.Thread | None = None
        self.last_command = ""
        self._source_factory = source
        self._recognizer = recognizer
        self.model_label = model_label
        self.group = group
        self.session: DictationSession | None = None
        self.state = "loading"
        self.detail = ""
        self.latency: float | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        yield Static(id="status")
        yield LevelMeter(id="meter")
        with Horizontal(id="body"):
            yield TextArea(id="report", soft_wrap=True)
            if self.controller is not None:
                yield Static(flags_view([]), id="flags")
        yield Static(id="tentative")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one("#report", TextArea)
        area.border_title = "Report"
        if self.controller is not None:
            # The report is built by voice; typing into fields arrives with the full report screen.
            area.read_only = True
            area.border_title = self.controller.report.template.title
            self._show_report()
        self._show_status()
        self.session = DictationSession(self._source_factory, lambda e: self.post_message(SessionEvent(e)),
                                        recognizer=self._recognizer, controller=self.controller,
                                        pipeline=None if self.controller else TextPipeline(group=self.group))
        self.session.start()
        if self.outbox is not None:
            self._outbox_thread = threading.Thread(
                target=self.outbox.run, args=(self._outbox_stop,),
                kwargs={"poll": 1.0, "on_pass": lambda states: self.post_message(OutboxStates(states))},
                name="radscribe-outbox", daemon=True)
            self._outbox_thread.start()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.stop()
        if self._outbox_thread is not None:
            self._outbox_stop.set()
            self._outbox_thread.join(5)
            self.outbox.close()  # type: ignore[union-attr]

    def on_outbox_states(self, message: OutboxStates) -> None:
        if not self.screen_stack or not self.screen.is_mounted or not self.query(LevelMeter):
            return
        self.outbox_line = outbox_summary(message.states)
        self._show_status()

    # -- engine events -------------------------------------------------------------------------

    def on_session_event(self, message: SessionEvent) -> None:
        # The app is closing: events the dictation thread posted before it stopped may still
        # arrive after the last screen has gone (then even reading self.screen raises).
        if not self.screen_stack or not self.screen.is_mounted or not self.query(LevelMeter):
            return
        e = message.event
        if isinstance(e, LevelChanged):
            meter = self.query_one(LevelMeter)
            meter.db = e.db
            meter.speech = e.speech_probability >= 0.5
        elif isinstance(e, PartialText):
            tentative = self.query_one("#tentative", Static)
            tentative.update(" ".join(t for t in (e.committed, e.tentative) if t))
        elif isinstance(e, CommandApplied):
            self.latency = e.latency
            self.last_command = ("✓ " if e.ok else "✗ ") + e.message
            self.query_one("#tentative", Static).update("")
            self._show_report()
            self._show_status()
        elif isinstance(e, UtteranceRejected):
            self.last_command = "✗ " + e.message
            self.query_one("#tentative", Static).update("")
            self._show_status()
        elif isinstance(e, UtteranceCommitted) and self.controller is not None:
            self.latency = e.latency
            self.query_one("#tentative", Static).update("")
            self._show_report()
            self._show_status()
        elif isinstance(e, UtteranceCommitted):
            self.latency = e.latency
            report = self.query_one("#report", TextArea)
            text = join_text(report.text, e.utterance.text)
            report.load_text(text)
            report.move_cursor(report.document.end)
            self.query_one("#tentative", Static).update("")
            self._show_status()
        elif isinstance(e, FlagsChanged):
            self.query_one("#flags", Static).update(flags_view(e.flags))
        elif isinstance(e, StateChanged):
            self.state, self.detail = e.state, e.detail or self.detail
            self._show_status()
        elif isinstance(e, SessionError):
            self.detail = e.message
            self._show_status()

    def _show_report(self) -> None:
        if self.controller is not None:
            area = self.query_one("#report", TextArea)
            area.load_text(report_view(self.controller.report))

    def _show_status(self) -> None:
        status = self.query_one("#status", Static)
        parts = [STATE_TEXT.get(self.state, self.state)]
        if self.state == "no_microphone":
            parts.append("connect one, or run radscribe --audio FILE; typing still works")
        elif self.state == "error":
            parts.append(self.detail)
        elif self.state == "listening" and self.detail:
            parts.append(self.detail)
        if self.controller is not None:
            report = self.controller.report
            parts.append(f"{report.status} · at {report.slot.title}")
            if self.last_command:
                parts.append(self.last_command)
        if self.outbox_line:
            parts.append(self.outbox_line)
        parts.append(f"model {self.model_label}")
        if self.latency is not None:
            parts.append(f"last {self.latency * 1000:.0f} ms")
        status.update(Text("  ·  ".join(parts)))
        status.set_class(self.state in ("no_microphone", "error") or self.outbox_line.startswith("⚠"), "problem")

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle_listening(self) -> None:
        if self.session is None or self.state in ("no_microphone", "error", "loading"):
            return
        if self.state == "paused":
            self.session.resume()
        else:
            self.session.pause()


def outbox_summary(states: list) -> str:
    """The status bar's word on delivery: quiet when all is sent, impossible to miss when not."""
    alerts = [s for s in states if s.alert]
    if alerts:
        a = alerts[0]
        return f"⚠ NOT DELIVERED to {a.name}: {a.pending + a.in_flight} waiting, {a.dead} dead-lettered — {a.last_error}"
    waiting = sum(s.pending + s.in_flight for s in states)
    if waiting:
        failing = [s for s in states if s.failing]
        note = f" ({failing[0].name}: {failing[0].last_error})" if failing else ""
        return f"outbox: {waiting} waiting{note}"
    sent = sum(s.sent for s in states)
    return f"outbox: all {sent} sent" if sent else ""


SEVERITY_MARK = {"critical": "‼", "warning": "!", "info": "·"}


def flags_view(flags: list[Flag]) -> Text:
    """The flags panel: critical findings first, each with what to do and by when (plain text:
    report words in brackets must not be read as markup)."""
    if not flags:
        return Text("Checks\n\nNothing to look at yet.")
    lines = [f"Checks ({len(flags)})", ""]
    defaults = [f for f in flags if f.kind == "default_not_accepted"]
    for f in flags:
        if f.kind == "default_not_accepted":
            continue  # one line for all of them, below
        where = f.slot or f.section or ""
        lines.append(f"{SEVERITY_MARK[f.severity]} {f.message}" + (f"  [{where}]" if where else ""))
        if f.acr_category:
            lines.append(f"   ACR category {f.acr_category}: communicate within {_minutes(f.deadline_minutes)}")
    if defaults:
        names = ", ".join((f.slot or "").split(".")[-1].replace("_", " ") for f in defaults)
        lines.append(f"{SEVERITY_MARK['info']} {len(defaults)} default{'s' if len(defaults) > 1 else ''} not accepted, "
                     f"left out of the report ({names}): say “accept defaults”")
    return Text("\n".join(lines))


def _minutes(minutes: int | None) -> str:
    if not minutes:
        return "?"
    if minutes >= 1440 and minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


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


def run_app(*, audio: str | None = None, template_id: str | None = None, model: str | None = None,
            device: int | str | None = None) -> None:
    from dictation.config import load_config
    from dictation.recognizer import resolve_model
    from dictation.store import Store
    from dictation.templates import TemplateLibrary

    _, label = resolve_model(model)  # a bad --model is a one-line error before the screen opens
    controller = None
    outbox = None
    config = load_config()
    if config.destinations:
        from dictation.export.destinations import make_destination

        outbox = Outbox(Store(config.store_path), [make_destination(d) for d in config.destinations],
                        alert_after=config.alert_after_minutes * 60)
    orders = None
    if config.orders_port:  # the worklist fills from the RIS while the UI is open
        from dictation.export.orders import OrderHandler, OrdersListener

        try:
            orders = OrdersListener(config.orders_host, config.orders_port,
                                    OrderHandler(Store(config.store_path), TemplateLibrary(config.template_folders),
                                                 config.order_templates, facility_mapping=config.facility_templates))
        except OSError as e:
            raise RadscribeError(f"cannot listen for orders on {config.orders_host}:{config.orders_port}: "
                                 f"{e.strerror or e}") from None
        threading.Thread(target=orders.serve_forever, name="radscribe-orders", daemon=True).start()
    if template_id is not None:  # a bad id is a one-line error before the screen opens
        from dictation.export.document import Signer

        template = TemplateLibrary(config.template_folders).get(template_id)
        reader = config.reader
        controller = ReportController(Report.new(template), store=Store(config.store_path),
                                      route=config.route_by_anatomy, outbox=outbox,
                                      signer=Signer(reader.get("id", ""), reader.get("family", ""), reader.get("given", "")))

    def source() -> AudioSource:
        return FileSource(Path(audio), realtime=True) if audio else MicrophoneSource(device)

    try:
        RadscribeApp(source, lambda: Recognizer(model), model_label=label, controller=controller, outbox=outbox).run()
    finally:
        if orders is not None:
            orders.shutdown()
            orders.server_close()
