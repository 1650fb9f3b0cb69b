"""DICOM Basic Text SR (TID 2000 Basic Diagnostic Imaging Report), sent by C-STORE.

    document title   (18748-4, LN, "Diagnostic Imaging Report")
    observer context  TID 1002: observer type person, the signing radiologist's name
    sections          one CONTAINER per non-empty section (CID 7001 headings, all LOINC:
                      Indications, Current and Prior Procedure Descriptions, Findings,
                      Impressions, Recommendations; 73568-8 for the communication, 55107-7 for
                      signed addenda), each with its TEXT
    flags             preliminary: COMPLETE / UNVERIFIED / PRELIMINARY; final and corrected:
                      COMPLETE / VERIFIED (with the verifying observer) / FINAL
    versions          a later version names the one it replaces (Predecessor Documents Sequence)
    request           ReferencedRequestSequence with the accession, study, order numbers

UIDs are derived from the report, so each report version has one fixed SOP Instance UID: a
resend is the same object, and a receiver keeps one copy.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from dictation.errors import ExportError
from dictation.ris.document import ReportVersion
from dictation.status import SIGNED_FINAL

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root for generated UIDs
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND

# Section headings from one coding scheme: the LOINC codes of CID 7001 (Diagnostic Imaging
# Report Headings); a template section with a LOINC code of its own uses it.
SECTION_CODES = {
    "indication": ("18785-6", "LN", "Indications for Procedure"),
    "technique": ("55111-9", "LN", "Current Procedure Descriptions"),
    "comparison": ("18834-2", "LN", "Prior Procedure Descriptions"),
    "findings": ("59776-5", "LN", "Findings"),
    "impression": ("19005-8", "LN", "Impressions"),
    "recommendations": ("18783-1", "LN", "Recommendations"),
    "communication": ("73568-8", "LN", "Communication of critical results"),
    "addendum": ("55107-7", "LN", "Addendum"),
}
TEXT_CODES = {
    "findings": ("121071", "DCM", "Finding"),
    "impression": ("121073", "DCM", "Impression"),
    "recommendations": ("121075", "DCM", "Recommendation"),
}


def _code(value: tuple[str, str, str]) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = value
    return ds


def _item(relationship: str, value_type: str, concept: tuple[str, str, str], **values: Any) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = [_code(concept)]
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def _person(name: str) -> str:
    return name.replace(" ", "^") if "^" not in name else name


def build_sr(v: ReportVersion, *, manufacturer: str = "radscribe", institution: str = "", uid_root: str = "") -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    if not v.accession:
        raise ExportError(f"report {v.report_id[:12]} has no accession number; the archive cannot file it")
    exam = v.exam
    signed = dt.datetime.fromtimestamp(v.signed_at).astimezone()
    final = v.status in SIGNED_FINAL
    root = uid_root or UID_ROOT  # the organisation's own root ([[export]] uid_root) when it has one
    study_uid = str(exam.get("study_uid") or generate_uid(root, [f"study|{v.accession}"]))
    series_uid = generate_uid(root, [f"series|{v.report_id}"])
    sop_uid = generate_uid(root, [f"sop|{v.report_id}|{v.version}"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(BASIC_TEXT_SR)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(root + "1")
    meta.ImplementationVersionName = "RADSCRIBE_1"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = signed.strftime("%Y%m%d")
    ds.InstanceCreationTime = signed.strftime("%H%M%S")
    # Patient
    ds.PatientName = str(exam.get("patient_name", ""))
    ds.PatientID = str(exam.get("patient_id", ""))
    if exam.get("assigning_authority"):  # whose identifier PatientID is (PID-3 CX.4 of the order)
        ds.IssuerOfPatientID = str(exam["assigning_authority"])[:64]
    ds.PatientBirthDate = str(exam.get("birth_date", "")).replace("-", "")
    ds.PatientSex = {"F": "F", "M": "M", "O": "O"}.get(str(exam.get("sex", "")).upper()[:1], "")
    # General Study
    ds.StudyInstanceUID = study_uid
    exam_time = dt.datetime.fromtimestamp(float(exam["exam_time"])).astimezone() if exam.get("exam_time") else signed
    ds.StudyDate = exam_time.strftime("%Y%m%d")
    ds.StudyTime = exam_time.strftime("%H%M%S")
    ds.ReferringPhysicianName = _referring(exam.get("ordering_physician"))
    ds.StudyID = str(exam.get("study_id") or v.accession)[:16]
    ds.AccessionNumber = v.accession[:16]
    ds.StudyDescription = str(exam.get("exam_description") or v.template.title)[:64]
    # SR Document Series
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 9901
    ds.ReferencedPerformedProcedureStepSequence = []
    # General Equipment
    ds.Manufacturer = manufacturer
    if institution or exam.get("facility"):
        ds.InstitutionName = str(institution or exam.get("facility"))[:64]
    # SR Document General
    ds.InstanceNumber = v.version
    ds.CompletionFlag = "COMPLETE"  # every report sent is whole; a preliminary is UNVERIFIED, not partial
    ds.VerificationFlag = "VERIFIED" if final else "UNVERIFIED"
    ds.PreliminaryFlag = "FINAL" if final else "PRELIMINARY"
    ds.ContentDate = signed.strftime("%Y%m%d")
    ds.ContentTime = signed.strftime("%H%M%S")
    observer = f"{v.signer.family}^{v.signer.given}".strip("^") or _person(v.signer.display or "Unknown^Radiologist")
    if final:
        verifier = Dataset()
        verifier.VerifyingObserverName = observer
        verifier.VerifyingObserverIdentificationCodeSequence = []
        verifier.VerifyingOrganization = str(institution or exam.get("facility") or "Unknown")[:64]
        verifier.VerificationDateTime = signed.strftime("%Y%m%d%H%M%S%z")
        ds.VerifyingObserverSequence = [verifier]
    request = Dataset()
    request.StudyInstanceUID = study_uid
    request.ReferencedStudySequence = []
    request.AccessionNumber = v.accession[:16]
    request.PlacerOrderNumberImagingServiceRequest = str(exam.get("placer_order") or "")
    request.FillerOrderNumberImagingServiceRequest = str(exam.get("filler_order") or v.accession)
    request.RequestedProcedureID = str(exam.get("requested_procedure_id") or v.accession)[:16]
    request.RequestedProcedureDescription = str(exam.get("exam_description") or v.template.title)[:64]
    request.RequestedProcedureCodeSequence = []
    ds.ReferencedRequestSequence = [request]
    ds.PerformedProcedureCodeSequence = []
    if v.version > 1:  # the version this one replaces (the same derivation as its own UIDs)
        previous = Dataset()
        previous.ReferencedSOPClassUID = BASIC_TEXT_SR
        previous.ReferencedSOPInstanceUID = generate_uid(root, [f"sop|{v.report_id}|{v.version - 1}"])
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = [previous]
        study = Dataset()
        study.StudyInstanceUID = study_uid
        study.ReferencedSeriesSequence = [series]
        ds.PredecessorDocumentsSequence = [study]
    # SR Document Content: TID 2000
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code(("18748-4", "LN", "Diagnostic Imaging Report"))]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2000"
    ds.ContentTemplateSequence = [template]
    content = [
        _item("HAS CONCEPT MOD", "CODE", ("121049", "DCM", "Language of Content Item and Descendants"),
              ConceptCodeSequence=[_code(("en-US", "RFC5646", "English (United States)"))]),
        _item("HAS OBS CONTEXT", "CODE", ("121005", "DCM", "Observer Type"),
              ConceptCodeSequence=[_code(("121006", "DCM", "Person"))]),
        _item("HAS OBS CONTEXT", "PNAME", ("121008", "DCM", "Person Observer Name"), PersonName=observer),
    ]
    sections = 0
    keys = [(s.key, s.loinc, s.title) for s in v.template.spec.sections] + [("addendum", None, "Addendum")]
    for key, loinc, title in keys:
        text = v.sections.get(key, "").strip()
        if not text:
            continue
        concept = SECTION_CODES.get(key) or ((loinc, "LN", title) if loinc else ("59776-5", "LN", title))
        text_concept = TEXT_CODES.get(key, concept)
        container = _item("CONTAINS", "CONTAINER", concept, ContinuityOfContent="SEPARATE")
        container.ContentSequence = [_item("CONTAINS", "TEXT", text_concept, TextValue=text)]
        content.append(container)
        sections += 1
    if not sections:
        raise ExportError(f"report {v.report_id[:12]} has no text to send")
    ds.ContentSequence = content
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _referring(value: object) -> str:
    if isinstance(value, dict):
        return "^".join(str(value.get(k, "")) for k in ("family", "given")).strip("^")
    text = str(value or "")
    parts = text.split("^")
    return "^".join(parts[1:3]).strip("^") if len(parts) > 2 else text


class DICOMDestination:
    """C-STORE to an archive or RIS SCP (pynetdicom), TLS optional."""

    kind = "dicom"

    def __init__(self, config: Any) -> None:
        self.config = config
        self.name = config.name

    def build(self, version: ReportVersion) -> bytes:
        return build_sr(version, institution=self.config.institution or "", uid_root=self.config.uid_root or "")

    def deliver(self, payload: bytes) -> Any:
        from pydicom import dcmread
        from pynetdicom import AE

        from dictation.ris.destinations import Delivery

        ds = dcmread(io.BytesIO(payload))
        ae = AE(ae_title=self.config.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.config.timeout_seconds
        ae.add_requested_context(BASIC_TEXT_SR, ds.file_meta.TransferSyntaxUID)
        if self.config.find_study:
            ae.add_requested_context(STUDY_ROOT_FIND)
        where = f"{self.config.called_ae}@{self.config.host}:{self.config.port}"
        tls = None
        if self.config.tls:
            import ssl

            ctx = ssl.create_default_context(cafile=self.config.ca_file) if self.config.ca_file else ssl.create_default_context()
            if self.config.cert_file:
                ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
            tls = (ctx, self.config.server_name or self.config.host)
        import socket

        try:  # is anyone there? (pynetdicom leaks its socket when the connection is refused)
            with socket.create_connection((self.config.host, self.config.port), timeout=self.config.timeout_seconds):
                pass
        except OSError as e:
            return Delivery("retry", f"{where}: {e.strerror or e}")
        try:
            assoc = ae.associate(self.config.host, self.config.port, ae_title=self.config.called_ae, tls_args=tls)
        except OSError as e:
            return Delivery("retry", f"{where}: {e}")
        if not assoc.is_established:
            reason = "association rejected" if assoc.is_rejected else "no association (unreachable or aborted)"
            return Delivery("retry", f"{where}: {reason}")
        try:
            waiting = self._join_study(assoc, ds, where) if self.config.find_study else None
            if waiting is not None:
                return waiting
            status = assoc.send_c_store(ds)
        finally:
            assoc.release()
        code = getattr(status, "Status", None) if status else None
        if code is None:
            return Delivery("retry", f"{where}: no C-STORE response")
        if code in (0x0000, 0xB000, 0xB007, 0xB006):
            return Delivery("sent", f"C-STORE status 0x{code:04X} from {where} (SOP Instance {ds.SOPInstanceUID})")
        if code >> 8 == 0xA7:  # out of resources: try again later
            return Delivery("retry", f"{where} answered C-STORE status 0x{code:04X} (will retry)")
        return Delivery("dead", f"{where} refused the SR: C-STORE status 0x{code:04X}")

    def _join_study(self, assoc: Any, ds: Any, where: str) -> Any:
        """The SR into the images' study: when its Study Instance UID is the one made up from the
        accession (the order gave none), the archive is asked for the study with this accession
        and patient, and its UID is written everywhere the made-up one was. No such study yet:
        retry later (the SR waits for the images); two: dead letter (which one is for a person)."""
        from pydicom.dataset import Dataset
        from pydicom.uid import generate_uid

        from dictation.ris.destinations import Delivery

        made_up = generate_uid(self.config.uid_root or UID_ROOT, [f"study|{ds.AccessionNumber}"])
        if ds.StudyInstanceUID != made_up:
            return None  # the order named the study
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.AccessionNumber = ds.AccessionNumber
        query.PatientID = ds.PatientID  # never another patient's study with the same number
        query.StudyInstanceUID = ""
        found: set[str] = set()
        for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND):
            code = getattr(status, "Status", None)
            if code in (0xFF00, 0xFF01) and identifier is not None and identifier.get("StudyInstanceUID"):
                found.add(str(identifier.StudyInstanceUID))
            elif code != 0x0000:
                return Delivery("retry", f"{where}: C-FIND for the study failed (status {code})")
        if not found:
            return Delivery("retry", f"{where} has no study with accession {ds.AccessionNumber} for this patient yet "
                                     "(C-FIND): the SR waits for the images")
        if len(found) > 1:
            return Delivery("dead", f"{where} has {len(found)} studies with accession {ds.AccessionNumber} for this "
                                    "patient: say which one (the order's IPC-3) and retry")
        study = found.pop()

        def replace_uid(dataset: Any, element: Any) -> None:
            if element.VR == "UI" and element.value == made_up:
                element.value = study

        ds.walk(replace_uid)
        return None

    def close(self) -> None:
        pass
