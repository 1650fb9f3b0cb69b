"""FHIR R4 export against a real peer on 127.0.0.1: Medplum's FHIR router and in-memory
repository (Node 20), every resource validated by FHIR.js and by the official FHIR R4 JSON schema,
bearer tokens checked, transaction Bundles where the server's CapabilityStatement offers them."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pytest

from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import FHIRConfig, make_destination
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.outbox import Outbox
from dictation.store import Store
from tests.peers.hl7 import free_port
from tests.peers.node_peers import NodePeer

TOKEN = "s3cret-token"
EXAM = {"accession": "ACC-F1", "patient_id": "MRN9", "patient_name": "Doe^Jane", "sex": "F"}
SIGNER = Signer("R1", "Smith", "Anna")


@pytest.fixture(scope="module")
def peer():
    with NodePeer("fhir-server.mjs", "0", TOKEN) as p:
        yield p


def search(peer, resource, query):
    r = httpx.get(f"http://127.0.0.1:{peer.port}/{resource}?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    r.raise_for_status()
    return [e["resource"] for e in r.json().get("entry", [])]


def destination(peer, **kw):
    config = {"name": "fhir", "kind": "fhir", "url": f"http://127.0.0.1:{peer.port}", "token": TOKEN,
              "accession_system": "urn:oid:1.2.3.4.5", **kw}
    return make_destination(FHIRConfig(**config))


def report(accession, communication=""):
    r = Report.new(TemplateLibrary().get("cta-chest-pe"), exam={**EXAM, "accession": accession})
    r.go_to("indication")
    r.dictate("Shortness of breath.")
    r.go_to("impression")
    r.dictate("Acute right lower lobe pulmonary embolism.")
    if communication:
        r.go_to("communication")
        r.dictate(communication)
    r.sign("preliminary")
    return r


def deliver(tmp_path, dest, *versions, clock=None):
    store = Store(tmp_path / f"s{time.monotonic_ns()}.db")
    box = Outbox(store, [dest], clock=clock or time.time, rng=lambda: 0.5)
    for v in versions:
        store.save_report(v[0])
        box.enqueue(v[1])
    try:
        return box, box.deliver_due()
    finally:
        box.close()


def test_preliminary_then_final_is_one_diagnostic_report(peer, tmp_path):
    r = report("ACC-F1")
    prelim = ReportVersion.from_report(r, SIGNER)
    r.sign("final")
    final = ReportVersion.from_report(r, SIGNER)
    _, attempts = deliver(tmp_path, destination(peer), (r, prelim), (r, final))
    assert [a.delivery.outcome for a in attempts] == ["sent", "sent"], attempts
    (dr,) = search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-F1")
    assert dr["status"] == "final" and dr["conclusion"] == "Acute right lower lobe pulmonary embolism."
    assert dr["category"][0]["coding"][0]["code"] == "LP29684-5"
    assert dr["identifier"][0]["type"]["coding"][0]["code"] == "ACSN"
    assert dr["resultsInterpreter"][0]["display"] == "Anna Smith"
    import base64

    assert "Acute right lower lobe pulmonary embolism." in base64.b64decode(dr["presentedForm"][0]["data"]).decode()


def test_a_resend_never_makes_a_second_report(peer, tmp_path):
    r = report("ACC-F2")
    v = ReportVersion.from_report(r, SIGNER)
    dest = destination(peer)
    payload = dest.build(v)
    assert payload == dest.build(v)  # the same bytes every time
    assert [dest.deliver(payload).outcome for _ in range(3)] == ["sent", "sent", "sent"]
    dest.close()
    assert len(search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-F2")) == 1


def test_a_critical_result_communication_is_recorded(peer, tmp_path):
    r = report("ACC-F3", "Findings discussed with Dr. Greg House by telephone at 03:12.")
    _, attempts = deliver(tmp_path, destination(peer), (r, ReportVersion.from_report(r, SIGNER)))
    assert attempts[0].delivery.outcome == "sent", attempts
    comms = [c for c in search(peer, "Communication", "status=completed")
             if c["about"][0]["identifier"]["value"] == "ACC-F3"]
    assert len(comms) == 1 and "Greg House" in comms[0]["payload"][0]["contentString"]


def test_a_wrong_token_waits_with_a_clear_error_and_a_refreshed_token_file_is_used(peer, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("expired-token\n")
    r = report("ACC-F4")
    clock = [time.time()]
    dest = destination(peer, token=None, token_file=str(token_file))
    store = Store(tmp_path / "s.db")
    box = Outbox(store, [dest], clock=lambda: clock[0], rng=lambda: 0.5)
    store.save_report(r)
    box.enqueue(ReportVersion.from_report(r, SIGNER))
    (first,) = box.deliver_due()
    assert first.delivery.outcome == "retry" and "401" in first.delivery.detail and "token" in first.delivery.detail
    token_file.write_text(TOKEN + "\n")  # the token is refreshed on disk
    clock[0] += 6
    (second,) = box.deliver_due()
    assert second.delivery.outcome == "sent"
    box.close()
    assert len(search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-F4")) == 1


def test_an_invalid_resource_is_dead_lettered_with_the_validators_reason(peer):
    dest = destination(peer)
    payload = json.dumps({"control_id": "X", "requests": [{"method": "POST", "url": "DiagnosticReport",
                          "resource": {"resourceType": "DiagnosticReport", "status": "bogus"}}]}).encode()
    delivery = dest.deliver(payload)
    dest.close()
    assert delivery.outcome == "dead" and "400" in delivery.detail and "bogus" in delivery.detail


def test_fhir_server_down_is_a_retry():
    dest = make_destination(FHIRConfig(name="fhir", kind="fhir", url=f"http://127.0.0.1:{free_port()}", token="x"))
    r = report("ACC-F5")
    delivery = dest.deliver(dest.build(ReportVersion.from_report(r, SIGNER)))
    dest.close()
    assert delivery.outcome == "retry" and "ConnectError" in delivery.detail


def test_an_addendum_is_appended_and_the_patient_identifier_keeps_its_type(peer, tmp_path):
    r = report("ACC-F9")
    r.sign("final")
    assert r.begin_amendment("addendum").ok
    r.type_text("addendum", "Compared with the outside CT: new.")
    assert r.sign("final").ok
    _, attempts = deliver(tmp_path, destination(peer), (r, ReportVersion.from_report(r, SIGNER)))
    assert attempts[0].delivery.outcome == "sent", attempts  # validated by the peer's FHIR.js
    (dr,) = search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-F9")
    assert dr["status"] == "appended"
    assert dr["subject"]["identifier"]["type"]["coding"][0]["code"] == "MR"


def test_one_recorded_call_is_one_communication_through_every_version(peer, tmp_path):
    told = time.time() - 600
    r = Report.new(TemplateLibrary().get("cta-chest-pe"), exam={**EXAM, "accession": "ACC-F&10#x",
                                                               "placer_order": "PL-10", "visit_number": "V-10"})
    r.go_to("indication")
    r.dictate("Shortness of breath.")
    r.go_to("impression")
    r.dictate("Acute right lower lobe pulmonary embolism.")
    assert r.record_communication("Dr. Greg House", "ED physician", "telephone", told, ["pulmonary embolism"],
                                  by="Anna Smith").ok
    r.sign("preliminary")
    prelim = ReportVersion.from_report(r, SIGNER)
    r.sign("final")
    final = ReportVersion.from_report(r, SIGNER)
    _, attempts = deliver(tmp_path, destination(peer), (r, prelim), (r, final))
    assert [a.delivery.outcome for a in attempts] == ["sent", "sent"], attempts
    # The accession with & and # is one value: one report found by it, not a search that matched anything.
    (dr,) = search(peer, "DiagnosticReport", "identifier=urn%3Aoid%3A1.2.3.4.5%7CACC-F%2610%23x")
    assert dr["status"] == "final" and dr["basedOn"][0]["identifier"]["value"] == "PL-10"
    assert dr["encounter"]["identifier"]["value"] == "V-10"
    comms = [c for c in search(peer, "Communication", "status=completed")
             if c["about"][0]["identifier"]["value"] == "ACC-F&10#x"]
    assert len(comms) == 1  # the call, once, though two versions were sent
    (c,) = comms
    assert c["recipient"][0]["display"] == "Dr. Greg House (ED physician)"
    assert c["medium"][0]["coding"][0]["code"] == "PHONE"
    assert abs(dt.datetime.fromisoformat(c["sent"]).timestamp() - told) < 1.5  # when they were told, not signed


def requests_log(peer):
    return httpx.get(f"http://127.0.0.1:{peer.port}/_requests").json()


def test_a_report_and_its_communication_land_together_in_one_transaction(peer, tmp_path):
    r = report("ACC-T1", "Findings discussed with Dr. Greg House by telephone at 03:12.")
    before = len(requests_log(peer))
    _, attempts = deliver(tmp_path, destination(peer), (r, ReportVersion.from_report(r, SIGNER)))
    assert attempts[0].delivery.outcome == "sent" and "transaction" in attempts[0].delivery.detail, attempts
    asked = requests_log(peer)[before:]
    posts = [q for q in asked if q["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["url"] == "/" and posts[0]["status"] == 200
    assert posts[0]["bundle"] == {"type": "transaction", "entries": ["POST DiagnosticReport", "POST Communication"]}
    assert len(search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-T1")) == 1
    assert [c for c in search(peer, "Communication", "status=completed")
            if c["about"][0]["identifier"]["value"] == "ACC-T1"]


def test_a_transaction_with_one_invalid_resource_lands_nothing(peer):
    r = report("ACC-T2", "Findings discussed with Dr. Greg House by telephone at 03:12.")
    dest = destination(peer)
    data = json.loads(dest.build(ReportVersion.from_report(r, SIGNER)))
    data["requests"][1]["resource"]["status"] = "bogus"  # the Communication, not the report
    delivery = dest.deliver(json.dumps(data).encode())
    dest.close()
    assert delivery.outcome == "dead" and "400" in delivery.detail and "transaction" in delivery.detail
    assert search(peer, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-T2") == []  # not half landed


def test_a_server_without_transactions_gets_one_request_at_a_time(tmp_path):
    with NodePeer("fhir-server.mjs", "0", TOKEN, "--no-transaction") as single:
        r = report("ACC-T3", "Findings discussed with Dr. Greg House by telephone at 03:12.")
        _, attempts = deliver(tmp_path, destination(single), (r, ReportVersion.from_report(r, SIGNER)))
        assert attempts[0].delivery.outcome == "sent", attempts
        asked = [(q["method"], q["url"].split("?")[0]) for q in requests_log(single) if q["url"] != "/_requests"]
        assert asked == [("GET", "/metadata"), ("POST", "/DiagnosticReport"), ("POST", "/Communication")]
        assert len(search(single, "DiagnosticReport", "identifier=urn:oid:1.2.3.4.5|ACC-T3")) == 1
        forced = destination(single, transaction="always")  # told to, against what the server says
        delivery = forced.deliver(forced.build(ReportVersion.from_report(r, SIGNER)))
        forced.close()
        assert delivery.outcome == "dead" and "no Bundles" in delivery.detail
