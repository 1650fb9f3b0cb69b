"""The worklist: studies waiting to be read, kept in step with the RIS's orders."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from dictation.errors import StoreConflict, StoreError
from dictation.store.base import StoreBase
from dictation.store.records import WorklistItem, from_row

WORKLIST_FIELDS = {"patient_id", "patient_name", "birth_date", "sex", "exam", "modality", "facility", "priority",
                   "ordered_at", "template_id", "exam_code", "ordering_physician", "placer_order", "filler_order",
                   "patient_id_authority", "visit_number", "patient_class", "study_uid", "exam_time"}


# A worklist item with the status of the report started for it ("" when none was).
ITEMS = ("SELECT w.*, COALESCE((SELECT r.status FROM reports r WHERE r.worklist_id = w.id "
          "ORDER BY r.updated_at DESC LIMIT 1), '') AS report_status FROM worklist w")

# What identifies the patient and the examination: a change to one of them after a report was
# started is shown to the radiologist, never written into the report silently.
IDENTITY_FIELDS = ("patient_id", "patient_id_authority", "patient_name", "birth_date", "sex", "exam", "exam_code",
                   "modality", "facility")


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - WORKLIST_FIELDS
    if unknown:
        raise ValueError(f"unknown worklist fields: {sorted(unknown)}")
    birth = fields.get("birth_date")
    if birth:
        fields["birth_date"] = checked_birth_date(str(birth))


def checked_birth_date(text: str) -> str:
    """A birth date as YYYY-MM-DD (YYYYMMDD accepted): a real day, not in the future, after 1880.
    Anything else is refused: a wrong birth date is a patient-identity error."""
    value = text.strip()
    digits = value.replace("-", "")
    try:
        if not (digits.isdigit() and len(digits) == 8) or ("-" in value and len(value) != 10):
            raise ValueError
        day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise StoreError(f"birth date {text[:20]!r} is not a date: write YYYY-MM-DD") from None
    if day > dt.date.today() or day.year < 1880:
        raise StoreError(f"birth date {day.isoformat()} is not possible")
    return day.isoformat()


class WorklistStore(StoreBase):
    def upsert_worklist_item(self, accession: str, **fields: Any) -> str:
        """An order: new ("created"), changed ("updated"), or the same again ("duplicate").
        A cancelled item ordered again comes back."""
        _check_fields(fields)
        facility = str(fields.get("facility", ""))
        with self.transaction() as db:  # an accession is unique within its facility
            row = db.execute("SELECT * FROM worklist WHERE accession = ? AND facility = ?", (accession, facility)).fetchone()
            if row is None:
                columns = ["accession", *fields, "updated_at"]
                db.execute(f"INSERT INTO worklist ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           (accession, *fields.values(), time.time()))
                return "created"
            changed = {k: v for k, v in fields.items() if k != "ordered_at" and row[k] != v}
            if row["state"] == "cancelled":
                changed["state"] = "waiting"
            return "updated" if self._change(db, row, changed) else "duplicate"

    def _change(self, db: Any, row: Any, changed: dict[str, Any], by: str = "") -> bool:
        """Write an order's changed fields, noting those that say who or what under a report."""
        if not changed:
            return False
        self._note_change(db, row, [k for k in IDENTITY_FIELDS if k in changed], by)
        sets = ", ".join(f"{k} = ?" for k in changed)
        db.execute(f"UPDATE worklist SET {sets}, updated_at = ? WHERE id = ?", (*changed.values(), time.time(), row["id"]))
        return True

    def update_patient(self, facility: str, patient: tuple[str, str], fields: dict[str, Any], *,
                       visit: tuple[str, str] | None = None, new_patient: tuple[str, str] | None = None) -> list[str]:
        """A patient update from the hospital (ADT) for every study of this patient (identifier,
        authority) at ``facility``: ``fields`` (name, birth date, sex); ``visit`` (number, class)
        sets the patient class of the studies of that visit; ``new_patient`` is a merge, the
        surviving identifier in place of ``patient``. Noted under any report already started for
        those studies, like a changed order. Returns the accessions that changed."""
        _check_fields(fields)
        unknown = set(fields) - {"patient_name", "birth_date", "sex"}
        if unknown:
            raise ValueError(f"not patient fields: {sorted(unknown)}")
        patient_id, authority = patient
        if not patient_id:
            return []
        changed_accessions = []
        with self.transaction() as db:
            rows = db.execute("SELECT * FROM worklist WHERE facility = ? AND patient_id = ? AND state != 'cancelled' "
                              "AND (patient_id_authority = ? OR patient_id_authority = '' OR ? = '')",
                              (facility, patient_id, authority, authority)).fetchall()
            for row in rows:
                wanted = dict(fields)
                if visit is not None and visit[0] and visit[1] and row["visit_number"] == visit[0]:
                    wanted["patient_class"] = visit[1]
                if new_patient is not None:
                    wanted["patient_id"] = new_patient[0]
                    wanted["patient_id_authority"] = new_patient[1] or row["patient_id_authority"]
                if self._change(db, row, {k: v for k, v in wanted.items() if row[k] != v}, by="a patient update"):
                    changed_accessions.append(str(row["accession"]))
        return changed_accessions

    def cancel_worklist_item(self, accession: str, facility: str = "") -> bool:
        with self.transaction() as db:
            row = db.execute("SELECT * FROM worklist WHERE accession = ? AND facility = ?", (accession, facility)).fetchone()
            if row is None:
                return False
            self._note_change(db, row, ["cancelled"])
            cur = db.execute("UPDATE worklist SET state = 'cancelled', updated_at = ? WHERE id = ? AND state != 'done'",
                             (time.time(), row["id"]))
        return bool(cur.rowcount == 1)

    def _note_change(self, db: Any, row: Any, what: list[str], by: str = "") -> None:
        """An order changed (or was cancelled) under a report started for it: kept on the study
        until acknowledged, and audited (which fields, never their values)."""
        if not what:
            return
        report = db.execute("SELECT id, status FROM reports WHERE worklist_id = ? AND status != 'discarded' "
                            "ORDER BY updated_at DESC LIMIT 1", (row["id"],)).fetchone()
        if report is None:
            return  # nothing written yet: the new order is simply the order
        noted = [x for x in (row["order_changed"] or "").split(",") if x]
        noted += [x for x in what if x not in noted]
        db.execute("UPDATE worklist SET order_changed = ? WHERE id = ?", (",".join(noted), row["id"]))
        self._audit(db, "order_changed", report["id"], row["accession"],
                    f"{', '.join(what)} changed under a {report['status']} report" + (f" by {by}" if by else ""))

    def order_changes(self, report_id: str) -> list[str]:
        """What the order of this report's study changed since the report was started ([] none)."""
        row = self.db.execute("SELECT w.order_changed FROM worklist w JOIN reports r ON r.worklist_id = w.id "
                              "WHERE r.id = ?", (report_id,)).fetchone()
        return [x for x in (row["order_changed"] if row else "").split(",") if x]

    def acknowledge_order_change(self, worklist_id: int, actor: str | None = None) -> None:
        """The radiologist has looked at the changed order (and fixed the report if needed)."""
        with self.transaction() as db:
            row = db.execute("SELECT accession, order_changed FROM worklist WHERE id = ?", (worklist_id,)).fetchone()
            if row is None or not row["order_changed"]:
                raise StoreError("no changed order to acknowledge for that study")
            db.execute("UPDATE worklist SET order_changed = '' WHERE id = ?", (worklist_id,))
            report = db.execute("SELECT id FROM reports WHERE worklist_id = ? ORDER BY updated_at DESC LIMIT 1",
                                (worklist_id,)).fetchone()
            self._audit(db, "order_change_seen", report["id"] if report else None, row["accession"],
                        f"acknowledged: {row['order_changed']}", actor=actor)

    def changed_orders(self) -> list[WorklistItem]:
        """Every study whose order changed under its report (drafts and signed), for review."""
        rows = self.db.execute(f"{ITEMS} WHERE w.order_changed != '' ORDER BY w.updated_at").fetchall()
        return [from_row(WorklistItem, r) for r in rows]

    def add_worklist_item(self, accession: str, **fields: Any) -> int:
        _check_fields(fields)
        fields.setdefault("ordered_at", time.time())
        columns = ["accession", *fields]
        with self.transaction() as db:
            try:
                row = db.execute(f"INSERT INTO worklist ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                                 "RETURNING id", (accession, *fields.values())).fetchone()
            except StoreConflict:
                raise StoreError(f"accession {accession!r} is already on the worklist"
                                 + (f" of {fields['facility']}" if fields.get("facility") else "")) from None
        return int(row["id"])

    def draft_for(self, worklist_id: int) -> str | None:
        """The newest report already started for a worklist item (a crash or a quit left it)."""
        row = self.db.execute("SELECT id FROM reports WHERE worklist_id = ? AND status != 'discarded' "
                              "ORDER BY updated_at DESC LIMIT 1",
                              (worklist_id,)).fetchone()
        return str(row["id"]) if row else None

    def set_worklist_state(self, worklist_id: int, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE worklist SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), worklist_id))

    def worklist_item(self, accession: str, facility: str | None = None) -> WorklistItem | None:
        """The study with this accession (at ``facility``), whatever its state (waiting, done,
        cancelled). The same number at two facilities without ``facility``: StoreError."""
        rows = self.db.execute(f"{ITEMS} WHERE w.accession = ? AND (? IS NULL OR w.facility = ?)",
                               (accession, facility, facility)).fetchall()
        if len(rows) > 1:
            raise StoreError(f"accession {accession} is on the worklist of {len(rows)} facilities "
                             f"({', '.join(r['facility'] or '-' for r in rows)}): say which")
        return from_row(WorklistItem, rows[0]) if rows else None

    def study_of(self, report_id: str) -> WorklistItem | None:
        """The worklist study a report was started for (None: a report without one)."""
        row = self.db.execute(f"{ITEMS} WHERE w.id = (SELECT worklist_id FROM reports WHERE id = ?)",
                              (report_id,)).fetchone()
        return from_row(WorklistItem, row) if row else None

    def worklist(self) -> list[WorklistItem]:
        """Studies waiting: STAT first, then urgent, then routine; the longest waiting first.
        Each with the status of the report started for it ("" when none was)."""
        rows = self.db.execute(
            f"{ITEMS} WHERE w.state NOT IN ('done', 'cancelled') "
            "ORDER BY CASE w.priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, w.ordered_at").fetchall()
        return [from_row(WorklistItem, r) for r in rows]
