"""Orders in: ORM^O01 / OMI^O23 over MLLP from python-hl7's client (an independent sender) fill
and cancel worklist items; every message gets the right ACK."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import hl7
import hl7.client
import pytest

from dictation.reporting.templates import TemplateLibrary
from dictation.ris.orders import OrderHandler, OrdersListener
from dictation.store import Store
from tests.peers.hl7 import free_port, wait_for_port


def orm(control_id, accession, *, control="NW", code="71046", description="XR Chest 2 views", priority="S",
        name="Doe^Jane", kind="ORM^O01"):
    return "\r".join([
        f"MSH|^~\\&|HIS|GENERAL|RADSCRIBE|TELERAD|20261128031500||{kind}|{control_id}|P|2.5.1",
        f"PID|1||MRN42^^^GEN^MR||{name}||19610409|F",
        "PV1|1|E|ER^1^1^GENERAL",
        f"ORC|{control}|PL-{accession}|FI-{accession}||SC||^^^^^{priority}||20261128031000|||D7^House^Greg",
        f"OBR|1|PL-{accession}|FI-{accession}|{code}^{description}^C4|||20261128031000|||||||||D7^House^Greg||{accession}||||||CR",
    ]) + "\r"


@pytest.fixture
def listener(tmp_path):
    store = Store(tmp_path / "s.db")
    seen = []
    handler = OrderHandler(store, TemplateLibrary(), {"IMG999": "ct-head"}, on_order=seen.append)
    server = OrdersListener("127.0.0.1", 0, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield store, server, seen
    server.shutdown()
    server.server_close()
    store.close()


def send(server, *messages):
    with hl7.client.MLLPClient("127.0.0.1", server.port) as client:  # one persistent connection
        return [hl7.parse(client.send_message(m).decode()) for m in messages]


def msa(reply):
    return str(reply.segment("MSA")[1]), str(reply.segment("MSA")[2])


def test_a_new_order_becomes_a_worklist_item_with_its_template(listener):
    store, server, seen = listener
    (reply,) = send(server, orm("C1", "ACC9"))
    assert msa(reply) == ("AA", "C1")
    (item,) = store.worklist()
    assert (item.accession, item.patient_id, item.patient_name, item.sex, item.birth_date) == \
        ("ACC9", "MRN42", "Doe^Jane", "F", "1961-04-09")
    assert (item.exam, item.exam_code, item.priority, item.template_id, item.facility) == \
        ("XR Chest 2 views", "71046", "stat", "xr-chest", "GENERAL")  # template from xr-chest's own CPT code
    assert item.ordering_physician == "Greg House" and item.filler_order == "FI-ACC9"
    assert [r.action for r in seen] == ["created"]


def test_the_config_mapping_chooses_the_template_and_priorities_order_the_list(listener):
    store, server, _ = listener
    replies = send(server, orm("C1", "R1", priority="R", code="IMG999", description="CT head"),
                   orm("C2", "S1", priority="S"), orm("C3", "A1", priority="A"))
    assert [msa(r)[0] for r in replies] == ["AA", "AA", "AA"]
    assert [(i.accession, i.priority) for i in store.worklist()] == [("S1", "stat"), ("A1", "urgent"), ("R1", "routine")]
    assert next(i for i in store.worklist() if i.accession == "R1").template_id == "ct-head"


def test_a_resent_order_is_not_a_duplicate_and_a_cancel_removes_it(listener):
    store, server, seen = listener
    replies = send(server, orm("C1", "ACC9"), orm("C1", "ACC9"), orm("C2", "ACC9", control="CA"))
    assert [msa(r) for r in replies] == [("AA", "C1"), ("AA", "C1"), ("AA", "C2")]
    assert [r.action for r in seen] == ["created", "duplicate", "cancelled"]
    assert store.worklist() == []


def test_omi_o23_with_the_accession_in_ipc(listener):
    store, server, _ = listener
    message = orm("C5", "", kind="OMI^O23").replace("||||||CR", "||||||CR") + "IPC|ACC-OMI|PROC1|1.2.3|SPS1|CT\r"
    (reply,) = send(server, message)
    assert msa(reply)[0] == "AA"
    assert [i.accession for i in store.worklist()] == ["ACC-OMI"]


def test_unusable_messages_get_ae_or_ar_with_a_reason(listener):
    store, server, _ = listener
    no_accession = orm("C1", "").replace("|FI-|", "||")
    adt = "MSH|^~\\&|HIS|GEN|RADSCRIBE||20261128||ADT^A01|C2|P|2.5.1\rPID|1||X\r"
    replies = send(server, no_accession, adt)
    assert msa(replies[0])[0] == "AE" and "no accession" in str(replies[0].segment("MSA")[3])
    assert msa(replies[1]) == ("AR", "C2")
    assert store.worklist() == []


def test_listen_orders_as_a_process(tmp_path, radscribe_cmd):
    port = free_port()
    env = {**os.environ, "RADSCRIBE_STORE": str(tmp_path / "store.db"), "RADSCRIBE_CONFIG": str(tmp_path / "config.toml")}
    (tmp_path / "config.toml").write_text(f'[orders]\nport = {port}\ntemplates = {{ "IMG999" = "ct-head" }}\n')
    with subprocess.Popen([*radscribe_cmd, "listen-orders"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            wait_for_port(port, alive=lambda: proc.poll() is None)
            with hl7.client.MLLPClient("127.0.0.1", port) as client:
                reply = hl7.parse(client.send_message(orm("C1", "ACC77", name="Secret^Patient")).decode())
            assert msa(reply) == ("AA", "C1")
        finally:
            # SIGTERM, as a service manager stops it (SIGINT may be ignored where the test runs:
            # a background job of a shell without job control inherits it ignored).
            proc.send_signal(signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, err  # a clean stop, not a kill
    assert "AA created ACC77" in out
    assert "Secret" not in out + err  # no patient data on the console
    assert [i.accession for i in Store(tmp_path / "store.db").worklist()] == ["ACC77"]


def test_a_facility_can_map_its_own_codes(tmp_path):
    store = Store(tmp_path / "s.db")
    handler = OrderHandler(store, TemplateLibrary(), {"71046": "generic"}, facility_mapping={"GENERAL": {"71046": "ct-head"}})
    reply, result = handler.handle(orm("C1", "F1").encode())  # MSH-4 is GENERAL
    other, _ = handler.handle(orm("C2", "F2").replace("|HIS|GENERAL|", "|HIS|NORTH|").encode())
    assert result.code == "AA"
    assert {i.accession: i.template_id for i in store.worklist()} == {"F1": "ct-head", "F2": "generic"}
    assert b"MSA|AA|C1" in reply and b"MSA|AA|C2" in other


def two_orders(second_accession="ACC-2"):
    return "\r".join([
        "MSH|^~\\&|HIS|GENERAL|RADSCRIBE|TELERAD|20261128031500||ORM^O01|C-TWO|P|2.5.1",
        "PID|1||MRN42^^^GEN^MR||Doe^Jane||19610409|F",
        "PV1|1|E",
        "ORC|NW|PL-1|FI-1||SC||^^^^^S||20261128031000|||D7^House^Greg",
        "OBR|1|PL-1|FI-1|71046^XR Chest 2 views^C4|||20261128031000|||||||||D7^House^Greg||ACC-1||||||CR",
        f"ORC|NW|PL-2|{'FI-2' if second_accession else ''}||SC||^^^^^R||20261128031000|||D7^House^Greg",
        f"OBR|2|PL-2|{'FI-2' if second_accession else ''}|70450^CT Head^C4|||20261128031000|||||||||D7^House^Greg||"
        f"{second_accession}||||||CT",
    ]) + "\r"


def test_an_order_message_with_two_orders_puts_both_on_the_worklist(tmp_path):
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.hl7 import field
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    ack, result = OrderHandler(store, TemplateLibrary(), {"71046": "xr-chest", "70450": "ct-head"}).handle(
        two_orders().encode())
    assert result.code == "AA" and field(ack, "MSA", 1) == "AA"
    assert sorted((r.accession, r.template_id, r.priority) for r in store.worklist()) == [
        ("ACC-1", "xr-chest", "stat"), ("ACC-2", "ct-head", "routine")]


def test_a_message_with_one_unusable_order_is_refused_whole_and_says_which(tmp_path):
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.hl7 import field
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    ack, result = OrderHandler(store, TemplateLibrary(), {}).handle(two_orders(second_accession="").encode())
    assert result.code == "AE" and field(ack, "MSA", 1) == "AE"
    assert "order 2 of 2" in result.text and "nothing was applied" in result.text
    assert store.worklist() == []  # not half-accepted


def test_order_times_are_read_in_the_facility_zone_and_an_explicit_offset_is_kept(tmp_path):
    import datetime as dt
    import zoneinfo

    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store

    la = zoneinfo.ZoneInfo("America/Los_Angeles")
    store = Store(tmp_path / "s.db")
    handler = OrderHandler(store, TemplateLibrary(), {}, zone=lambda facility: la if facility == "GENERAL" else None)
    handler.handle(orm("C1", "ACC-LA").encode())  # ORC-9 20261128031000, no offset, from GENERAL
    with_offset = orm("C2", "ACC-UTC").replace("||20261128031000|||D7", "||20261128031000+0000|||D7", 1)
    handler.handle(with_offset.encode())
    times = {r.accession: r.ordered_at for r in store.worklist()}
    assert times["ACC-LA"] == dt.datetime(2026, 11, 28, 3, 10, tzinfo=la).timestamp()
    assert times["ACC-UTC"] == dt.datetime(2026, 11, 28, 3, 10, tzinfo=dt.UTC).timestamp()


def test_the_oru_writes_times_in_the_facility_zone_with_their_offset():
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.hl7 import build_oru, field

    report = Report.new(TemplateLibrary().get("xr-chest"), exam={
        "accession": "A1", "time_zone": "America/Los_Angeles", "exam_time": 1795000000.0})
    report.go_to("impression")
    report.dictate("Normal.")
    report.sign("preliminary")
    message = build_oru(ReportVersion.from_report(report, Signer("R1", "Smith", "Anna")), "C1")
    assert field(message, "OBR", 7) == "20261118030640-0800"  # 1795000000 is 2026-11-18 11:06:40 UTC


@pytest.mark.parametrize("message, code", [
    (lambda: two_orders(second_accession=""), "AE"),
    (lambda: orm("C9", "ACC9", kind="ORM^O02"), "AR"),
    (lambda: orm("C8\x1c", "ACC8", control="ZZ"), "AR"),
], ids=["no-accession", "other-message", "unknown-control-with-frame-byte"])
def test_a_refusal_ack_validates_strict_with_its_error_code(tmp_path, message, code):
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.hl7 import field
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store
    from tests.peers.hl7 import strict_validate
    from tests.peers.node_peers import hl7v2_check

    ack, result = OrderHandler(Store(tmp_path / "s.db"), TemplateLibrary(), {}).handle(message().encode())
    assert result.code == code and field(ack, "MSA", 1) == code
    assert b"\x1c" not in ack  # nothing that could end the MLLP frame
    assert field(ack, "ERR", 3).split("^")[2] == "HL70357" and field(ack, "ERR", 4) == "E"
    strict_validate(ack.decode("utf-8"))
    independent = hl7v2_check(ack)
    assert independent["problems"] == [] and independent["structure"] == "ACK"
    assert independent["fields"]["MSA-1"] == code


def test_the_listener_stays_up_under_slow_senders_many_connections_and_oversized_messages(tmp_path):
    """Hundreds of connections, senders that dribble a byte at a time, a message too large: the
    listener keeps a bounded number of threads, answers the large one AE, frees the slow ones at
    their deadline, and still takes a normal order."""
    import socket

    store = Store(tmp_path / "s.db")
    handler = OrderHandler(store, TemplateLibrary(), {})
    server = OrdersListener("127.0.0.1", 0, handler, max_connections=16, max_message_bytes=100_000, message_deadline=2.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        before = threading.active_count()
        slow = []
        for _ in range(200):  # far more than the cap: the extra ones are closed at once
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"\x0bMSH|")  # a message begun, never finished
            slow.append(s)
        time.sleep(0.5)
        assert threading.active_count() - before <= 16  # threads bounded by the cap
        time.sleep(2.5)  # past the per-message deadline: the dribblers are gone
        for s in slow:
            s.close()
        big = socket.create_connection(("127.0.0.1", server.port))
        big.settimeout(10)
        big.sendall(b"\x0b" + orm("C-BIG", "ACC-BIG").encode() + b"X" * 200_000)
        answer = big.recv(65536)
        big.close()
        assert b"MSA|AE|" in answer and b"larger than" in answer
        (reply,) = send(server, orm("C-OK", "ACC-OK"))  # and a normal order still goes through
        assert msa(reply) == ("AA", "C-OK")
        assert [r.accession for r in store.worklist()] == ["ACC-OK"]
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def test_an_order_that_is_not_valid_in_its_character_set_is_refused_not_guessed(listener):
    store, server, _ = listener
    raw = orm("C-BAD", "ACC-BAD", name="J\udcf6rg^Test")  # a lone latin-1 byte in a UTF-8 message
    with socket_to(server) as s:
        s.sendall(b"\x0b" + raw.encode("utf-8", "surrogateescape") + b"\x1c\r")
        answer = s.recv(65536)
    assert b"MSA|AE|" in answer and b"not valid utf-8" in answer
    assert store.worklist() == []


def socket_to(server):
    import socket

    s = socket.create_connection(("127.0.0.1", server.port))
    s.settimeout(10)
    return s


def pid3_order(pid3, accession="ACC-ID"):
    return orm("C-ID", accession).replace("PID|1||MRN42^^^GEN^MR||", f"PID|1||{pid3}||").replace(
        "PV1|1|E|ER^1^1^GENERAL", "PV1|1|E|ER^1^1^GENERAL||||||||||||||||V-555")


@pytest.mark.parametrize("pid3, authority, expected", [
    ("E-900^^^ENTERPRISE^PI~MRN42^^^GEN^MR", "", ("MRN42", "GEN")),  # the MR repeat, not the first
    ("MRN42^^^GEN^MR~77^^^NORTH^MR", "NORTH", ("77", "NORTH")),  # the facility's own authority
    ("MRN42^^^GEN^MR~77^^^NORTH^MR", "", None),  # two MRNs and no rule: refused, not guessed
    ("E-900^^^ENTERPRISE^PI~MRN42^^^GEN^MR", "SOUTH", None),  # the facility's authority is not there
], ids=["mr-not-first", "facility-authority", "ambiguous", "authority-missing"])
def test_the_patient_identifier_is_chosen_by_type_and_authority(tmp_path, pid3, authority, expected):
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    _, result = OrderHandler(store, TemplateLibrary(), {}, mrn_authority=lambda f: authority).handle(
        pid3_order(pid3).encode())
    if expected is None:
        assert result.code == "AE" and "PID-3" in result.text and store.worklist() == []
        return
    assert result.code == "AA", result
    (item,) = store.worklist()
    assert (item.patient_id, item.patient_id_authority, item.visit_number, item.patient_class) == (*expected, "V-555", "E")


def test_the_identifier_and_its_authority_travel_to_hl7_fhir_and_dicom(tmp_path):
    from dictation.config import Config
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.dicom_sr import build_sr
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.fhir import diagnostic_report
    from dictation.ris.hl7 import build_oru, field
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store
    from dictation.workstation import Workstation

    store = Store(tmp_path / "s.db")
    OrderHandler(store, TemplateLibrary(), {}).handle(pid3_order("E-900^^^ENTERPRISE^PI~MRN42^^^GEN^MR").encode())
    (item,) = store.worklist()
    report = Workstation(Config(), tmp_path / "s.db").report_for_study(item, store)
    report.go_to("impression")
    report.dictate("Normal.")
    report.sign("preliminary")
    version = ReportVersion.from_report(report, Signer("R1", "Smith", "Anna"))
    message = build_oru(version, "C1")
    assert field(message, "PID", 3) == "MRN42^^^GEN^MR" and field(message, "PV1", 19) == "V-555"
    subject = diagnostic_report(version, "urn:acc", "urn:mrn")["subject"]["identifier"]
    assert subject["value"] == "MRN42" and subject["assigner"]["display"] == "GEN"
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(build_sr(version)))
    assert ds.PatientID == "MRN42" and ds.IssuerOfPatientID == "GEN"


def test_the_same_accession_at_two_facilities_is_two_studies(tmp_path):
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store

    store = Store(tmp_path / "s.db")
    handler = OrderHandler(store, TemplateLibrary(), {})
    general = orm("C1", "ACC-SAME")
    north = orm("C2", "ACC-SAME", name="Roe^Rick").replace("|HIS|GENERAL|", "|HIS|NORTH|", 1).replace(
        "MRN42^^^GEN^MR", "N-7^^^NORTH^MR")
    assert handler.handle(general.encode())[1].code == "AA"
    assert handler.handle(north.encode())[1].action == "created"  # not an update of General's study
    items = {r.facility: (r.patient_id, r.patient_name) for r in store.worklist()}
    assert items == {"GENERAL": ("MRN42", "Doe^Jane"), "NORTH": ("N-7", "Roe^Rick")}
    cancel = orm("C3", "ACC-SAME", control="CA").replace("|HIS|GENERAL|", "|HIS|NORTH|", 1)
    assert handler.handle(cancel.encode())[1].action == "cancelled"
    assert [r.facility for r in store.worklist()] == ["GENERAL"]  # General's study is untouched


def test_an_order_changed_under_a_report_is_shown_and_blocks_signing_until_looked_at(tmp_path):
    from dictation.config import Config
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store
    from dictation.testing import READER
    from dictation.workstation import Workstation

    store = Store(tmp_path / "s.db")
    handler = OrderHandler(store, TemplateLibrary(), {"71046": "xr-chest"})
    handler.handle(orm("C1", "ACC-CH").encode())
    handler.handle(orm("C1b", "ACC-CH", priority="R").encode())  # no report yet: simply the new order
    (item,) = store.worklist()
    assert item.order_changed == ""
    station = Workstation(Config(reader=READER), tmp_path / "s.db")
    report = station.report_for_study(item, store)
    controller = station.controller(report, store, checks=False)
    handler.handle(orm("C2", "ACC-CH", control="XO", name="Doe^Janet").encode())  # the patient's name changed
    (item,) = store.worklist()
    assert item.order_changed == "patient_name" and report.exam["patient_name"] == "Doe^Jane"  # not rewritten
    signed = controller.command("sign_preliminary")
    assert not signed.outcome.ok and "the order changed after this report was started (patient_name)" in \
        signed.outcome.message
    assert [r.accession for r in store.changed_orders()] == ["ACC-CH"]
    assert store.audit_log()[-2].action == "order_changed" and "Janet" not in store.audit_log()[-2].detail
    store.acknowledge_order_change(item.id)
    assert controller.command("sign_preliminary").outcome.ok
    assert report.exam["patient_name"] == "Doe^Janet"  # signed, after the look, as the order now says
    handler.handle(orm("C3", "ACC-CH", control="CA").encode())  # cancelled after it was signed
    assert [(r.accession, r.order_changed) for r in store.changed_orders()] == [("ACC-CH", "cancelled")]


def test_an_omi_study_uid_joins_the_report_to_the_images_study(tmp_path):
    import io

    import pydicom

    from dictation.config import Config
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.dicom_sr import build_sr
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store
    from dictation.workstation import Workstation

    store = Store(tmp_path / "s.db")
    omi = orm("C-OMI", "ACC-OMI", kind="OMI^O23") + "IPC|ACC-OMI|RP-1|1.2.840.113619.2.55.3.1234|SPS-1\r"
    assert OrderHandler(store, TemplateLibrary(), {}).handle(omi.encode())[1].code == "AA"
    (item,) = store.worklist()
    report = Workstation(Config(), tmp_path / "s.db").report_for_study(item, store)
    report.go_to("impression")
    report.dictate("Normal.")
    report.sign("preliminary")
    ds = pydicom.dcmread(io.BytesIO(build_sr(ReportVersion.from_report(report, Signer("R1", "Smith", "Anna")))))
    assert ds.StudyInstanceUID == "1.2.840.113619.2.55.3.1234"
    bad = orm("C-BAD", "ACC-BAD", kind="OMI^O23") + "IPC|ACC-BAD|RP-1|not-a-uid|SPS-1\r"
    assert OrderHandler(store, TemplateLibrary(), {}).handle(bad.encode())[1].code == "AE"


def test_the_report_carries_the_exam_time_and_the_worklist_the_order_time(tmp_path):
    import datetime as dt

    from dictation.config import Config
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.hl7 import build_oru, field
    from dictation.ris.orders import OrderHandler
    from dictation.store import Store
    from dictation.workstation import Workstation

    store = Store(tmp_path / "s.db")
    # Ordered at 03:10 (ORC-9), the exam done at 04:45 (OBR-7), both with an explicit offset.
    message = orm("C-T", "ACC-T").replace("||20261128031000|||D7", "||20261128031000+0000|||D7", 1).replace(
        "|||20261128031000|||", "|||20261128044500+0000|||", 1)
    assert OrderHandler(store, TemplateLibrary(), {}).handle(message.encode())[1].code == "AA"
    (item,) = store.worklist()
    utc = dt.UTC
    assert item.ordered_at == dt.datetime(2026, 11, 28, 3, 10, tzinfo=utc).timestamp()
    assert item.exam_time == dt.datetime(2026, 11, 28, 4, 45, tzinfo=utc).timestamp()
    report = Workstation(Config(), tmp_path / "s.db").report_for_study(item, store)
    report.exam["time_zone"] = "UTC"
    report.go_to("impression")
    report.dictate("Normal.")
    report.sign("preliminary")
    oru = build_oru(ReportVersion.from_report(report, Signer("R1", "Smith", "Anna")), "C1")
    assert field(oru, "OBR", 7) == "20261128044500+0000"


def _mllp_send(port, message, context=None, server_name="127.0.0.1"):
    """One order over MLLP (TLS when ``context``); the reply, or b"" when the listener hung up."""
    import socket

    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = context.wrap_socket(raw, server_hostname=server_name) if context else raw
    try:
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        return sock.recv(65536)
    except OSError:
        return b""
    finally:
        sock.close()


def test_the_listener_takes_tls_with_client_certificates_and_only_allowed_senders(tmp_path, certs):
    import ssl

    from dictation.config import load_config
    from dictation.reporting.templates import TemplateLibrary
    from dictation.store import Store
    from dictation.workstation import Workstation

    (tmp_path / "c.toml").write_text(
        f'[orders]\ntls_cert = "{certs / "server.pem"}"\ntls_key = "{certs / "server.key"}"\n'
        f'client_ca = "{certs / "ca.pem"}"\nallow = ["127.0.0.0/8"]\n')
    station = Workstation(load_config(tmp_path / "c.toml"), tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    server = station.orders_listener(OrderHandler(store, TemplateLibrary(), {}), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        trusted.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
        assert b"MSA|AA|C-TLS" in _mllp_send(server.port, orm("C-TLS", "ACC-TLS"), trusted)
        anonymous = ssl.create_default_context(cafile=str(certs / "ca.pem"))  # no client certificate
        assert b"MSA|AA" not in _mllp_send(server.port, orm("C-ANON", "ACC-ANON"), anonymous)
        assert _mllp_send(server.port, orm("C-PLAIN", "ACC-PLAIN")) == b""  # not TLS at all
        assert [r.accession for r in store.worklist()] == ["ACC-TLS"]
    finally:
        server.shutdown()
        server.server_close()
    (tmp_path / "c2.toml").write_text('[orders]\nallow = ["10.9.9.0/24"]\n')
    elsewhere = Workstation(load_config(tmp_path / "c2.toml"), tmp_path / "s.db")
    server = elsewhere.orders_listener(OrderHandler(store, TemplateLibrary(), {}), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _mllp_send(server.port, orm("C-OUT", "ACC-OUT")) == b""  # not an allowed sender: closed
        assert "ACC-OUT" not in [r.accession for r in store.worklist()]
    finally:
        server.shutdown()
        server.server_close()


def test_orders_tls_and_allow_are_checked_in_the_config(tmp_path):
    from dictation.config import load_config
    from dictation.errors import DataFileError

    (tmp_path / "c.toml").write_text('[orders]\ntls_cert = "/nonexistent.pem"\n')
    with pytest.raises(DataFileError, match="tls_cert '/nonexistent.pem' is not a file"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text('[orders]\nallow = ["not-a-network"]\n')
    with pytest.raises(DataFileError, match="allow is a list of addresses or networks"):
        load_config(tmp_path / "c.toml")


def test_two_orders_listeners_on_one_store_put_each_order_on_the_worklist_once(tmp_path, radscribe_cmd, store_target):
    """A group runs several orders listeners on its shared store (two interface engines, or one
    resending to a second listener after a timeout): each order, received by both at once, is one
    study; every message is acknowledged; nothing is lost. On the SQLite file and on PostgreSQL."""
    ports, procs = [free_port(), free_port()], []
    try:
        for k, port in enumerate(ports):
            config = tmp_path / f"config{k}.toml"
            config.write_text(f'[orders]\nport = {port}\n')
            env = {**os.environ, "RADSCRIBE_STORE": str(store_target), "RADSCRIBE_CONFIG": str(config)}
            procs.append(subprocess.Popen([*radscribe_cmd, "listen-orders"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))
        for port, proc in zip(ports, procs):
            wait_for_port(port, alive=lambda proc=proc: proc.poll() is None)
        accessions = [f"ACC-G{i:02}" for i in range(15)]
        replies: list[list[tuple[str, str]]] = [[], []]

        def feed(k: int) -> None:
            with hl7.client.MLLPClient("127.0.0.1", ports[k]) as client:
                for i, accession in enumerate(accessions):
                    reply = hl7.parse(client.send_message(orm(f"C{k}-{i}", accession)).decode())
                    replies[k].append(msa(reply))

        feeders = [threading.Thread(target=feed, args=(k,)) for k in (0, 1)]
        for t in feeders:
            t.start()
        for t in feeders:
            t.join(120)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        try:
            errors = [proc.communicate(timeout=30)[1] for proc in procs]
        except subprocess.TimeoutExpired:
            for proc in procs:
                proc.kill()
                proc.communicate()  # reaped and its pipes closed: nothing left for a later test to trip on
            raise
    assert [proc.returncode for proc in procs] == [0, 0], errors
    assert all(code == "AA" for k in (0, 1) for code, _ in replies[k]), (replies, errors)
    assert [len(r) for r in replies] == [15, 15]
    store = Store(store_target)
    assert sorted(i.accession for i in store.worklist()) == accessions  # each once
    store.close()
