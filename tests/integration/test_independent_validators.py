"""Every version radscribe sends, read by validators that share no code with it: the npm `hl7v2`
parser (strict, its 2.5.1 dictionary: structure, required fields, lengths, OBX-5 typed by OBX-2)
as an MLLP receiver, and the official FHIR R4 JSON schema in the FHIR peer (test_fhir.py)."""

from __future__ import annotations

import time

import pytest

from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import HL7Config, HL7Destination
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.outbox import Outbox
from dictation.store import Store
from tests.peers.node_peers import HL7v2Peer

EXAM = {"accession": "ACC2001", "patient_id": "MRN77", "patient_id_authority": "GEN", "patient_name": "Roe^Ann",
        "sex": "F", "birth_date": "1970-02-03", "visit_number": "V9", "patient_class": "E",
        "ordering_physician": {"id": "D7", "family": "House", "given": "Greg"}, "facility": "General Hospital",
        "exam_description": "XR Chest 2 views"}
SIGNER = Signer("R1", "Smith", "Anna")


@pytest.mark.parametrize("obx", ["sections", "report", "tx"])
def test_an_independent_hl7_parser_accepts_every_version_kind_in_order(tmp_path, obx):
    store = Store(tmp_path / "s.db")
    with HL7v2Peer(tmp_path / "hl7v2.log") as peer:
        box = Outbox(store, [HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=peer.port,
                                                      timeout_seconds=10, obx=obx))],
                     clock=time.time, rng=lambda: 0.5)
        try:
            report = Report.new(TemplateLibrary().get("xr-chest"), exam=dict(EXAM))
            report.go_to("indication")
            report.dictate("Fall | 2^3 & ~ \\ café.\nSecond line.")
            report.accept_all_defaults()
            report.go_to("impression")
            report.dictate("No acute cardiopulmonary abnormality.")
            ids = []
            for step in ("preliminary", "final", "addendum", "correction"):
                if step in ("addendum", "correction"):
                    assert report.begin_amendment(step).ok
                    report.type_text("addendum" if step == "addendum" else "impression", f"{step.title()} text.")
                    assert report.sign("final").ok
                else:
                    assert report.sign(step).ok
                store.save_report(report)
                version = ReportVersion.from_report(report, SIGNER)
                ids.append(version.control_id("ris"))
                box.enqueue(version)
                outcomes = [a.delivery.outcome for a in box.deliver_due()]
                assert outcomes == ["sent"], (step, outcomes, peer.verdicts()[-1:])
        finally:
            box.close()
        verdicts = peer.verdicts()
    assert [v["problems"] for v in verdicts] == [[], [], [], []]
    assert [v["control_id"] for v in verdicts] == ids and len(set(ids)) == 4
    assert [v["fields"]["OBR-25"] for v in verdicts] == ["P", "F", "C", "C"]
    assert {(v["fields"]["PID-3"], v["fields"]["OBR-18"], v["fields"]["PV1-19"], v["fields"]["OBR-32"])
            for v in verdicts} == {("MRN77", "ACC2001", "V9", "R1")}


def test_the_independent_hl7_check_catches_a_moved_field_and_a_missing_segment():
    """The check can fail: a raw field separator in the provider's name moves OBR-18/OBR-25, and an
    ORU without PID does not form ORU_R01."""
    from dictation.ris.hl7 import build_oru
    from tests.peers.node_peers import hl7v2_check

    report = Report.new(TemplateLibrary().get("xr-chest"), exam=dict(EXAM))
    report.go_to("impression")
    report.dictate("Normal.")
    assert report.sign("preliminary").ok
    message = build_oru(ReportVersion.from_report(report, SIGNER), "C1").decode()
    assert hl7v2_check(message)["problems"] == []
    moved = message.replace("D7^House^Greg||ACC2001", "D7^House|X^Greg||ACC2001")
    assert any("OBR-25" in p for p in hl7v2_check(moved)["problems"])
    no_pid = "\r".join(s for s in message.split("\r") if not s.startswith("PID"))
    assert any("do not form ORU_R01" in p for p in hl7v2_check(no_pid)["problems"])
