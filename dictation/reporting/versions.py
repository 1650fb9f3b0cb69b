"""Signed versions: what each signing froze, how it differs from the one before, and how much of
it the radiologist had to correct.

Every signing (preliminary, final, addendum, correction) stores one row in ``report_versions``
in the same transaction as the signing itself; the store refuses to change or delete such a row.
The differences between a preliminary and the final built from it (often by another radiologist
in the morning) are recorded there for discrepancy tracking: which sections changed, the words
added and removed, whether the impression changed, and critical findings added or dropped.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rapidfuzz.distance import Levenshtein

if TYPE_CHECKING:
    from dictation.checks import Flag
    from dictation.reporting.report import Report
    from dictation.ris.document import Signer

_WORDS = re.compile(r"\S+")


@dataclass(frozen=True)
class SignedVersion:
    report_id: str
    version: int
    status: str
    kind: str  # preliminary, final, addendum, correction
    signer_id: str
    signer_name: str
    signed_at: float
    text: str
    sections: dict[str, str]
    state: dict[str, Any]
    flags: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    differences: dict[str, Any] | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.report_id, self.version, self.status, self.kind, self.signer_id, self.signer_name, self.signed_at,
                self.text, json.dumps(self.sections), json.dumps(self.state), json.dumps(self.flags),
                json.dumps(self.metrics), json.dumps(self.differences) if self.differences is not None else "")


def build_version(report: Report, signer: Signer | None, flags: list[Flag], previous: Any | None) -> SignedVersion:
    """The row for the version ``report`` was just signed as. ``previous`` is the stored row of
    the version before it (None for the first)."""
    sections = report.sections_text()
    if report.addenda:
        sections["addendum"] = report.addenda_text()
    flag_dicts = [{"kind": f.kind, "severity": f.severity, "finding": f.finding, "section": f.section,
                   "acr_category": f.acr_category} for f in flags]
    differences = None
    if previous is not None:
        differences = compare(json.loads(previous.sections), sections, json.loads(previous.flags), flag_dicts)
        differences.update(from_version=previous.version, from_kind=previous.kind,
                           from_signer=previous.signer_id or previous.signer_name,
                           by_other_reader=bool((signer.id if signer else "") != previous.signer_id
                                                or (signer.display if signer else "") != previous.signer_name))
    return SignedVersion(
        report.id, report.version, report.status, report.signed_kind or report.status,
        signer.id if signer else "", signer.display if signer else "", report.signed_at or 0.0,
        report.render(), sections, report.to_dict(), flag_dicts, draft_metrics(report), differences)


def compare(before: dict[str, str], after: dict[str, str], flags_before: list[dict[str, Any]],
            flags_after: list[dict[str, Any]]) -> dict[str, Any]:
    """Section by section: what changed between two signed versions."""
    changed: dict[str, Any] = {}
    added_total = removed_total = 0
    for key in list(dict.fromkeys([*before, *after])):
        a, b = before.get(key, ""), after.get(key, "")
        if a.strip() == b.strip():
            continue
        wa, wb = _WORDS.findall(a), _WORDS.findall(b)
        added = removed = 0
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
            if op in ("replace", "delete"):
                removed += i2 - i1
            if op in ("replace", "insert"):
                added += j2 - j1
        added_total, removed_total = added_total + added, removed_total + removed
        changed[key] = {"before": a, "after": b, "words_added": added, "words_removed": removed,
                        "diff": list(difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=1))}
    critical = {f["finding"] for f in flags_before if f["kind"] == "critical_finding" and f.get("finding")}
    critical_after = {f["finding"] for f in flags_after if f["kind"] == "critical_finding" and f.get("finding")}
    return {"sections": changed, "changed": bool(changed), "impression_changed": "impression" in changed,
            "words_added": added_total, "words_removed": removed_total,
            "critical_added": sorted(critical_after - critical), "critical_removed": sorted(critical - critical_after)}


def draft_metrics(report: Report) -> dict[str, Any]:
    """Where the signed text came from (dictated, default, typed...) and how far the signed
    words are from what was recognised: the correcting the radiologist had to do."""
    chars: dict[str, int] = {}
    signed_words: list[str] = []
    for slot in report.template.slots:
        for piece in report.slots.get(slot.key, []):
            if not piece.accepted:
                continue
            chars[piece.source] = chars.get(piece.source, 0) + len(piece.text.strip())
            if piece.source in ("dictated", "typed"):
                signed_words += _WORDS.findall(piece.text)
    recognised = [w for u in report.utterances if u.kind == "dictation" and u.command is None
                  for w in _WORDS.findall(u.text)]
    distance = Levenshtein.distance(recognised, signed_words)
    total = sum(chars.values())
    return {"chars": chars, "dictated_share": round(chars.get("dictated", 0) / total, 4) if total else 0.0,
            "default_share": round((chars.get("default", 0) + chars.get("macro", 0) + chars.get("option", 0)) / total, 4)
            if total else 0.0,
            "recognised_words": len(recognised), "signed_words": len(signed_words), "edit_distance": distance,
            "edit_rate": round(distance / max(len(recognised), len(signed_words), 1), 4)}


def describe_differences(d: dict[str, Any]) -> list[str]:
    """Lines for a terminal: what the final changed in the preliminary."""
    if not d.get("changed"):
        return [f"no change from version {d.get('from_version')} ({d.get('from_kind')})"]
    who = " by another reader" if d.get("by_other_reader") else ""
    lines = [f"changed{who} from version {d.get('from_version')} ({d.get('from_kind')}, {d.get('from_signer') or 'unknown'}): "
             f"+{d['words_added']} / -{d['words_removed']} words"
             + ("; IMPRESSION CHANGED" if d.get("impression_changed") else "")]
    if d.get("critical_added"):
        lines.append("critical findings added: " + ", ".join(d["critical_added"]))
    if d.get("critical_removed"):
        lines.append("critical findings dropped: " + ", ".join(d["critical_removed"]))
    for key, change in d.get("sections", {}).items():
        lines.append(f"{key}:")
        lines += [f"  {line}" for line in change["diff"][2:]]
    return lines
