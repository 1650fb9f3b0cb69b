"""Yes / no questions before something the screen cannot take back: quitting with a draft open
(it is saved, but say so and ask), discarding a draft."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """A question answered by Y / N (Escape is no) or the two buttons."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question} (y / n)", id="quit-question")
        yield Button(self.yes, id="yes", variant="error")
        yield Button(self.no, id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitScreen(ConfirmScreen):
    """Quitting with a draft open."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is a draft. It is saved and will be on the worklist next time.\nQuit now?",
                         yes="Quit", no="Stay")
