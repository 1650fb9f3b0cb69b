"""What a report is made of besides its text: utterances, outcomes of commands, communications
of critical results, addenda (small dataclasses, stored with the report); and a near-command
held as a question until the radiologist answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dictation.reporting.commands import Command
    from dictation.speech.transcript import Transcript
    from dictation.text.pipeline import WrittenUtterance


@dataclass
class CommunicationRecord:
    """Who was told about which critical findings, how and when (ACR: closing the loop)."""

    recipient: str
    role: str
    method: str  # one of COMMUNICATION_METHODS
    at: float  # when they were told
    findings: list[str]
    recorded_at: float = 0.0
    by: str = ""  # the radiologist who told them

    def sentence(self, zone: dt.tzinfo | None = None) -> str:
        when = dt.datetime.fromtimestamp(self.at, zone).astimezone(zone)
        what = _join(self.findings) or "The critical result"
        role = f" ({self.role})" if self.role else ""
        by = f" by {self.by}" if self.by else ""
        return (f"{what[0].upper()}{what[1:]} communicated{by} to {self.recipient}{role} by {self.method} "
                f"on {when.strftime('%Y-%m-%d')} at {when.strftime('%H:%M %Z').strip()}.")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


ADDENDUM = "addendum"  # the slot an addendum is dictated into (not a template slot)
AMENDMENTS = ("addendum", "correction")


@dataclass
class Addendum:
    """Text added after the report was signed final; the signed text above it never changes."""

    text: str
    by: str
    signed_at: float
    version: int


def exam_zone(exam: dict[str, Any]) -> dt.tzinfo | None:
    """The facility's time zone, put into the exam when the study was opened (None: this machine's)."""
    import zoneinfo

    name = exam.get("time_zone")
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None




@dataclass
class Piece:
    text: str
    source: str  # one of SOURCES
    accepted: bool = True
    utterance: int | None = None  # seq of the utterance that made it


@dataclass
class UtteranceRecord:
    seq: int
    kind: str  # "dictation", "command", "ignored" (heard while asleep), "rejected" (command that could not apply)
    text: str  # written text (dictation) or what was heard (command)
    heard: str
    start: float
    end: float
    words: list[dict[str, Any]]
    slot: str | None = None
    command: str | None = None
    message: str = ""
    at: float = 0.0
    scratched: bool = False
    confirmed: list[int] = field(default_factory=list)  # indexes of critical words the radiologist confirmed
    decoder: str = ""  # the model that read it (a recognition server's or this workstation's)


@dataclass(frozen=True)
class Outcome:
    """What applying an utterance did, for events and the command line."""

    ok: bool
    message: str
    changed: bool = False


# What a signed report says about the patient and the exam: taken from the order at signing.
ORDER_IDENTITY = ("patient_id", "assigning_authority", "patient_name", "birth_date", "sex", "visit_number",
                  "patient_class", "exam_description", "exam_code")


def take_order(exam: dict[str, Any], order: dict[str, Any]) -> None:
    """The patient and exam of ``order`` (a worklist study's ``report_exam()``) into a report's exam."""
    for key in ORDER_IDENTITY:
        if order.get(key):
            exam[key] = order[key]
        else:
            exam.pop(key, None)


@dataclass(frozen=True)
class Handled:
    """One utterance (or key) applied to a report and stored."""

    record: UtteranceRecord
    outcome: Outcome
    command: Command | None
    written: WrittenUtterance | None  # dictation only
    unsent: int = 0  # utterances of this report only this workstation holds (the store cannot be reached)


# Answers to "Scratch that?" (whole utterances). Never a finding ("Negative.") or another command
# ("confirm"): said while a question waits, it is itself, and the question lapses (held words written).
YES = frozenset({"yes", "yes please", "yes do it", "do it", "affirmative"})
NO = frozenset({"no", "no thanks", "cancel", "that was dictation"})


@dataclass(frozen=True)
class Question:
    """An utterance that is a command but for one word ("let's scratch that"): neither obeyed
    nor written until the radiologist answers. ``yes`` obeys it; ``no`` writes it as dictation;
    anything else said next writes it as dictation too (nothing is lost), then goes on."""

    command: Command
    heard: Transcript
    start: float
    end: float
    seq: int

    @property
    def asked(self) -> str:
        phrase = self.command.phrase or self.command.describe()
        return f"“{phrase[:1].upper()}{phrase[1:]}?”"

    @property
    def prompt(self) -> str:
        return f"{self.asked} say yes to do it, no to write “{self.heard.text.strip()}” as dictation"
