"""The teleradiology practice: facilities and licences, preliminary → final by another reader,
addenda and corrections, critical-result timers, the audit log, stored audio retention."""

import datetime as dt
import json
import time
import zoneinfo

import numpy as np
import pytest

from dictation.config import load_config
from dictation.errors import DataFileError, StoreConflict, StoreError
from dictation.practice.facilities import Facility, Licence, Practice
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.fhir import diagnostic_report
from dictation.ris.hl7 import build_oru, segments
from dictation.speech.transcript import Transcript
from dictation.store import Store

NIGHT = Signer("R-NIGHT", "Night", "Nora")
DAY = Signer("R-DAY", "Day", "Dan")
TODAY = dt.date.today()  # at import: a test that compares with it passes it on (a run may cross midnight)


@pytest.fixture(scope="module")
def library():
    return TemplateLibrary()


@pytest.fixture
def store(store_target):
    s = Store(store_target, actor="R-NIGHT")
    yield s
    s.close()


def said(controller, text):
    return controller.handle(Transcript(text, (), 1.0))


def practice(licences=(), **facility):
    f = Facility(id="GEN", name="General", jurisdiction="US-CA", time_zone="America/Los_Angeles", **facility)
    return Practice({"GEN": f}, tuple(licences))


def chest(library, exam=None):
    report = Report.new(library.get("xr-chest"), exam={"accession": "A100", "facility": "GEN", "patient_id": "MRN1",
                                                       "patient_name": "Doe^Jane", **(exam or {})})
    report.go_to("indication")
    report.dictate("Shortness of breath.")
    report.accept_all_defaults()
    report.go_to("impression")
    report.dictate("No acute cardiopulmonary abnormality.")
    return report


# -- config ---------------------------------------------------------------------------------------

