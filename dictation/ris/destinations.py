"""Where signed reports go: the `[[export]]` tables of the config, and how each kind sends.

    [[export]]
    name = "ris"                 # shown in `radscribe outbox`; part of the message control id
    kind = "hl7"                 # hl7 (MLLP) or dir (a folder the RIS polls)
    facilities = ["GENERAL"]     # only reports for these facilities (default: every report)
    host = "10.1.2.3"
    port = 2575
    timeout_seconds = 10
    obx = "sections"             # sections (FT per section, LOINC coded) | report (one FT) | tx (lines)
    accession_as_filler = false  # put the accession in the filler order number too
    sending_facility = "TELERAD"
    receiving_application = "RIS"
    receiving_facility = "GENERAL"
    tls = false                  # or true, with optional ca_file / cert_file / key_file / server_name

    [[export]]
    name = "drop"
    kind = "dir"
    path = "/srv/ris-drop"       # ACCESSION-vN-KIND.json and .txt (preliminary, final, addendum, correction), atomically
    file_mode = "0640"           # default "0600" (owner only): a RIS that reads as another user needs group read

    [[export]]
    name = "fhir"
    kind = "fhir"                # FHIR R4 DiagnosticReport (+ Communication), see fhir.py
    url = "https://fhir.example.org/r4"
    token_file = "/etc/radscribe/fhir-token"      # or token = "..."
    accession_system = "urn:oid:1.2.840.99999.1"  # the site's accession identifier system

    [[export]]
    name = "pacs"
    kind = "dicom"               # Basic Text SR by C-STORE, see dicom_sr.py
    host = "10.1.2.4"
    port = 104
    called_ae = "ARCHIVE"
    calling_ae = "RADSCRIBE"
    uid_root = "1.2.840.99999.7."  # your organisation's UID root (default: pydicom's), ending in "."
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dictation.data.files import atomic_write
from dictation.errors import DataFileError, ExportError
from dictation.ris.document import ReportVersion
from dictation.ris.hl7 import HL7Options, build_oru
from dictation.ris.mllp import Ack, MLLPClient, TLSOptions


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HL7Config(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    facilities: list[str] = []  # only reports from these facilities (MSH-4 / exam facility); empty: all
    kind: Literal["hl7"]
    host: str
    port: Annotated[int, Field(gt=0, lt=65536)]
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    obx: Literal["sections", "report", "tx"] = "sections"
    accession_as_filler: bool = False
    sending_application: str = "RADSCRIBE"
    sending_facility: str = ""
    receiving_application: str = "RIS"
    receiving_facility: str = ""
    processing_id: Literal["P", "T", "D"] = "P"
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


class DirConfig(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    facilities: list[str] = []  # only reports from these facilities (MSH-4 / exam facility); empty: all
    kind: Literal["dir"]
    path: str
    file_mode: Annotated[str, Field(pattern=r"^0?[0-7]{3}$")] = "0600"  # "0640": a RIS reading as another user


class FHIRConfig(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    facilities: list[str] = []  # only reports from these facilities (MSH-4 / exam facility); empty: all
    kind: Literal["fhir"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    token: str | None = None  # bearer token, or
    token_file: str | None = None  # a file holding it (read again after a 401)
    accession_system: str = "urn:radscribe:accession"  # the site's identifier system for accessions
    patient_system: str = "urn:radscribe:patient"
    transaction: Literal["auto", "always", "never"] = "auto"  # one transaction Bundle per report version
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    ca_file: str | None = None


class DICOMConfig(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    facilities: list[str] = []  # only reports from these facilities (MSH-4 / exam facility); empty: all
    kind: Literal["dicom"]
    host: str
    port: Annotated[int, Field(gt=0, lt=65536)]
    called_ae: Annotated[str, Field(min_length=1, max_length=16)]
    calling_ae: Annotated[str, Field(min_length=1, max_length=16)] = "RADSCRIBE"
    uid_root: Annotated[str, Field(pattern=r"^[1-9][0-9]*(\.(0|[1-9][0-9]*))*\.$", max_length=40)] | None = None
    institution: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    # Ask the archive (C-FIND, Study Root) for the images' Study Instance UID by accession and
    # patient when the order did not give one (an ORM has no IPC-3), so the SR joins that study.
    find_study: bool = False


DestinationConfig = Annotated[HL7Config | DirConfig | FHIRConfig | DICOMConfig, Field(discriminator="kind")]


class _Destinations(_Model):
    export: list[DestinationConfig] = []


def parse_destinations(items: list[Any], path: Path, text: str) -> list[HL7Config | DirConfig | FHIRConfig | DICOMConfig]:
    from dictation.data.files import line_of

    try:
        parsed = _Destinations.model_validate({"export": items}).export
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err["loc"][1:]]
        key = next((x for x in reversed(loc) if not x.isdigit() and x not in ("hl7", "dir", "fhir", "dicom")), "export")
        raise DataFileError(path, line_of(text, key) or line_of(text, "export"), f"[[export]] {'.'.join(loc)}: {err['msg']}") from None
    names = [d.name for d in parsed]
    for name in names:
        if names.count(name) > 1:
            raise DataFileError(path, line_of(text, "export"), f"two [[export]] destinations are named {name!r}")
    for d in parsed:  # a certificate or token file that is not there is a config error now, not a retry for ever
        for key in ("ca_file", "cert_file", "key_file", "token_file"):
            value = getattr(d, key, None)
            if value and not Path(value).expanduser().is_file():
                raise DataFileError(path, line_of(text, key) or line_of(text, "export"),
                                    f"[[export]] {d.name}: {key} {value!r} does not exist")
    return parsed


@dataclass(frozen=True)
class Delivery:
    """The outcome of one attempt: sent, try again later, or dead (the message itself is wrong)."""

    outcome: Literal["sent", "retry", "dead"]
    detail: str = ""
    ack: bytes = b""


class Destination(Protocol):
    name: str
    kind: str

    def build(self, version: ReportVersion) -> bytes: ...

    def deliver(self, payload: bytes) -> Delivery: ...

    def close(self) -> None: ...


class HL7Destination:
    kind = "hl7"

    def __init__(self, config: HL7Config) -> None:
        self.config = config
        self.name = config.name
        self.options = HL7Options(
            sending_application=config.sending_application, sending_facility=config.sending_facility,
            receiving_application=config.receiving_application, receiving_facility=config.receiving_facility,
            processing_id=config.processing_id, obx=config.obx, accession_as_filler=config.accession_as_filler,
        )
        tls = TLSOptions(config.ca_file, config.cert_file, config.key_file, config.server_name) if config.tls else None
        self.client = MLLPClient(config.host, config.port, tls=tls, timeout=config.timeout_seconds)

    def build(self, version: ReportVersion) -> bytes:
        return build_oru(version, version.control_id(self.name), self.options)

    def deliver(self, payload: bytes) -> Delivery:
        ack: Ack = self.client.send(payload)
        where = f"{self.config.host}:{self.config.port}"
        if ack.accepted:
            return Delivery("sent", f"{ack.code} from {where}", ack.raw)
        if ack.error:
            return Delivery("dead", f"{where} answered {ack.code} (error): {ack.text or 'no reason given'}", ack.raw)
        if ack.rejected:
            return Delivery("retry", f"{where} answered {ack.code} (rejected, will retry): {ack.text or 'no reason given'}", ack.raw)
        return Delivery("retry", f"{where}: {ack.text or ack.code}")

    def close(self) -> None:
        self.client.close()


class DirDestination:
    kind = "dir"

    def __init__(self, config: DirConfig) -> None:
        self.config = config
        self.name = config.name
        self.folder = Path(config.path).expanduser()
        self.mode = int(config.file_mode, 8)

    def build(self, version: ReportVersion) -> bytes:
        data = {
            "id": version.report_id, "version": version.version, "status": version.status, "kind": version.kind,
            "accession": version.accession, "template": version.template.id, "sections": version.sections,
            "text": version.text, "exam": version.exam, "signed_at": version.signed_at,
            "signer": {"id": version.signer.id, "family": version.signer.family, "given": version.signer.given},
            "control_id": version.control_id(self.name),
        }
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")

    def deliver(self, payload: bytes) -> Delivery:
        data = json.loads(payload)
        # The kind names the file: an addendum and a correction are both "corrected", but not the same act.
        kind = data.get("kind") if data.get("kind") in ("addendum", "correction") else data["status"]
        stem = f"{_safe(data.get('accession') or data['id'])}-v{data['version']}-{kind}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Text first, JSON last: a poller that waits for the JSON finds both complete.
            atomic_write(self.folder / f"{stem}.txt", data["text"].encode("utf-8"), self.mode)
            atomic_write(self.folder / f"{stem}.json", payload, self.mode)
        except OSError as e:
            return Delivery("retry", f"{self.folder}: {e.strerror or e}")
        return Delivery("sent", f"written to {self.folder / stem}.json")

    def close(self) -> None:
        pass


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:80]


def make_destination(config: HL7Config | DirConfig | FHIRConfig | DICOMConfig) -> Destination:
    if isinstance(config, HL7Config):
        return HL7Destination(config)
    if isinstance(config, FHIRConfig):
        from dictation.ris.fhir import FHIRDestination

        return FHIRDestination(config)
    if isinstance(config, DICOMConfig):
        from dictation.ris.dicom_sr import DICOMDestination

        return DICOMDestination(config)
    if isinstance(config, DirConfig):
        return DirDestination(config)
    raise ExportError(f"unknown destination kind {config!r}")


def destination_for_target(*, hl7: str | None = None, fhir: str | None = None, dicom: str | None = None,
                           folder: str | None = None, obx: str = "sections", timeout: float = 10.0,
                           token: str | None = None) -> Destination:
    """One destination named on the command line (``--hl7 HOST:PORT``, ``--fhir URL``,
    ``--dicom AET@HOST:PORT``, ``--dir DIR``); ExportError with a one-line reason when the
    target is malformed (a missing or out-of-range port, an AE title over 16 characters)."""
    if sum(x is not None for x in (hl7, fhir, dicom, folder)) != 1:
        raise ExportError("give one destination: --hl7 HOST:PORT, --fhir URL, --dicom AET@HOST:PORT or --dir DIR")

    def port_of(text: str, what: str) -> int:
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ExportError(f"{what}: the port must be a number from 1 to 65535")
        return int(text)

    config: HL7Config | DirConfig | FHIRConfig | DICOMConfig
    if hl7 is not None:
        host, _, port = hl7.rpartition(":")
        if not host or not port.isdigit():
            raise ExportError(f"--hl7 wants HOST:PORT, not {hl7!r}")
        config = HL7Config(name="cli", kind="hl7", host=host, port=port_of(port, f"--hl7 {hl7}"),
                           obx=obx, timeout_seconds=timeout)  # type: ignore[arg-type]  # checked by click.Choice
    elif fhir is not None:
        if not fhir.startswith(("http://", "https://")):
            raise ExportError(f"--fhir wants a URL (http:// or https://), not {fhir!r}")
        config = FHIRConfig(name="cli", kind="fhir", url=fhir, timeout_seconds=timeout, token=token)
    elif dicom is not None:
        aet, _, address = dicom.partition("@")
        host, _, port = address.rpartition(":")
        if not aet or not host or not port.isdigit() or len(aet) > 16:
            raise ExportError(f"--dicom wants AET@HOST:PORT (AE title up to 16 characters), not {dicom!r}")
        config = DICOMConfig(name="cli", kind="dicom", host=host, port=port_of(port, f"--dicom {dicom}"), called_ae=aet,
                             timeout_seconds=timeout)
    else:
        config = DirConfig(name="cli", kind="dir", path=str(folder))
    return make_destination(config)
