"""MLLP over TLS against node-hl7-server (Node 20) on 127.0.0.1: the server's certificate is
verified, an untrusted one is refused, and a client certificate is presented when asked."""

from __future__ import annotations

import time
from pathlib import Path

from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import HL7Config, HL7Destination
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.hl7 import field
from tests.peers.hl7 import free_port
from tests.peers.node_peers import NodePeer


def message():
    r = Report.new(TemplateLibrary().get("xr-chest"), exam={"accession": "ACC-T1", "patient_id": "MRN1", "sex": "M"})
    r.go_to("impression")
    r.dictate("No acute cardiopulmonary abnormality.")
    r.sign("final")
    v = ReportVersion.from_report(r, Signer("R1", "Smith", "Anna"))
    return v


def tls_peer(certs, log, cert="server", client_ca=False):
    args = [str(free_port()), str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"), str(log)]
    if client_ca:
        args.append(str(certs / "ca.pem"))
    return NodePeer("hl7-tls-server.mjs", *args)


def received(log: Path) -> list[str]:
    for _ in range(40):
        if log.exists() and log.read_text().strip():
            break
        time.sleep(0.05)
    return log.read_text().split() if log.exists() else []


def dest(port, certs, **kw):
    return HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=port, tls=True,
                                    ca_file=str(certs / "ca.pem"), timeout_seconds=5, **kw))


def test_tls_with_a_verified_server_certificate(certs, tmp_path):
    log = tmp_path / "received.log"
    v = message()
    with tls_peer(certs, log) as peer:
        d = dest(peer.port, certs)
        payload = d.build(v)
        delivery = d.deliver(payload)
        d.close()
    assert delivery.outcome == "sent", delivery
    assert received(log) == [field(payload, "MSH", 10)]


def test_an_untrusted_server_certificate_is_refused_and_nothing_is_sent(certs, tmp_path):
    log = tmp_path / "received.log"
    with tls_peer(certs, log, cert="rogue") as peer:
        d = dest(peer.port, certs)
        delivery = d.deliver(d.build(message()))
        d.close()
    assert delivery.outcome == "retry" and "certificate not trusted" in delivery.detail
    assert received(log) == []


def test_a_client_certificate_when_the_receiver_asks_for_one(certs, tmp_path):
    log = tmp_path / "received.log"
    with tls_peer(certs, log, client_ca=True) as peer:
        without = dest(peer.port, certs)
        refused = without.deliver(without.build(message()))
        without.close()
        with_cert = dest(peer.port, certs, cert_file=str(certs / "client.pem"), key_file=str(certs / "client.key"))
        accepted = with_cert.deliver(with_cert.build(message()))
        with_cert.close()
    assert refused.outcome == "retry"
    assert accepted.outcome == "sent", accepted
    assert len(received(log)) == 1
