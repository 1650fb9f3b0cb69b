"""DICOM Basic Text SR by C-STORE to dcmtk's storescp on 127.0.0.1, which runs dsrdump on every
file it receives; dicom3tools' dciodvfy checks each object against the standard."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.destinations import DICOMConfig, make_destination
from dictation.ris.document import ReportVersion, Signer
from dictation.ris.outbox import Outbox
from dictation.store import Store
from tests.peers.hl7 import free_port, wait_for_port

SIGNER = Signer("R1", "Smith", "Anna")
EXAM = {"accession": "ACC-D1", "patient_id": "MRN3", "patient_name": "Doe^Jane", "sex": "F", "birth_date": "1961-04-09",
        "facility": "General Hospital"}


def system_tool(name: str) -> str:
    """dcmtk's or dicom3tools' program, not pynetdicom's Python app of the same name in the venv."""
    venv_bin = str(Path(os.sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    found = shutil.which(name, path=path)
    assert found, f"{name} is missing: `make test` installs dcmtk and dicom3tools"
    return found


@contextlib.contextmanager
def serving(cmd: list[str], port: int):
    """A dcmtk server process, yielded once it listens on ``port``; stopped after."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        wait_for_port(port, 20, alive=lambda: proc.poll() is None)
        try:
            yield port
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


@contextlib.contextmanager
def run_storescp(out: Path, *tls: str):
    port = free_port()
    dsrdump = system_tool("dsrdump")
    with serving([system_tool("storescp"), *tls, "-aet", "ARCHIVE", "-od", str(out), "--exec-on-reception",
                  f"{dsrdump} +Pl #p/#f > #p/#f.txt", str(port)], port):
        yield port


@pytest.fixture
def storescp(tmp_path):
    out = tmp_path / "received"
    out.mkdir()
    with run_storescp(out) as port:
        yield port, out


def dicom_to(port, **kw):
    return make_destination(DICOMConfig(name="pacs", kind="dicom", host="127.0.0.1", port=port, called_ae="ARCHIVE", **kw))


def report():
    r = Report.new(TemplateLibrary().get("ct-head"), exam=dict(EXAM))
    r.go_to("indication")
    r.dictate("Fall on anticoagulation, café au lait.")
    r.go_to("impression")
    r.dictate("Acute right subdural hematoma with 5 mm midline shift.")
    r.sign("preliminary")
    return r


def received(out: Path) -> list[Path]:
    for _ in range(100):  # dsrdump runs after storescp writes the file
        files = sorted(p for p in out.iterdir() if p.suffix != ".txt")
        if files and all(Path(f"{f}.txt").exists() and Path(f"{f}.txt").stat().st_size for f in files):
            return files
        time.sleep(0.05)
    return sorted(p for p in out.iterdir() if p.suffix != ".txt")


def test_preliminary_and_final_arrive_as_valid_sr_and_a_resend_is_the_same_object(storescp, tmp_path):
    port, out = storescp
    r = report()
    store = Store(tmp_path / "s.db")
    box = Outbox(store, [dicom_to(port)])
    store.save_report(r)
    prelim = ReportVersion.from_report(r, SIGNER)
    box.enqueue(prelim)
    r.sign("final")
    box.enqueue(ReportVersion.from_report(r, SIGNER))
    attempts = box.deliver_due()
    assert [a.delivery.outcome for a in attempts] == ["sent", "sent"], attempts
    dest = dicom_to(port)
    assert dest.deliver(dest.build(prelim)).outcome == "sent"  # the same preliminary again
    files = received(out)
    assert len(files) == 2  # one object per version: the resend replaced its own file
    dumps = {f: Path(f"{f}.txt").read_text() for f in files}
    assert all("Completion Flag     : COMPLETE" in d for d in dumps.values())  # a preliminary is whole, unverified
    assert sorted("UNVERIFIED" in d for d in dumps.values()) == [False, True]
    for f, dump in dumps.items():
        assert "Impressions" in dump and "Acute right subdural hematoma with 5 mm midline shift." in dump
        assert "Smith^Anna" in dump and "Doe^Jane" in dump  # the signing radiologist, family^given
        check = subprocess.run([system_tool("dciodvfy"), str(f)], capture_output=True, text=True)
        errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], errors
    box.close()


def test_archive_down_is_a_retry_and_export_command(storescp, tmp_path):
    down = dicom_to(free_port(), timeout_seconds=3)
    v = ReportVersion.from_report(report(), SIGNER)
    delivery = down.deliver(down.build(v))
    assert delivery.outcome == "retry" and "ARCHIVE@127.0.0.1" in delivery.detail
    port, out = storescp
    from dictation.reporting.exchange import report_json

    path = tmp_path / "r.json"
    path.write_text(json.dumps(report_json(report(), [])))
    exe = Path(os.sys.executable).with_name("radscribe")
    env = {**os.environ, "RADSCRIBE_CONFIG": str(tmp_path / "c.toml")}
    (tmp_path / "c.toml").write_text("")
    done = subprocess.run([str(exe), "export", str(path), "--dicom", f"ARCHIVE@127.0.0.1:{port}"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(received(out)) == 1


def test_sr_over_tls_to_a_verified_archive(certs, tmp_path):
    out = tmp_path / "tls"
    out.mkdir()
    v = ReportVersion.from_report(report(), SIGNER)
    server_tls = ("+tls", str(certs / "server.key"), str(certs / "server.pem"), "-ic")  # no client certificate asked
    with run_storescp(out, *server_tls) as port:
        trusted = dicom_to(port, tls=True, ca_file=str(certs / "ca.pem"), server_name="127.0.0.1")
        assert trusted.deliver(trusted.build(v)).outcome == "sent"
    assert len(received(out)) == 1
    rogue_out = tmp_path / "rogue"
    rogue_out.mkdir()
    with run_storescp(rogue_out, "+tls", str(certs / "rogue.key"), str(certs / "rogue.pem"), "-ic") as port:
        other_ca = dicom_to(port, tls=True, ca_file=str(certs / "ca.pem"), timeout_seconds=5)
        refused = other_ca.deliver(other_ca.build(v))
    assert refused.outcome == "retry" and list(rogue_out.iterdir()) == []


def test_every_version_with_its_addendum_predecessor_and_own_uid_root_is_valid(storescp, tmp_path):
    """A preliminary, a final, an addendum and a correction: each a valid SR (dciodvfy), the four
    consistent as one patient, study and series (dcentvfy), the addendum in its own LOINC 55107-7
    container, each later version naming the one it replaces, UIDs under the organisation's root,
    section headings all LOINC."""
    port, out = storescp
    r = report()
    versions = [ReportVersion.from_report(r, SIGNER)]
    r.sign("final")
    versions.append(ReportVersion.from_report(r, SIGNER))
    assert r.begin_amendment("addendum").ok
    r.type_text("addendum", "Compared with the outside CT of yesterday: the hematoma is new.")
    assert r.sign("final").ok
    versions.append(ReportVersion.from_report(r, SIGNER))
    assert r.begin_amendment("correction").ok
    r.type_text("impression", "Acute left subdural hematoma with 5 mm midline shift.")
    assert r.sign("final").ok
    versions.append(ReportVersion.from_report(r, SIGNER))
    dest = dicom_to(port, uid_root="1.2.840.99999.7.")
    for v in versions:
        assert dest.deliver(dest.build(v)).outcome == "sent"
    files = received(out)
    assert len(files) == 4
    import pydicom

    objects = sorted((pydicom.dcmread(f) for f in files), key=lambda d: int(d.InstanceNumber))
    assert all(d.SOPInstanceUID.startswith("1.2.840.99999.7.") for d in objects)
    assert [d.CompletionFlag for d in objects] == ["COMPLETE"] * 4
    assert [d.VerificationFlag for d in objects] == ["UNVERIFIED", "VERIFIED", "VERIFIED", "VERIFIED"]
    corrected = [str(c.ContentSequence[0].TextValue) for c in objects[3].ContentSequence
                 if c.ValueType == "CONTAINER" and "ContentSequence" in c]
    assert any("Acute left subdural" in t for t in corrected)  # the correction's text, in the last version
    assert "PredecessorDocumentsSequence" not in objects[0]
    for before, after in zip(objects, objects[1:]):
        ref = after.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == before.SOPInstanceUID
    headings = [item.ConceptNameCodeSequence[0] for item in objects[2].ContentSequence if item.ValueType == "CONTAINER"]
    assert {h.CodingSchemeDesignator for h in headings} == {"LN"}
    assert headings[-1].CodeValue == "55107-7"
    assert "the hematoma is new" in objects[2].ContentSequence[-1].ContentSequence[0].TextValue
    assert "55107-7" not in [h.CodeValue for h in (i.ConceptNameCodeSequence[0] for i in objects[1].ContentSequence)]
    for f in files:
        check = subprocess.run([system_tool("dciodvfy"), str(f)], capture_output=True, text=True)
        errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], errors
    # Across the four objects: one patient, one study, one series, consistent (dicom3tools' dcentvfy).
    check = subprocess.run([system_tool("dcentvfy"), *map(str, files)], capture_output=True, text=True)
    errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
    assert errors == [], errors


def test_every_version_carries_the_same_study_time_when_the_order_gave_none():
    """Study-level attributes agree across the versions of one study (dcentvfy): without an
    exam time from the order, the study time is when the report was started, not each signing."""
    import dataclasses
    import io

    import pydicom

    from dictation.ris.dicom_sr import build_sr

    r = report()  # signed preliminary; the order gave no exam time
    assert "exam_time" not in r.exam
    first = ReportVersion.from_report(r, Signer("R1", "Smith", "Anna"))
    r.sign("final")
    later = dataclasses.replace(ReportVersion.from_report(r, Signer("R1", "Smith", "Anna")),
                                signed_at=first.signed_at + 3600)  # the final an hour later
    a, b = (pydicom.dcmread(io.BytesIO(build_sr(v))) for v in (first, later))
    assert (a.StudyDate, a.StudyTime) == (b.StudyDate, b.StudyTime)
    assert a.InstanceCreationTime != b.InstanceCreationTime or a.InstanceCreationDate != b.InstanceCreationDate


@contextlib.contextmanager
def run_archive(tmp_path: Path):
    """dcmtk's dcmqrscp: an archive that stores and answers C-FIND (Study Root), on 127.0.0.1."""
    port = free_port()
    db = tmp_path / "archive"
    db.mkdir()
    config = tmp_path / "dcmqrscp.cfg"
    config.write_text(f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\nHostTable BEGIN\n"
                      f"HostTable END\nVendorTable BEGIN\nVendorTable END\nAETable BEGIN\nARCHIVE {db} RW (200, 64mb) ANY\n"
                      "AETable END\n")
    with serving([system_tool("dcmqrscp"), "-c", str(config), "--disable-host-lookup"], port):
        yield port


def _image(path: Path, study_uid: str, accession: str, patient_id: str) -> Path:
    """A secondary-capture object of the study, as a modality would have sent it."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds, meta = Dataset(), FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "Doe^Jane", patient_id, accession
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.Modality, ds.StudyDate, ds.StudyTime, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "OT", "20261204", "101010", "1", 1, 1
    ds.ConversionType = "WSD"
    ds.save_as(path, enforce_file_format=True)
    return path


def _series_in(port: int, study_uid: str) -> list[str]:
    """The modalities of the series the archive holds in a study (dcmtk's findscu)."""
    done = subprocess.run([system_tool("findscu"), "-S", "-aec", "ARCHIVE", "-k", "QueryRetrieveLevel=SERIES",
                           "-k", f"StudyInstanceUID={study_uid}", "-k", "Modality", "127.0.0.1", str(port)],
                          capture_output=True, timeout=30)
    text = (done.stdout + done.stderr).decode(errors="replace")
    return sorted(line.split("[")[1].split("]")[0].strip() for line in text.splitlines() if "(0008,0060)" in line and "[" in line)


def test_an_order_without_a_study_uid_joins_the_images_study_found_by_accession(tmp_path):
    """An ORM gives no Study Instance UID: with find_study the archive is asked (C-FIND by
    accession and patient) and the SR lands in the images' study; before the images are there it
    waits (retry), and another patient's study with the same accession is never taken."""
    images_study = "1.2.840.99999.3.1"
    with run_archive(tmp_path) as port:
        dest = dicom_to(port, find_study=True)
        version = ReportVersion.from_report(report(), SIGNER)
        payload = dest.build(version)
        early = dest.deliver(payload)
        assert early.outcome == "retry" and "waits for the images" in early.detail, early
        store = subprocess.run([system_tool("storescu"), "-aec", "ARCHIVE", "127.0.0.1", str(port),
                                str(_image(tmp_path / "other.dcm", "1.2.840.99999.3.2", "ACC-D1", "MRN-OTHER"))],
                               capture_output=True, timeout=30)
        assert store.returncode == 0, store.stderr
        assert dest.deliver(payload).outcome == "retry"  # the same number, another patient: not this study
        subprocess.run([system_tool("storescu"), "-aec", "ARCHIVE", "127.0.0.1", str(port),
                        str(_image(tmp_path / "img.dcm", images_study, "ACC-D1", "MRN3"))], check=True, timeout=30)
        sent = dest.deliver(payload)
        assert sent.outcome == "sent", sent
        assert _series_in(port, images_study) == ["OT", "SR"]  # the report beside the images
        assert _series_in(port, "1.2.840.99999.3.2") == ["OT"]
