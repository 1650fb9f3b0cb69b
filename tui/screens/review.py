"""Peer review: the signed report as it was sent, a RADPEER score and a comment.

Opened with V from the worklist; shows the next report sampled by `radscribe review sample`
that is not the reviewer's own. A discrepancy (2a and worse) needs a comment.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from dictation.errors import RadscribeError
from dictation.practice.review import RADPEER, RADPEER_MEANING, record_score
from dictation.reporting.templates import TemplateLibrary
from dictation.store import Review, Store


def short_meaning(score: str) -> str:
    """RADPEER's wording, short enough for one line of the screen ("discrepancy in
    interpretation," becomes "discrepancy:"; the full wording is `RADPEER_MEANING`)."""
    return RADPEER_MEANING[score].replace("discrepancy in interpretation, ", "discrepancy: ").replace("; ", " · ")


class ReviewScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, store: Store, library: TemplateLibrary, review: Review) -> None:
        super().__init__()
        self.store = store
        self.library = library
        self.review = review

    def compose(self) -> ComposeResult:
        r = self.review
        version = next((v for v in self.store.versions(r.report_id) if v.version == r.version), None)
        text = version.text if version is not None else "(the signed version is missing from the store)"
        signer = (version.signer_name or version.signer_id) if version is not None else r.author
        with Vertical(id="review"):
            yield Static(Text(f"Peer review {r.id}: report by {signer} (version {r.version})", style="bold"),
                         id="review-title")
            with VerticalScroll(id="review-report"):
                yield Static(Text(text), id="review-text")
            with RadioSet(id="review-score"):
                for score in RADPEER:
                    yield RadioButton(f"{score}  {short_meaning(score)}", value=score == "1", name=score)
            yield Input(placeholder="comment (required for a discrepancy)", id="review-comment")
            yield Static(id="review-problem")
            with Horizontal(id="review-buttons"):
                yield Button("Save score", id="save", variant="primary")
                yield Button("Back", id="cancel")

    def score(self) -> str:
        pressed = self.query_one("#review-score", RadioSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else "1"

    def save(self) -> bool:
        score = self.score()
        comment = self.query_one("#review-comment", Input).value.strip()
        problem = self.query_one("#review-problem", Static)
        try:
            record_score(self.store, self.review.id, score, comment)
        except RadscribeError as e:
            problem.update(Text(f"✗ {e}", style="bold red"))
            return False
        self.dismiss(f"review {self.review.id}: score {score} recorded")
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
