"""FHIR R4: the signed report as a DiagnosticReport (and a Communication for a critical result).

    category   LOINC LP29684-5 Radiology
    code       the template's procedure LOINC (text: the exam)
    status     preliminary / final / corrected
    identifier the accession, type ACSN (v2-0203), in the site's accession system
    subject    the patient, by identifier; resultsInterpreter: the signing radiologist
    conclusion the impression; presentedForm: the whole report as text/plain
    effectiveDateTime the exam time; issued: when it was signed

The first version is a conditional create (If-None-Exist on the accession), later versions a
conditional update on the accession: a resend never makes a second report. When the
communication section is filled, a Communication (category alert) records the notification,
conditionally created on its own identifier. Bearer token auth; on 401 the token file is read
again once, then the message waits with a clear error.

The payload stored in the outbox is the exact list of requests, so a resend is identical. When
the server's CapabilityStatement (GET metadata, asked once) lists the `transaction` interaction,
the requests go as one transaction Bundle, so the DiagnosticReport and its Communication land
together or not at all; otherwise one request at a time (`transaction` in the destination's
config: "auto", the default, "always" or "never").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from dictation.ris.destinations import Delivery
from dictation.ris.document import ReportVersion

LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
READER_SYSTEM = "urn:radscribe:reader"  # the [reader] id's system (the practice's reader ids)
FHIR_STATUS = {"preliminary": "preliminary", "final": "final", "corrected": "corrected", "amended": "amended",
               "appended": "appended"}


def instant(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def diagnostic_report(v: ReportVersion, accession_system: str, patient_system: str) -> dict[str, Any]:
    exam = v.exam
    code: dict[str, Any] = {"text": str(exam.get("exam_description") or v.template.title)}
    if v.template.spec.codes.loinc:
        code["coding"] = [{"system": LOINC, "code": v.template.spec.codes.loinc[0], "display": v.template.title}]
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{
            "use": "official",
            "type": {"coding": [{"system": V2_0203, "code": "ACSN", "display": "Accession ID"}]},
            "system": accession_system,
            "value": v.accession,
        }],
        "status": FHIR_STATUS[v.fhir_status],
        "category": [{"coding": [{"system": LOINC, "code": "LP29684-5", "display": "Radiology"}]}],
        "code": code,
        "effectiveDateTime": instant(float(exam["exam_time"])) if exam.get("exam_time") else instant(v.signed_at),
        "issued": instant(v.signed_at),
        "presentedForm": [{
            "contentType": "text/plain; charset=utf-8",
            "language": "en",
            "data": base64.b64encode(v.text.encode("utf-8")).decode("ascii"),
            "title": f"{v.template.title} ({v.status})",
            "creation": instant(v.signed_at),
        }],
    }
    if exam.get("patient_id"):
        resource["subject"] = {"identifier": _patient_identifier(exam, patient_system),
                               "display": str(exam.get("patient_name", "")).replace("^", ", ") or None}
        if resource["subject"]["display"] is None:
            del resource["subject"]["display"]
    if v.signer.id or v.signer.display:
        interpreter: dict[str, Any] = {"display": v.signer.display}
        if v.signer.id:
            interpreter["identifier"] = {"system": READER_SYSTEM, "value": v.signer.id}
        resource["resultsInterpreter"] = [interpreter]
    orders = [(code, str(exam[key])) for code, key in (("PLAC", "placer_order"), ("FILL", "filler_order")) if exam.get(key)]
    if orders:  # the order this report answers, by its numbers
        resource["basedOn"] = [{"type": "ServiceRequest", "identifier": {
            "type": {"coding": [{"system": V2_0203, "code": code}]}, "value": value}} for code, value in orders]
    if exam.get("visit_number"):
        resource["encounter"] = {"type": "Encounter", "identifier": {
            "type": {"coding": [{"system": V2_0203, "code": "VN"}]}, "value": str(exam["visit_number"])}}
    impression = v.sections.get("impression", "").strip()
    if impression:
        resource["conclusion"] = impression
    return resource


def _patient_identifier(exam: dict[str, Any], system: str) -> dict[str, Any]:
    """The MRN with its type and, when the order said it, the authority that assigned it."""
    out: dict[str, Any] = {"use": "usual", "type": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
        "system": system, "value": str(exam["patient_id"])}
    if exam.get("assigning_authority"):
        out["assigner"] = {"display": str(exam["assigning_authority"])}
    return out


_MEDIUM = {"telephone": ("PHONE", "telephone"), "in person": ("FACE", "face-to-face"),
           "secure message": ("ONLINEWRIT", "online written")}
COMMUNICATION_SYSTEM = "urn:radscribe:communication"


def communications(v: ReportVersion, accession_system: str, patient_system: str) -> list[dict[str, Any]]:
    """One Communication per recorded call (who was told, how, when), with an identifier that
    stays the same in every later version of the report, so the call is recorded once. A
    communication only dictated as text (no call recorded) is one Communication per report."""
    calls = v.communications or ([{"text": v.sections.get("communication", "").strip()}]
                                 if v.sections.get("communication", "").strip() else [])
    out = []
    for i, call in enumerate(calls):
        key = f"{v.report_id}|{call.get('at', '')}|{call.get('recipient', '')}|{i if 'at' not in call else ''}"
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": [{"use": "official", "system": COMMUNICATION_SYSTEM,
                            "value": hashlib.sha1(key.encode()).hexdigest()[:20]}],
            "status": "completed",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/communication-category",
                                      "code": "alert", "display": "Alert"}]}],
            "priority": "urgent",
            "about": [{"type": "DiagnosticReport", "identifier": {"system": accession_system, "value": v.accession}}],
            "sent": instant(float(call["at"])) if call.get("at") else instant(v.signed_at),  # when they were told
            "payload": [{"contentString": call.get("text") or _call_text(call)}],
        }
        if call.get("recipient"):
            who = str(call["recipient"]) + (f" ({call['role']})" if call.get("role") else "")
            resource["recipient"] = [{"display": who}]
        medium = _MEDIUM.get(str(call.get("method", "")))
        if medium:
            resource["medium"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                                               "code": medium[0], "display": medium[1]}]}]
        if v.exam.get("patient_id"):
            resource["subject"] = {"identifier": _patient_identifier(v.exam, patient_system)}
        sender = str(call.get("by") or v.signer.display)
        if sender:
            resource["sender"] = {"display": sender}
        out.append(resource)
    return out


def _call_text(call: dict[str, Any]) -> str:
    findings = ", ".join(call.get("findings") or []) or "Critical results"
    role = f" ({call['role']})" if call.get("role") else ""
    return f"{findings[:1].upper()}{findings[1:]} communicated to {call.get('recipient', '')}{role} by {call.get('method', '')}."


def _query(system: str, value: str) -> str:
    """A conditional search on an identifier, URL-encoded (an accession with & or # stays one value)."""
    return urlencode({"identifier": f"{system}|{value}"})


def build_requests(v: ReportVersion, control_id: str, accession_system: str, patient_system: str) -> bytes:
    from dictation.errors import ExportError

    if not v.accession:
        raise ExportError(f"report {v.report_id[:12]} has no accession number; the FHIR server cannot match it")
    report = diagnostic_report(v, accession_system, patient_system)
    query = _query(accession_system, v.accession)
    requests: list[dict[str, Any]] = []
    if v.version <= 1:
        requests.append({"method": "POST", "url": "DiagnosticReport", "if_none_exist": query, "resource": report})
    else:
        requests.append({"method": "PUT", "url": f"DiagnosticReport?{query}", "resource": report})
    for comm in communications(v, accession_system, patient_system):
        requests.append({"method": "POST", "url": "Communication",
                         "if_none_exist": _query(COMMUNICATION_SYSTEM, comm["identifier"][0]["value"]), "resource": comm})
    return json.dumps({"control_id": control_id, "requests": requests}, ensure_ascii=False, sort_keys=True).encode("utf-8")


def transaction_bundle(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests as one FHIR transaction Bundle (conditional create: ifNoneExist; conditional
    update: the search in the url), in the same order."""
    entries = []
    for r in requests:
        request: dict[str, Any] = {"method": r["method"], "url": r["url"]}
        if r.get("if_none_exist"):
            request["ifNoneExist"] = r["if_none_exist"]
        entries.append({"resource": r["resource"], "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _supports_transaction(capabilities: Any) -> bool:
    rests = capabilities.get("rest", []) if isinstance(capabilities, dict) else []
    return any(i.get("code") == "transaction" for rest in rests if isinstance(rest, dict) and rest.get("mode") == "server"
               for i in rest.get("interaction", []) if isinstance(i, dict))


class FHIRDestination:
    kind = "fhir"

    def __init__(self, config: Any) -> None:
        import httpx

        self.config = config
        self.name = config.name
        self._token = config.token or ""
        self._transaction: bool | None = {"always": True, "never": False}.get(config.transaction)
        verify: Any = config.ca_file if config.ca_file else True
        self.client = httpx.Client(base_url=config.url.rstrip("/") + "/", timeout=config.timeout_seconds, verify=verify)

    def build(self, version: ReportVersion) -> bytes:
        return build_requests(version, version.control_id(self.name), self.config.accession_system,
                              self.config.patient_system)

    def _read_token(self) -> str:
        if self.config.token_file:
            try:
                return Path(self.config.token_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as e:
                return f"<unreadable token file: {e.strerror}>"
        return self._token

    def _send(self, method: str, url: str, body: Any = None, if_none_exist: str | None = None) -> Any:
        """One HTTP request with the bearer token (read again once after a 401 when it comes from a
        file). Raises httpx.HTTPError when the server cannot be reached."""
        for attempt in ("first", "after re-reading the token"):
            if attempt == "first" and not self._token:
                self._token = self._read_token()
            headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {self._token}"}
            if body is not None:
                headers["Content-Type"] = "application/fhir+json"
            if if_none_exist:
                headers["If-None-Exist"] = if_none_exist
            content = json.dumps(body).encode("utf-8") if body is not None else None
            response = self.client.request(method, url, headers=headers, content=content)
            if response.status_code == 401 and attempt == "first" and self.config.token_file:
                self._token = self._read_token()  # a token refreshed on disk since
                continue
            break
        return response

    def _uses_transaction(self) -> bool | Delivery:
        """Whether the server takes transaction Bundles, from its CapabilityStatement (asked once)."""
        import httpx

        if self._transaction is None:
            try:
                response = self._send("GET", "metadata")
            except httpx.HTTPError as e:
                return Delivery("retry", f"{self.config.url}: {type(e).__name__}: {e}")
            if response.status_code >= 500 or response.status_code in (401, 403, 408, 429):
                return Delivery("retry", f"{self.config.url} answered {response.status_code} to GET metadata: "
                                         f"{_outcome_text(response)}")
            try:
                self._transaction = response.status_code == 200 and _supports_transaction(response.json())
            except ValueError:
                self._transaction = False
        return self._transaction

    def _request(self, what: str, method: str, url: str, body: Any, if_none_exist: str | None = None) -> Any:
        """The server's 2xx response to one request, or the Delivery that says why there is none."""
        import httpx

        try:
            response = self._send(method, url, body, if_none_exist)
        except httpx.HTTPError as e:
            return Delivery("retry", f"{self.config.url}: {type(e).__name__}: {e}")
        outcome = _classify(response.status_code)
        if outcome != "sent":
            return Delivery(outcome, f"{self.config.url} answered {response.status_code} to {what}: {_outcome_text(response)}")
        return response

    def deliver(self, payload: bytes) -> Delivery:
        data = json.loads(payload)
        where = self.config.url
        requests = data["requests"]
        mode = self._uses_transaction()
        if isinstance(mode, Delivery):
            return mode
        if mode:
            response = self._request("the transaction", "POST", "", transaction_bundle(requests))
            if isinstance(response, Delivery):
                return response
            refused = _refused_entries(response, requests)
            if refused:
                return Delivery("dead", f"{where} did not apply the whole transaction: {refused}")
            return Delivery("sent", f"{where}: transaction of {_summary(requests)} OK")
        for request in requests:
            response = self._request(f"{request['method']} {request['url']}", request["method"], request["url"],
                                     request["resource"], request.get("if_none_exist"))
            if isinstance(response, Delivery):
                return response
        return Delivery("sent", f"{where}: {_summary(requests)} OK")

    def close(self) -> None:
        self.client.close()


def _summary(requests: list[dict[str, Any]]) -> str:
    return ", ".join(r["method"] + " " + r["url"].split("?")[0] for r in requests)


def _refused_entries(response: Any, requests: list[dict[str, Any]]) -> str:
    """What a transaction-response says it did not apply (every entry must answer 2xx)."""
    try:
        body = response.json()
    except ValueError:
        return "the answer is not JSON"
    entries = body.get("entry", []) if isinstance(body, dict) else []
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or len(entries) != len(requests):
        return f"the answer is not a transaction-response with {len(requests)} entries"
    bad = [f"{r['method']} {r['url'].split('?')[0]}: {e.get('response', {}).get('status', '?')}"
           for r, e in zip(requests, entries, strict=True)
           if not str(e.get("response", {}).get("status", "")).startswith("2")]
    return "; ".join(bad)


def _classify(status: int) -> Literal["sent", "retry", "dead"]:
    if 200 <= status < 300:
        return "sent"
    if status in (401, 403, 408, 409, 429) or status >= 500:
        return "retry"  # auth to fix, or a busy or broken server: try again later
    return "dead"  # 400 invalid, 404, 412 several matches...: the message itself needs a look


def _outcome_text(response: Any) -> str:
    if response.status_code == 401:
        return "the bearer token was refused (check token or token_file)"
    try:
        body = response.json()
        issues = body.get("issue", []) if isinstance(body, dict) else []
        texts = [i.get("details", {}).get("text") or i.get("diagnostics") or i.get("code", "") for i in issues]
        return "; ".join(str(t) for t in texts if t)[:300] or str(response.reason_phrase)
    except ValueError:
        return str(response.text[:200] or response.reason_phrase)
