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
]
_WORKLIST_FIELDS = {"patient_id", "patient_name", "birth_date", "sex", "exam", "modality", "facility", "priority",
                    "ordered_at", "template_id", "exam_code", "ordering_physician", "placer_order", "filler_order"}


class StoreError(RadscribeError):
    pass


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
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
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
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the radscribe store ({e}); use --store to choose another file") from None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer radscribe (schema {version}); upgrade radscribe")
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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

    def commit_utterance(self, report: Report, record: UtteranceRecord, outbox: list[OutboxEntry] | None = None) -> None:
        """The utterance and the report it changed (and, when it signed the report, the messages
        to send) in one durable transaction."""
        now = time.time()
        with self.transaction() as db:
            self._upsert(db, report, now)
            for entry in outbox or []:
                self._enqueue(db, entry, now)
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
