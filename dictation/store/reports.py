"""Reports and their utterances: drafts that survive a crash, and stored utterance audio."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from dictation.errors import StoreConflict, StoreError
from dictation.status import SIGNED_FINAL
from dictation.store.base import StoreBase
from dictation.store.chain import next_version_hash
from dictation.store.records import (
    DraftSummary,
    OutboxEntry,
    ReportState,
    SignedState,
    StoredUtterance,
    UtteranceState,
    from_row,
)


class ReportsStore(StoreBase):
    def save_report(self, report: ReportState, worklist_id: int | None = None) -> None:
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now, worklist_id)

    def _upsert(self, db: Any, report: ReportState, now: float, worklist_id: int | None = None) -> None:
        db.execute(
            "INSERT INTO reports (id, template_id, worklist_id, status, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET status=excluded.status, state=excluded.state, updated_at=excluded.updated_at, "
            "worklist_id=COALESCE(excluded.worklist_id, reports.worklist_id)",
            (report.id, report.template.id, worklist_id, report.status, json.dumps(report.to_dict()), report.created_at, now),
        )
        if report.status in SIGNED_FINAL:
            # A study signed final leaves the worklist, in the transaction that signs it, from
            # whichever face signed it (the terminal UI, `radscribe dictate`, the sign screen).
            db.execute("UPDATE worklist SET state = 'done', updated_at = ? WHERE state != 'done' "
                       "AND id = (SELECT worklist_id FROM reports WHERE id = ?)", (now, report.id))

    @staticmethod
    def _end_claim(db: Any, report_id: str) -> None:
        """A signing ends the reader's claim on the study (a preliminary goes back to the
        worklist for the final read; a final leaves it)."""
        db.execute("UPDATE worklist SET claimed_by = '', claimed_at = NULL, claim_until = 0 "
                   "WHERE id = (SELECT worklist_id FROM reports WHERE id = ?)", (report_id,))

    def commit_utterance(self, report: ReportState, record: UtteranceState, outbox: list[OutboxEntry] | None = None,
                         signed: SignedState | None = None, actor: str | None = None) -> None:
        """The utterance and the report it changed (and, when it signed the report, the signed
        version and the messages to send) in one durable transaction, with its audit entry."""
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now)
            if signed is not None:
                self.insert_version(db, signed)
                self._end_claim(db, report.id)
            for entry in outbox or []:
                self._enqueue(db, entry, now)
            self._log_utterance(db, report, record, signed, now, actor)

    def commit_kept(self, report: ReportState, records: Sequence[UtteranceState], lease: str,
                    actor: str | None = None) -> None:
        """Utterances kept on a workstation while the store could not be reached, and the report
        as it stands now, in one transaction: each once (one the store already holds, from a
        commit whose answer was lost, is not written again), and only while no other process
        has taken the draft meanwhile (StoreConflict, nothing written)."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT lease_owner, lease_until FROM reports WHERE id = ?", (report.id,)).fetchone()
            if row is not None and row["lease_owner"] not in ("", lease) and row["lease_until"] > now \
                    and owner_alive(row["lease_owner"]):
                raise StoreConflict(f"report {report.id[:12]} was opened by another radscribe ({row['lease_owner']}) "
                                    "while the store could not be reached")
            signed = db.execute("SELECT MAX(version) AS v FROM report_versions WHERE report_id = ?",
                                (report.id,)).fetchone()["v"] or 0
            if signed > report.version:  # a signing whose answer was lost: the store took it after all
                raise StoreConflict(f"report {report.id[:12]} is signed in the store (version {signed}): the signing "
                                    "reached it though its answer was lost, so this workstation took it back; what "
                                    "was dictated after it is not written over the signed report (add it as an "
                                    "addendum)")
            stored = {r["seq"] for r in db.execute("SELECT seq FROM utterances WHERE report_id = ?", (report.id,))}
            self._upsert(db, report, now)
            for record in records:
                if record.seq not in stored:
                    self._log_utterance(db, report, record, None, now, actor)

    def _log_utterance(self, db: Any, report: ReportState, record: UtteranceState, signed: SignedState | None,
                       now: float, actor: str | None) -> None:
        if signed is not None:
            action, detail = "sign", f"{signed.kind} (version {signed.version}, {signed.status})"
        elif record.kind == "dictation":
            action, detail = "dictate", record.slot or ""
        else:
            action, detail = ("command" if record.kind == "command" else record.kind), record.command or ""
        self._audit(db, action, report.id, str(report.exam.get("accession") or ""), detail, now, actor)
        db.execute(
            "INSERT INTO utterances (report_id, seq, kind, text, heard, start, \"end\", words, slot, command, committed_at, "
            "decoder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (report.id, record.seq, record.kind, record.text, record.heard, record.start, record.end,
             json.dumps(record.words), record.slot, record.command, now, record.decoder),
        )

    def save_and_enqueue(self, report: ReportState, outbox: list[OutboxEntry]) -> None:
        """A report signed outside dictation (the TUI's sign key) and its messages, together."""
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now)
            self._end_claim(db, report.id)
            for entry in outbox:
                self._enqueue(db, entry, now)

    def resolve_report_id(self, report_id: str) -> str:
        """The full id of a stored report from its id or a unique prefix of it."""
        rows = self.db.execute("SELECT id FROM reports WHERE id = ? OR id LIKE ?", (report_id, f"{report_id}%")).fetchall()
        if len(rows) != 1:
            what = "no report" if not rows else "more than one report"
            raise StoreError(f"{what} with id {report_id!r} in {self.where} (`radscribe drafts --all` lists them)")
        return str(rows[0]["id"])

    def discard_draft(self, report_id: str, actor: str | None = None) -> None:
        """Throw a draft away: it leaves the drafts list and its worklist study is waiting again.
        The rows stay (audited, nothing erased); a signed report is never discarded."""
        with self.transaction() as db:
            row = db.execute("SELECT status, worklist_id FROM reports WHERE id = ?", (report_id,)).fetchone()
            if row is None:
                raise StoreError(f"no report with id {report_id!r} in {self.where}")
            if row["status"] != "draft":
                raise StoreError(f"report {report_id[:12]} is {row['status']}: only an unsigned draft can be discarded "
                                 "(a signed report changes through an addendum or a correction)")
            self._check_lease(db, report_id)
            db.execute("UPDATE reports SET status = 'discarded', updated_at = ? WHERE id = ?", (time.time(), report_id))
            if row["worklist_id"] is not None:
                db.execute("UPDATE worklist SET state = 'waiting', updated_at = ? WHERE id = ? AND state != 'done'",
                           (time.time(), row["worklist_id"]))
            self._audit(db, "discard", report_id, "", "draft discarded", actor=actor)

    # -- leases: one process dictates into a draft at a time ---------------------------------------

    def take_lease(self, report_id: str, owner: str, seconds: float = 120.0) -> None:
        """Hold ``report_id`` for ``owner`` (renew before ``seconds`` pass; a holder that died
        loses it when it runs out). Another live holder: StoreError saying who."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT lease_owner, lease_until FROM reports WHERE id = ?", (report_id,)).fetchone()
            if row is not None and row["lease_owner"] not in ("", owner) and row["lease_until"] > now \
                    and owner_alive(row["lease_owner"]):
                raise StoreError(f"report {report_id[:12]} is being dictated by another radscribe "
                                 f"({row['lease_owner']}, for {row['lease_until'] - now:.0f} s more unless renewed); "
                                 "close it there first")
            db.execute("UPDATE reports SET lease_owner = ?, lease_until = ? WHERE id = ?", (owner, now + seconds, report_id))

    def release_lease(self, report_id: str, owner: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE reports SET lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?",
                       (report_id, owner))

    def _check_lease(self, db: Any, report_id: str) -> None:
        row = db.execute("SELECT lease_owner, lease_until FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is not None and row["lease_owner"] and row["lease_until"] > time.time() and owner_alive(row["lease_owner"]):
            raise StoreError(f"report {report_id[:12]} is open in another radscribe ({row['lease_owner']})")

    def report_state(self, report_id: str) -> dict[str, Any]:
        """The stored state of one report (a unique prefix of its id will do)."""
        rows = self.db.execute("SELECT state FROM reports WHERE id = ? OR id LIKE ?", (report_id, f"{report_id}%")).fetchall()
        if len(rows) != 1:
            what = "no draft" if not rows else "more than one draft"
            raise StoreError(f"{what} with id {report_id!r} in {self.where} (`radscribe drafts` lists them)")
        state: dict[str, Any] = json.loads(rows[0]["state"])
        return state

    def report_status(self, report_id: str) -> str:
        row = self.db.execute("SELECT status FROM reports WHERE id = ?", (report_id,)).fetchone()
        return str(row["status"]) if row else ""

    def utterances(self, report_id: str) -> list[StoredUtterance]:
        rows = self.db.execute("SELECT * FROM utterances WHERE report_id = ? ORDER BY seq", (report_id,)).fetchall()
        return [from_row(StoredUtterance, r) for r in rows]

    def drafts(self, *, include_signed: bool = False) -> list[DraftSummary]:
        where = "" if include_signed else "WHERE r.status IN ('draft', 'preliminary')"
        rows = self.db.execute(
            "SELECT r.id, r.template_id, r.status, r.created_at, r.updated_at, w.accession, "
            "(SELECT COUNT(*) FROM utterances u WHERE u.report_id = r.id) AS n "
            f"FROM reports r LEFT JOIN worklist w ON w.id = r.worklist_id {where} ORDER BY r.updated_at DESC"
        ).fetchall()
        return [DraftSummary(r["id"], r["template_id"], r["status"], r["n"], r["created_at"], r["updated_at"], r["accession"])
                for r in rows]

    # -- stored audio (optional) -----------------------------------------------------------------

    def save_audio(self, report_id: str, seq: int, samples: bytes) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO audio (report_id, seq, samples, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (report_id, seq) "
                       "DO UPDATE SET samples = excluded.samples, created_at = excluded.created_at",
                       (report_id, seq, samples, time.time()))

    def load_audio(self, report_id: str, seq: int) -> bytes | None:
        row = self.db.execute("SELECT samples FROM audio WHERE report_id = ? AND seq = ?", (report_id, seq)).fetchone()
        return bytes(row[0]) if row else None

    def purge_audio(self, older_than_days: float, now: float | None = None) -> int:
        """Delete stored audio older than the retention period; the purge itself is audited."""
        cutoff = (now or time.time()) - older_than_days * 86400
        if self.db.execute("SELECT 1 FROM audio WHERE created_at < ? LIMIT 1", (cutoff,)).fetchone() is None:
            return 0  # nothing to purge: no write (this runs whenever the store is opened)
        with self.transaction() as db:
            n = int(db.execute("DELETE FROM audio WHERE created_at < ?", (cutoff,)).rowcount)
            if n:
                self._audit(db, "purge_audio", None, "", f"{n} utterance recordings older than {older_than_days:g} days")
        if n:
            self.engine.after_purge()  # SQLite: the deleted pages leave the log too
        return n

    def insert_version(self, db: Any, signed: SignedState) -> None:
        """One signed version, chained to the one before it (inside the caller's transaction)."""
        row = signed.row()
        db.execute("INSERT INTO report_versions (report_id, version, status, kind, signer_id, signer_name, "
                   "signed_at, text, sections, state, flags, metrics, differences, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, next_version_hash(db, row)))


def lease_owner() -> str:
    """This process, as a lease names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """False when the holder was a process on this machine that is gone (a crash): its lease
    need not be waited out. A holder on another machine is taken as alive until it runs out.
    An owner is ``host:pid``, optionally followed by ``#`` and what in that process holds it."""
    host, _, pid = owner.split("#", 1)[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
