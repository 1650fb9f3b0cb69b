"""Patient updates from the hospital (ADT A08/A31 and the A40 merge) over MLLP from python-hl7's
client: every study of that patient follows; a report already started is never rewritten silently
(marked, audited, signing waits for a look), and what is signed after the look carries the update."""

from __future__ import annotations

import threading

import hl7
import hl7.client
import pytest

from dictation.config import Config
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.document import ReportVersion
from dictation.ris.hl7 import build_oru, field
from dictation.ris.orders import OrderHandler, OrdersListener
from dictation.store import Store
from dictation.testing import READER
from dictation.workstation import Workstation


def orm(accession, *, mrn="MRN42", facility="GENERAL", name="Doe^Jane", visit="V-1"):
    return "\r".join([
        f"MSH|^~\\&|HIS|{facility}|RADSCRIBE|TELERAD|20261128031500||ORM^O01|C-{accession}|P|2.5.1",
        f"PID|1||{mrn}^^^GEN^MR||{name}||19610409|F",
        f"PV1|1|E|ER^1^1^{facility}||||||||||||||||{visit}",
        f"ORC|NW|PL-{accession}|FI-{accession}||SC||^^^^^R||20261128031000|||D7^House^Greg",
        f"OBR|1|PL-{accession}|FI-{accession}|71046^XR Chest 2 views^C4|||20261128031000|||||||||D7^House^Greg||{accession}",
    ]) + "\r"


def adt(event, *, mrn="MRN42", name="Doe^Janet", birth="19610410", sex="F", klass="I", visit="V-1", mrg="",
        facility="GENERAL"):
    lines = [f"MSH|^~\\&|HIS|{facility}|RADSCRIBE|TELERAD|20261128041500||ADT^{event}^ADT_A01|A-{event}-{mrn}|P|2.5.1",
             "EVN||20261128041500",
             f"PID|1||{mrn}^^^GEN^MR||{name}||{birth}|{sex}",
             f"PV1|1|{klass}|W^2^1^{facility}||||||||||||||||{visit}"]
    if mrg:
        lines.insert(3, f"MRG|{mrg}^^^GEN^MR")
    return "\r".join(lines) + "\r"


@pytest.fixture
def hospital(tmp_path):
    store = Store(tmp_path / "s.db")
    server = OrdersListener("127.0.0.1", 0, OrderHandler(store, TemplateLibrary(), {"71046": "xr-chest"}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield store, server
    server.shutdown()
    server.server_close()
    store.close()


def send(server, *messages):
    with hl7.client.MLLPClient("127.0.0.1", server.port) as client:
        replies = [hl7.parse(client.send_message(m).decode()) for m in messages]
    return [(str(r.segment("MSA")[1]), str(r.segment("MSA")[3])) for r in replies]


def studies(store):
    return {(i.accession, i.facility): i for i in store.worklist()}


def test_a_patient_update_reaches_every_study_and_waits_for_a_look_under_a_report(hospital, tmp_path):
    store, server = hospital
    acks = send(server, orm("ACC-A"), orm("ACC-B", visit="V-2"), orm("ACC-C", mrn="MRN77", name="Roe^Ann"),
                orm("ACC-D", facility="NORTH"))
    assert [code for code, _ in acks] == ["AA"] * 4
    station = Workstation(Config(reader=READER), tmp_path / "s.db")
    report = station.report_for_study(studies(store)[("ACC-A", "GENERAL")], store)
    report.go_to("impression")
    report.dictate("No acute abnormality.")
    controller = station.controller(report, store, checks=False)

    (ack,) = send(server, adt("A08"))
    assert ack == ("AA", "2 studies updated")
    now = studies(store)
    a, b = now[("ACC-A", "GENERAL")], now[("ACC-B", "GENERAL")]
    assert (a.patient_name, a.birth_date, a.patient_class) == ("Doe^Janet", "1961-04-10", "I")  # V-1 is this visit
    assert (b.patient_name, b.patient_class, b.order_changed) == ("Doe^Janet", "E", "")  # no report: just the order
    assert now[("ACC-C", "GENERAL")].patient_name == "Roe^Ann"  # another patient
    assert now[("ACC-D", "NORTH")].patient_name == "Doe^Jane"  # the same number at another facility
    assert a.order_changed == "patient_name,birth_date" and report.exam["patient_name"] == "Doe^Jane"  # not rewritten
    change = store.audit_log()[-1]
    assert change.action == "order_changed" and "patient update" in change.detail and "Janet" not in change.detail

    refused = controller.command("sign_preliminary")
    assert not refused.outcome.ok and "patient_name, birth_date" in refused.outcome.message
    store.acknowledge_order_change(a.id)
    assert controller.command("sign_preliminary").outcome.ok
    assert (report.exam["patient_name"], report.exam["birth_date"], report.exam["patient_class"]) == \
        ("Doe^Janet", "1961-04-10", "I")  # looked at, then signed with the update
    oru = build_oru(ReportVersion.from_report(report, station.signer), "C1")
    assert field(oru, "PID", 5) == "Doe^Janet" and field(oru, "PID", 7) == "19610410"

    (again,) = send(server, adt("A31"))  # the same again: nothing changes
    assert again == ("AA", "0 studies updated")
    assert store.changed_orders() == []


def test_a_merge_moves_the_studies_to_the_surviving_identifier_and_marks_a_signed_report(hospital, tmp_path):
    store, server = hospital
    send(server, orm("ACC-M"), orm("ACC-N", mrn="MRN99", name="Doe^Janet"))
    station = Workstation(Config(reader=READER), tmp_path / "s.db")
    report = station.report_for_study(studies(store)[("ACC-M", "GENERAL")], store)
    controller = station.controller(report, store, checks=False)
    assert controller.command("sign_preliminary").outcome.ok
    (ack,) = send(server, adt("A40", mrn="MRN99", mrg="MRN42", name="", birth="", sex=""))
    assert ack == ("AA", "1 study updated")
    moved = store.worklist_item("ACC-M", "GENERAL")
    assert (moved.patient_id, moved.patient_name) == ("MRN99", "Doe^Jane")  # an empty field changes nothing
    assert [(i.accession, i.order_changed) for i in store.changed_orders()] == [("ACC-M", "patient_id")]


@pytest.mark.parametrize("message, code, text", [
    (adt("A08", mrn=""), "AE", "PID-3"),
    (adt("A40", mrn="MRN99"), "AE", "MRG-1"),
    (adt("A08", birth="19611340"), "AE", "PID-7"),
    (adt("A01"), "AR", "A08/A31/A40"),
], ids=["no-identifier", "merge-without-mrg", "bad-birth-date", "admit-not-taken"])
def test_an_unusable_patient_update_changes_nothing_and_says_why(hospital, message, code, text):
    store, server = hospital
    send(server, orm("ACC-X"))
    (ack,) = send(server, message)
    assert ack[0] == code and text in ack[1], ack
    (item,) = store.worklist()
    assert (item.patient_id, item.patient_name, item.birth_date) == ("MRN42", "Doe^Jane", "1961-04-09")
