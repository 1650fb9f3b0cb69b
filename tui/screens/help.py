"""Help (F1): every voice command with its phrases, the macros, and every key — read from
vocab/commands.toml and vocab/macros.toml, so it says what this site's files say."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dictation.reporting.commands import default_commands

WHAT = {
    "go_to": "move to a section or field by name",
    "next_field": "the next field",
    "previous_field": "the previous field",
    "scratch_that": "remove what you last dictated",
    "undo": "undo the last change",
    "redo": "redo what was undone",
    "new_paragraph": "start a new paragraph",
    "insert_normal": "put this field's normal text in",
    "normal_field": "put a named field's normal text in",
    "accept_all_defaults": "accept every field's normal text not yet dictated",
    "choose": "choose an option of this field's pick list",
    "clear_field": "empty this field",
    "sign_final": "sign final (the sign screen opens if something is missing)",
    "sign_preliminary": "sign preliminary",
    "stop_listening": "stop taking dictation until “start listening”",
    "open_next": "open the next study waiting (STAT first)",
    "open_stat": "open the next STAT study",
    "close_study": "back to the worklist (the draft is kept)",
    "play_back": "hear the last dictation as it was recorded",
    "start_listening": "take dictation again",
    "begin_addendum": "after signing final: start an addendum (the signed text stays as it was)",
    "begin_correction": "after signing final: correct the report (signed again as a corrected version)",
    "cancel_amendment": "drop the addendum or correction being written",
    "confirm_words": "a word marked “check” (no, left, a number... heard unsure or heard otherwise) is right as written",
}
KEYS = [
    ("F1", "this help"),
    ("F3", "play back the last dictation in the active field"),
    ("F4", "listening on / off (like a microphone's record button)"),
    ("F2", "type into the active field (Ctrl+S keeps, Esc drops)"),
    ("F5 / F6", "previous / next field"),
    ("F8", "settings: microphone (with a level test), end-of-utterance silence, push-to-talk"),
    ("F9", "sign: open flags, communication of critical results, preliminary or final"),
    ("F7 / Shift+F7", "on a signed report: start an addendum / a correction (F9 signs it)"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo"),
    ("Ctrl+K", "confirm the words marked “check” in the latest utterance that has any (or say “confirm”)"),
    ("Enter on a flag", "go to the field it is about"),
    ("Esc", "back to the worklist (the draft is kept)"),
    ("Enter / N", "on the worklist: open the selected study / the next one"),
    ("S / V", "on the worklist: show reports signed in the last two days / open the next peer review"),
    ("Ctrl+Q", "quit (asks when a draft is open)"),
]


def help_text() -> Text:
    commands = default_commands()
    out = Text()
    out.append("Esc, F1 or Q closes this help; ↑ ↓ PgUp PgDn scroll.\n\n", style="bold reverse")
    out.append("Voice commands", style="bold")
    out.append(" — say the whole phrase on its own; anything else is dictation\n\n")
    for name, phrases in commands.phrases.items():
        out.append(f"  {WHAT.get(name, name.replace('_', ' '))}\n", style="bold")
        out.append("      " + "  ·  ".join(f"“{p}”" for p in phrases) + "\n")
    if commands.macros:
        out.append("\nMacros\n\n", style="bold")
        for macro in commands.macros:
            where = f" ({', '.join(macro.templates)})" if macro.templates else ""
            out.append(f"  “{macro.phrases[0]}”{where}\n")
    out.append("\nKeys\n\n", style="bold")
    for key, what in KEYS:
        out.append(f"  {key:<18}{what}\n")
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
