"""What the store hands out and takes in: small dataclasses, never database rows.

The store knows nothing of reports, templates or the command parser; what it needs of a report,
an utterance or a signed version it asks through the protocols below, so a second backend can
implement the same interface without importing the reporting layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


def from_row(cls: type[T], row: Mapping[str, Any]) -> T:
    """A record from a database row: the dataclass's fields by name, other columns ignored."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    return cls(**{k: row[k] for k in row.keys() if k in names})  # noqa: SIM118 - a sqlite3.Row iterates over values


# -- what the store asks of the objects it persists ---------------------------------------------

class _Identified(Protocol):
    @property
    def id(self) -> str: ...


class ReportState(Protocol):
    """A report as the store keeps it: ids, status, and its whole state as a dict."""

    @property
    def id(self) -> str: ...
    @property
    def template(self) -> _Identified: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def version(self) -> int: ...  # how many versions were signed
    @property
    def exam(self) -> dict[str, Any]: ...
    def to_dict(self) -> dict[str, Any]: ...


class UtteranceState(Protocol):
    """One utterance as committed: what was heard, what it became, where it went."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def heard(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def words(self) -> list[dict[str, Any]]: ...
    @property
    def slot(self) -> str | None: ...
    @property
    def command(self) -> str | None: ...
    @property
    def decoder(self) -> str: ...


class SignedState(Protocol):
    """A signed version to keep for ever, with its audit wording."""

    @property
    def version(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def kind(self) -> str: ...
    def row(self) -> tuple[Any, ...]: ...


# -- what the store returns ----------------------------------------------------------------------

@dataclass(frozen=True)
class OutboxEntry:
    """A message to queue with the report change that caused it (built before the transaction)."""

    report_id: str
    version: int
    status: str
    destination: str
    kind: str
    control_id: str
    payload: bytes
    state: str = "pending"  # "dead" when it could not even be built (error says why)
    error: str = ""


@dataclass(frozen=True)
class OutboxMessage:
    """A queued message as the outbox sees it (``payload`` only when it is about to be sent)."""

    id: int
    report_id: str
    version: int
    status: str
    destination: str
    kind: str
    control_id: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str
    created_at: float
    sent_at: float | None = None
    payload: bytes = b""


@dataclass(frozen=True)
class DestinationCounts:
    """How a destination's queue stands."""

    name: str
    pending: int
    in_flight: int
    sent: int
    dead: int
    failing: int
    oldest_waiting: float | None
    last_error: str


@dataclass(frozen=True)
class DraftSummary:
    id: str
    template_id: str
    status: str
    utterances: int
    created_at: float
    updated_at: float
    accession: str | None


@dataclass(frozen=True)
class WorklistItem:
    """A study waiting to be read, as its order described it."""

    id: int
    accession: str
    ordered_at: float
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    exam: str = ""
    modality: str = ""
    facility: str = ""
    priority: str = "routine"
    template_id: str | None = None
    state: str = "waiting"
    exam_code: str = ""
    ordering_physician: str = ""
    placer_order: str = ""
    filler_order: str = ""
    updated_at: float | None = None
    report_status: str = ""  # the status of the report started for it, if one was ("" when none)
    patient_id_authority: str = ""  # PID-3 CX.4: whose identifier patient_id is
    visit_number: str = ""  # PV1-19
    patient_class: str = ""  # PV1-2 (E, I, O...)
    order_changed: str = ""  # fields the order changed after a report was started ("cancelled" too)
    study_uid: str = ""  # the images' Study Instance UID, when the order gave it (OMI IPC-3)
    exam_time: float | None = None  # when the exam is done (OBR-7 / TQ1-7), when the order says
    claimed_by: str = ""  # the reader reading it ("" none); the claim holds until claim_until
    claimed_at: float | None = None
    claim_until: float = 0.0

    def claimed_by_other(self, reader: str, now: float) -> bool:
        """Being read by another reader now (a claim past its time holds nobody)."""
        return bool(self.claimed_by) and self.claimed_by != reader and self.claim_until > now

    def report_exam(self) -> dict[str, Any]:
        """The order as a report keeps it (the report's ``exam``): the patient, the exam, where
        and when; the identifier's authority, the visit and the images' study when the order gave them."""
        exam: dict[str, Any] = {
            "accession": self.accession, "patient_id": self.patient_id, "patient_name": self.patient_name,
            "birth_date": self.birth_date, "sex": self.sex, "facility": self.facility, "exam_code": self.exam_code,
            "ordering_physician": self.ordering_physician, "placer_order": self.placer_order,
            "filler_order": self.filler_order, "exam_description": self.exam,
            "exam_time": self.exam_time or self.ordered_at,  # the exam's time; the order's when unknown
        }
        exam.update({k: v for k, v in (("assigning_authority", self.patient_id_authority),
                                       ("visit_number", self.visit_number), ("patient_class", self.patient_class),
                                       ("study_uid", self.study_uid)) if v})
        return exam


@dataclass(frozen=True)
class StoredUtterance:
    report_id: str
    seq: int
    kind: str
    text: str
    heard: str
    start: float
    end: float
    words: str  # JSON: [{"word", "start", "end", "probability"}]
    slot: str | None
    command: str | None
    committed_at: float
    decoder: str = ""  # the model that read it


@dataclass(frozen=True)
class StoredVersion:
    """A signed version exactly as it was signed (the store refuses to change one)."""

    report_id: str
    version: int
    status: str
    kind: str
    signer_id: str
    signer_name: str
    signed_at: float
    text: str
    sections: str  # JSON
    state: str  # JSON: the report's whole state at signing
    flags: str = "[]"  # JSON
    metrics: str = "{}"  # JSON
    differences: str = ""  # JSON, from the version before (empty for the first)
    # Joined from the order, for turnaround figures (None when the report had no worklist item).
    facility: str | None = None
    priority: str | None = None
    ordered_at: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    report_id: str | None
    accession: str
    detail: str


@dataclass(frozen=True)
class CriticalResult:
    """A critical finding's timer: flagged, then communicated (or withdrawn)."""

    report_id: str
    finding: str
    acr_category: int | None
    deadline_minutes: float | None
    dictated_at: float
    communicated_at: float | None = None
    withdrawn_at: float | None = None
    accession: str | None = None
    facility: str | None = None
    exam: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class SignedFinal:
    """The first final version of a report: the read that peer review judges."""

    report_id: str
    version: int
    signer_id: str
    signer_name: str
    signed_at: float


@dataclass(frozen=True)
class Review:
    id: int
    report_id: str
    version: int
    author: str
    sampled_at: float
    reviewer: str = ""
    score: str | None = None
    comment: str = ""
    reviewed_at: float | None = None


@dataclass(frozen=True)
class LearnedPair:
    """Words the radiologist typed over what was heard, and how often (``radscribe vocab suggest``)."""

    heard: str
    written: str
    times: int
    templates: list[str]
    context: str  # one example: the word before and after, "_" where the pair was
    last: float
