"""What a check reports: a Flag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FlagKind(StrEnum):
    """Every kind a check can raise (the command-line contract documents this list); each
    member is the plain string that JSON output carries."""

    CRITICAL_FINDING = "critical_finding"
    MISSING_SECTION = "missing_section"
    MISSING_FIELD = "missing_field"
    DEFAULT_NOT_ACCEPTED = "default_not_accepted"
    PLACEHOLDER = "placeholder"
    LATERALITY_MISMATCH = "laterality_mismatch"
    SEX_MISMATCH = "sex_mismatch"
    MEASUREMENT_MISMATCH = "measurement_mismatch"
    CONTRADICTION = "contradiction"
    LOW_CONFIDENCE = "low_confidence"
    CRITICAL_WORD = "critical_word"
    INCOMPLETE_FOLLOWUP = "incomplete_followup"
    FOLLOWUP_SUGGESTION = "followup_suggestion"
    CHECKS_OFF = "checks_off"


KINDS: dict[str, str] = {
    FlagKind.CRITICAL_FINDING: "a critical or actionable finding the radiologist said is present or suspected",
    FlagKind.MISSING_SECTION: "a required section (or the impression) is empty",
    FlagKind.MISSING_FIELD: "a required field of the template is empty",
    FlagKind.DEFAULT_NOT_ACCEPTED: "a field still shows its default text, never dictated or accepted",
    FlagKind.PLACEHOLDER: "leftover placeholder text such as [ ], ___ or XXX",
    FlagKind.LATERALITY_MISMATCH: "left/right differ between findings, impression and the exam",
    FlagKind.SEX_MISMATCH: "anatomy the patient's sex does not have",
    FlagKind.MEASUREMENT_MISMATCH: "the same finding measured differently in findings and impression",
    FlagKind.CONTRADICTION: "the same finding said to be present in one place and absent in another",
    FlagKind.LOW_CONFIDENCE: "a word of a finding's sentence (with, mild, large...) the recogniser was unsure of",
    FlagKind.CRITICAL_WORD: "a word that changes the meaning (no, left, right, a number, hypo-/hyper-, new...) the "
                            "recogniser was unsure of, that a second reading of the audio heard otherwise, or a "
                            "negation the audio bears as well without: confirm it or correct it; a final waits until "
                            "it is",
    FlagKind.INCOMPLETE_FOLLOWUP: "a recommendation for imaging without a modality or an interval",
    FlagKind.FOLLOWUP_SUGGESTION: "a guideline suggestion (Fleischner 2017 for an incidental pulmonary nodule)",
    FlagKind.CHECKS_OFF: "the clinical checks could not run (a broken vocabulary file, say): no final can be signed",
}
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Flag:
    """One thing the radiologist should look at before signing.

    ``start``/``end`` are character offsets into the checked text (the report as rendered for
    checking); ``section`` is the section key and ``slot`` the template slot (``findings.lungs``)
    when known. ``context`` holds the ConText attributes of a finding mention.
    """

    kind: str
    severity: str
    message: str
    finding: str | None = None
    text: str = ""
    start: int | None = None
    end: int | None = None
    section: str | None = None
    slot: str | None = None
    sentence: str = ""
    certainty: str | None = None  # "definite" or "suspected" for findings
    context: dict[str, bool] = field(default_factory=dict)
    acr_category: int | None = None
    deadline_minutes: int | None = None
    action: str | None = None
    word: str | None = None  # a critical_word flag: which word ("utterance.index"), for confirming it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown flag kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flag:
        return cls(**data)

    @property
    def key(self) -> tuple[str, str | None, str | None, str]:
        """Identity for comparing two flag lists (what changed after an utterance)."""
        return (self.kind, self.finding, self.slot or self.section, self.text.lower())

    def describe(self) -> str:
        """One line for a terminal: what, where, and what to do."""
        where = f" [{self.slot or self.section}]" if (self.slot or self.section) else ""
        extra = ""
        if self.acr_category:
            extra = f" (ACR category {self.acr_category}, communicate within {_duration(self.deadline_minutes)})"
        return f"{self.severity.upper():8} {self.kind}{where}: {self.message}{extra}"


def _duration(minutes: int | None) -> str:
    if not minutes:
        return "?"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} min"


SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def sort_flags(flags: list[Flag]) -> list[Flag]:
    return sorted(flags, key=lambda f: (SEVERITY_ORDER[f.severity], f.acr_category or 9, f.start if f.start is not None else 10**9))
