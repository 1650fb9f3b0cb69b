"""Pairs of words the radiologist typed over what was heard, for the reporting lead."""

from __future__ import annotations

import time

from dictation.store.base import StoreBase
from dictation.store.records import LearnedPair


class LearningStore(StoreBase):
    def learn(self, template_id: str, pairs: list[tuple[str, str, str]], keep_days: int) -> None:
        """Keep ``pairs`` (heard, written, context) and forget those older than ``keep_days``."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT INTO learned_corrections (template_id, heard, written, context, at) "
                           "VALUES (?, ?, ?, ?, ?)", [(template_id, h, w, c, now) for h, w, c in pairs])
            db.execute("DELETE FROM learned_corrections WHERE at < ?", (now - keep_days * 86400,))

    def forget_learned(self, keep_days: int) -> int:
        """Forget pairs older than ``keep_days``; how many were."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM learned_corrections WHERE at < ?", (time.time() - keep_days * 86400,))
        return int(cur.rowcount)

    def learned_pairs(self, at_least: int = 1) -> list[LearnedPair]:
        """Each pair typed over at least ``at_least`` times, the most frequent first."""
        rows = self.db.execute(
            f"SELECT heard, written, COUNT(*) AS times, {self.engine.joined('template_id')} AS templates, "
            "MIN(context) AS context, MAX(at) AS last FROM learned_corrections GROUP BY heard, written "
            "HAVING COUNT(*) >= ? ORDER BY times DESC, last DESC", (at_least,)).fetchall()
        return [LearnedPair(r["heard"], r["written"], int(r["times"]), sorted(str(r["templates"]).split(",")),
                            r["context"], float(r["last"])) for r in rows]
