"""Orders in: an MLLP listener that turns ORM^O01 / OMI^O23 orders into worklist items, and
ADT patient updates (A08, A31: name, birth date, sex, the visit's class; A40: a merge) into
changes of the studies of that patient.

    ORC-1   NW (new), CA / OC / DC (cancel), XO (change): anything else is answered AR
    ORC-2/3 placer / filler order numbers
    accession  OBR-18, else IPC-1 (OMI), else the filler order number
    exam time  OBR-7, else TQ1-7 (the order time ORC-9 / OBR-6 is kept apart, for turnaround)
    PID-3 (the MR identifier, by the facility's authority), PID-5 name, PID-7 birth date, PID-8 sex,
            PV1-2 patient class, PV1-19 visit number
    OBR-4   procedure code ^ description ^ coding system → the template (config mapping, else a
            template whose codes list the code)
    priority   TQ1-9, else ORC-7.6 / OBR-27.6, else OBR-5: S → stat, A → urgent, else routine
    ORC-12 / OBR-16 ordering provider, MSH-4 (or PV1-3) facility

Every message is answered: AA when the worklist changed (or already had it: a resend is not a
duplicate; a patient with no study here), AE with the reason when the order cannot be used, AR
for message types it does not take. A change under a report already started is never written
into it silently: the study is marked, the audit says which fields, and signing waits until the
radiologist has looked. Nothing about the patient is logged; each order is reported by accession only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dictation.errors import StoreBusy, StoreError
from dictation.logs import log
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.hl7 import CONTROL_CHARACTERS, clean, escape, segments
from dictation.ris.mllp import END, START
from dictation.store import Store
from dictation.store.worklist import checked_birth_date

PRIORITY = {"S": "stat", "STAT": "stat", "A": "urgent", "ASAP": "urgent", "U": "urgent", "P": "urgent", "R": "routine",
            "T": "routine", "C": "routine"}
CANCEL = {"CA", "OC", "DC", "OD", "CR"}
PATIENT_UPDATES = ("ADT^A08", "ADT^A31")  # update patient / person information
MERGE = "ADT^A40"  # merge patient: PID-3 survives, MRG-1 is the identifier merged into it


STORE_ATTEMPTS = 2  # each waits the store's busy timeout before giving up


@dataclass(frozen=True)
class OrderResult:
    code: str  # AA / AE / AR
    action: str  # created / updated / cancelled / duplicate / refused
    accession: str
    text: str = ""
    control_id: str = ""
    error: str = "207"  # HL7 table 0357 code for ERR-3 when refused (207: application internal error)


def _get(segs: dict[str, list[str]], name: str, index: int, component: int = 1) -> str:
    seg = segs.get(name)
    if not seg:
        return ""
    i = index - 1 if name == "MSH" else index
    if i >= len(seg):
        return ""
    value = seg[i].split("~")[0]
    parts = value.split("^")
    return clean(parts[component - 1]) if component - 1 < len(parts) else ""


_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


def _timestamp(value: str, zone: dt.tzinfo | None = None) -> float | None:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) as seconds. An explicit offset is
    honoured; without one the time is the facility's (``zone``), else this machine's."""
    m = _DTM.match(value.strip())
    if not m or m.group(3) is None:
        return None
    year, month, day, hour, minute, second, offset = m.groups()
    try:
        when = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz: dt.tzinfo = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        return when.replace(tzinfo=tz).timestamp()
    if zone is not None:
        return when.replace(tzinfo=zone).timestamp()
    return when.astimezone().timestamp()