def test_config_reads_facilities_and_licences(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("""
[reader]
id = "R1"
licences = [ { jurisdiction = "US-CA", expires = 2031-01-31 }, { jurisdiction = "US-NV", expires = 2020-01-01 } ]
licence_warning_days = 45

[[export]]
name = "ris"
kind = "dir"
path = "out"

[[facility]]
id = "GEN"
name = "General Hospital"
jurisdiction = "US-CA"
time_zone = "America/Los_Angeles"
destinations = ["ris"]
templates = { "CTH1" = "ct-head" }
default_template = "generic"
turnaround_minutes = { stat = 20, urgent = 90 }
""")
    config = load_config(path)
    p = config.practice
    assert p.facility("GEN").label == "General Hospital"
    assert p.limits("GEN") == {"stat": 20, "urgent": 90, "routine": 1440}
    assert p.limits("OTHER") == {"stat": 30, "urgent": 120, "routine": 1440}
    assert p.routes() == {"GEN": ["ris"]}
    assert config.facility_templates["GEN"] == {"CTH1": "ct-head"}
    assert p.warning_days == 45 and len(p.licences) == 2
    assert config.reader == Signer(id="R1")
    assert config.keep_audio is False and config.keep_audio_days == 7


@pytest.mark.parametrize("body, line, words", [
    ('[[facility]]\nid = "A"\ntime_zone = "Mars/Olympus"\n', 3, "unknown time zone"),
    ('[[facility]]\nid = "A"\nturnaround_minutes = { asap = 5 }\n', 3, "priorities are stat, urgent, routine"),
    ('[[facility]]\nid = "A"\ndestinations = ["nowhere"]\n', 3, "which no [[export]] table names"),
    ('[reader]\nlicences = [ { jurisdiction = "US-CA", expires = "soon" } ]\n', 2, "date"),
    ('[audio]\nkeep = true\nkeep_days = 0\n', 3, "keep_days"),
    ('[[facility]]\nid = "A"\n[[facility]]\nid = "A"\n', 1, "two [[facility]] tables have id 'A'"),
])
def test_a_bad_practice_config_names_file_and_line(tmp_path, body, line, words):
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(DataFileError) as e:
        load_config(path)
    assert e.value.line == line and words in str(e.value)


# -- licences -------------------------------------------------------------------------------------

def test_licence_valid_missing_expired_and_expiring():
    valid = practice([Licence(jurisdiction="us-ca", expires=TODAY + dt.timedelta(days=400))])
    assert valid.licence_check("GEN").ok
    assert valid.licence_check("SOMEWHERE-ELSE").ok  # not a configured facility: nothing to check
    none = practice([Licence(jurisdiction="US-NV", expires=TODAY + dt.timedelta(days=400))])
    check = none.licence_check("GEN")
    assert not check.ok and check.message == "you hold no licence for US-CA (General)"
    # Expiry is judged on the facility's date (Los Angeles here), not the workstation's.
    la_today = dt.datetime.now(zoneinfo.ZoneInfo("America/Los_Angeles")).date()
    expired = practice([Licence(jurisdiction="US-CA", expires=la_today - dt.timedelta(days=1))])
    assert "expired on" in expired.licence_check("GEN").message
    assert practice([Licence(jurisdiction="US-CA", expires=la_today)]).licence_check("GEN").ok  # valid through its day
    assert not practice([Licence(jurisdiction="US-CA", expires=la_today)]).licence_check(
        "GEN", today=la_today + dt.timedelta(days=1)).ok
    soon = Practice({}, (Licence(jurisdiction="US-CA", expires=TODAY + dt.timedelta(days=10)),
                         Licence(jurisdiction="US-TX", expires=TODAY + dt.timedelta(days=300))), warning_days=30)
    assert soon.expiring(today=TODAY) == [f"licence for US-CA expires on {(TODAY + dt.timedelta(days=10)).isoformat()} (in 10 days)"]


def test_no_licence_blocks_final_and_preliminary_unless_the_site_allows_preliminary(library, store):
    report = chest(library)
    controller = ReportController(report, store=store, signer=NIGHT, practice=practice())
    handled = said(controller, "sign as final")
    assert report.status == "draft" and "you hold no licence for US-CA" in handled.outcome.message
    handled = said(controller, "sign as preliminary")
    assert report.status == "draft" and "no preliminary reads without one" in handled.outcome.message

    allowed = chest(library)
    controller = ReportController(allowed, store=store, signer=NIGHT, practice=practice(preliminary_without_licence=True))
    assert said(controller, "sign as final").record.kind == "rejected"
    assert said(controller, "sign as preliminary").record.kind == "command" and allowed.status == "preliminary"


def test_an_expired_licence_blocks_final_a_valid_one_does_not(library, store):
    expired = ReportController(chest(library), store=store, signer=NIGHT,
                               practice=practice([Licence(jurisdiction="US-CA", expires=TODAY - dt.timedelta(days=3))]))
    assert "expired on" in said(expired, "sign as final").outcome.message
    valid = ReportController(chest(library), store=store, signer=NIGHT,
                             practice=practice([Licence(jurisdiction="US-CA", expires=TODAY + dt.timedelta(days=3))]))
    assert said(valid, "sign as final").record.kind == "command"


# -- preliminary → final ---------------------------------------------------------------------------

def test_final_by_another_reader_records_the_differences(library, store):
    p = practice([Licence(jurisdiction="US-CA", expires=TODAY + dt.timedelta(days=300))])
    report = chest(library)
    night = ReportController(report, store=store, signer=NIGHT, practice=p)
    assert said(night, "sign as preliminary").outcome.ok
    # In the morning another radiologist opens the preliminary from the store and finalises it.
    morning = load_report(store, report.id, library)
    day = ReportController(morning, store=store, signer=DAY, practice=p)
    morning.go_to("impression")
    morning.type_text("impression", "Small left pleural effusion. No pneumothorax.")
    assert said(day, "sign as final").outcome.ok
    versions = store.versions(report.id)
    assert [(v.version, v.kind, v.signer_id) for v in versions] == [(1, "preliminary", "R-NIGHT"), (2, "final", "R-DAY")]
    assert versions[0].differences == ""
    d = json.loads(versions[1].differences)
    assert d["by_other_reader"] is True and d["from_version"] == 1 and d["from_kind"] == "preliminary"
    assert d["impression_changed"] is True and list(d["sections"]) == ["impression"]
    assert d["sections"]["impression"]["before"] == "No acute cardiopulmonary abnormality."
    # "No" is kept; "Small left pleural effusion." comes before it, "pneumothorax." replaces three words.
    assert d["words_added"] == 5 and d["words_removed"] == 3
    assert "No acute cardiopulmonary abnormality." in versions[0].text
    assert "Small left pleural effusion." in versions[1].text


def test_a_final_unchanged_by_the_same_reader_says_so(library, store):
    report = chest(library)
    c = ReportController(report, store=store, signer=NIGHT)
    said(c, "sign as preliminary")
    said(c, "sign as final")
    d = json.loads(store.versions(report.id)[1].differences)
    assert d["changed"] is False and d["by_other_reader"] is False


# -- addenda and corrections -----------------------------------------------------------------------

def _signed_final(library, store):
    report = chest(library)
    c = ReportController(report, store=store, signer=NIGHT)
    assert said(c, "sign as final").outcome.ok
    return report, c


def test_addendum_appends_keeps_the_original_and_sends_corrected_appended(library, store):
    report, c = _signed_final(library, store)
    original = store.versions(report.id)[0].text
    assert said(c, "Small nodule.").record.kind == "rejected"  # locked until an addendum is started
    assert said(c, "add addendum").outcome.ok
    assert said(c, "Comparison with the outside CT shows the nodule is stable period").outcome.ok
    assert report.slot_text("impression") == "No acute cardiopulmonary abnormality."  # the signed text is untouched
    assert said(c, "sign report").outcome.ok
    assert report.status == "corrected" and report.version == 2 and report.amendment is None
    rows = store.versions(report.id)
    assert [(v.kind, v.status) for v in rows] == [("final", "final"), ("addendum", "corrected")]
    assert rows[0].text == original  # every version kept as signed
    assert rows[1].text.startswith(original.rstrip("\n"))
    assert "ADDENDUM (signed by Nora Night on " in rows[1].text
    assert rows[1].text.rstrip().endswith("Comparison with the outside CT shows the nodule is stable.")

    version = ReportVersion.from_report(report, NIGHT)
    oru = segments(build_oru(version, version.control_id("ris")))
    obr = next(s for s in oru if s[0] == "OBR")
    obx = [s for s in oru if s[0] == "OBX"]
    assert obr[25] == "C" and {s[11] for s in obx} == {"C"}
    assert obx[-1][3].startswith("55107-7^Addendum") and "nodule is stable" in obx[-1][5]
    assert diagnostic_report(version, "urn:acc", "urn:mrn")["status"] == "appended"


def test_correction_edits_and_signs_a_new_version_fhir_corrected(library, store):
    report, c = _signed_final(library, store)
    assert said(c, "correct the report").outcome.ok
    report.go_to("impression")
    assert said(c, "clear field").outcome.ok
    assert said(c, "Right lower lobe pneumonia period").outcome.ok
    assert said(c, "sign report").outcome.ok
    rows = store.versions(report.id)
    assert [(v.kind, v.status) for v in rows] == [("final", "final"), ("correction", "corrected")]
    assert "No acute cardiopulmonary abnormality." in rows[0].text
    assert "IMPRESSION:\nRight lower lobe pneumonia.\n" in rows[1].text
    assert json.loads(rows[1].differences)["impression_changed"] is True
    version = ReportVersion.from_report(report, NIGHT)
    assert next(s for s in segments(build_oru(version, "X1")) if s[0] == "OBR")[25] == "C"
    assert diagnostic_report(version, "urn:acc", "urn:mrn")["status"] == "corrected"


def test_a_cancelled_correction_leaves_the_signed_report_as_it_was(library, store):
    report, c = _signed_final(library, store)
    said(c, "correct the report")
    report.go_to("impression")
    said(c, "Everything changed.")
    assert said(c, "cancel correction").outcome.ok
    assert report.slot_text("impression") == "No acute cardiopulmonary abnormality." and report.status == "final"
    reloaded = load_report(store, report.id, library)
    assert reloaded.amendment is None and reloaded.slot_text("impression") == "No acute cardiopulmonary abnormality."


def test_an_empty_addendum_is_not_signed(library, store):
    report, c = _signed_final(library, store)
    said(c, "add addendum")
    handled = said(c, "sign report")
    assert not handled.outcome.ok and "the addendum is empty" in handled.outcome.message and report.version == 1


def test_an_addendum_in_progress_survives_a_restart(library, store):
    report, c = _signed_final(library, store)
    said(c, "add addendum")
    said(c, "Discussed with the surgeon period")
    reloaded = load_report(store, report.id, library)
    assert reloaded.amendment == "addendum" and reloaded.slot_text("addendum") == "Discussed with the surgeon."


def test_signed_versions_and_the_audit_log_cannot_be_changed(library, store):
    """SQLite: the guards refuse it. PostgreSQL as a group deploys it: the radiologist's role may
    not even try (and the guards stand behind it: tests/unit/test_store_backends.py)."""
    report, _ = _signed_final(library, store)
    refused = StoreConflict if store.kind == "sqlite" else StoreError
    for sql in ("UPDATE report_versions SET text = 'x'", "DELETE FROM report_versions",
                "UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(refused, match="never|append-only|permission denied"):
            store.db.execute(sql)
    assert store.versions(report.id)[0].text.startswith("EXAMINATION: XR Chest")


# -- critical results -------------------------------------------------------------------------------

def test_a_critical_finding_starts_a_timer_that_the_communication_stops(library, store):
    report = chest(library)
    c = ReportController(report, store=store, signer=NIGHT)
    report.go_to("findings.pleura")
    said(c, "Large right pneumothorax.")
    c.run_checks()
    (row,) = store.open_critical()
    flag = next(f for f in c.flags if f.kind == "critical_finding")
    assert row.finding == flag.finding == "pneumothorax"
    assert (row.acr_category, row.deadline_minutes) == (flag.acr_category, flag.deadline_minutes)
    assert row.deadline_minutes > 0
    dictated_at = report.utterances[-1].at
    assert row.dictated_at == pytest.approx(dictated_at)
    assert row.accession is None  # opened without a worklist item
    said(c, "Findings communicated to Dr. Jane Roe, the ED physician, by telephone.")
    c.run_checks()
    assert store.open_critical() == []
    closed = store.db.execute("SELECT * FROM critical_results WHERE report_id = ?", (report.id,)).fetchone()
    assert closed["communicated_at"] == pytest.approx(report.communications[0].at)
    assert closed["communicated_at"] >= closed["dictated_at"]


def test_a_scratched_critical_finding_is_withdrawn_not_left_open(library, store):
    report = chest(library)
    c = ReportController(report, store=store)
    report.go_to("findings.pleura")
    said(c, "Large right pneumothorax.")
    c.run_checks()
    assert len(store.open_critical()) == 1
    said(c, "scratch that")
    c.run_checks()
    assert store.open_critical() == []
    row = store.db.execute("SELECT * FROM critical_results").fetchone()
    assert row["withdrawn_at"] is not None and row["communicated_at"] is None


def test_open_critical_results_are_listed_across_studies_oldest_first(library, store):
    for accession, text in (("A1", "Large right pneumothorax."), ("A2", "Free intraperitoneal air.")):
        wid = store.add_worklist_item(accession, facility="GEN")
        report = Report.new(library.get("xr-chest"), exam={"accession": accession})
        store.save_report(report, worklist_id=wid)
        c = ReportController(report, store=store)
        report.go_to("findings.pleura")
        said(c, text)
        c.run_checks()
        time.sleep(0.01)
    rows = store.open_critical()
    assert [(r.accession, r.finding) for r in rows] == [("A1", "pneumothorax"), ("A2", "free intraperitoneal air")]


# -- audit -----------------------------------------------------------------------------------------

def test_the_audit_log_names_who_opened_dictated_signed_and_exported(library, store, tmp_path):
    from dictation.ris.destinations import DirConfig, make_destination
    from dictation.ris.outbox import Outbox

    outbox = Outbox(store, [make_destination(DirConfig(name="drop", kind="dir", path=str(tmp_path / "drop")))])
    report = chest(library)
    c = ReportController(report, store=store, signer=NIGHT, outbox=outbox)
    report.go_to("findings.lungs")
    said(c, "Clear lungs.")
    said(c, "next field")
    c.save_edit("typed into Impression")  # F2 in the terminal UI
    said(c, "sign as final")
    outbox.deliver_due()
    rows = store.audit_log(report.id)
    actions = [(a.actor, a.action) for a in rows]
    assert actions == [("R-NIGHT", "open"), ("R-NIGHT", "dictate"), ("R-NIGHT", "command"), ("R-NIGHT", "edit"),
                       ("R-NIGHT", "sign"), ("outbox", "export")]
    assert rows[0].accession == "A100" and rows[1].detail == "findings.lungs"
    assert rows[3].detail == "typed into Impression"
    assert rows[4].detail == "final (version 1, final)"
    assert rows[5].detail.startswith("final v1 to drop (dir, RS")
    assert all(rows[i].at <= rows[i + 1].at for i in range(len(rows) - 1))


# -- stored audio -----------------------------------------------------------------------------------

def test_stored_audio_is_off_by_default_and_purged_after_its_days(library, store):
    report = chest(library)
    off = ReportController(report, store=store)
    off.remember_audio(1, np.zeros(1600, dtype=np.float32))
    assert store.db.execute("SELECT COUNT(*) FROM audio").fetchone()[0] == 0

    on = ReportController(report, store=store, keep_audio=True)
    tone = (0.5 * np.sin(np.linspace(0, 100, 16000))).astype(np.float32)
    report.go_to("findings.lungs")
    said(on, "Clear lungs.")
    seq = report.utterances[-1].seq
    on.remember_audio(seq, tone)
    on.playback.audio.clear()  # as after a restart: only the store has it
    record, audio = on.last_audio()
    assert record.seq == seq and np.allclose(audio, tone, atol=1e-4)
    assert store.purge_audio(7) == 0  # too young
    assert store.purge_audio(7, now=time.time() + 8 * 86400) == 1
    assert store.load_audio(report.id, seq) is None
    assert store.audit_log()[-1].action == "purge_audio"
