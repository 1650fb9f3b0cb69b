"""How a report and its flags read on screen: the report pane's rich text (active field,
unsure words underlined, defaults nobody accepted dimmed, tentative words in italics) and the
checks panel's lines. Pure functions of the report, so tests read them without a screen."""

from __future__ import annotations

import datetime as dt

from rich.text import Text

from dictation.checks import Flag
from dictation.practice.facilities import LicenceCheck
from dictation.reporting.records import exam_zone
from dictation.reporting.report import Report

SEVERITY_MARK = {"critical": "‼", "warning": "!", "info": "·"}


def banner_lines(checks_off: str, licence: LicenceCheck, order_changed: list[str]) -> list[str]:
    """The red lines above the report while a safety check cannot run, the reader's licence does
    not cover the facility, or the order changed after the report was started."""
    lines = []
    if checks_off:
        lines.append(f"‼ {checks_off} — a final cannot be signed; a preliminary is marked not checked")
    if not licence.ok and licence.message:
        lines.append(f"‼ {licence.message}")
    if order_changed:
        lines.append(f"‼ the order changed after this report was started ({', '.join(order_changed)}): check the patient "
                     "and the exam; A on the worklist acknowledges it")
    return lines


def flags_items(flags: list[Flag], report: Report | None = None, checks_off: str = "") -> list[tuple[Flag | None, str]]:
    """The flags panel, one entry per flag (unaccepted defaults summed up in one line). A
    critical finding whose communication is recorded shows who was told, how and when; with
    the checks off the panel says so first (never "nothing to look at")."""
    out: list[tuple[Flag | None, str]] = []
    if checks_off:
        out.append((None, f"‼ {checks_off}. Nothing is being checked: no final can be signed."))
    if not flags:
        return out or [(None, "Nothing to look at yet.")]
    told = {f: c for c in (report.communications if report else []) for f in c.findings}
    zone = exam_zone(report.exam) if report else None
    defaults = [f for f in flags if f.kind == "default_not_accepted"]
    for f in flags:
        if f.kind == "default_not_accepted":
            continue
        where = f.slot or f.section or ""
        if f.kind == "critical_finding" and f.finding in told:
            c = told[f.finding]
            when = dt.datetime.fromtimestamp(c.at, zone).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z").strip()
            out.append((f, f"✓ {f.message}: communicated to {c.recipient} by {c.method} at {when}"))
            continue
        text = f"{SEVERITY_MARK[f.severity]} {f.message}" + (f"  [{where}]" if where else "")
        if f.acr_category:
            text += f"\n   ACR category {f.acr_category}: communicate within {minutes(f.deadline_minutes)}"
        out.append((f, text))
    if defaults:
        names = ", ".join((f.slot or "").split(".")[-1].replace("_", " ") for f in defaults)
        out.append((defaults[0], f"{SEVERITY_MARK['info']} {len(defaults)} default{'s' if len(defaults) > 1 else ''} "
                                 f"not accepted, left out of the report ({names}): say “accept defaults”"))
    return out


def minutes(value: int | None) -> str:
    if not value:
        return "?"
    if value >= 1440 and value % 1440 == 0:
        return f"{value // 1440} d"
    if value >= 60 and value % 60 == 0:
        return f"{value // 60} h"
    return f"{value} min"


LOW_CONFIDENCE = 0.5


def report_rich(report: Report, tentative: str = "") -> Text:
    """The report pane: the active field highlighted, words the recogniser was unsure of
    underlined, words a second reading heard otherwise (no, left, a number...) on yellow until
    confirmed, defaults nobody accepted dimmed as "not dictated", tentative words in italics."""
    from dictation.checks.document import place_words

    by_seq = {u.seq: u for u in report.utterances}
    out = Text()
    out.append(f"{report.template.title}   [{report.status}]\n\n", style="bold")
    active = report.slot.key
    for section in report.template.spec.sections:
        out.append(section.title.upper() + (" *" if section.required else "") + "\n", style="bold")
        for slot in (s for s in report.template.slots if s.section.key == section.key):
            is_active = slot.key == active
            line = Text("▶ " if is_active else "  ")
            if slot.field:
                line.append(f"{slot.field.title}: ", style="bold")
            pieces = report.slots[slot.key]
            accepted = [p for p in pieces if p.accepted]
            if accepted:
                for i, piece in enumerate(accepted):
                    if i:
                        line.append(" ")
                    piece_text = Text(piece.text)
                    record = by_seq.get(piece.utterance) if piece.utterance is not None else None
                    if record is not None and piece.source == "dictated":
                        placed = place_words(piece.text, 0, record.words, record.seq, record.confirmed)
                        for w in placed:
                            if w.probability < LOW_CONFIDENCE:
                                piece_text.stylize("underline", w.start, w.end)
                            if w.other and not w.confirmed:  # a second reading heard a critical word otherwise
                                end = max(x.end for x in placed if w.index <= x.index < w.index + w.span)
                                piece_text.stylize("bold black on yellow", w.start, end)
                    line.append_text(piece_text)
            elif any(not p.accepted for p in pieces):
                line.append("(not dictated) " + " ".join(p.text for p in pieces if not p.accepted), style="dim italic")
            elif not (is_active and tentative):
                line.append("…", style="dim")
            if is_active and tentative:
                line.append((" " if pieces else "") + tentative, style="italic grey62")  # after any text, a space
            if is_active:
                line.stylize("on grey23")
            out.append_text(line)
            out.append("\n")
        out.append("\n")
    for a in report.addenda:  # signed: shown as sent, never edited
        out.append(report._addendum_block(a.text, a.by, a.signed_at) + "\n\n", style="")
    if report.amendment == "addendum":
        out.append("ADDENDUM (being dictated; sign to send)\n", style="bold")
        line = Text("▶ " + (report.slot_text("addendum") or ("" if tentative else "…")))
        if tentative:
            line.append(" " + tentative, style="italic grey62")
        line.stylize("on grey23")
        out.append_text(line)
        out.append("\n")
    elif report.amendment == "correction":
        out.append("CORRECTION in progress: edit the report, then sign (F9)\n", style="bold yellow")
    out.rstrip()
    out.append("\n")
    return out


def report_view(report: Report) -> str:
    """The report as the radiologist sees it while dictating: every field, the active one marked,
    defaults nobody accepted shown as such (they are not in the report until accepted)."""
    lines: list[str] = [f"{report.template.title}   [{report.status}]", ""]
    active = report.slot.key
    for section in report.template.spec.sections:
        slots = [s for s in report.template.slots if s.section.key == section.key]
        lines.append(section.title.upper() + ("" if not section.required else " *"))
        for slot in slots:
            marker = "▶ " if slot.key == active else "  "
            accepted = report.slot_text(slot.key)
            pending = [p.text for p in report.slots[slot.key] if not p.accepted]
            label = f"{slot.field.title}: " if slot.field else ""
            if accepted:
                lines.append(f"{marker}{label}{accepted}")
            elif pending:
                lines.append(f"{marker}{label}(not dictated) {' '.join(pending)}")
            else:
                lines.append(f"{marker}{label}…".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
