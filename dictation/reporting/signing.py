"""The rules of signing: what stops a final (or a preliminary) now, and the spoken sentence that
records who was told of a critical result ("Findings communicated to Dr Jane Roe, the ED
physician, by telephone")."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from dictation.checks import Flag
from dictation.config import config_path
from dictation.practice.facilities import LicenceCheck
from dictation.reporting.records import Outcome, UtteranceRecord
from dictation.reporting.report import Report
from dictation.ris.document import Signer
from dictation.status import ReportStatus

if TYPE_CHECKING:
    from dictation.reporting.controller import ReportController
    from dictation.speech.transcript import Transcript

_COMMUNICATED = re.compile(
    r"^(?:(?:the |these |this )?(?:critical |urgent )?(?:results?|findings?|finding of \w+)\s+(?:was |were |is |are )?)?"
    r"(?:communicated|called|discussed|reported|conveyed|relayed|telephoned)\s+(?:to|with)\s+(?P<who>.+?)"
    r"(?:(?:,\s*|\s+)(?:the|an?)\s+(?P<role>[^,]+?),?|,\s*(?P<role2>[^,]+?),?)?\s+(?:by|via|over the|in)\s+"
    r"(?P<how>telephone|phone|person|secure message|secure messaging)\b.*$",
    re.IGNORECASE,
)
_TITLES = {"dr", "doctor", "nurse", "mr", "mrs", "ms", "miss", "prof", "professor", "sister"}
_METHOD = {"telephone": "telephone", "phone": "telephone", "person": "in person", "secure message": "secure message",
           "secure messaging": "secure message"}


def communication_said(text: str) -> tuple[str, str, str] | None:
    """ "Findings communicated to Dr. Jane Roe, the ED physician, by telephone." →
    ("Dr. Jane Roe", "ED physician", "telephone"); None if the sentence is not one."""
    m = _COMMUNICATED.match(text.strip().rstrip("."))
    if m is None:
        return None
    who = m.group("who").strip().strip(",")
    if who.islower() and who.split()[0].rstrip(".") in _TITLES:
        who = who.title()  # "doctor jane roe" as heard → "Doctor Jane Roe"
    role = (m.group("role") or m.group("role2") or "").strip()
    return who[:1].upper() + who[1:], role, _METHOD[m.group("how").lower()]


def signing_problems(report: Report, flags: list[Flag], status: str, licence: LicenceCheck | None = None, *,
                     signer: Signer | None = None, checks_off: str = "") -> list[str]:
    """What stops signing ``status`` now. A final report needs the clinical checks running
    (``checks_off`` says why they are not), a configured reader, every critical finding's
    communication recorded, every required section filled and every flagged critical word (no,
    left, a number...) confirmed or corrected; a preliminary may go with open
    flags (they are shown, not blocking) and with the checks off (it is marked so). Without a
    valid licence for the facility's jurisdiction a final is refused (and a preliminary too,
    unless the facility allows it)."""
    problems = []
    if licence is not None and (blocked := licence.blocks(status)):
        problems.append(blocked)
    if status != ReportStatus.FINAL:
        return problems
    if checks_off:
        problems.append(f"{checks_off}: a final needs them (a preliminary can be signed)")
    told = report.communicated()
    for f in flags:
        if f.kind == "critical_finding" and f.finding not in told:
            problems.append(f"critical finding {f.finding}: record who was told, how and when before signing final")
        elif f.kind in ("missing_section", "missing_field"):
            problems.append(f.message)
        elif f.kind == "critical_word":
            problems.append(f"critical word not confirmed: {f.message.split(':')[0]} — say “confirm” (Ctrl+K) or correct it")
    if signer is None or not signer.complete:
        problems.append(f"no reader configured: a final names who signed it; set [reader] id, family and given in "
                        f"{config_path()}")
    return problems


def untold_findings(flags: list[Flag], report: Report) -> list[str]:
    """The critical findings of ``flags`` whose communication is not recorded in ``report`` yet."""
    told = report.communicated()
    return [f.finding for f in flags if f.kind == "critical_finding" and f.finding and f.finding not in told]


def told_by_voice(controller: ReportController, text: str, seq: int, heard: Transcript, start: float, end: float,
                  words: list[dict[str, Any]]) -> tuple[UtteranceRecord, Outcome] | None:
    """Saying who was told about the critical findings records the communication (hands-free):
    "Findings communicated to Dr. Jane Roe, the ED physician, by telephone." None when the words
    say no such thing, or nothing critical is left to tell: then they are ordinary dictation."""
    said = communication_said(text)
    if said is None or not controller.checks:
        return None
    report = controller.report
    untold = untold_findings(controller.run_checks()[0], report)
    if not untold:
        return None
    who, role, method = said
    by = controller.signer.display if controller.signer else ""
    outcome = report.record_communication(who, role, method, time.time(), untold, by=by)
    if not outcome.ok:
        return None
    keys = [s.key for s in report.template.slots if s.section.key == "communication"]
    record = UtteranceRecord(seq, "dictation", text, heard.text, start, end, words, keys[0] if keys else "impression",
                             "record_communication", outcome.message, time.time())
    return record, outcome
