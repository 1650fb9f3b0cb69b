"""Claims on worklist studies: one reader reads a study at a time, across every workstation of a
group that shares the store.

A claim names the reader (their reader id), when it was taken, and until when it holds unless
renewed: the workstation renews it while the study is open, so a crashed or disconnected one
lets go when it runs out. It ends when the report is signed final or the study is closed, or
when an administrator releases it (audited, with who held it). Claims are writes like any other:
one writer at a time on either engine, so two workstations asking at once never get the same
study.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from dictation.errors import StoreError
from dictation.store.base import StoreBase
from dictation.store.records import WorklistItem, from_row

CLAIM_SECONDS = 300.0

_URGENCY = "CASE w.priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END"


def held_by(row: object, now: float) -> str:
    """Who holds a worklist row's claim now ("" nobody, or a claim past its time)."""
    by, until = row["claimed_by"], row["claim_until"]  # type: ignore[index]
    return str(by) if by and until > now else ""


def being_read(by: str, since: float | None) -> str:
    at = time.strftime("%H:%M", time.localtime(since)) if since else "?"
    return f"being read by {by} since {at}"


class ClaimsStore(StoreBase):
    def claim_study(self, worklist_id: int, reader: str, seconds: float = CLAIM_SECONDS,
                    now: float | None = None) -> None:
        """Claim (or renew the claim on) a study for ``reader``. Held by another reader, signed
        or cancelled: StoreError saying so."""
        now = now or time.time()
        with self.transaction() as db:
            row = db.execute("SELECT accession, state, claimed_by, claimed_at, claim_until FROM worklist WHERE id = ?",
                             (worklist_id,)).fetchone()
            if row is None:
                raise StoreError(f"no study {worklist_id} on the worklist")
            if row["state"] in ("done", "cancelled"):
                raise StoreError(f"{row['accession']} is {'signed' if row['state'] == 'done' else 'cancelled'}: "
                                 "nothing to claim")
            holder = held_by(row, now)
            if holder and holder != reader:
                raise StoreError(f"{row['accession']} is {being_read(holder, row['claimed_at'])}; "
                                 "choose another study, or ask an administrator to release it")
            since = row["claimed_at"] if holder == reader else now
            db.execute("UPDATE worklist SET claimed_by = ?, claimed_at = ?, claim_until = ? WHERE id = ?",
                       (reader, since, now + seconds, worklist_id))
            if holder != reader:
                self._audit(db, "claim", None, row["accession"], "claimed", now, actor=reader)

    def claim_next(self, reader: str, not_at: Iterable[str] = (), seconds: float = CLAIM_SECONDS,
                   now: float | None = None) -> WorklistItem | None:
        """Claim the most urgent study nobody holds, ``reader`` included (STAT first, then urgent, then routine; the
        longest waiting first), at no facility in ``not_at`` (where the reader is not licensed).
        None when there is none."""
        now = now or time.time()
        excluded = sorted(set(not_at))
        skip = f"AND w.facility NOT IN ({', '.join('?' * len(excluded))}) " if excluded else ""
        with self.transaction() as db:
            row = db.execute(
                "SELECT w.id, w.accession FROM worklist w WHERE w.state NOT IN ('done', 'cancelled') "
                "AND (w.claimed_by = '' OR w.claim_until <= ?) "
                f"{skip}ORDER BY {_URGENCY}, w.ordered_at, w.id LIMIT 1", (now, *excluded)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE worklist SET claimed_by = ?, claimed_at = ?, claim_until = ? WHERE id = ?",
                       (reader, now, now + seconds, row["id"]))
            self._audit(db, "claim", None, row["accession"], "claimed (next)", now, actor=reader)
        item = self.study(int(row["id"]))
        assert item is not None
        return item

    def renew_claim(self, worklist_id: int, reader: str, seconds: float = CLAIM_SECONDS) -> bool:
        """Keep ``reader``'s claim (never takes one: a claim a signing or an administrator ended
        stays ended). False when ``reader`` holds none."""
        with self.transaction() as db:
            return bool(db.execute("UPDATE worklist SET claim_until = ? WHERE id = ? AND claimed_by = ?",
                                   (time.time() + seconds, worklist_id, reader)).rowcount)

    def release_study(self, worklist_id: int, reader: str, *, admin: str = "") -> bool:
        """End ``reader``'s claim (the study is closed). ``admin``: an administrator ends
        whoever's claim it is, audited with who held it. False when there was none to end."""
        with self.transaction() as db:
            row = db.execute("SELECT accession, claimed_by, claim_until FROM worklist WHERE id = ?",
                             (worklist_id,)).fetchone()
            if row is None or not row["claimed_by"] or (not admin and row["claimed_by"] != reader):
                return False
            db.execute("UPDATE worklist SET claimed_by = '', claimed_at = NULL, claim_until = 0 WHERE id = ?",
                       (worklist_id,))
            if admin:
                self._audit(db, "claim_released", None, row["accession"],
                            f"claim of {row['claimed_by']} released by an administrator", actor=admin)
            return True

    def study(self, worklist_id: int) -> WorklistItem | None:
        from dictation.store.worklist import ITEMS

        row = self.db.execute(f"{ITEMS} WHERE w.id = ?", (worklist_id,)).fetchone()
        return from_row(WorklistItem, row) if row else None
