"""The report: a template instance being filled by voice.

A report holds, for every slot of its template (a field, or a section without fields), a list
of pieces of text, each with where it came from: ``dictated`` (speech), ``typed`` (keyboard),
``default`` (the template's normal text), ``macro`` or ``option`` (a pick-list choice). Defaults
are put in place when the report opens but stay *not accepted* until the radiologist accepts
them ("normal lungs", "insert normal", "accept all normals") or dictates over them; the final
text never contains a default nobody accepted, so the product never invents normal findings.

It also holds the cursor (the active slot), the status (draft → preliminary → final →
corrected), every utterance that made it (text, audio span, words with probabilities), and
undo/redo as snapshots of the content. ``apply`` carries out a voice command; the command
parser that recognised it is the controller's, not the report's.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from dictation.errors import ReportLocked
from dictation.reporting.commands import Command, Macro
from dictation.reporting.records import (
    ADDENDUM,
    AMENDMENTS,
    Addendum,
    CommunicationRecord,
    Outcome,
    Piece,
    UtteranceRecord,
    exam_zone,
)
from dictation.reporting.render import render
from dictation.reporting.routing import capitalise_for, clip, route_sentence, split_sentences
from dictation.reporting.templates import Slot, Template, TemplateLibrary
from dictation.status import SIGNED_FINAL, ReportStatus
from dictation.text.spoken import join_text

STATUSES = tuple(ReportStatus)
SOURCES = ("dictated", "typed", "default", "macro", "option", "communication")
COMMUNICATION_METHODS = ("telephone", "in person", "secure message")
_NEXT_STATUS: dict[str, set[str]] = {ReportStatus.DRAFT: {ReportStatus.PRELIMINARY, ReportStatus.FINAL},
                ReportStatus.PRELIMINARY: {ReportStatus.PRELIMINARY, ReportStatus.FINAL},
                ReportStatus.FINAL: {ReportStatus.CORRECTED},
                ReportStatus.CORRECTED: {ReportStatus.CORRECTED}}


@dataclass
class Report:
    template: Template
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "draft"
    cursor: int = 0
    slots: dict[str, list[Piece]] = field(default_factory=dict)
    utterances: list[UtteranceRecord] = field(default_factory=list)
    listening: bool = True
    exam: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    signed_at: float | None = None
    version: int = 0  # signed versions so far: preliminary 1, final 2, ... (what the outbox sends)
    communications: list[CommunicationRecord] = field(default_factory=list)
    amendment: str | None = None  # "addendum" or "correction" while one is being written after signing
    addenda: list[Addendum] = field(default_factory=list)
    signed_kind: str = ""  # what the last signing was: preliminary, final, addendum or correction
    signed_by: str = ""
    _amend_base: dict[str, Any] | None = field(default=None, repr=False)  # the slots before a correction began
    _undo: list[Any] = field(default_factory=list, repr=False)
    _redo: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def new(cls, template: Template, exam: dict[str, Any] | None = None) -> Report:
        report = cls(template, exam=dict(exam or {}))
        for slot in template.slots:
            report.slots[slot.key] = [Piece(slot.default, "default", accepted=False)] if slot.default else []
        return report

    # -- reading -----------------------------------------------------------------------------

    @property
    def slot(self) -> Slot:
        return self.template.slots[self.cursor]

    def slot_text(self, key: str, *, with_unaccepted: bool = False) -> str:
        text = ""
        for p in self.slots.get(key, []):
            if p.accepted or with_unaccepted:
                text = join_text(text, p.text)
        return text

    def text_before_cursor(self) -> str:
        """The active slot's text, for capitalisation and spacing of what is dictated next."""
        return self.slot_text(self.slot.key)

    def unaccepted_defaults(self) -> list[str]:
        return [k for k, pieces in self.slots.items() if any(not p.accepted for p in pieces)]

    @property
    def has_work(self) -> bool:  # said or typed into (not only defaults): worth a question before quitting
        return bool(self.utterances) or any(p.source != "default" for pieces in self.slots.values() for p in pieces)

    def sections_text(self, *, with_unaccepted: bool = False) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.template.spec.sections:
            if s.fields:
                lines = [f"{f.title}: {t}" for f in s.fields
                         if (t := self.slot_text(f"{s.key}.{f.key}", with_unaccepted=with_unaccepted))]
                out[s.key] = "\n".join(lines)
            else:
                out[s.key] = self.slot_text(s.key, with_unaccepted=with_unaccepted)
        return out

    def fields_text(self, *, with_unaccepted: bool = False) -> dict[str, dict[str, str]]:
        return {s.key: {f.key: self.slot_text(f"{s.key}.{f.key}", with_unaccepted=with_unaccepted) for f in s.fields}
                for s in self.template.spec.sections if s.fields}

    def render(self, *, with_unaccepted: bool = False) -> str:
        """The report text through the template body. Unaccepted defaults are left out unless asked."""
        own = {s.key: self.slot_text(s.key, with_unaccepted=with_unaccepted) for s in self.template.spec.sections if not s.fields}
        text = render(self.template, own, self.fields_text(with_unaccepted=with_unaccepted),
                      status=self.status, exam=self.exam)
        blocks = [self._addendum_block(a.text, a.by, a.signed_at) for a in self.addenda]
        if self.amendment == ADDENDUM and (draft := self.slot_text(ADDENDUM)):
            blocks.append(f"ADDENDUM (not signed):\n{draft}")
        return "\n\n".join([text.rstrip("\n"), *blocks]) + "\n" if blocks else text

    def _addendum_block(self, text: str, by: str, at: float) -> str:
        when = dt.datetime.fromtimestamp(at, exam_zone(self.exam)).astimezone(exam_zone(self.exam))
        who = f" by {by}" if by else ""
        return f"ADDENDUM (signed{who} on {when.strftime('%Y-%m-%d %H:%M %Z').strip()}):\n{text}"

    def addenda_text(self) -> str:
        """Every signed addendum, as the RIS gets them in their own observation."""
        return "\n\n".join(self._addendum_block(a.text, a.by, a.signed_at) for a in self.addenda)

    # -- undo ----------------------------------------------------------------------------------

    def _state(self) -> Any:
        return (copy.deepcopy(self.slots), self.cursor, [u.scratched for u in self.utterances], list(self.communications))

    def _checkpoint(self) -> None:
        self._undo.append(self._state())
        del self._undo[:-200]
        self._redo.clear()

    def _restore(self, state: Any) -> None:
        slots, cursor, scratched, communications = state
        self.slots, self.cursor, self.communications = slots, cursor, list(communications)
        for u, s in zip(self.utterances, scratched):
            u.scratched = s

    def undo(self) -> Outcome:
        return self._step(self._undo, self._redo, "undo", "undone")

    def redo(self) -> Outcome:
        return self._step(self._redo, self._undo, "redo", "redone")

    def _step(self, back: list[Any], forth: list[Any], verb: str, done: str) -> Outcome:
        if not back:
            return Outcome(False, f"nothing to {verb}")
        forth.append(self._state())
        self._restore(back.pop())
        return Outcome(True, done, True)

    # -- editing -------------------------------------------------------------------------------

    def _editable(self, key: str | None = None) -> None:
        if self.status not in SIGNED_FINAL or self.amendment == "correction":
            return
        if self.amendment == ADDENDUM and key == ADDENDUM:
            return
        if self.amendment == ADDENDUM:
            raise ReportLocked("the signed text stays as it is while an addendum is written; dictate the addendum")
        raise ReportLocked("the report is signed final; start an addendum or a correction")

    def amendment_refusal(self, amend: str | None) -> str:
        """Why new dictation cannot go into this report as asked (empty: it can). Only a report
        signed final takes an amendment, and a report signed final takes new words only in one."""
        signed = self.status in SIGNED_FINAL
        if amend and not signed:
            return f"only a report signed final takes an {amend}; {self.id} is {self.status}: dictate into it"
        if signed and not amend and not self.amendment:
            return f"report {self.id} is signed {self.status}: amend it with an addendum or a correction"
        return ""

    def begin_amendment(self, kind: str) -> Outcome:
        """Start an addendum (text added below the signed report) or a correction (the report
        edited and signed again). The signed version stays in the store as it was."""
        if kind not in AMENDMENTS:
            return Outcome(False, f"an amendment is an addendum or a correction, not {kind!r}")
        if self.status not in SIGNED_FINAL:
            return Outcome(False, "only a report signed final takes an addendum or a correction; edit the draft")
        if self.amendment:
            return Outcome(False, f"an {self.amendment} is already open" if self.amendment == ADDENDUM
                           else "a correction is already open")
        self.amendment = kind
        if kind == ADDENDUM:
            self.slots[ADDENDUM] = []
        else:
            self._amend_base = {k: [asdict(p) for p in v] for k, v in self.slots.items()}
        self._undo.clear()
        self._redo.clear()
        return Outcome(True, "addendum started: dictate it, then sign" if kind == ADDENDUM
                       else "correction started: edit the report, then sign", True)

    def cancel_amendment(self) -> Outcome:
        if not self.amendment:
            return Outcome(False, "no addendum or correction is open")
        if self.amendment == ADDENDUM:
            self.slots.pop(ADDENDUM, None)
        elif self._amend_base is not None:
            self.slots = {k: [Piece(**p) for p in v] for k, v in self._amend_base.items()}
        self.amendment, self._amend_base = None, None
        self._undo.clear()
        self._redo.clear()
        return Outcome(True, "amendment discarded; the signed report is unchanged", True)

    def _drop_unaccepted(self, key: str) -> None:
        self.slots[key] = [p for p in self.slots[key] if p.accepted]

    def insert(self, text: str, *, source: str = "dictated", slot: str | None = None, utterance: int | None = None) -> str:
        """Add text to a slot (default: the active one). Dictating over a default replaces it,
        accepted or not: a field that holds only its normal text is being re-described (as a
        dictation system selects a field's default text when you enter the field)."""
        key = ADDENDUM if self.amendment == ADDENDUM else (slot or self.slot.key)
        self._editable(key)
        self._drop_unaccepted(key)
        if self.slots[key] and all(p.source == "default" for p in self.slots[key]):
            self.slots[key] = []
        self.slots[key].append(Piece(text, source, True, utterance))
        return key

    def dictate(self, text: str, *, utterance: int | None = None, route: bool = False) -> list[str]:
        """Dictated text into the active slot, or sentence by sentence into the best field (route)."""
        self._editable(ADDENDUM if self.amendment == ADDENDUM else None)
        self._checkpoint()
        if not route or self.slot.field is None or self.amendment == ADDENDUM:
            return [self.insert(text, utterance=utterance)]
        used = []
        for sentence in split_sentences(text):
            key = route_sentence(sentence, self.template, self.slot) or self.slot.key
            before = self.slot_text(key)
            self.insert(capitalise_for(before, sentence), slot=key, utterance=utterance)
            used.append(key)
        return list(dict.fromkeys(used))

    def type_text(self, key: str, text: str) -> None:
        """Replace a slot's text with what the radiologist typed."""
        self._editable(key)
        self._checkpoint()
        self.slots[key] = [Piece(text, "typed")] if text.strip() else []

    def go_to(self, key: str) -> Outcome:
        for i, slot in enumerate(self.template.slots):
            if slot.key == key:
                self.cursor = i
                return Outcome(True, f"at {slot.title}")
        return Outcome(False, f"no field {key!r} in this template")

    def move(self, step: int) -> Outcome:
        target = self.cursor + step
        if not 0 <= target < len(self.template.slots):
            return Outcome(False, "already at the " + ("last" if step > 0 else "first") + " field")
        self.cursor = target
        return Outcome(True, f"at {self.slot.title}")

    def scratch_last(self) -> Outcome:
        """Remove the text of the most recent utterance still in the report."""
        self._editable(ADDENDUM if self.amendment == ADDENDUM else None)
        present = {p.utterance for pieces in self.slots.values() for p in pieces if p.utterance is not None}
        for u in reversed(self.utterances):
            if u.seq in present and not u.scratched:
                self._checkpoint()
                for key in self.slots:
                    kept = [p for p in self.slots[key] if p.utterance != u.seq]
                    if not kept and self.slots[key] and key != ADDENDUM:
                        # The scratched text had replaced the default: it comes back, still "not dictated".
                        default = self.template.slot(key).default
                        kept = [Piece(default, "default", accepted=False)] if default else []
                    self.slots[key] = kept
                u.scratched = True
                return Outcome(True, f"scratched “{clip(u.text)}”", True)
        return Outcome(False, "nothing to scratch")

    def accept_default(self, key: str | None = None, utterance: int | None = None) -> Outcome:
        self._editable()
        slot = self.template.slot(key) if key else self.slot
        if not slot.default:
            return Outcome(False, f"{slot.title} has no normal text")
        self._checkpoint()
        pieces = self.slots[slot.key]
        pending = [p for p in pieces if not p.accepted]
        if pending:
            for p in pending:
                p.accepted = True
                p.utterance = utterance
        else:
            pieces.append(Piece(slot.default, "default", True, utterance))
        return Outcome(True, f"normal {slot.title}", True)

    def accept_all_defaults(self, utterance: int | None = None) -> Outcome:
        self._editable()
        keys = self.unaccepted_defaults()
        if not keys:
            return Outcome(False, "no defaults waiting")
        self._checkpoint()
        for key in keys:
            for p in self.slots[key]:
                if not p.accepted:
                    p.accepted, p.utterance = True, utterance
        return Outcome(True, f"accepted {len(keys)} default{'s' * (len(keys) != 1)}", True)

    def choose(self, option: str, utterance: int | None = None) -> Outcome:
        """Set the active field to a pick-list option (or the one field in this section that has it)."""
        self._editable()
        slot = self.slot
        if option not in slot.options:
            having = [s for s in self.template.slots if s.section.key == slot.section.key and option in s.options]
            if len(having) != 1:
                return Outcome(False, f"{option!r} is not an option of {slot.title}")
            slot = having[0]
        self._checkpoint()
        self.slots[slot.key] = [Piece(option, "option", True, utterance)]
        return Outcome(True, f"{slot.title}: {option}", True)

    def clear(self, utterance: int | None = None) -> Outcome:
        self._editable()
        if not self.slots[self.slot.key]:
            return Outcome(False, f"{self.slot.title} is already empty")
        self._checkpoint()
        self.slots[self.slot.key] = []
        return Outcome(True, f"cleared {self.slot.title}", True)

    def new_paragraph(self, utterance: int | None = None) -> Outcome:
        key = ADDENDUM if self.amendment == ADDENDUM else self.slot.key
        self._editable(key)
        if not self.slot_text(key):
            return Outcome(False, "the field is empty")
        self._checkpoint()
        self.slots[key].append(Piece("\n\n", "dictated", True, utterance))
        return Outcome(True, "new paragraph", True)

    def insert_macro(self, macro: Macro, utterance: int | None = None) -> Outcome:
        self._editable()
        keys = [k for k in macro.fields if k not in self.slots]
        target = macro.target
        if target and target not in self.slots:
            firsts = [sl.key for sl in self.template.slots if sl.section.key == target]
            if firsts:
                target = firsts[0]
            else:
                keys.append(target)
        if keys:
            return Outcome(False, f"macro {macro.name} names {keys[0]!r}, which {self.template.id} does not have")
        self._checkpoint()
        if macro.fields:
            for key, text in macro.fields.items():
                self._drop_unaccepted(key)
                self.slots[key].append(Piece(text, "macro", True, utterance))
        else:
            self.insert(macro.text or "", source="macro", slot=target, utterance=utterance)
        return Outcome(True, f"inserted {macro.name}", True)

    def record_communication(self, recipient: str, role: str, method: str, at: float, findings: list[str],
                             by: str = "") -> Outcome:
        """Record that critical findings were communicated; the sentence goes into the
        communication section (or the impression, when the template has none)."""
        self._editable()
        recipient, role, method = recipient.strip(), role.strip(), method.strip().lower()
        if not recipient:
            return Outcome(False, "say who was told (name of the recipient)")
        if method not in COMMUNICATION_METHODS:
            return Outcome(False, f"method must be one of: {', '.join(COMMUNICATION_METHODS)}")
        if at > time.time() + 300:
            return Outcome(False, "the time of the communication is in the future")
        record = CommunicationRecord(recipient, role, method, at, list(findings), time.time(), by)
        keys = [s.key for s in self.template.slots if s.section.key == "communication"]
        key = keys[0] if keys else next(s.key for s in self.template.slots if s.section.key == "impression")
        if self.amendment == ADDENDUM:
            key = ADDENDUM  # told after signing: it belongs in the addendum
        sentence = record.sentence(exam_zone(self.exam))
        self._checkpoint()
        self._drop_unaccepted(key)
        self.slots[key].append(Piece(sentence, "communication", True))
        self.communications.append(record)
        return Outcome(True, f"communication recorded: {sentence}", True)

    def communicated(self) -> set[str]:
        return {f for c in self.communications for f in c.findings}

    def sign(self, status: str, by: str = "") -> Outcome:
        """Sign preliminary or final; while an addendum or correction is open, "sign final" (or
        "corrected") signs it as a new corrected version."""
        now = time.time()
        if self.amendment:
            if status not in SIGNED_FINAL:
                return Outcome(False, f"an {self.amendment} is signed final, not {status}")
            kind = self.amendment
            if kind == ADDENDUM:
                text = self.slot_text(ADDENDUM).strip()
                if not text:
                    return Outcome(False, "the addendum is empty: dictate it before signing")
                self.addenda.append(Addendum(text, by, now, self.version + 1))
                self.slots.pop(ADDENDUM, None)
            self.amendment, self._amend_base = None, None
            status = "corrected"
        elif status not in _NEXT_STATUS.get(self.status, set()):
            return Outcome(False, f"a {self.status} report cannot be signed {status}")
        else:
            kind = status
        self.status = status
        self.signed_at = now
        self.signed_kind = kind
        self.signed_by = by
        self.version += 1
        self._undo.clear()
        self._redo.clear()
        return Outcome(True, f"signed {status}" if kind == status else f"{kind} signed (report {status})", True)

    # -- voice commands ------------------------------------------------------------------------

    def apply(self, command: Command, utterance: int | None = None, signer: str | None = None,
              macro: Macro | None = None) -> Outcome:
        """Carry out a voice command (``macro``: the macro a "macro" command names, looked up
        by the caller)."""
        name, arg = command.name, command.arg
        try:
            if name == "start_listening":
                self.listening = True
                return Outcome(True, "listening")
            if not self.listening:
                return Outcome(False, "asleep: say “start listening”")
            if name == "stop_listening":
                self.listening = False
                return Outcome(True, "stopped listening; say “start listening” to go on")
            if name == "go_to":
                return self.go_to(arg or "")
            if name == "next_field":
                return self.move(+1)
            if name == "previous_field":
                return self.move(-1)
            if name == "scratch_that":
                return self.scratch_last()
            if name == "undo":
                return self.undo()
            if name == "redo":
                return self.redo()
            if name == "new_paragraph":
                return self.new_paragraph(utterance)
            if name == "insert_normal":
                return self.accept_default(None, utterance)
            if name == "normal_field":
                return self.accept_default(arg, utterance)
            if name == "accept_all_defaults":
                return self.accept_all_defaults(utterance)
            if name == "choose":
                return self.choose(arg or "", utterance)
            if name == "clear_field":
                return self.clear(utterance)
            if name == "sign_final":
                return self.sign(ReportStatus.FINAL, by=signer or "")
            if name == "sign_preliminary":
                return self.sign(ReportStatus.PRELIMINARY, by=signer or "")
            if name in ("begin_addendum", "begin_correction"):
                return self.begin_amendment(name.removeprefix("begin_"))
            if name == "cancel_amendment":
                return self.cancel_amendment()
            if name == "macro" and macro is not None:
                return self.insert_macro(macro, utterance)
        except ReportLocked as e:
            return Outcome(False, str(e))
        return Outcome(False, f"unknown command {name}")

    # -- saving ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "template": self.template.id, "status": self.status, "cursor": self.slot.key,
            "listening": self.listening, "exam": self.exam, "created_at": self.created_at, "signed_at": self.signed_at,
            "version": self.version, "communications": [asdict(c) for c in self.communications],
            "amendment": self.amendment, "addenda": [asdict(a) for a in self.addenda], "signed_kind": self.signed_kind,
            "signed_by": self.signed_by, "amend_base": self._amend_base,
            "slots": {k: [asdict(p) for p in v] for k, v in self.slots.items()},
            "utterances": [asdict(u) for u in self.utterances],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], template: Template) -> Report:
        report = cls(template, id=data["id"], status=data["status"], exam=data.get("exam", {}),
                     created_at=data["created_at"], signed_at=data.get("signed_at"), listening=data.get("listening", True),
                     version=data.get("version", 0),
                     communications=[CommunicationRecord(**c) for c in data.get("communications", [])],
                     amendment=data.get("amendment"), addenda=[Addendum(**a) for a in data.get("addenda", [])],
                     signed_kind=data.get("signed_kind", ""), signed_by=data.get("signed_by", ""))
        report._amend_base = data.get("amend_base")
        report.slots = {slot.key: [] for slot in template.slots}
        if report.amendment == ADDENDUM:
            report.slots[ADDENDUM] = []
        for key, pieces in data["slots"].items():
            if key in report.slots:  # a field the template no longer has is dropped from view, not from the store
                report.slots[key] = [Piece(**p) for p in pieces]
        report.utterances = [UtteranceRecord(**u) for u in data["utterances"]]
        report.go_to(data.get("cursor", ""))
        return report


class ReportSource(Protocol):
    """Where stored reports come from (the store)."""

    def report_state(self, report_id: str) -> dict[str, Any]: ...


def load_report(store: ReportSource, report_id: str, library: TemplateLibrary | None = None) -> Report:
    """A stored report (a unique prefix of its id will do), rebuilt on its template."""
    data = store.report_state(report_id)
    library = library or TemplateLibrary()
    return Report.from_dict(data, library.get(data["template"]))
