"""The application log holds no patient identifiers and no report text: a whole night runs
through (an order in, dictation, a critical finding told, preliminary, final by another reader,
an addendum, a receiver that is down, peer review) and the log is searched for them."""

import os
import socket
import stat

from dictation.logs import log, setup_logging
from dictation.practice.review import sample
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import DirConfig, HL7Config, make_destination
from dictation.ris.document import Signer
from dictation.ris.orders import OrderHandler
from dictation.ris.outbox import Outbox
from dictation.speech.transcript import Transcript
from dictation.store import Store

PATIENT = {"name": "Quimby^Zebedee", "mrn": "MRN-778899", "dob": "19610203", "accession": "ACC55501"}
SECRETS = ["Quimby", "Zebedee", "MRN-778899", "19610203", "ACC55501", "pneumothorax", "Pneumothorax", "Roe",
           "surgeon", "effusion", "Shortness"]


def order() -> bytes:
    return ("\r".join([
        "MSH|^~\\&|HIS|GEN|RADSCRIBE|TELERAD|20261128031500||ORM^O01|CTRL-1|P|2.5.1",
        f"PID|1||{PATIENT['mrn']}^^^GEN^MR||{PATIENT['name']}||{PATIENT['dob']}|M",
        "PV1|1|E|ER^1^1^GEN",
        "ORC|NW|PL-1|FI-1||SC||^^^^^S||20261128031000|||D7^House^Greg",
        f"OBR|1|PL-1|FI-1|71046^XR Chest 2 views^C4|||20261128031000|||||||||D7^House^Greg||{PATIENT['accession']}||||||CR",
    ]) + "\r").encode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def said(controller, text):
    return controller.handle(Transcript(text, (), 1.0))


def test_a_night_leaves_no_patient_data_in_the_log(tmp_path):
    path = setup_logging(tmp_path / "logs" / "radscribe.log")
    assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    library = TemplateLibrary()
    store = Store(tmp_path / "s.db", actor="R-NIGHT")
    _, result = OrderHandler(store, library, {}).handle(order())
    assert result.action == "created"
    row = store.worklist()[0]
    exam = {k: getattr(row, k) for k in ("accession", "patient_id", "patient_name", "birth_date", "sex", "facility")}
    report = Report.new(library.get(row.template_id or "xr-chest"), exam=exam)
    store.save_report(report, worklist_id=row.id)
    outbox = Outbox(store, [make_destination(DirConfig(name="drop", kind="dir", path=str(tmp_path / "drop"))),
                            make_destination(HL7Config(name="ris", kind="hl7", host="127.0.0.1", port=closed_port(),
                                                       timeout_seconds=1))])
    night = ReportController(report, store=store, signer=Signer("R-NIGHT", "Night", "Nora"), outbox=outbox)
    report.go_to("indication")
    said(night, "Shortness of breath period")
    report.go_to("findings.pleura")
    said(night, "Large right pneumothorax and small effusion period")
    report.go_to("impression")
    said(night, "Large right pneumothorax period")
    said(night, "Findings communicated to Dr. Jane Roe, the ED physician, by telephone period")
    said(night, "accept all normals")
    assert said(night, "sign as preliminary").outcome.ok
    day = ReportController(load_report(store, report.id, library), store=store, signer=Signer("R-DAY", "Day", "Dan"),
                           outbox=outbox)
    assert said(day, "sign report").outcome.ok
    said(day, "add addendum")
    said(day, "Discussed with the surgeon period")
    assert said(day, "sign report").outcome.ok
    attempts = outbox.deliver_due()
    assert {a.delivery.outcome for a in attempts} >= {"sent", "retry"}  # the drop took it, the RIS is down
    store.actor = "R-PEER"
    sample(store, 100)
    store.record_review(store.reviews(pending=True)[0].id, "2a", "Effusion size overstated in Quimby's report.")
    for handler in log.handlers:
        handler.flush()

    text = path.read_text()
    # The log says what happened...
    assert "signed preliminary as preliminary, version 1, by R-NIGHT" in text
    assert "signed final as final, version 2, by R-DAY" in text
    assert "signed addendum as corrected, version 3, by R-DAY" in text
    assert "to drop: sent" in text and "to ris: retry" in text
    assert "order message CTRL-1 (ORM^O01): AA created" in text
    assert "critical_finding" in text
    # ...and nothing about whom or what.
    found = [s for s in SECRETS if s in text]
    assert found == [], f"patient data in the application log: {found}"
    # The store does keep them (it is the record), readable by its owner only.
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert "Zebedee" in load_report(store, report.id, library).exam["patient_name"]
