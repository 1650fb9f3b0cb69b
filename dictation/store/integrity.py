"""Evidence the store can show: hash chains over the audit log and the signed versions, the
guards that keep them append-only, a damage check, and a consistent backup.

Each audit row and each signed version carries ``hash = sha256(previous hash + its columns)``.
Changing, deleting or back-dating a row (after dropping the triggers that refuse it) breaks the
chain at that row, and ``radscribe audit --verify`` names it. Whoever can drop the triggers can
also recompute a whole chain, so the head of the chain is also written outside the store, in
the application log, at every signing; verify compares those anchors with the chain.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dictation.errors import StoreError
from dictation.store.base import StoreBase, translate
from dictation.store.chain import GENESIS, row_hash
from dictation.store.schema import AUDIT_CHAIN, TRIGGERS, VERSION_CHAIN

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


def quick_check_file(path: Path) -> list[str]:
    """SQLite's quick_check on a store file opened read-only, without the store's own opening
    (which reads the schema and may stop at the first damaged page). Empty: sound."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such store")
    if Path(path).stat().st_size == 0:
        return ["the file is empty (0 bytes)"]
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return [str(e)]
    return [] if rows == ["ok"] else rows


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
        present = {r["name"] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        problems += [f"guard {name} is missing (re-created at the next start)" for name in TRIGGERS if name not in present]
        return problems

    # -- damage and backups ----------------------------------------------------------------------

    def quick_check(self) -> list[str]:
        """SQLite's full ``quick_check`` (it reads every page: seconds on a large store); the
        problems it found, empty when the store is sound. The time is kept for ``check_due``."""
        rows = [r[0] for r in self.db.execute("PRAGMA quick_check").fetchall()]
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('quick_check_at', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(time.time()),))
        return [] if rows == ["ok"] else rows

    def check_due(self, every: float = QUICK_CHECK_EVERY_SECONDS) -> bool:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'quick_check_at'").fetchone()
        return row is None or time.time() - float(row["value"]) >= every

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the store while it is in use (SQLite's online backup), owner-only
        like the store. ``dest`` may be a folder (a dated file name is chosen) or a file that
        does not exist yet."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{self.path.stem}-{time.strftime('%Y%m%d-%H%M%S')}.db"
        if dest.exists():
            raise StoreError(f"{dest} exists: a backup never overwrites a file; choose another name")
        if not dest.parent.is_dir():
            raise StoreError(f"{dest.parent}: no such folder")
        tmp = dest.with_name(f".{dest.name}.partial")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            os.close(fd)
            target = sqlite3.connect(tmp)
            try:
                with self._lock:
                    self.db.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                problems = [r[0] for r in target.execute("PRAGMA quick_check").fetchall()]
            finally:
                target.close()
            if problems != ["ok"]:
                raise StoreError(f"the backup failed its check ({problems[0]}): the store itself may be damaged; "
                                 "run `radscribe store check`")
            os.replace(tmp, dest)
        except sqlite3.Error as e:
            raise translate(self.path, e, "backup") from None
        except OSError as e:
            raise StoreError(f"{dest}: cannot write the backup ({e.strerror or e})") from None
        finally:
            tmp.unlink(missing_ok=True)
        with self.transaction() as db:
            self._audit(db, "backup", None, "", str(dest))
        return dest
