"""The local store: one SQLite file with worklist items, drafts and every utterance.

Durability is the point. The database runs in WAL mode with ``synchronous=FULL``, so a commit
returns only after the write-ahead log is on disk; each utterance is committed (the utterance
row and the report's new state, in one transaction) before the session says it is done. A
process killed with SIGKILL loses nothing that was committed, and the next start finds the
draft. The file is created readable by its owner only: it holds patient data.

Schema changes go through ``_MIGRATIONS`` and ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RadscribeError
from .report import Report, UtteranceRecord
from .resources import user_file
from .templates import TemplateLibrary
from .versions import SignedVersion

ENV = "RADSCRIBE_STORE"

_MIGRATIONS = [
    """
    CREATE TABLE worklist (
        id INTEGER PRIMARY KEY,
        accession TEXT NOT NULL UNIQUE,
        patient_id TEXT NOT NULL DEFAULT '',
        patient_name TEXT NOT NULL DEFAULT '',
        birth_date TEXT NOT NULL DEFAULT '',
        sex TEXT NOT NULL DEFAULT '',
        exam TEXT NOT NULL DEFAULT '',
        modality TEXT NOT NULL DEFAULT '',
        facility TEXT NOT NULL DEFAULT '',
        priority TEXT NOT NULL DEFAULT 'routine',
        ordered_at REAL NOT NULL,
        template_id TEXT,
        state TEXT NOT NULL DEFAULT 'waiting'
    );
    CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        template_id TEXT NOT NULL,
        worklist_id INTEGER REFERENCES worklist(id),
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE utterances (
        report_id TEXT NOT NULL REFERENCES reports(id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        heard TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        words TEXT NOT NULL,
        slot TEXT,
        command TEXT,
        committed_at REAL NOT NULL,
        PRIMARY KEY (report_id, seq)
    );
    CREATE INDEX reports_status ON reports(status, updated_at);
    """,
    # 2: the outbox. One row per (report, signed version, destination), with the exact bytes.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        report_id TEXT NOT NULL REFERENCES reports(id),
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        destination TEXT NOT NULL,
        kind TEXT NOT NULL,
        control_id TEXT NOT NULL,
        payload BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        ack BLOB,
        created_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (report_id, version, destination)
    );
    CREATE INDEX outbox_due ON outbox(destination, state, id);
    """,
    # 3: what orders bring: the procedure code, ordering physician, order numbers.
    """
    ALTER TABLE worklist ADD COLUMN exam_code TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN ordering_physician TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN placer_order TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN filler_order TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN updated_at REAL
    """,
    # 4: the practice. Every signed version kept (never changed: triggers refuse it), the audit
    # log (append-only the same way), critical-result timers, peer reviews, optional audio.
    """
    CREATE TABLE report_versions (
        report_id TEXT NOT NULL REFERENCES reports(id),
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        kind TEXT NOT NULL,
        signer_id TEXT NOT NULL DEFAULT '',
        signer_name TEXT NOT NULL DEFAULT '',
        signed_at REAL NOT NULL,
        text TEXT NOT NULL,
        sections TEXT NOT NULL,
        state TEXT NOT NULL,
        flags TEXT NOT NULL DEFAULT '[]',
        metrics TEXT NOT NULL DEFAULT '{}',
        differences TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (report_id, version)
    );
    CREATE TRIGGER report_versions_no_update BEFORE UPDATE ON report_versions
    BEGIN SELECT RAISE(ABORT, 'a signed version is never changed: sign an addendum or a correction'); END;
    CREATE TRIGGER report_versions_no_delete BEFORE DELETE ON report_versions
    BEGIN SELECT RAISE(ABORT, 'a signed version is never deleted'); END;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        report_id TEXT,
        accession TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_report ON audit(report_id, at);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE critical_results (
        report_id TEXT NOT NULL REFERENCES reports(id),
        finding TEXT NOT NULL,
        acr_category INTEGER,
        deadline_minutes REAL,
        dictated_at REAL NOT NULL,
        communicated_at REAL,
        withdrawn_at REAL,
        PRIMARY KEY (report_id, finding)
    );
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        report_id TEXT NOT NULL REFERENCES reports(id),
        version INTEGER NOT NULL,
        author TEXT NOT NULL,
        sampled_at REAL NOT NULL,
        reviewer TEXT NOT NULL DEFAULT '',
        score TEXT,
        comment TEXT NOT NULL DEFAULT '',
        reviewed_at REAL,
        UNIQUE (report_id)
    );
    CREATE TABLE audio (
        report_id TEXT NOT NULL REFERENCES reports(id),
        seq INTEGER NOT NULL,
        samples BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (report_id, seq)
    )
    """,
]
_WORKLIST_FIELDS = {"patient_id", "patient_name", "birth_date", "sex", "exam", "modality", "facility", "priority",
                    "ordered_at", "template_id", "exam_code", "ordering_physician", "placer_order", "filler_order"}


