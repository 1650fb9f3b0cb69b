"""`radscribe stats` figures on a seeded store, checked by hand, and peer-review sampling."""

import csv
import io
import random

import pytest
from click.testing import CliRunner

from dictation.cli import main
from dictation.practice.facilities import Facility, Practice
from dictation.practice.review import sample
from dictation.practice.stats import as_csv, as_text, compute
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.reporting.versions import SignedVersion
from dictation.store import Store

T0 = 1_790_000_000.0  # a fixed night
MIN = 60.0


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


def seed_report(store, library, accession, facility, priority, *, ordered, prelim=None, final=None, signer="R1",
                final_signer=None, flags=(), metrics=None, differences=None):
    """A worklist item and its signed versions at the given minutes after T0."""
    wid = store.add_worklist_item(accession, facility=facility, priority=priority, ordered_at=T0 + ordered * MIN)
    report = Report.new(library.get("xr-chest"), exam={"accession": accession})
    store.save_report(report, worklist_id=wid)
    rows = []
    if prelim is not None:
        rows.append(("preliminary", prelim, signer, None))
    if final is not None:
        rows.append(("final", final, final_signer or signer, differences))
    with store.transaction() as db:
        for n, (kind, at, who, diff) in enumerate(rows, start=1):
            v = SignedVersion(report.id, n, kind, kind, who, who, T0 + at * MIN, "text", {}, {},
                              [{"kind": k, "severity": "warning", "finding": None, "section": None, "acr_category": None}
                               for k in flags] if kind == "final" else [],
                              metrics or {}, diff)
            store.insert_version(db, v)
    return report


@pytest.fixture
def seeded(tmp_path, library):
    store = Store(tmp_path / "s.db")
    # GEN stat (limit 20 min here): ordered → prelim 10, 20, 30, 40 minutes; finals 60 min after each prelim.
    for i, m in enumerate((10, 20, 30, 40)):
        seed_report(store, library, f"S{i}", "GEN", "stat", ordered=0, prelim=m, final=m + 60,
                    final_signer="R2" if i < 2 else None,
                    differences={"changed": i == 0, "impression_changed": i == 0, "critical_added": [],
                                 "critical_removed": [], "by_other_reader": i < 2},
                    flags=("critical_finding",) if i == 0 else (),
                    metrics={"chars": {"dictated": 75, "default": 25}, "edit_rate": 0.1 * i, "edit_distance": i,
                             "recognised_words": 10, "signed_words": 10})
    # GEN routine, final only at 100 and 300 minutes (limit 1440): both within.
    seed_report(store, library, "R0", "GEN", "routine", ordered=0, final=100, flags=("laterality_mismatch", "placeholder"))
    seed_report(store, library, "R1", "GEN", "routine", ordered=0, final=300, flags=("laterality_mismatch",))
    # Another facility: not in --facility GEN figures.
    seed_report(store, library, "N0", "NORTH", "stat", ordered=0, prelim=5)
    practice = Practice({"GEN": Facility(id="GEN", turnaround_minutes={"stat": 20})})
    yield store, practice
    store.close()


def table(tables, name):
    return next(t for t in tables if t.name == name)


def test_turnaround_by_facility_and_priority(seeded):
    store, practice = seeded
    t = table(compute(store, practice), "turnaround")
    rows = {(r[0], r[1]): dict(zip(t.columns, r)) for r in t.rows}
    stat = rows[("GEN", "stat")]
    assert stat["reports"] == 4 and stat["limit min"] == 20
    assert stat["within limit"] == 0.5  # 10 and 20 minutes are within 20; 30 and 40 are not
    assert stat["to prelim p50"] == 25.0 and stat["to prelim p90"] == pytest.approx(37.0)  # numpy linear: 10,20,30,40
    assert stat["to final p50"] == 85.0 and stat["prelim→final p50"] == 60.0
    routine = rows[("GEN", "routine")]
    assert routine["reports"] == 2 and routine["within limit"] == 1.0 and routine["to final p50"] == 200.0
    assert routine["to prelim p50"] is None
    assert rows[("NORTH", "stat")]["limit min"] == 30  # the practice default for a facility not configured


def test_facility_and_since_filters(seeded):
    store, practice = seeded
    gen = table(compute(store, practice, facility="GEN"), "turnaround")
    assert {r[0] for r in gen.rows} == {"GEN"}
    late = table(compute(store, practice, since=T0 + 25 * MIN), "turnaround")
    stat = next(r for r in late.rows if r[:2] == ["GEN", "stat"])
    assert stat[2] == 2  # only the reports first signed at 30 and 40 minutes


def test_flags_dictation_prelim_final_figures(seeded):
    store, practice = seeded
    tables = compute(store, practice, facility="GEN")
    flags = {r[0]: r for r in table(tables, "flags").rows}
    assert flags["laterality_mismatch"][1:] == [2, 2 / 6, 2 / 6]
    assert flags["critical_finding"][1] == 1 and flags["placeholder"][1] == 1
    dictation = dict(table(tables, "dictation").rows)
    assert dictation["final reports"] == 6
    assert dictation["dictated share"] == 300 / 400  # 4 reports × 75 of 100 characters dictated
    assert dictation["edit rate p50 (recognised → signed words)"] == pytest.approx(0.15)  # 0, .1, .2, .3
    assert dictation["word edits per recognised word (all reports)"] == 6 / 40
    pf = dict(table(tables, "prelim_final").rows)
    assert pf["finals built from a preliminary"] == 4 and pf["changed"] == 1 and pf["impression changed"] == 1
    assert pf["finalised by another reader"] == 2 and pf["  of which changed"] == 1


