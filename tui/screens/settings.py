"""Settings (F8): the microphone (with a live level test), the speech model, the silence that
ends an utterance, and hands-free or push-to-talk. They apply from the next study opened (or
when this one is reopened; a new model loads then); the lines to make them permanent are shown."""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from ..messages import LevelTest
from ..widgets.level import LevelMeter

if TYPE_CHECKING:
    from ..app import RadscribeApp



def device_choice(value: object) -> int | str | None:
    """The microphone a Select value names: None for the system default, an index, or a name."""
    if value == "default" or value is Select.BLANK or not isinstance(value, str | int):
        return None
    return int(value) if str(value).isdigit() else str(value)

class SettingsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, devices: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.devices = devices
        self._test_stop = threading.Event()
        self._test_thread: threading.Thread | None = None

    @property
    def rapp(self) -> RadscribeApp:
        return cast("RadscribeApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.rapp
        if self.devices is None:
            try:
                from dictation.speech.audio import input_devices

                self.devices = input_devices()
            except Exception:
                self.devices = []
        options = [("system default", "default")] + [(f"{d['index']}: {d['name']}", str(d["index"])) for d in self.devices]
        current = "default" if app.device is None else str(app.device)
        if current not in {v for _, v in options}:
            options.append((f"{current} (not found)", current))
        with Vertical(id="settings"):
            yield Static(Text("Settings — they apply from the next study you open", style="bold"))
            with Horizontal(classes="setting"):
                yield Label("Microphone", classes="setting-label")
                yield Select(options, value=current, allow_blank=False, id="device")
                yield Button("Test level", id="test")
            yield LevelMeter(id="settings-meter")
            yield Static(id="test-status")
            with Horizontal(classes="setting"):
                yield Label("Speech model", classes="setting-label")
                yield Input(value=app.model_name or "tiny.en", id="model",
                            placeholder="tiny.en (bundled), a CTranslate2 model folder, or a size name")
            with Horizontal(classes="setting"):
                yield Label("End of utterance (ms)", classes="setting-label")
                yield Input(value=str(app.end_silence_ms), id="silence", type="integer")
            with Horizontal(classes="setting"):
                yield Label("Push-to-talk (F4 per utterance)", classes="setting-label")
                yield Switch(value=app.push_to_talk, id="ptt")
            yield Static(id="settings-config")
            with Horizontal(id="settings-buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self._show_config()
        if not self.devices:
            self.query_one("#test-status", Static).update(Text("No microphone found: typing still works (F2)."))

    def _show_config(self) -> None:
        app = self.rapp
        device = "" if app.device is None else f"\n# radscribe --device {app.device}"
        self.query_one("#settings-config", Static).update(Text(
            "To keep them, in the config file:\n[dictation]\nend_silence_ms = "
            f"{app.end_silence_ms}\npush_to_talk = {str(app.push_to_talk).lower()}{device}\n"
            f"(the model: radscribe --model {app.model_name or 'tiny.en'})", style="dim"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self._apply()
        elif event.button.id == "test":
            self._start_test()
        elif event.button.id == "close":
            self.action_close()

    def _apply(self) -> None:
        app = self.rapp
        app.device = device_choice(self.query_one("#device", Select).value)
        silence = self.query_one("#silence", Input).value.strip()
        if not silence.isdigit() or not 200 <= int(silence) <= 3000:
            self.query_one("#test-status", Static).update(Text("✗ end of utterance: a number of ms from 200 to 3000"))
            return
        model = self.query_one("#model", Input).value.strip() or "tiny.en"
        if model != (app.model_name or "tiny.en"):
            from dictation.errors import RadscribeError
            from dictation.speech.models import resolve_model
            from dictation.speech.recognizer import Recognizer

            try:
                _, label = resolve_model(model)  # a missing folder or an unknown name: one line, nothing changed
            except RadscribeError as e:
                self.query_one("#test-status", Static).update(Text(f"✗ model: {e}"))
                return
            app.use_recognizer(lambda: Recognizer(model), model, label)
        app.end_silence_ms = int(silence)
        app.push_to_talk = self.query_one("#ptt", Switch).value
        self._show_config()
        self.query_one("#test-status", Static).update(Text("✓ applied: they take effect from the next study opened"))

    def _start_test(self) -> None:
        """A few seconds of the chosen microphone's level, read on its own thread."""
        from dictation.speech.audio import MicrophoneSource

        self._stop_test()
        device = device_choice(self.query_one("#device", Select).value)
        self._test_stop = threading.Event()
        stop = self._test_stop
        self.query_one("#test-status", Static).update(Text("Speak now… (5 s)"))

        def run() -> None:
            source = self.rapp.test_source(device) if hasattr(self.rapp, "test_source") else MicrophoneSource(device)
            peak_db = -100.0
            try:
                source.start()
                deadline = time.monotonic() + 5.0
                while not stop.is_set() and time.monotonic() < deadline:
                    block = source.read(timeout=0.5)
                    if block is None:
                        if not isinstance(source, MicrophoneSource):
                            break  # a recording (tests, demos) has ended
                        continue
                    db = 20 * math.log10(max(block.rms, 1e-5))
                    peak_db = max(peak_db, db)
                    self.post_message(LevelTest(db))
            except Exception as e:
                self.post_message(LevelTest(said=f"✗ {e}", done=True))
                return
            finally:
                try:
                    source.stop()
                except Exception:
                    pass
            verdict = "good" if peak_db > -30 else ("quiet: move closer or raise the input level" if peak_db > -60 else "silent")
            self.post_message(LevelTest(said=f"Loudest {peak_db:.0f} dBFS: {verdict}", done=True))

        self._test_thread = threading.Thread(target=run, name="radscribe-level-test", daemon=True)
        self._test_thread.start()

    def on_level_test(self, message: LevelTest) -> None:
        if not self.is_mounted:
            return
        if message.db is not None:
            self.query_one("#settings-meter", LevelMeter).db = message.db
        if message.said:
            self.query_one("#test-status", Static).update(Text(message.said))

    def _stop_test(self) -> None:
        # No join: the test thread only posts messages; it sees the flag within half a second
        # and stops its source itself.
        self._test_stop.set()
        self._test_thread = None

    def on_unmount(self) -> None:
        self._stop_test()

    def action_close(self) -> None:
        self._stop_test()
        self.dismiss(None)
