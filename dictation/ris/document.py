"""What every export channel needs to know about one signed version of a report.

Built from the engine's `Report` (signing in a session) or from the JSON `radscribe dictate
--json` prints (`radscribe export`), so the channels never depend on how the report was made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dictation.errors import ExportError
from dictation.status import ReportStatus

if TYPE_CHECKING:
    from dictation.reporting.report import Report
    from dictation.reporting.templates import Template

RESULT_STATUS: dict[str, str] = {ReportStatus.PRELIMINARY: "P", ReportStatus.FINAL: "F", ReportStatus.CORRECTED: "C"}




@dataclass(frozen=True)
class Signer:
    """The radiologist who signs ([reader] in the config): OBR-32, the FHIR resultsInterpreter."""

    id: str = ""
    family: str = ""
    given: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.id or self.family or self.given)

    @property
    def complete(self) -> bool:
        """Enough to name who signed a final: an id and a family name."""
        return bool(self.id.strip() and self.family.strip())

    @property
    def display(self) -> str:
        return " ".join(x for x in (self.given, self.family) if x) or self.id


@dataclass(frozen=True)
class ReportVersion:
    """One signed version: the unit the outbox sends (preliminary, final, corrected...)."""

    report_id: str
    version: int
    status: str  # preliminary / final / corrected
    template: Template
    sections: dict[str, str]
    text: str
    exam: dict[str, Any] = field(default_factory=dict)
    signed_at: float = field(default_factory=time.time)
    signer: Signer = field(default_factory=Signer)
    kind: str = ""  # preliminary / final / addendum / correction: what this signing was
    # Each recorded call about a critical result: recipient, role, method, at, findings, by.
    communications: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUS:
            raise ExportError(f"a {self.status} report is not sent; sign it preliminary or final first")

    @property
    def accession(self) -> str:
        return str(self.exam.get("accession") or "")

    @property
    def result_status(self) -> str:
        return RESULT_STATUS[self.status]

    @property
    def fhir_status(self) -> str:
        """FHIR DiagnosticReport.status: an addendum makes the report "appended" (content added, the rest
        unchanged), a correction "corrected"."""
        if self.status == "corrected":
            return "appended" if self.kind == "addendum" else "corrected"
        return self.status

    def control_id(self, destination: str) -> str:
        """Deterministic per (report, version, destination): a resend carries the same id, so the
        receiver can tell it is the same message (HL7 MSH-10 allows 20 characters)."""
        digest = hashlib.sha1(f"{self.report_id}|{self.version}|{destination}".encode()).hexdigest()
        return "RS" + digest[:18].upper()

    @classmethod
    def from_report(cls, report: Report, signer: Signer | None = None) -> ReportVersion:
        sections = report.sections_text()
        if report.addenda:
            sections["addendum"] = report.addenda_text()
        return cls(
            report_id=report.id,
            version=report.version,
            status=report.status,
            kind=report.signed_kind or report.status,
            template=report.template,
            sections=sections,
            text=report.render(),
            # The exam's time, the same in every version: the order's, else when the report was started.
            exam={**report.exam, "exam_time": report.exam.get("exam_time") or report.created_at},
            signed_at=report.signed_at or time.time(),
            signer=signer or _signer(report.exam),
            communications=[{"recipient": c.recipient, "role": c.role, "method": c.method, "at": c.at,
                             "findings": list(c.findings), "by": c.by} for c in report.communications],
        )

    @classmethod
    def from_json(cls, data: dict[str, Any], template: Template, signer: Signer | None = None) -> ReportVersion:
        try:
            return cls(
                report_id=str(data["id"]),
                version=int(data.get("version") or 1),
                status=str(data["status"]),
                template=template,
                sections={str(k): str(v) for k, v in dict(data["sections"]).items()},
                text=str(data["text"]),
                exam=_exam(dict(data.get("exam") or {})),
                signed_at=float(data.get("signed_at") or time.time()),
                signer=signer or _signer(data.get("exam") or {}),
                kind=str(data.get("signed_kind") or data["status"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ExportError(f"not a radscribe report (as `radscribe dictate --json` prints): {e}") from None


def _exam(exam: dict[str, Any]) -> dict[str, Any]:
    """The exam as messages use it: ``exam_time`` as seconds since 1970 (a number, or an ISO
    8601 date-time as a person would write it into a JSON file)."""
    value = exam.get("exam_time")
    if value in (None, ""):
        return exam
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ExportError(f"exam_time {str(value)[:40]!r} is not a time: write seconds since 1970 or an ISO "
                              "date-time such as 2026-11-29T08:30:00+01:00") from None
        seconds = (when if when.tzinfo else when.astimezone()).timestamp()
    return {**exam, "exam_time": seconds}


def _signer(exam: dict[str, Any]) -> Signer:
    s = exam.get("signer")
    if not isinstance(s, dict):
        return Signer()
    return Signer(str(s.get("id", "")), str(s.get("family", "")), str(s.get("given", "")))