def test_critical_result_times_against_deadlines(tmp_path, library):
    store = Store(tmp_path / "c.db")
    report = Report.new(library.get("xr-chest"))
    store.save_report(report)
    rows = [("pneumothorax", 1, 60, 0, 30), ("aortic dissection", 1, 60, 0, 90), ("fracture", 2, 1440, 0, None),
            ("stroke", 1, 60, -200, None), ("bleed", 1, 60, 0, None)]
    with store.transaction() as db:
        for finding, cat, deadline, dictated, told in rows:
            db.execute("INSERT INTO critical_results (report_id, finding, acr_category, deadline_minutes, dictated_at, "
                       "communicated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (report.id, finding, cat, deadline, T0 + dictated * MIN, None if told is None else T0 + told * MIN))
    t = table(compute(store, now=T0 + 10 * MIN), "critical")
    cat1 = dict(zip(t.columns, t.rows[0]))
    assert cat1["ACR category"] == 1 and cat1["results"] == 4 and cat1["communicated"] == 2
    assert cat1["within deadline"] == 0.5 and cat1["minutes p50"] == 60.0
    assert cat1["open"] == 2 and cat1["open overdue"] == 1  # the stroke dictated 210 minutes ago


def test_text_and_csv_output(seeded):
    store, practice = seeded
    tables = compute(store, practice)
    text = as_text(tables)
    assert "Turnaround in minutes" in text and "50%" in text
    rows = list(csv.DictReader(io.StringIO(as_csv(tables))))
    within = [r for r in rows if r["table"] == "turnaround" and r["row"] == "GEN/stat" and r["column"] == "within limit"]
    assert within[0]["value"] == "0.5"


def test_stats_command_line(seeded, monkeypatch, tmp_path):
    store, _ = seeded
    monkeypatch.setenv("RADSCRIBE_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text('[[facility]]\nid = "GEN"\nturnaround_minutes = { stat = 20 }\n')
    result = CliRunner().invoke(main, ["stats", "--store", str(store.path), "--facility", "GEN", "--csv"])
    assert result.exit_code == 0, result.output
    assert "turnaround,GEN/stat,within limit,0.5" in result.output
    bad = CliRunner().invoke(main, ["stats", "--store", str(store.path), "--since", "last week"])
    assert bad.exit_code == 2 and "give a date as YYYY-MM-DD" in bad.output


# -- peer review -------------------------------------------------------------------------------------

def test_sampling_takes_the_percentage_of_each_readers_finals(tmp_path, library):
    store = Store(tmp_path / "r.db")
    for i in range(40):
        seed_report(store, library, f"A{i}", "GEN", "routine", ordered=0, final=10 + i, signer="R1")
    for i in range(7):
        seed_report(store, library, f"B{i}", "GEN", "routine", ordered=0, final=10 + i, signer="R2")
    picked = sample(store, 10, rng=random.Random(1))
    assert {k: len(v) for k, v in picked.items()} == {"R1": 4, "R2": 1}  # ceil(0.7) = 1: every reader reviewed
    assert len(store.reviews(pending=True)) == 5
    again = sample(store, 10, rng=random.Random(2))  # sampled reports are not picked twice
    assert not {r.report_id for rows in again.values() for r in rows} & {r.report_id for rows in picked.values() for r in rows}


def test_review_score_rules(tmp_path, library):
    store = Store(tmp_path / "r.db", actor="R2")
    seed_report(store, library, "A1", "GEN", "routine", ordered=0, final=10, signer="R1")
    seed_report(store, library, "A2", "GEN", "routine", ordered=0, final=10, signer="R2")
    sample(store, 100)
    own = next(r for r in store.reviews(pending=True) if r.author == "R2")
    with pytest.raises(Exception, match="does not peer-review their own report"):
        store.record_review(own.id, "1", "")
    other = next(r for r in store.reviews(pending=True) if r.author == "R1")
    store.record_review(other.id, "2b", "Missed rib fracture.")
    with pytest.raises(Exception, match="already scored 2b"):
        store.record_review(other.id, "1", "")
    t = table(compute(store), "reviews")
    r1 = dict(zip(t.columns, next(r for r in t.rows if r[0] == "R1")))
    assert r1["sampled"] == 1 and r1["reviewed"] == 1 and r1["2b"] == 1 and r1["2b+3b share"] == 1.0
    assert [a.action for a in store.audit_log()][-1] == "review"
    assert store.audit_log()[-1].actor == "R2"


def test_critical_command_lists_open_results_with_time_left(tmp_path, library, monkeypatch):
    import time as _time

    monkeypatch.delenv("RADSCRIBE_CONFIG", raising=False)
    store = Store(tmp_path / "c.db")
    report = seed_report(store, library, "ACC-7", "GEN", "stat", ordered=0)
    now = _time.time()
    with store.transaction() as db:
        db.execute("INSERT INTO critical_results (report_id, finding, acr_category, deadline_minutes, dictated_at) "
                   "VALUES (?, 'pneumothorax', 1, 60, ?), (?, 'stroke', 1, 60, ?)",
                   (report.id, now - 10 * MIN, report.id, now - 75 * MIN))
    result = CliRunner().invoke(main, ["critical", "--store", str(store.path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("stroke") and "ACC-7" in lines[0] and "OVERDUE by 15 min" in lines[0]
    assert lines[1].startswith("pneumothorax") and "50 min left" in lines[1]
