"""`python -m benchmarks export`: how fast signed reports reach a local HL7 receiver.

The receiver is python-hl7's asyncio MLLP server on 127.0.0.1 (tests.peers.python_hl7), ACKing
every message. Measured, in the same run:
  1. plain: the same ORU^R01 bytes sent with python-hl7's own client, one connection per
     message, nothing stored (what a script without an outbox would do);
  2. radscribe: signing (report, utterance and message in one SQLite transaction, WAL,
     synchronous FULL) then the outbox delivering over its kept-open MLLP connection.
Throughput is messages per second for a batch; latency is from the sign command to the ACK for
single reports, p50 and p95.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.asr import machine
from dictation.errors import MissingDependency
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.transcript import Transcript
from dictation.store import Store

TEXT = ("Small left pleural effusion with adjacent atelectasis. No pneumothorax. The cardiomediastinal silhouette "
        "is within normal limits. No acute osseous abnormality.")


def _report(library: TemplateLibrary, n: int) -> Report:
    exam = {"accession": f"BENCH{n:06d}", "patient_id": f"MRN{n}", "patient_name": "Bench^Patient", "sex": "F"}
    report = Report.new(library.get("xr-chest"), exam=exam)
    report.go_to("indication")
    report.dictate("Shortness of breath.")
    report.accept_all_defaults()
    report.go_to("impression")
    report.dictate(TEXT)
    return report


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(echo: Callable[[str], None], messages: int = 200, latency_items: int = 50) -> dict[str, Any]:
    try:
        import hl7.client

        from tests.peers.python_hl7 import PythonHL7Peer
    except ImportError:
        raise MissingDependency("bench export needs python-hl7: pip install 'radscribe[test]'") from None
    from dictation.ris.destinations import HL7Config, HL7Destination
    from dictation.ris.document import ReportVersion, Signer
    from dictation.ris.outbox import Outbox

    library = TemplateLibrary()
    signer = Signer("R1", "Bench", "Reader")
    echo(f"machine: {machine()}")
    result: dict[str, Any] = {"messages": messages}
    with tempfile.TemporaryDirectory() as tmp, PythonHL7Peer() as peer:
        # 1. plain: python-hl7's client, a new connection per message, nothing stored.
        payloads = []
        for i in range(messages):
            r = _report(library, i)
            r.sign("final")
            v = ReportVersion.from_report(r, signer)
            payloads.append(HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=peer.port)).build(v))
        t = time.perf_counter()
        for p in payloads:
            with hl7.client.MLLPClient("127.0.0.1", peer.port) as client:
                client.send_message(p)
        plain = time.perf_counter() - t
        # 2. radscribe: sign (durable, queued in the same transaction), then deliver.
        store = Store(Path(tmp) / "bench.db")
        outbox = Outbox(store, [HL7Destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=peer.port))])
        received_before = len(peer.received)
        t = time.perf_counter()
        for i in range(messages):
            r = _report(library, 10_000 + i)
            c = ReportController(r, store=store, outbox=outbox, signer=signer)
            c.handle(Transcript("sign as final", (), 1.0))
        signed = time.perf_counter() - t
        outbox.deliver_due()
        total = time.perf_counter() - t
        delivered = len(peer.received) - received_before
        # 3. latency: one report at a time, sign command → ACK.
        latencies = []
        for i in range(latency_items):
            r = _report(library, 20_000 + i)
            c = ReportController(r, store=store, outbox=outbox, signer=signer)
            t = time.perf_counter()
            c.handle(Transcript("sign as final", (), 1.0))
            attempts = outbox.deliver_due()
            latencies.append(time.perf_counter() - t)
            assert attempts and attempts[0].delivery.outcome == "sent", attempts
        outbox.close()
        store.close()
    ids = peer.control_ids
    duplicates = len(ids) - len(set(ids))
    echo(f"\n{messages} ORU^R01 messages (xr-chest report, {len(payloads[0])} bytes) to python-hl7's asyncio server on 127.0.0.1")
    echo(f"  plain: python-hl7 client, new connection each, nothing stored   {messages / plain:8.1f} messages/s")
    echo(f"  radscribe: sign + queue (one durable transaction each)          {messages / signed:8.1f} signings/s")
    echo(f"  radscribe: sign + queue + deliver on one connection, end to end {messages / total:8.1f} messages/s "
         f"({delivered} delivered, {duplicates} duplicate control ids at the receiver)")
    echo(f"  radscribe: sign command → ACK, one report at a time ({latency_items} reports): "
         f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {_pct(latencies, 0.95) * 1000:.1f} ms")
    result.update(plain_per_second=round(messages / plain, 1), sign_per_second=round(messages / signed, 1),
                  end_to_end_per_second=round(messages / total, 1), delivered=delivered, duplicates=duplicates,
                  latency_ms_p50=round(statistics.median(latencies) * 1000, 2),
                  latency_ms_p95=round(_pct(latencies, 0.95) * 1000, 2))
    return result
