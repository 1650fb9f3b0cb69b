"""Typing into a field (F2): the active field's text in an editor; Ctrl+S keeps it, Esc drops it.
The typed text replaces the field (undo brings the old text back) and is stored at once."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from dictation.reporting.report import Report


class EditFieldScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("ctrl+s", "save", "Keep", priority=True), Binding("escape", "cancel", "Drop")]

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self.key = "addendum" if report.amendment == "addendum" else report.slot.key

    def compose(self) -> ComposeResult:
        title = "Addendum" if self.key == "addendum" else self.report.slot.title
        text = self.report.slot_text(self.key, with_unaccepted=True)
        with Vertical(id="edit"):
            yield Static(Text(f"{title} — Ctrl+S keeps, Esc drops"), id="edit-title")
            yield TextArea(text, id="edit-text", soft_wrap=True)

    def on_mount(self) -> None:
        area = self.query_one("#edit-text", TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_save(self) -> None:
        self.dismiss(self.query_one("#edit-text", TextArea).text.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
