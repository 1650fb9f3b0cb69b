"""Evidence the store can show: hash chains over the audit log and the signed versions, the
guards that keep them append-only, a damage check, and a consistent backup.

Each audit row and each signed version carries ``hash = sha256(previous hash + its columns)``.
Changing, deleting or back-dating a row (after dropping the triggers that refuse it) breaks the
chain at that row, and ``radscribe audit --verify`` names it. Whoever can drop the triggers can
also recompute a whole chain, so the head of the chain is also written outside the store, in
the application log, at every signing; verify compares those anchors with the chain.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dictation.store.base import StoreBase
from dictation.store.chain import GENESIS, row_hash
from dictation.store.engine_sqlite import quick_check_file
from dictation.store.schema import AUDIT_CHAIN, VERSION_CHAIN

__all__ = ["ChainHeads", "IntegrityStore", "quick_check_file"]

QUICK_CHECK_EVERY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ChainHeads:
    audit_id: int
    audit_hash: str
    versions: int
    versions_hash: str

    def line(self) -> str:
        """What the application log keeps (no patient data: counts and hashes)."""
        return (f"chain heads: audit {self.audit_id} {self.audit_hash[:16]} "
                f"versions {self.versions} {self.versions_hash[:16]}")


class IntegrityStore(StoreBase):
    def chain_heads(self) -> ChainHeads:
        a = self.db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        v = self.db.execute("SELECT COUNT(*) AS n, (SELECT hash FROM report_versions ORDER BY rowid DESC LIMIT 1) AS h "
                            "FROM report_versions").fetchone()
        return ChainHeads(a["id"] if a else 0, a["hash"] if a else GENESIS, v["n"], v["h"] or GENESIS)

    def verify_chains(self, anchors: Iterable[tuple[int, str]] = ()) -> list[str]:
        """Every break in the two chains (empty: intact). ``anchors`` are (audit id, hash prefix)
        pairs recorded outside the store; each must still be in the chain as recorded."""
        problems: list[str] = []
        rows = self.db.execute(f"SELECT {', '.join(AUDIT_CHAIN)}, hash FROM audit ORDER BY id").fetchall()
        previous, expected_id = GENESIS, None
        by_id: dict[int, str] = {}
        for row in rows:
            if expected_id is not None and row["id"] != expected_id:
                problems.append(f"audit row {expected_id}: missing (the next row is {row['id']}): rows were deleted")
                break
            want = row_hash(previous, [row[c] for c in AUDIT_CHAIN])
            if row["hash"] != want:
                problems.append(f"audit row {row['id']} ({row['action']}): its content or an earlier row was changed")
                break
            by_id[row["id"]] = row["hash"]
            previous, expected_id = row["hash"], row["id"] + 1
        last_id = rows[-1]["id"] if rows else 0
        for anchor_id, anchor_hash in anchors:
            if anchor_id > last_id:
                problems.append(f"audit row {anchor_id}: the log recorded it, the store no longer has it: rows were deleted")
                break
            if anchor_id in by_id and not by_id[anchor_id].startswith(anchor_hash):
                problems.append(f"audit row {anchor_id}: differs from the head the log recorded: the chain was rewritten")
                break
        previous = GENESIS
        for row in self.db.execute(f"SELECT {', '.join(VERSION_CHAIN)}, hash FROM report_versions ORDER BY rowid").fetchall():
            if row["hash"] != row_hash(previous, [row[c] for c in VERSION_CHAIN]):
                problems.append(f"signed version {row['version']} of report {row['report_id'][:12]}: "
                                "its content or an earlier version was changed")
                break
            previous = row["hash"]
        present = self.engine.trigger_names()
        problems += [f"guard {name} is missing (re-created at the next start)" for name in self.engine.triggers
                     if name not in present]
        return problems

    # -- damage and backups ----------------------------------------------------------------------

    def quick_check(self) -> list[str]:
        """SQLite's full ``quick_check`` (it reads every page: seconds on a large store; on
        PostgreSQL pages are the server's to check); the problems found, empty when the store
        is sound. The time is kept for ``check_due``."""
        problems = self.engine.page_check()
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('quick_check_at', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(time.time()),))
        return problems

    def check_due(self, every: float = QUICK_CHECK_EVERY_SECONDS) -> bool:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'quick_check_at'").fetchone()
        return row is None or time.time() - float(row["value"]) >= every

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the store while it is in use, owner-only like the store: SQLite's
        online backup, or ``pg_dump``. ``dest`` may be a folder (a dated file name is chosen) or
        a file that does not exist yet. Audited."""
        made = self.engine.backup(dest)
        with self.transaction() as db:
            self._audit(db, "backup", None, "", str(made))
        return made
