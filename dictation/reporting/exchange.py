"""A report as JSON: what ``radscribe dictate --json`` and ``drafts show --json`` print, and what
``radscribe export`` reads back (``ReportVersion.from_json``). One form for every face."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dictation.checks import Flag
    from dictation.reporting.report import Report


def report_json(report: Report, flags: list[Flag] | None = None) -> dict[str, Any]:
    """The report with its utterances and flags (checked now when ``flags`` is not given)."""
    if flags is None:
        from dictation.checks import Checker

        flags = Checker().check_report(report)
    return {
        "id": report.id,
        "template": report.template.id,
        "status": report.status,
        "version": report.version,
        "signed_at": report.signed_at,
        "exam": report.exam,
        "sections": report.sections_text(),
        "fields": report.fields_text(),
        "not_accepted": report.unaccepted_defaults(),
        "cursor": report.slot.key,
        "utterances": [{"seq": u.seq, "kind": u.kind, "text": u.text, "slot": u.slot, "command": u.command,
                        "start": round(u.start, 3), "end": round(u.end, 3), "scratched": u.scratched,
                        **({"message": u.message} if u.message else {}),
                        **({"decoder": u.decoder} if u.decoder else {})} for u in report.utterances],
        "flags": [f.to_dict() for f in flags],
        "text": report.render(),
    }
