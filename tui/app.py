"""The radscribe terminal UI: dictation into a report, hands-free or by keyboard.

A thin face on the engine: the DictationSession runs on its own thread and reaches the UI only
through ``SessionEvent`` messages. The model loads there too, so the screen is usable at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TextArea

from dictation.audio import AudioSource, FileSource, MicrophoneSource
from dictation.recognizer import Recognizer
from dictation.session import (DictationSession, LevelChanged, PartialText, SessionError, StateChanged,
                               UtteranceCommitted)
from dictation.spoken import join_text
from dictation.transcribe import TextPipeline

from .messages import SessionEvent
from .widgets.level import LevelMeter

STATE_TEXT = {
    "loading": "Loading the speech model…",
    "listening": "● Listening",
    "paused": "❚❚ Paused (F4 to listen)",
    "recognising": "… Recognising",
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
                 *, model_label: str = "tiny.en (bundled)", group: str | None = None) -> None:
        super().__init__()
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
        yield TextArea(id="report", soft_wrap=True)
        yield Static(id="tentative")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report", TextArea).border_title = "Report"
        self._show_status()
        self.session = DictationSession(self._source_factory, lambda e: self.post_message(SessionEvent(e)),
                                        recognizer=self._recognizer, pipeline=TextPipeline(group=self.group))
        self.session.start()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.stop()

    # -- engine events -------------------------------------------------------------------------

    def on_session_event(self, message: SessionEvent) -> None:
        if not self.screen.is_mounted or not self.query(LevelMeter):
            return  # the app is closing: the dictation thread may still be saying goodbye
        e = message.event
        if isinstance(e, LevelChanged):
            meter = self.query_one(LevelMeter)
            meter.db = e.db
            meter.speech = e.speech_probability >= 0.5
        elif isinstance(e, PartialText):
            tentative = self.query_one("#tentative", Static)
            tentative.update(" ".join(t for t in (e.committed, e.tentative) if t))
        elif isinstance(e, UtteranceCommitted):
            self.latency = e.latency
            report = self.query_one("#report", TextArea)
            text = join_text(report.text, e.utterance.text)
            report.load_text(text)
            report.move_cursor(report.document.end)
            self.query_one("#tentative", Static).update("")
            self._show_status()
        elif isinstance(e, StateChanged):
            self.state, self.detail = e.state, e.detail or self.detail
            self._show_status()
        elif isinstance(e, SessionError):
            self.detail = e.message
            self._show_status()

    def _show_status(self) -> None:
        status = self.query_one("#status", Static)
        parts = [STATE_TEXT.get(self.state, self.state)]
        if self.state == "no_microphone":
            parts.append("connect one, or run radscribe --audio FILE; typing still works")
        elif self.state == "error":
            parts.append(self.detail)
        elif self.state == "listening" and self.detail:
            parts.append(self.detail)
        parts.append(f"model {self.model_label}")
        if self.latency is not None:
            parts.append(f"last {self.latency * 1000:.0f} ms")
        status.update("  ·  ".join(parts))
        status.set_class(self.state in ("no_microphone", "error"), "problem")

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle_listening(self) -> None:
        if self.session is None or self.state in ("no_microphone", "error", "loading"):
            return
        if self.state == "paused":
            self.session.resume()
        else:
            self.session.pause()


def run_app(*, audio: str | None = None, template_id: str | None = None, model: str | None = None,
            device: int | str | None = None) -> None:
    from dictation.errors import RadscribeError
    from dictation.recognizer import resolve_model

    if template_id is not None:
        raise RadscribeError("--template is not available yet: report templates are not in this version")
    _, label = resolve_model(model)  # a bad --model is a one-line error before the screen opens

    def source() -> AudioSource:
        return FileSource(Path(audio), realtime=True) if audio else MicrophoneSource(device)

    RadscribeApp(source, lambda: Recognizer(model), model_label=label).run()
