"""HL7 v2.5.1 ORU^R01: the signed report as the RIS expects it.

Built by hand (the segments and fields below), validated in the tests with hl7apy at STRICT
level and with `check_oru` (segment order, table values, control id):

    MSH  sender, receiver, time, ORU^R01^ORU_R01, control id (deterministic), P, 2.5.1, AL/NE, UNICODE UTF-8
    PID  patient id (MR), name, birth date, sex
    PV1  patient class, facility
    ORC  RE, placer (ORC-2), filler (ORC-3), CM, ordering provider
    OBR  placer/filler (OBR-2/3), procedure (OBR-4), exam time (OBR-7), ordering provider (OBR-16),
         accession (OBR-18), status time (OBR-22), RAD (OBR-24), result status P/F/C (OBR-25),
         signing radiologist (OBR-32)
    NTE  notes, if any
    OBX  one FT per section with its LOINC section code (or, per site, one FT for the whole
         report, or TX lines), result status P/F/C in OBX-11

Text is escaped (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\) and line breaks become \\.br\\ in FT.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from dictation.errors import ExportError
from dictation.reporting.records import exam_zone
from dictation.ris.document import ReportVersion

SEGMENT_END = "\r"
ADDENDUM_LOINC = ("55107-7", "Addendum")
REPORT_LOINC = ("18782-3", "Radiology Study observation (narrative)")
SEX = {"f": "F", "female": "F", "m": "M", "male": "M", "o": "O", "other": "O", "u": "U", "unknown": "U", "a": "A", "n": "N"}


@dataclass(frozen=True)
class HL7Options:
    """Per-site choices (the config's destination table)."""

    sending_application: str = "RADSCRIBE"
    sending_facility: str = ""
    receiving_application: str = "RIS"
    receiving_facility: str = ""
    processing_id: Literal["P", "T", "D"] = "P"
    obx: Literal["sections", "report", "tx"] = "sections"
    accession_as_filler: bool = False  # sites whose RIS keys results on the filler order number
    patient_class: str = "U"
    assigning_authority: str = ""


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def escape(text: str) -> str:
    """HL7 escaping for the default delimiters (the escape character first), and every control
    character (a segment end, the MLLP frame bytes) as ``\\Xhh\\``: nothing a field holds can end
    a field, a segment or the message."""
    out = (text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
           .replace("&", "\\T\\").replace("~", "\\R\\"))
    return CONTROL_CHARACTERS.sub(lambda m: f"\\X{ord(m.group()):02X}\\", out)


def ft(text: str) -> str:
    """Formatted text: escaped, line breaks as \\.br\\ (no raw CR or LF inside a segment)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\\.br\\".join(escape(line) for line in lines)


_ESCAPE = re.compile(r"\\(\.br|[FSTRE]|X[0-9A-Fa-f]{2}(?:[0-9A-Fa-f]{2})*)\\")
_CHARS = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\", ".br": "\n"}


def clean(text: str) -> str:
    """Inbound text as radscribe keeps it: unescaped, with no control character left in it."""
    return CONTROL_CHARACTERS.sub(" ", unescape(text)).strip()


def unescape(text: str) -> str:
    """The text an escaped field stands for, in one left-to-right pass (so ``\\E\\F\\E\\`` is
    a literal ``\\F\\``, not a field separator)."""
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in _CHARS:
            return _CHARS[code]
        return bytes.fromhex(code[1:]).decode("latin-1")

    return _ESCAPE.sub(one, text)


def timestamp(seconds: float, zone: dt.tzinfo | None = None) -> str:
    """An HL7 DTM with its offset, in the facility's time zone (``zone``), else this machine's."""
    return dt.datetime.fromtimestamp(seconds, zone).astimezone(zone).strftime("%Y%m%d%H%M%S%z")



def _name(value: str) -> str:
    """"Doe^Jane" or "Jane Doe" or "Doe, Jane" → XPN family^given (escaped components)."""
    value = value.strip()
    if "^" in value:
        family, _, given = value.partition("^")
    elif "," in value:
        family, _, given = value.partition(",")
    elif " " in value:
        given, _, family = value.rpartition(" ")
    else:
        family, given = value, ""
    return f"{escape(family.strip())}^{escape(given.strip())}".rstrip("^")


def _provider(value: object) -> str:
    """An XCN, every component escaped: from a dict with id/family/given, or a name as text
    ("Jane Roe", "Roe^Jane", "Roe, Jane") with no id."""
    if isinstance(value, dict):
        return "^".join(escape(str(value.get(k, ""))) for k in ("id", "family", "given")).rstrip("^")
    name = _name(str(value or ""))
    return f"^{name}" if name else ""


def build_oru(doc: ReportVersion, control_id: str, options: HL7Options | None = None, now: float | None = None) -> bytes:
    o = options or HL7Options()
    exam = doc.exam
    accession = doc.accession
    if not accession:
        raise ExportError(f"report {doc.report_id[:12]} has no accession number; the RIS cannot file it")
    placer = escape(str(exam.get("placer_order") or accession))
    filler = escape(accession if o.accession_as_filler else str(exam.get("filler_order") or accession))
    status = doc.result_status
    zone = exam_zone(exam)  # the facility's, as the study was opened
    sent = timestamp(now if now is not None else doc.signed_at, zone)
    signed = timestamp(doc.signed_at, zone)
    exam_time = timestamp(float(exam["exam_time"]), zone) if exam.get("exam_time") else signed
    code = str(exam.get("exam_code") or (doc.template.spec.codes.cpt[0] if doc.template.spec.codes.cpt else ""))
    system = str(exam.get("exam_code_system") or ("C4" if code and code == (doc.template.spec.codes.cpt or [""])[0] else "L"))
    procedure = f"{escape(code)}^{escape(str(exam.get('exam_description') or doc.template.title))}^{escape(system)}"
    sex = SEX.get(str(exam.get("sex", "")).strip().lower(), "U")
    authority = escape(str(exam.get("assigning_authority") or o.assigning_authority))
    pid3 = f"{escape(str(exam.get('patient_id', '')))}^^^{authority}^MR" if exam.get("patient_id") else ""
    interpreter = "&".join(escape(x) for x in (doc.signer.id, doc.signer.family, doc.signer.given)).rstrip("&")
    ordering = _provider(exam.get("ordering_physician"))
    visit = [*[""] * 15, escape(str(exam["visit_number"]))] if exam.get("visit_number") else []  # PV1-19
    segments = [
        "|".join(["MSH", "^~\\&", escape(o.sending_application), escape(o.sending_facility or str(exam.get("facility", ""))),
                  escape(o.receiving_application), escape(o.receiving_facility), sent, "", "ORU^R01^ORU_R01", control_id,
                  o.processing_id, "2.5.1", "", "", "AL", "NE", "", "UNICODE UTF-8"]),
        "|".join(["PID", "1", "", pid3, "", _name(str(exam.get("patient_name", ""))), "",
                  escape(str(exam.get("birth_date", "")).replace("-", "")), sex]),
        "|".join(["PV1", "1", escape(str(exam.get("patient_class") or o.patient_class)),
                  escape(str(exam.get("facility", ""))), *visit]),
        "|".join(["ORC", "RE", placer, filler, "", "CM", "", "", "", "", "", "", ordering]),
        "|".join(["OBR", "1", placer, filler, procedure, "", "", exam_time, "", "", "", "", "", "", "", "", ordering, "",
                  escape(accession), "", "", "", signed, "", "RAD", status, "", "", "", "", "", "", interpreter]),
    ]
    for i, note in enumerate(str(n) for n in exam.get("notes", []) if str(n).strip()):
        segments.append("|".join(["NTE", str(i + 1), "L", ft(note)]))
    segments += _obx(doc, o, status, signed)
    message = (SEGMENT_END.join(segments) + SEGMENT_END).encode("utf-8")
    wrong = parse_back(message, doc, control_id)
    if wrong:  # never queued: the signing stands, the message is a dead letter with this reason
        raise ExportError(f"the message did not read back as built ({'; '.join(wrong)}); it was not queued")
    return message


def parse_back(message: bytes, doc: ReportVersion, control_id: str) -> list[str]:
    """Read a built ORU back and check that every identifying field is where it was put: the
    segments and their order, MSH-10, the patient id, the accession, the result status and the
    interpreter. [] when it is right."""
    wrong = [p for p in check_oru(message) if not p.startswith("OBR-18")]
    exam = doc.exam

    def first(segment: str, index: int) -> str:
        return unescape(field(message, segment, index).split("~")[0].split("^")[0].split("&")[0])

    if field(message, "MSH", 10) != control_id:
        wrong.append("MSH-10 is not the control id")
    if exam.get("patient_id") and first("PID", 3) != str(exam["patient_id"]):
        wrong.append("PID-3 is not the patient id")
    if first("OBR", 18) != doc.accession:
        wrong.append("OBR-18 is not the accession")
    if field(message, "OBR", 25) != doc.result_status:
        wrong.append("OBR-25 is not the result status")
    if doc.signer.id and first("OBR", 32) != doc.signer.id:
        wrong.append("OBR-32 is not the interpreter")
    return wrong


def _obx(doc: ReportVersion, o: HL7Options, status: str, signed: str) -> list[str]:
    def obx(n: int, kind: str, code: tuple[str, str], value: str, sub: str = "") -> str:
        return "|".join(["OBX", str(n), kind, f"{code[0]}^{escape(code[1])}^LN", sub, value, "", "", "", "", "", status,
                         "", "", signed])

    if o.obx == "report":
        return [obx(1, "FT", REPORT_LOINC, ft(doc.text.strip()))]
    if o.obx == "tx":  # one TX per line of text; a blank line between sections is not an observation
        lines = [line for line in doc.text.strip().split("\n") if line.strip()]
        return [obx(i + 1, "TX", REPORT_LOINC, escape(line), str(i + 1)) for i, line in enumerate(lines)]
    out: list[str] = []
    for section in doc.template.spec.sections:
        text = doc.sections.get(section.key, "").strip()
        if not text:
            continue
        code = (section.loinc or REPORT_LOINC[0], section.title)
        out.append(obx(len(out) + 1, "FT", code, ft(text)))
    if doc.sections.get("addendum", "").strip():  # signed addenda: their own observation, after the report
        out.append(obx(len(out) + 1, "FT", ADDENDUM_LOINC, ft(doc.sections["addendum"].strip())))
    if not out:
        raise ExportError(f"report {doc.report_id[:12]} has no text to send")
    return out


# -- reading and checking ---------------------------------------------------------------------

def segments(message: bytes | str) -> list[list[str]]:
    text = message.decode("utf-8") if isinstance(message, bytes) else message
    return [s.split("|") for s in re.split(r"\r\n|\r|\n", text) if s]


def field(message: bytes | str, segment: str, index: int) -> str:
    """Field ``index`` (HL7 numbering: MSH-10 is ``field(m, "MSH", 10)``) of the first ``segment``."""
    for s in segments(message):
        if s[0] == segment:
            i = index - 1 if segment == "MSH" else index
            return s[i] if i < len(s) else ""
    return ""


_ORDER = re.compile(r"^MSH PID (PV1 )?ORC OBR (NTE )*(OBX )+$")
TABLES = {("OBR", 25): {"P", "F", "C"}, ("OBX", 11): {"P", "F", "C"}, ("PID", 8): {"F", "M", "O", "U", "A", "N", ""},
          ("OBX", 2): {"FT", "TX"}, ("ORC", 1): {"RE"}, ("MSH", 18): {"UNICODE UTF-8"}, ("MSH", 12): {"2.5.1"}}


def check_oru(message: bytes) -> list[str]:
    """What hl7apy does not check: segment order, table values, consistency. [] when right."""
    problems = []
    segs = segments(message)
    order = " ".join(s[0] for s in segs) + " "
    if not _ORDER.match(order):
        problems.append(f"segment order {order.strip()!r}")
    for s in segs:
        for (name, index), allowed in TABLES.items():
            if s[0] == name:
                value = s[index - 1 if name == "MSH" else index] if len(s) > (index - 1 if name == "MSH" else index) else ""
                if value not in allowed:
                    problems.append(f"{name}-{index} is {value!r}, not one of {sorted(allowed)}")
    statuses = {s[11] for s in segs if s[0] == "OBX"} | {s[25] for s in segs if s[0] == "OBR"}
    if len(statuses) != 1:
        problems.append(f"result status differs between OBR-25 and OBX-11: {sorted(statuses)}")
    if field(message, "MSH", 9) != "ORU^R01^ORU_R01":
        problems.append("MSH-9 is not ORU^R01^ORU_R01")
    if not field(message, "OBR", 18):
        problems.append("OBR-18 (accession) is empty")
    if len(field(message, "MSH", 10)) > 20:
        problems.append("MSH-10 longer than 20 characters")
    return problems
