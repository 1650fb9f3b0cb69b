"""`radscribe stats`: turnaround, critical-result communication, flags, dictation and peer review,
from the store (signed versions, critical-result timers, reviews).

Definitions (so the figures can be checked by hand):

- turnaround: ordered (the worklist item's order time) → first preliminary signing → first final
  signing, in minutes. "Within limit" compares ordered → first signed result (preliminary or
  final, whichever came first) with the facility's limit for the priority.
- critical results: dictated (the first check that flagged the finding) → communication
  recorded (the time the radiologist gave for it), against the ACR category deadline. Open ones
  are counted, and how many of those are past their deadline now.
- flags: on each report's first final version, the number of flags of each kind per report
  and the share of reports with at least one.
- dictated / default text: characters of the signed text by where they came from.
- edit rate: word-level edit distance between everything recognised for the report and the
  dictated or typed words signed, over the longer of the two (0 = signed as recognised).
- preliminary → final: finals built from a preliminary, how many changed, changed the
  impression, or were finalised by another reader.
- peer review: RADPEER scores recorded, by score and by reader reviewed.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dictation.practice.facilities import Practice
from dictation.practice.review import RADPEER
from dictation.store import Store


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compute(store: Store, practice: Practice | None = None, *, since: float | None = None,
            facility: str | None = None, now: float | None = None) -> list[Table]:
    practice = practice or Practice()
    now = now or time.time()
    since = since or 0.0
    versions = store.all_versions()
    by_report: dict[str, list[Any]] = defaultdict(list)
    for v in versions:
        if facility is None or (v.facility or "") == facility:
            by_report[v.report_id].append(v)
    # A report counts in the period of its first signing.
    by_report = {k: vs for k, vs in by_report.items() if vs[0].signed_at >= since}
    return [_turnaround(by_report, practice), _critical(store, since, facility, now),
            _flags(by_report), _dictation(by_report), _prelim_final(by_report), _reviews(store, set(by_report))]


def _turnaround(by_report: dict[str, list[Any]], practice: Practice) -> Table:
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    within: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for vs in by_report.values():
        first = vs[0]
        if first.ordered_at is None:
            continue  # not from the worklist: no order time to measure from
        key = (first.facility or "", first.priority or "routine")
        prelim = next((v.signed_at for v in vs if v.kind == "preliminary"), None)
        final = next((v.signed_at for v in vs if v.kind == "final"), None)
        ordered = first.ordered_at
        g = groups[key]
        if prelim is not None:
            g["prelim"].append((prelim - ordered) / 60)
        if final is not None:
            g["final"].append((final - ordered) / 60)
        if prelim is not None and final is not None:
            g["prelim_final"].append((final - prelim) / 60)
        result = min(x for x in (prelim, final) if x is not None)
        within[key].append((result - ordered) / 60 <= practice.limits(key[0]).get(key[1], 1440))
    table = Table("turnaround", "Turnaround in minutes (ordered → preliminary → final)",
                  ["facility", "priority", "reports", "limit min", "within limit", "to prelim p50", "to prelim p90",
                   "to final p50", "to final p90", "prelim→final p50", "prelim→final p90"])
    order = {"stat": 0, "urgent": 1, "routine": 2}
    for key in sorted(groups, key=lambda k: (k[0], order.get(k[1], 3))):
        g, w = groups[key], within[key]
        table.rows.append([key[0] or "-", key[1], len(w), practice.limits(key[0]).get(key[1]), _share(sum(w), len(w)),
                           _pct(g["prelim"], 50), _pct(g["prelim"], 90), _pct(g["final"], 50), _pct(g["final"], 90),
                           _pct(g["prelim_final"], 50), _pct(g["prelim_final"], 90)])
    return table


def _critical(store: Store, since: float, facility: str | None, now: float) -> Table:
    rows = store.critical_results(since)
    groups: dict[Any, list[Any]] = defaultdict(list)
    for r in rows:
        if facility is None or (r.facility or "") == facility:
            groups[r.acr_category].append(r)
    table = Table("critical", "Critical results: dictated → communicated, against the ACR deadline",
                  ["ACR category", "deadline min", "results", "communicated", "within deadline", "minutes p50", "minutes p90",
                   "open", "open overdue"])
    for category in sorted(groups, key=lambda c: (c is None, c)):
        rs = groups[category]
        deadline = next((r.deadline_minutes for r in rs if r.deadline_minutes), None)
        done = [(r.communicated_at - r.dictated_at) / 60 for r in rs if r.communicated_at is not None]
        ok = [m <= r.deadline_minutes for m, r in zip(done, [r for r in rs if r.communicated_at is not None])
              if r.deadline_minutes]
        open_ = [r for r in rs if r.communicated_at is None]
        overdue = [r for r in open_ if r.deadline_minutes and (now - r.dictated_at) / 60 > r.deadline_minutes]
        table.rows.append([category if category is not None else "-", deadline, len(rs), len(done),
                           _share(sum(ok), len(ok)), _pct(done, 50), _pct(done, 90), len(open_), len(overdue)])
    return table


def _first_final(vs: list[Any]) -> Any | None:
    return next((v for v in vs if v.kind == "final"), None)


def _flags(by_report: dict[str, list[Any]]) -> Table:
    finals = [f for vs in by_report.values() if (f := _first_final(vs)) is not None]
    counts: dict[str, int] = defaultdict(int)
    having: dict[str, int] = defaultdict(int)
    for f in finals:
        kinds = [x["kind"] for x in json.loads(f.flags)]
        for kind in kinds:
            counts[kind] += 1
        for kind in set(kinds):
            having[kind] += 1
    table = Table("flags", f"Flags at final signing ({len(finals)} final reports)",
                  ["kind", "flags", "per report", "reports with one"])
    for kind in sorted(counts, key=lambda k: -counts[k]):
        table.rows.append([kind, counts[kind], counts[kind] / len(finals), _share(having[kind], len(finals))])
    return table


def _dictation(by_report: dict[str, list[Any]]) -> Table:
    finals = [json.loads(f.metrics) for vs in by_report.values() if (f := _first_final(vs)) is not None]
    chars: dict[str, int] = defaultdict(int)
    for m in finals:
        for source, n in m.get("chars", {}).items():
            chars[source] += n
    total = sum(chars.values())
    rates = [m["edit_rate"] for m in finals if m.get("recognised_words") or m.get("signed_words")]
    distance = sum(m.get("edit_distance", 0) for m in finals)
    recognised = sum(m.get("recognised_words", 0) for m in finals)
    table = Table("dictation", "Where the signed text came from, and how much was corrected", ["measure", "value"])
    table.rows += [["final reports", len(finals)], ["signed characters", total],
                   ["dictated share", _share(chars.get("dictated", 0), total)],
                   ["default/normal text share", _share(chars.get("default", 0) + chars.get("macro", 0) + chars.get("option", 0), total)],
                   ["typed share", _share(chars.get("typed", 0), total)],
                   ["edit rate p50 (recognised → signed words)", _pct(rates, 50)],
                   ["edit rate p90", _pct(rates, 90)],
                   ["word edits per recognised word (all reports)", _share(distance, recognised)]]
    return table


def _prelim_final(by_report: dict[str, list[Any]]) -> Table:
    pairs = []
    for vs in by_report.values():
        final = _first_final(vs)
        if final is not None and final.differences and any(v.kind == "preliminary" for v in vs):
            pairs.append(json.loads(final.differences))
    table = Table("prelim_final", "Preliminary → final (discrepancy tracking)", ["measure", "value"])
    table.rows += [["finals built from a preliminary", len(pairs)],
                   ["changed", sum(p["changed"] for p in pairs)],
                   ["impression changed", sum(p["impression_changed"] for p in pairs)],
                   ["critical finding added or dropped", sum(bool(p["critical_added"] or p["critical_removed"]) for p in pairs)],
                   ["finalised by another reader", sum(p.get("by_other_reader", False) for p in pairs)],
                   ["  of which changed", sum(p["changed"] and p.get("by_other_reader", False) for p in pairs)]]
    return table


def _reviews(store: Store, reports: set[str]) -> Table:
    rows = [r for r in store.reviews() if r.report_id in reports]
    table = Table("reviews", "Peer review (RADPEER)", ["reader", "sampled", "reviewed", *RADPEER, "2b+3b share"])
    by_reader: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_reader[r.author or "-"].append(r)
    for reader in sorted(by_reader):
        rs = by_reader[reader]
        scored = [r.score for r in rs if r.score]
        table.rows.append([reader, len(rs), len(scored), *[scored.count(s) for s in RADPEER],
                           _share(sum(s in ("2b", "3b") for s in scored), len(scored))])
    return table


# -- output ------------------------------------------------------------------------------------------

def _format(value: Any, column: str, measure: str = "") -> str:
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    label = measure or column
    if any(w in label for w in ("share", "within", "reports with")):
        return f"{value:.0%}"
    if any(w in label for w in ("rate", "per ")):
        return f"{value:.3f}" if measure else f"{value:.2f}"
    return f"{value:.1f}"


def as_text(tables: Iterable[Table]) -> str:
    out = []
    for t in tables:
        out.append(t.title)
        if not t.rows:
            out.append("  (nothing yet)\n")
            continue
        two = t.columns == ["measure", "value"]
        cells = [[_format(v, c, str(r[0]) if two else "") for c, v in zip(t.columns, r)] for r in t.rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(t.columns)]
        out.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(t.columns, widths))))
        for row in cells:
            out.append("  " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
        out.append("")
    return "\n".join(out)


def as_csv(tables: Iterable[Table]) -> str:
    """One tidy CSV: table, row, column, value (numbers unformatted)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "row", "column", "value"])
    for t in tables:
        for row in t.rows:
            for column, value in zip(t.columns[1:], row[1:]):
                label = f"{row[0]}/{row[1]}" if t.name == "turnaround" else str(row[0])
                if t.name == "turnaround" and column == "priority":
                    continue
                w.writerow([t.name, label, column, "" if value is None else value])
    return buf.getvalue()