class OrderHandler:
    """Applies one order message to the store; used by the listener and directly in tests."""

    def __init__(self, store: Store, library: TemplateLibrary, mapping: dict[str, str] | None = None,
                 on_order: Callable[[OrderResult], None] | None = None,
                 facility_mapping: dict[str, dict[str, str]] | None = None,
                 facility_defaults: dict[str, str] | None = None,
                 zone: Callable[[str], dt.tzinfo | None] | None = None,
                 mrn_authority: Callable[[str], str] | None = None) -> None:
        self.store = store
        self.zone = zone or (lambda facility: None)  # a facility's time zone ([[facility]] time_zone)
        self.mrn_authority = mrn_authority or (lambda facility: "")  # whose MR id is the MRN ([[facility]])
        self.library = library
        self.mapping = dict(mapping or {})
        self.facility_mapping = {k: dict(v) for k, v in (facility_mapping or {}).items()}
        self.facility_defaults = dict(facility_defaults or {})  # a facility's template when no code maps
        self.on_order = on_order
        self._lock = threading.Lock()

    def template_for(self, code: str, facility: str = "") -> str | None:
        if not code:
            return self.facility_defaults.get(facility)
        if code in self.facility_mapping.get(facility, {}):
            return self.facility_mapping[facility][code]
        if code in self.mapping:
            return self.mapping[code]
        for template in self.library:
            codes = template.spec.codes
            if code in codes.cpt or code in codes.loinc or code in codes.radlex:
                return template.id
        return self.facility_defaults.get(facility)

    def handle(self, message: bytes) -> tuple[bytes, OrderResult]:
        charset = _charset(message)
        try:
            text = message.decode(charset)
        except (UnicodeDecodeError, LookupError):  # never guessed: a wrong byte would be a wrong name
            refused = OrderResult("AE", "refused", "", f"the message is not valid {charset} (MSH-18): not read",
                                  error="102")
            return _ack(_header(message), refused), refused
        parsed = segments(text)
        segs: dict[str, list[str]] = {}
        for s in parsed:
            segs.setdefault(s[0], s)
        control_id = _get(segs, "MSH", 10)
        kind = "^".join(x for x in (_get(segs, "MSH", 9, 1), _get(segs, "MSH", 9, 2)) if x)
        if "MSH" not in segs:
            result = OrderResult("AE", "refused", "", "not an HL7 message (no MSH segment)", error="100")
        elif kind not in ("ORM^O01", "OMI^O23", *PATIENT_UPDATES, MERGE):
            result = OrderResult("AR", "refused", "", "radscribe takes ORM^O01 and OMI^O23 orders and ADT A08/A31/A40 "
                                 f"patient updates, not {kind or 'this'}", error="200")
        else:
            with self._lock:
                try:
                    result = self._patient_update(segs, kind == MERGE) if kind.startswith("ADT") else self._apply_all(parsed)
                except StoreError as e:  # the worklist cannot be read (busy, damaged): the sender is told, not hung up on
                    code = "AR" if isinstance(e, StoreBusy) else "AE"
                    result = OrderResult(code, "refused", "", f"the worklist store cannot take orders now ({type(e).__name__})",
                                         error="206" if code == "AR" else "207")
        result = OrderResult(result.code, result.action, result.accession, result.text, control_id, result.error)
        log.info("order message %s (%s): %s %s", _loggable(control_id), _loggable(kind), result.code, result.action)
        if self.on_order is not None:
            self.on_order(result)
        return _ack(segs, result), result

    def _apply_all(self, parsed: list[list[str]]) -> OrderResult:
        """Every order of the message (one per ORC group, each with its OBR): all of them are
        checked first; one that cannot be used refuses the whole message (AE naming it), so
        nothing is half-accepted. Then each is applied; AA names every accession."""
        header: dict[str, list[str]] = {}
        groups: list[dict[str, list[str]]] = []
        for seg in parsed:
            if seg[0] == "ORC" or (seg[0] == "OBR" and (not groups or "OBR" in groups[-1])):
                groups.append({})  # a new order: its ORC (or an OBR without one of its own)
            target = groups[-1] if groups else header
            target.setdefault(seg[0], seg)
        if not groups:
            return OrderResult("AE", "refused", "", "no order in the message (no ORC or OBR segment)", error="100")
        plans = [self._plan({**header, **group}) for group in groups]
        refused = [p for p in plans if isinstance(p, OrderResult)]
        if refused:
            which = f"order {plans.index(refused[0]) + 1} of {len(plans)}" if len(plans) > 1 else "the order"
            first = refused[0]
            return OrderResult(first.code, "refused", first.accession, f"{which}: {first.text}; nothing was applied",
                               error=first.error)
        results = [self._execute(*plan) for plan in plans if not isinstance(plan, OrderResult)]
        bad = [r for r in results if r.code != "AA"]
        accessions = ",".join(r.accession for r in results)
        if bad:  # the store refused one after the check (busy, or damaged): said, with what was applied
            done = [r.accession for r in results if r.code == "AA"]
            return OrderResult(bad[0].code, "refused", accessions,
                               f"{bad[0].accession}: {bad[0].text}" + (f" (applied: {', '.join(done)})" if done else ""))
        actions = sorted({r.action for r in results})
        return OrderResult("AA", "/".join(actions), accessions,
                           "; ".join(r.text for r in results if r.text))

    def _plan(self, segs: dict[str, list[str]]) -> OrderResult | tuple[str, str, dict[str, Any]]:
        """One order checked: (control, accession, worklist fields), or why it cannot be used."""
        control = _get(segs, "ORC", 1).upper()
        placer, filler = _get(segs, "ORC", 2) or _get(segs, "OBR", 2), _get(segs, "ORC", 3) or _get(segs, "OBR", 3)
        accession = _get(segs, "OBR", 18) or _get(segs, "IPC", 1) or filler
        if not accession:
            return OrderResult("AE", "refused", "", "no accession number (OBR-18, IPC-1 or the filler order number)",
                               error="101")
        if control in CANCEL:
            return control, accession, {"facility": _get(segs, "MSH", 4) or _get(segs, "PV1", 3, 4)}
        if control not in ("NW", "XO", "SC", ""):
            return OrderResult("AR", "refused", accession, f"order control {control!r} is not handled", error="103")
        code = _get(segs, "OBR", 4, 1)
        facility = _get(segs, "MSH", 4) or _get(segs, "PV1", 3, 4)
        priority_code = (_get(segs, "TQ1", 9) or _get(segs, "ORC", 7, 6) or _get(segs, "OBR", 27, 6)
                         or _get(segs, "OBR", 5)).upper()
        ordering = " ".join(x for x in (_get(segs, "ORC", 12, 3), _get(segs, "ORC", 12, 2)) if x) or \
            " ".join(x for x in (_get(segs, "OBR", 16, 3), _get(segs, "OBR", 16, 2)) if x)
        family, given = _get(segs, "PID", 5, 1), _get(segs, "PID", 5, 2)
        birth = _get(segs, "PID", 7)
        patient = self._patient_id(segs, facility)
        if isinstance(patient, OrderResult):
            return OrderResult(patient.code, "refused", accession, patient.text, error=patient.error)
        item = {
            "patient_id": patient[0],
            "patient_id_authority": patient[1],
            "visit_number": _get(segs, "PV1", 19),
            "study_uid": _get(segs, "IPC", 3),
            "patient_class": _get(segs, "PV1", 2),
            "patient_name": f"{family}^{given}".strip("^"),
            "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}" if len(birth) >= 8 else birth,
            "sex": _get(segs, "PID", 8).upper()[:1],
            "exam": _get(segs, "OBR", 4, 2) or code,
            "exam_code": code,
            "modality": _get(segs, "OBR", 24),
            "facility": facility,
            "priority": PRIORITY.get(priority_code, "routine"),
            "ordered_at": _timestamp(_get(segs, "ORC", 9) or _get(segs, "OBR", 6) or _get(segs, "MSH", 7),
                                     self.zone(facility)) or time.time(),
            "exam_time": _timestamp(_get(segs, "OBR", 7) or _get(segs, "TQ1", 7), self.zone(facility)),
            "template_id": self.template_for(code, facility),
            "ordering_physician": ordering,
            "placer_order": placer,
            "filler_order": filler,
        }
        if item["study_uid"] and not re.fullmatch(r"[0-9]+(\.[0-9]+)+", str(item["study_uid"])) \
                or len(str(item["study_uid"])) > 64:
            return OrderResult("AE", "refused", accession, "IPC-3 is not a DICOM UID", error="102")
        if item["birth_date"]:
            try:
                item["birth_date"] = checked_birth_date(str(item["birth_date"]))
            except StoreError as e:
                return OrderResult("AE", "refused", accession, f"PID-7: {e}", error="102")
        return control, accession, item

    def _patient_update(self, segs: dict[str, list[str]], merge: bool) -> OrderResult:
        """ADT: the patient's new name, birth date, sex (and the visit's class) on every study of
        that patient at the sending facility; for A40, the surviving identifier (PID-3) in place
        of the merged one (MRG-1). A field the message leaves empty is not changed."""
        facility = _get(segs, "MSH", 4) or _get(segs, "PV1", 3, 4)
        patient = self._patient_id(segs, facility)
        if isinstance(patient, OrderResult):
            return patient
        if not patient[0]:
            return OrderResult("AE", "refused", "", "PID-3 has no patient identifier", error="101")
        family, given = _get(segs, "PID", 5, 1), _get(segs, "PID", 5, 2)
        fields: dict[str, Any] = {"patient_name": f"{family}^{given}".strip("^"), "sex": _get(segs, "PID", 8).upper()[:1]}
        birth = _get(segs, "PID", 7)
        if birth:
            try:
                fields["birth_date"] = checked_birth_date(birth[:8])
            except StoreError as e:
                return OrderResult("AE", "refused", "", f"PID-7: {e}", error="102")
        fields = {k: v for k, v in fields.items() if v}
        target, new_patient = patient, None
        if merge:
            merged = self._patient_id({"PID": ["PID", "", "", segs["MRG"][1]]} if len(segs.get("MRG", [])) > 1 else {},
                                      facility)
            if isinstance(merged, OrderResult) or not merged[0]:
                text = merged.text.replace("PID-3", "MRG-1") if isinstance(merged, OrderResult) else "no MRG-1 identifier"
                return OrderResult("AE", "refused", "", f"merge: {text}", error="101")
            target, new_patient = merged, patient
        for attempt in range(STORE_ATTEMPTS):
            try:
                changed = self.store.update_patient(facility, target, fields, new_patient=new_patient,
                                                    visit=(_get(segs, "PV1", 19), _get(segs, "PV1", 2)))
            except StoreBusy:
                if attempt + 1 < STORE_ATTEMPTS:
                    continue
                return OrderResult("AR", "refused", "", "the worklist store is busy: send the update again later", error="206")
            return OrderResult("AA", "patient updated" if changed else "no change", ",".join(changed),
                               f"{len(changed)} stud{'y' if len(changed) == 1 else 'ies'} updated")
        raise AssertionError("unreachable")

    def _patient_id(self, segs: dict[str, list[str]], facility: str) -> tuple[str, str] | OrderResult:
        """The MRN from PID-3 chosen by identifier type (CX.5 = MR) and, when the facility names
        one, assigning authority (CX.4): (id, authority). Never the first repeat whatever it is:
        an enterprise or insurance id in the MRN's place puts the report on the wrong chart."""
        seg = segs.get("PID")
        repeats = seg[3].split("~") if seg and len(seg) > 3 and seg[3] else []
        ids = []
        for r in repeats:
            parts = [clean(p) for p in r.split("^")] + [""] * 5
            ids.append((parts[0], parts[3].split("&")[0], parts[4].upper()))
        ids = [i for i in ids if i[0]]
        if not ids:
            return ("", "")
        wanted = self.mrn_authority(facility)
        mrns = [i for i in ids if i[2] == "MR"]
        if wanted:
            mine = [i for i in mrns if i[1] == wanted] or [i for i in ids if i[1] == wanted and not i[2]]
            if len(mine) != 1:
                return OrderResult("AE", "refused", "", f"PID-3 has {'no' if not mine else 'more than one'} MR identifier "
                                   f"from {wanted} (the facility's MRN authority)", error="101")
            return mine[0][0], mine[0][1]
        if len(mrns) == 1:
            return mrns[0][0], mrns[0][1]
        if not mrns and len(ids) == 1 and not ids[0][2]:
            return ids[0][0], ids[0][1]  # one identifier, untyped: the only one there is
        return OrderResult("AE", "refused", "", "PID-3 does not say which identifier is the MRN "
                           f"({len(mrns)} typed MR among {len(ids)}): set mrn_authority for the facility", error="101")

    def _execute(self, control: str, accession: str, item: dict[str, Any]) -> OrderResult:
        if control in CANCEL:
            found = self.store.cancel_worklist_item(accession, str(item.get("facility", "")))
            return OrderResult("AA", "cancelled" if found else "unknown", accession,
                               "" if found else f"{accession}: no such accession on the worklist")
        for attempt in range(STORE_ATTEMPTS):
            try:
                action = self.store.upsert_worklist_item(accession, **item)
            except StoreBusy:  # another process held the store past its busy timeout: once more, then AR
                if attempt + 1 < STORE_ATTEMPTS:
                    continue
                return OrderResult("AR", "refused", accession, "the worklist store is busy: send the order again later",
                                    error="206")
            except StoreError as e:
                return OrderResult("AE", "refused", accession, str(e))
            return OrderResult("AA", action, accession)
        raise AssertionError("unreachable")


_CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "ASCII": "ascii", "8859/1": "latin-1", "8859/15": "iso8859-15"}


def _charset(message: bytes) -> str:
    """The character set MSH-18 names (UTF-8 when it names none)."""
    first = message.split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = first.split(b"|")
    name = fields[17].split(b"~")[0].decode("ascii", "replace").strip().upper() if len(fields) > 17 else ""
    return _CHARSETS.get(name, name)


def _header(message: bytes) -> dict[str, list[str]]:
    """The MSH of a message that could not be decoded, to address the ACK (ASCII only)."""
    first = message.split(b"\r", 1)[0].decode("ascii", "replace").replace("\ufffd", "?")
    return {"MSH": first.split("|")} if first.startswith("MSH") else {}


def _loggable(value: str) -> str:
    """An inbound id as the log may hold it: letters, digits and . _ - only, 20 at most."""
    return re.sub(r"[^A-Za-z0-9._^-]", "?", value)[:20] or "-"


_ERRORS = {"100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
           "103": "Table value not found", "200": "Unsupported message type", "206": "Application record locked",
           "207": "Application internal error"}


def _fit(text: str, length: int) -> str:
    """``text`` escaped, cut so that the escaped field is at most ``length`` characters (the field's
    HL7 length) and no escape sequence is cut in two."""
    cut = text[:length]
    while len(escape(cut)) > length:
        cut = cut[:-1]
    return escape(cut)


