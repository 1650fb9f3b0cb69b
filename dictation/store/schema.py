"""The store's schema: migrations applied in order, counted by ``PRAGMA user_version``.

A migration is never edited once released; a change of schema is a new entry at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from dictation.data.resources import user_file

ENV = "RADSCRIBE_STORE"


MIGRATIONS = [
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
    # 5: evidence. Each audit row and each signed version carries a hash over its content and
    # the previous row's hash (two chains; rows already there are sealed by the migration). The
    # meta table keeps housekeeping (when the store was last checked for damage). A lease on a
    # draft: one process dictates into it at a time.
    """
    ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE report_versions ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    ALTER TABLE reports ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE reports ADD COLUMN lease_until REAL NOT NULL DEFAULT 0
    """,
    # 6: a message in flight has an owner and a lease: only an expired claim is taken back.
    """
    ALTER TABLE outbox ADD COLUMN claim_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN claim_until REAL NOT NULL DEFAULT 0
    """,
    # 7: who the patient is, as the order said it: the identifier's assigning authority, the
    # visit number (PV1-19) and the patient class (PV1-2).
    """
    ALTER TABLE worklist ADD COLUMN patient_id_authority TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN visit_number TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN patient_class TEXT NOT NULL DEFAULT ''
    """,
    # 8: an accession number is unique within its facility, not across every hospital read for
    # (two hospitals' orders with the same number are two studies, never one overwriting the other).
    """
    CREATE TABLE worklist_new (
        id INTEGER PRIMARY KEY,
        accession TEXT NOT NULL,
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
        state TEXT NOT NULL DEFAULT 'waiting',
        exam_code TEXT NOT NULL DEFAULT '',
        ordering_physician TEXT NOT NULL DEFAULT '',
        placer_order TEXT NOT NULL DEFAULT '',
        filler_order TEXT NOT NULL DEFAULT '',
        updated_at REAL,
        patient_id_authority TEXT NOT NULL DEFAULT '',
        visit_number TEXT NOT NULL DEFAULT '',
        patient_class TEXT NOT NULL DEFAULT '',
        UNIQUE (facility, accession)
    );
    INSERT INTO worklist_new SELECT id, accession, patient_id, patient_name, birth_date, sex, exam, modality, facility,
        priority, ordered_at, template_id, state, exam_code, ordering_physician, placer_order, filler_order, updated_at,
        patient_id_authority, visit_number, patient_class FROM worklist;
    DROP TABLE worklist;
    ALTER TABLE worklist_new RENAME TO worklist
    """,
    # 9: what changed in an order after a report was started for it (field names, "cancelled"),
    # until the radiologist has looked: never rewritten into the report silently.
    """
    ALTER TABLE worklist ADD COLUMN order_changed TEXT NOT NULL DEFAULT ''
    """,
    # 10: the Study Instance UID the order gave (OMI IPC-3): the report joins the images' study.
    """
    ALTER TABLE worklist ADD COLUMN study_uid TEXT NOT NULL DEFAULT ''
    """,
    # 11: when the examination is (was) done, as the order says it (OBR-7, TQ1-7), apart from when
    # it was ordered: reports carry the exam time, turnaround clocks the order time.
    """
    ALTER TABLE worklist ADD COLUMN exam_time REAL
    """,
    # 12: words the radiologist typed over what was heard (heard → written), for the reporting
    # lead's `radscribe vocab suggest`: the pair, the template and a neighbouring word on each
    # side, never more; forgotten after [vocab] learn_days.
    """
    CREATE TABLE learned_corrections (
        id INTEGER PRIMARY KEY,
        template_id TEXT NOT NULL,
        heard TEXT NOT NULL,
        written TEXT NOT NULL,
        context TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX learned_corrections_pair ON learned_corrections (heard, written)
    """,
    # 13: a study claimed by the reader reading it (a group's readers share one worklist): who,
    # since when, and until when the claim holds unless renewed (a crashed workstation lets go).
    """
    ALTER TABLE worklist ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE worklist ADD COLUMN claimed_at REAL;
    ALTER TABLE worklist ADD COLUMN claim_until REAL NOT NULL DEFAULT 0
    """,
    # 14: which model read each utterance (a group's recognition server, or this workstation's
    # own when the server did not answer in time).
    """
    ALTER TABLE utterances ADD COLUMN decoder TEXT NOT NULL DEFAULT ''
    """,
    # 15: PostgreSQL tells every workstation of a change to the worklist (LISTEN/NOTIFY, a
    # trigger); a SQLite file has nothing to add: its watchers read PRAGMA data_version
    """
    -- nothing for SQLite
    """,
    # 16: the group's licence roster, kept by an administrator: each login (a PostgreSQL role, or
    # the operating-system user on a SQLite file) is a reader, with the licences they hold.
    """
    CREATE TABLE roster_readers (
        login TEXT PRIMARY KEY,
        reader_id TEXT NOT NULL,
        family TEXT NOT NULL DEFAULT '',
        given TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    );
    CREATE TABLE roster_licences (
        login TEXT NOT NULL REFERENCES roster_readers (login) ON DELETE CASCADE,
        jurisdiction TEXT NOT NULL,
        expires TEXT NOT NULL,
        number TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (login, jurisdiction)
    )
    """,
]

# Migrations that rebuild a table another one references: run with foreign keys off (SQLite's
# documented procedure), checked before they commit.
REBUILDS = {8}

# The guards on the append-only tables, by name: re-created at open when missing.
TRIGGERS = {
    "report_versions_no_update": "CREATE TRIGGER report_versions_no_update BEFORE UPDATE ON report_versions "
                                 "BEGIN SELECT RAISE(ABORT, 'a signed version is never changed: sign an addendum or a correction'); END;",
    "report_versions_no_delete": "CREATE TRIGGER report_versions_no_delete BEFORE DELETE ON report_versions "
                                 "BEGIN SELECT RAISE(ABORT, 'a signed version is never deleted'); END;",
    "audit_no_update": "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    "audit_no_delete": "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
}

# The columns each chain's hash covers, in order (the hash column itself excluded).
AUDIT_CHAIN = ("id", "at", "actor", "action", "report_id", "accession", "detail")
VERSION_CHAIN = ("report_id", "version", "status", "kind", "signer_id", "signer_name", "signed_at", "text", "sections",
                 "state", "flags", "metrics", "differences")


def statements(script: str) -> Iterator[str]:
    """The statements of a migration (a trigger body holds semicolons of its own)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def default_path() -> Path:
    return user_file(ENV, "data", "radscribe.db")


def default_target() -> str | Path:
    """``$RADSCRIBE_STORE`` (a file, or a ``postgresql://`` URL), else the user data folder's file."""
    import os

    value = os.environ.get(ENV, "")
    return value if value.startswith(("postgresql://", "postgres://")) else default_path()
