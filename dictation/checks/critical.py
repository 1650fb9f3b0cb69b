"""Critical and actionable findings: present or suspected, outside the indication."""

from __future__ import annotations

from dictation.checks.document import QUESTION_SECTIONS, CheckDocument
from dictation.checks.flags import Flag
from dictation.checks.lexicon import ClinicalLexicon
from dictation.checks.nlp import Mention


def critical_flags(doc: CheckDocument, mentions: list[Mention], lexicon: ClinicalLexicon) -> list[Flag]:
    """One flag per critical finding: where it is first said to be present (a definite mention
    beats a suspected one). Mentions in the indication, history, comparison or technique are the
    question, not the answer, and never raise a flag."""
    best: dict[str, tuple[Mention, str | None, str | None]] = {}
    for m in mentions:
        if m.kind != "critical" or not m.present:
            continue
        part = doc.part_at(m.start)
        section = part.section if part else None
        if section in QUESTION_SECTIONS:
            continue
        current = best.get(m.name)
        if current is None or (current[0].status == "uncertain" and m.status == "affirmed"):
            best[m.name] = (m, section, part.slot if part else None)
    covered = {c for name in best if (finding := lexicon.finding(name)) is not None for c in finding.covers}
    flags = []
    for name, (m, section, slot) in best.items():
        if name in covered:
            continue
        finding = lexicon.finding(name)
        assert finding is not None
        suspected = m.status == "uncertain"
        certainty = "suspected" if suspected else "definite"
        flags.append(
            Flag(
                kind="critical_finding",
                severity="critical" if finding.category < 3 or not suspected else "warning",
                message=f"{'Suspected critical' if suspected else 'Critical'} finding: {name}",
                finding=name,
                text=m.text,
                start=m.start,
                end=m.end,
                section=section,
                slot=slot,
                sentence=m.sentence,
                certainty=certainty,
                context=m.context,
                acr_category=finding.category,
                deadline_minutes=lexicon.deadline(finding),
                action=finding.action,
            )
        )
    return flags