def _ack(segs: dict[str, list[str]], result: OrderResult) -> bytes:
    msh = segs.get("MSH", ["MSH", "^~\\&"])

    def f(i: int) -> str:  # echoed from the order: no control character (a frame byte) goes back
        return CONTROL_CHARACTERS.sub("", msh[i - 1]) if len(msh) > i - 1 else ""

    now = dt.datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")
    kind = f(9).split("^")[1] if "^" in f(9) else ""
    control_id = CONTROL_CHARACTERS.sub("", result.control_id)
    lines = ["|".join(["MSH", "^~\\&", "RADSCRIBE", "", f(3), f(4), now, "", f"ACK^{kind}^ACK", "A" + control_id[-19:],
                       f(11) or "P", f(12) or "2.5.1"]),
             "|".join(["MSA", result.code, control_id, _fit(result.text, 80)])]
    if result.code != "AA":  # ERR-3 (table 0357) and ERR-4 severity are required in 2.5
        code = result.error if result.error in _ERRORS else "207"
        lines.append("|".join(["ERR", "", "", f"{code}^{_ERRORS[code]}^HL70357", "E", "", "", "", _fit(result.text, 250)]))
    return ("\r".join(lines) + "\r").encode("utf-8")


class _Handler(socketserver.BaseRequestHandler):
    server: OrdersListener

    def handle(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(min(10.0, self.server.message_deadline))
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:  # no certificate, the wrong one, or not TLS at all
                self.server._say_once(f"orders: a TLS handshake failed ({type(e).__name__})")
                return
        buffer = b""
        started: float | None = None  # when the message being received began
        while True:
            if buffer.find(START) >= 0 and started is None:
                started = time.monotonic()
            left = self.server.message_deadline - (time.monotonic() - started) if started is not None else None
            if left is not None and left <= 0:
                return  # a sender dribbling one message for ever: the connection goes, the thread is free
            self.request.settimeout(min(self.server.idle_timeout, left) if left is not None else self.server.idle_timeout)
            try:
                chunk = self.request.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                start = buffer.find(START)
                end = buffer.find(END, start + 1) if start >= 0 else -1
                if start < 0 or end < 0:
                    break
                message, buffer = buffer[start + 1:end], buffer[end + len(END):]
                started = None
                reply, _ = self.server.orders.handle(message)
                self.request.sendall(START + reply + END)
            if len(buffer) > self.server.max_message_bytes:  # answered, then the connection goes
                refused = OrderResult("AE", "refused", "", f"message larger than {self.server.max_message_bytes} bytes",
                                      error="207")
                payload = buffer[buffer.find(START) + 1:] if buffer.find(START) >= 0 else buffer
                self.request.sendall(START + _ack(_header(payload), refused) + END)
                log.warning("orders: a message over %d bytes refused", self.server.max_message_bytes)
                return


class OrdersListener(socketserver.ThreadingTCPServer):
    """`radscribe listen-orders`: persistent MLLP connections, one thread each, at most
    ``max_connections`` at a time; a message larger than ``max_message_bytes`` is answered AE,
    one that takes longer than ``message_deadline`` seconds to arrive loses its connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of connections is accepted (and refused past the cap) at once

    def __init__(self, host: str, port: int, orders: OrderHandler, idle_timeout: float = 300.0, *,
                 max_connections: int = 32, max_message_bytes: int = 1_000_000, message_deadline: float = 60.0,
                 tls: ssl.SSLContext | None = None, allow: list[str] | None = None) -> None:
        self.orders = orders
        self.tls = tls  # server side; with CERT_REQUIRED the sender must show a certificate from the CA
        self.allow = [ipaddress.ip_network(a, strict=False) for a in (allow or [])]
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_message_bytes = max_message_bytes
        self.message_deadline = message_deadline
        self._active = threading.BoundedSemaphore(max_connections)
        self._refused_logged = 0.0
        super().__init__((host, port), _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Only the senders ``allow`` lists (every sender when it lists none)."""
        if not self.allow:
            return True
        try:
            address = ipaddress.ip_address(client_address[0])
        except ValueError:
            return False
        if any(address in network for network in self.allow):
            return True
        self._say_once("orders: a connection from an address not in [orders] allow was closed")
        return False

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake runs in the connection's own thread, with a deadline
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def _say_once(self, message: str) -> None:
        if time.monotonic() - self._refused_logged > 60:  # said once a minute, not once a connection
            self._refused_logged = time.monotonic()
            log.warning(message)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._active.acquire(blocking=False):  # full: this connection is closed at once
            self._say_once(f"orders: {self.max_connections} connections open, more are refused")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._active.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._active.release()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def describe(result: OrderResult) -> str:
    """One line about an order: no patient data."""
    what = f"{result.action} {result.accession}" if result.accession else result.action
    return f"{result.code} {what}" + (f": {result.text}" if result.text else "")

