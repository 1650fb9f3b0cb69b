"""The title bar: what is open (accession, exam, patient, facility) and, optionally, the time.

Textual's Header watches the app's title asynchronously and can fail when a screen is swapped
within a frame of being shown ("open next" right after opening a study); this bar cannot."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $primary-background;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(id="title")
        self.text = text

    def on_mount(self) -> None:
        self._tick()
        if getattr(self.app, "show_clock", False):
            self.set_interval(30, self._tick)

    def _tick(self) -> None:
        clock = time.strftime("%H:%M") if getattr(self.app, "show_clock", False) else ""
        width = max(0, self.size.width - len(self.text) - 3)
        self.update(Text(self.text + clock.rjust(width) if clock else self.text, style="bold"))

    def on_resize(self) -> None:
        self._tick()