class StoreError(RadscribeError):
    pass


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration (a trigger body holds semicolons of its own)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def default_path() -> Path:
    return user_file(ENV, "data", "radscribe.db")


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
class DraftSummary:
    id: str
    template_id: str
    status: str
    utterances: int
    created_at: float
    updated_at: float
    accession: str | None


class Store:
    def __init__(self, path: str | Path | None = None, *, actor: str = "") -> None:
        self.path = Path(path) if path else default_path()
        self.actor = actor or _os_user()  # who the audit log names (the reader id when configured)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Owner-only from the first byte: the file holds patient data.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.row_factory = sqlite3.Row
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: the store needs write-ahead logging, which this file system refused ({mode})")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA secure_delete=ON")  # purged audio is overwritten, not just unlinked
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e}); use --store to choose another file") from None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer radscribe (schema {version}); upgrade radscribe")
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in _statements(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # One connection may be used by the session thread and the UI thread: one writer at a time.
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # -- reports -------------------------------------------------------------------------------

    def save_report(self, report: Report, worklist_id: int | None = None) -> None:
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now, worklist_id)

    def _upsert(self, db: sqlite3.Connection, report: Report, now: float, worklist_id: int | None = None) -> None:
        db.execute(
            "INSERT INTO reports (id, template_id, worklist_id, status, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET status=excluded.status, state=excluded.state, updated_at=excluded.updated_at, "
            "worklist_id=COALESCE(excluded.worklist_id, reports.worklist_id)",
            (report.id, report.template.id, worklist_id, report.status, json.dumps(report.to_dict()), report.created_at, now),
        )

    def commit_utterance(self, report: Report, record: UtteranceRecord, outbox: list[OutboxEntry] | None = None,
                         signed: SignedVersion | None = None, actor: str | None = None) -> None:
        """The utterance and the report it changed (and, when it signed the report, the signed
        version and the messages to send) in one durable transaction, with its audit entry."""
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now)
            if signed is not None:
                db.execute("INSERT INTO report_versions (report_id, version, status, kind, signer_id, signer_name, "
                           "signed_at, text, sections, state, flags, metrics, differences) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", signed.row())
            for entry in outbox or []:
                self._enqueue(db, entry, now)
            if signed is not None:
                action, detail = "sign", f"{signed.kind} (version {signed.version}, {signed.status})"
            elif record.kind == "dictation":
                action, detail = "dictate", record.slot or ""
            else:
                action, detail = ("command" if record.kind == "command" else record.kind), record.command or ""
            self._audit(db, action, report.id, str(report.exam.get("accession") or ""), detail, now, actor)
            db.execute(
                "INSERT INTO utterances (report_id, seq, kind, text, heard, start, end, words, slot, command, committed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report.id, record.seq, record.kind, record.text, record.heard, record.start, record.end,
                 json.dumps(record.words), record.slot, record.command, now),
            )

    def _enqueue(self, db: sqlite3.Connection, entry: OutboxEntry, now: float) -> None:
        db.execute(
            "INSERT INTO outbox (report_id, version, status, destination, kind, control_id, payload, state, "
            "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(report_id, version, destination) DO NOTHING",
            (entry.report_id, entry.version, entry.status, entry.destination, entry.kind, entry.control_id,
             entry.payload, entry.state, now, entry.error, now),
        )

    def save_and_enqueue(self, report: Report, outbox: list[OutboxEntry]) -> None:
        """A report signed outside dictation (the TUI's sign key) and its messages, together."""
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now)
            for entry in outbox:
                self._enqueue(db, entry, now)

    def load_report(self, report_id: str, library: TemplateLibrary | None = None) -> Report:
        row = self.db.execute("SELECT state FROM reports WHERE id = ? OR id LIKE ?", (report_id, f"{report_id}%")).fetchall()
        if len(row) != 1:
            what = "no draft" if not row else "more than one draft"
            raise StoreError(f"{what} with id {report_id!r} in {self.path} (`radscribe drafts` lists them)")
        data = json.loads(row[0]["state"])
        library = library or TemplateLibrary()
        return Report.from_dict(data, library.get(data["template"]))

    def utterances(self, report_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM utterances WHERE report_id = ? ORDER BY seq", (report_id,)).fetchall()

    def drafts(self, *, include_signed: bool = False) -> list[DraftSummary]:
        where = "" if include_signed else "WHERE r.status IN ('draft', 'preliminary')"
        rows = self.db.execute(
            "SELECT r.id, r.template_id, r.status, r.created_at, r.updated_at, w.accession, "
            "(SELECT COUNT(*) FROM utterances u WHERE u.report_id = r.id) AS n "
            f"FROM reports r LEFT JOIN worklist w ON w.id = r.worklist_id {where} ORDER BY r.updated_at DESC"
        ).fetchall()
        return [DraftSummary(r["id"], r["template_id"], r["status"], r["n"], r["created_at"], r["updated_at"], r["accession"])
                for r in rows]

    # -- worklist ------------------------------------------------------------------------------

    def upsert_worklist_item(self, accession: str, **fields: Any) -> str:
        """An order: new ("created"), changed ("updated"), or the same again ("duplicate").
        A cancelled item ordered again comes back."""
        unknown = set(fields) - _WORKLIST_FIELDS
        if unknown:
            raise ValueError(f"unknown worklist fields: {sorted(unknown)}")
        with self.transaction() as db:
            row = db.execute("SELECT * FROM worklist WHERE accession = ?", (accession,)).fetchone()
            if row is None:
                columns = ["accession", *fields, "updated_at"]
                db.execute(f"INSERT INTO worklist ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           (accession, *fields.values(), time.time()))
                return "created"
            changed = {k: v for k, v in fields.items() if k != "ordered_at" and row[k] != v}
            if row["state"] == "cancelled":
                changed["state"] = "waiting"
            if not changed:
                return "duplicate"
            sets = ", ".join(f"{k} = ?" for k in changed)
            db.execute(f"UPDATE worklist SET {sets}, updated_at = ? WHERE accession = ?", (*changed.values(), time.time(), accession))
            return "updated"

    def cancel_worklist_item(self, accession: str) -> bool:
        with self.transaction() as db:
            cur = db.execute("UPDATE worklist SET state = 'cancelled', updated_at = ? WHERE accession = ? AND state != 'done'",
                             (time.time(), accession))
        return cur.rowcount == 1

    def add_worklist_item(self, accession: str, **fields: Any) -> int:
        unknown = set(fields) - _WORKLIST_FIELDS
        if unknown:
            raise ValueError(f"unknown worklist fields: {sorted(unknown)}")
        fields.setdefault("ordered_at", time.time())
        columns = ["accession", *fields]
        with self.transaction() as db:
            try:
                cur = db.execute(f"INSERT INTO worklist ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                                 (accession, *fields.values()))
            except sqlite3.IntegrityError:
                raise StoreError(f"accession {accession!r} is already on the worklist") from None
        return int(cur.lastrowid or 0)

    def draft_for(self, worklist_id: int) -> str | None:
        """The newest report already started for a worklist item (a crash or a quit left it)."""
        row = self.db.execute("SELECT id FROM reports WHERE worklist_id = ? ORDER BY updated_at DESC LIMIT 1",
                              (worklist_id,)).fetchone()
        return row["id"] if row else None

    def set_worklist_state(self, worklist_id: int, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE worklist SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), worklist_id))

    def worklist(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM worklist WHERE state NOT IN ('done', 'cancelled') "
            "ORDER BY CASE priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, ordered_at"
        ).fetchall()

    # -- signed versions -----------------------------------------------------------------------

    def versions(self, report_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM report_versions WHERE report_id = ? ORDER BY version", (report_id,)).fetchall()

    def latest_version(self, report_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM report_versions WHERE report_id = ? ORDER BY version DESC LIMIT 1",
                               (report_id,)).fetchone()

    # -- audit -----------------------------------------------------------------------------------

    def _audit(self, db: sqlite3.Connection, action: str, report_id: str | None, accession: str, detail: str,
               now: float | None = None, actor: str | None = None) -> None:
        db.execute("INSERT INTO audit (at, actor, action, report_id, accession, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   (now or time.time(), actor or self.actor, action, report_id, accession, detail))

    def audit(self, action: str, report_id: str | None = None, accession: str = "", detail: str = "",
              actor: str | None = None) -> None:
        """One entry in the append-only audit log (the store refuses to change or delete one)."""
        with self.transaction() as db:
            self._audit(db, action, report_id, accession, detail, actor=actor)

    def audit_log(self, report_id: str | None = None, since: float | None = None) -> list[sqlite3.Row]:
        where, args = [], []
        if report_id:
            where.append("report_id = ?")
            args.append(report_id)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.db.execute(f"SELECT * FROM audit {clause} ORDER BY id", args).fetchall()

    # -- critical results ------------------------------------------------------------------------

    def sync_critical(self, report: Report, flags: list[Any], at: float | None = None, actor: str | None = None) -> None:
        """Start a timer for each critical finding when first flagged; stop it when its
        communication is recorded; a finding no longer flagged (scratched, negated) before being
        communicated is withdrawn."""
        at = at or time.time()
        told = {f: c.at for c in report.communications for f in c.findings}
        current = {f.finding: f for f in flags if f.kind == "critical_finding" and f.finding}
        with self.transaction() as db:  # read and write under one lock: the UI and session threads both check
            rows = {r["finding"]: r for r in db.execute("SELECT * FROM critical_results WHERE report_id = ?", (report.id,))}
            for finding, flag in current.items():
                row = rows.get(finding)
                if row is None:
                    db.execute("INSERT INTO critical_results (report_id, finding, acr_category, deadline_minutes, dictated_at) "
                               "VALUES (?, ?, ?, ?, ?)", (report.id, finding, flag.acr_category, flag.deadline_minutes, at))
                    self._audit(db, "critical_flagged", report.id, str(report.exam.get("accession") or ""), finding, at, actor)
                elif row["withdrawn_at"] is not None:
                    db.execute("UPDATE critical_results SET withdrawn_at = NULL WHERE report_id = ? AND finding = ?",
                               (report.id, finding))
            for finding, row in rows.items():
                if finding not in current and row["communicated_at"] is None and row["withdrawn_at"] is None:
                    db.execute("UPDATE critical_results SET withdrawn_at = ? WHERE report_id = ? AND finding = ?",
                               (at, report.id, finding))
            for finding, when in told.items():
                cur = db.execute("UPDATE critical_results SET communicated_at = ?, withdrawn_at = NULL "
                                 "WHERE report_id = ? AND finding = ? AND communicated_at IS NULL", (when, report.id, finding))
                if cur.rowcount:
                    self._audit(db, "critical_communicated", report.id, str(report.exam.get("accession") or ""), finding,
                                actor=actor)

    def open_critical(self) -> list[sqlite3.Row]:
        """Critical results not yet communicated, across every study, oldest first."""
        return self.db.execute(
            "SELECT c.*, w.accession, w.facility, w.exam, r.status FROM critical_results c "
            "JOIN reports r ON r.id = c.report_id LEFT JOIN worklist w ON w.id = r.worklist_id "
            "WHERE c.communicated_at IS NULL AND c.withdrawn_at IS NULL ORDER BY c.dictated_at").fetchall()

    # -- peer review -----------------------------------------------------------------------------

    def signed_finals(self, since: float | None = None, until: float | None = None) -> list[sqlite3.Row]:
        """The first final version of each report (the read that peer review judges)."""
        return self.db.execute(
            "SELECT v.report_id, v.version, v.signer_id, v.signer_name, v.signed_at FROM report_versions v "
            "WHERE v.kind = 'final' AND v.signed_at >= ? AND v.signed_at < ? ORDER BY v.signed_at",
            (since or 0.0, until or 1e12)).fetchall()

    def add_reviews(self, picks: list[tuple[str, int, str]]) -> int:
        now = time.time()
        with self.transaction() as db:
            n = 0
            for report_id, version, author in picks:
                cur = db.execute("INSERT INTO reviews (report_id, version, author, sampled_at) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT(report_id) DO NOTHING", (report_id, version, author, now))
                if cur.rowcount:
                    n += 1
                    self._audit(db, "review_sampled", report_id, "", f"version {version}", now)
        return n

    def reviewed_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT report_id FROM reviews")}

    def reviews(self, *, pending: bool | None = None) -> list[sqlite3.Row]:
        where = {None: "", True: "WHERE score IS NULL", False: "WHERE score IS NOT NULL"}[pending]
        return self.db.execute(f"SELECT * FROM reviews {where} ORDER BY id").fetchall()

    def record_review(self, review_id: int, score: str, comment: str, reviewer: str | None = None) -> None:
        reviewer = reviewer or self.actor
        with self.transaction() as db:
            row = db.execute("SELECT * FROM reviews WHERE id = ?", (review_id,)).fetchone()
            if row is None:
                raise StoreError(f"no review {review_id} (`radscribe review list` shows them)")
            if row["score"] is not None:
                raise StoreError(f"review {review_id} is already scored {row['score']}")
            if row["author"] and row["author"] == reviewer:
                raise StoreError("a radiologist does not peer-review their own report")
            db.execute("UPDATE reviews SET score = ?, comment = ?, reviewer = ?, reviewed_at = ? WHERE id = ?",
                       (score, comment, reviewer, time.time(), review_id))
            self._audit(db, "review", row["report_id"], "", f"score {score}", actor=reviewer)

    # -- stored audio (optional) -----------------------------------------------------------------

    def save_audio(self, report_id: str, seq: int, samples: bytes) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO audio (report_id, seq, samples, created_at) VALUES (?, ?, ?, ?)",
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
            n = db.execute("DELETE FROM audio WHERE created_at < ?", (cutoff,)).rowcount
            if n:
                self._audit(db, "purge_audio", None, "", f"{n} utterance recordings older than {older_than_days:g} days")
        if n:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the deleted pages leave the log too
        return n
