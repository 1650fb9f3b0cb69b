"""The hash chains' arithmetic: ``hash = sha256(previous hash + the row's columns as JSON)``.

Kept apart from the connection so the writer (``base``), the signed versions (``reports``) and
the verifier (``integrity``) compute it the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from dictation.store.schema import AUDIT_CHAIN, TRIGGERS, VERSION_CHAIN

GENESIS = "0" * 64


def row_hash(previous: str, values: Sequence[Any]) -> str:
    payload = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((previous + payload).encode("utf-8")).hexdigest()


def seal(db: Any) -> None:
    """Chain the rows already stored (SQLite's migration that adds the chains: run once)."""
    for name in TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, columns, order in (("audit", AUDIT_CHAIN, "id"), ("report_versions", VERSION_CHAIN, "rowid")):
        previous = GENESIS
        for row in db.execute(f"SELECT rowid AS _rowid, {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall():
            previous = row_hash(previous, [row[c] for c in columns])
            db.execute(f"UPDATE {table} SET hash = ? WHERE rowid = ?", (previous, row["_rowid"]))
    for sql in TRIGGERS.values():
        db.execute(sql)


def next_audit(db: Any, values: Sequence[Any]) -> tuple[int, str]:
    """The id and hash of the audit row about to be written (inside the write transaction)."""
    last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    new_id = (last["id"] + 1) if last else 1
    return new_id, row_hash(last["hash"] if last else GENESIS, [new_id, *values])


def next_version_hash(db: Any, values: Sequence[Any]) -> str:
    last = db.execute("SELECT hash FROM report_versions ORDER BY rowid DESC LIMIT 1").fetchone()
    return row_hash(last["hash"] if last else GENESIS, values)
