"""The microphone level meter."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class LevelMeter(Widget):
    """RMS level in dBFS from -60 to 0, as a bar; green while speech is detected."""

    db = reactive(-100.0)
    speech = reactive(False)

    def render(self) -> Text:
        width = max(4, self.size.width - 9)
        filled = int(round(width * min(1.0, max(0.0, (self.db + 60) / 60))))
        style = "green" if self.speech else "grey50"
        label = f"{self.db:>4.0f} dB" if self.db > -100 else "  -- dB"
        return Text.assemble(("▮" * filled, style), ("·" * (width - filled), "grey23"), " ", label)
