"""What the practice keeps: signed versions, the audit log, critical-result timers, peer reviews."""

from __future__ import annotations

import time
from typing import Any

from dictation.errors import StoreError
from dictation.store.base import StoreBase
from dictation.store.records import (
    AuditEntry,
    CriticalResult,
    ReportState,
    Review,
    SignedFinal,
    StoredVersion,
    from_row,
)


class HistoryStore(StoreBase):
    # -- signed versions -----------------------------------------------------------------------

    def versions(self, report_id: str) -> list[StoredVersion]:
        rows = self.db.execute("SELECT * FROM report_versions WHERE report_id = ? ORDER BY version", (report_id,)).fetchall()
        return [from_row(StoredVersion, r) for r in rows]

    def latest_version(self, report_id: str) -> StoredVersion | None:
        row = self.db.execute("SELECT * FROM report_versions WHERE report_id = ? ORDER BY version DESC LIMIT 1",
                              (report_id,)).fetchone()
        return from_row(StoredVersion, row) if row else None

    def all_versions(self) -> list[StoredVersion]:
        """Every signed version, oldest first, with its order's facility, priority and order time."""
        rows = self.db.execute(
            "SELECT v.*, w.facility, w.priority, w.ordered_at FROM report_versions v "
            "JOIN reports r ON r.id = v.report_id LEFT JOIN worklist w ON w.id = r.worklist_id ORDER BY v.signed_at").fetchall()
        return [from_row(StoredVersion, r) for r in rows]

    # -- audit -----------------------------------------------------------------------------------

    def audit_log(self, report_id: str | None = None, since: float | None = None) -> list[AuditEntry]:
        where: list[str] = []
        args: list[Any] = []
        if report_id:
            where.append("report_id = ?")
            args.append(report_id)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [from_row(AuditEntry, r) for r in self.db.execute(f"SELECT * FROM audit {clause} ORDER BY id", args)]

    # -- critical results ------------------------------------------------------------------------

    def sync_critical(self, report: ReportState, flags: list[Any], told: dict[str, float], at: float | None = None,
                      actor: str | None = None) -> None:
        """Start a timer for each critical finding when first flagged; stop it when its
        communication is recorded (``told``: finding -> when); a finding no longer flagged
        (scratched, negated) before being communicated is withdrawn."""
        at = at or time.time()
        current = {f.finding: f for f in flags if f.kind == "critical_finding" and f.finding}
        accession = str(report.exam.get("accession") or "")
        with self.transaction() as db:  # read and write under one lock: the UI and session threads both check
            rows = {r["finding"]: r for r in db.execute("SELECT * FROM critical_results WHERE report_id = ?", (report.id,))}
            for finding, flag in current.items():
                row = rows.get(finding)
                if row is None:
                    db.execute("INSERT INTO critical_results (report_id, finding, acr_category, deadline_minutes, dictated_at) "
                               "VALUES (?, ?, ?, ?, ?)", (report.id, finding, flag.acr_category, flag.deadline_minutes, at))
                    self._audit(db, "critical_flagged", report.id, accession, finding, at, actor)
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
                    self._audit(db, "critical_communicated", report.id, accession, finding, actor=actor)

    def open_critical(self) -> list[CriticalResult]:
        """Critical results not yet communicated, across every study, oldest first."""
        rows = self.db.execute(
            "SELECT c.*, w.accession, w.facility, w.exam, r.status FROM critical_results c "
            "JOIN reports r ON r.id = c.report_id LEFT JOIN worklist w ON w.id = r.worklist_id "
            "WHERE c.communicated_at IS NULL AND c.withdrawn_at IS NULL ORDER BY c.dictated_at").fetchall()
        return [from_row(CriticalResult, r) for r in rows]

    def critical_results(self, since: float = 0.0) -> list[CriticalResult]:
        """Every critical result dictated since ``since`` and not withdrawn, with its facility."""
        rows = self.db.execute(
            "SELECT c.*, w.facility FROM critical_results c JOIN reports r ON r.id = c.report_id "
            "LEFT JOIN worklist w ON w.id = r.worklist_id WHERE c.withdrawn_at IS NULL AND c.dictated_at >= ?",
            (since,)).fetchall()
        return [from_row(CriticalResult, r) for r in rows]

    # -- peer review -----------------------------------------------------------------------------

    def signed_finals(self, since: float | None = None, until: float | None = None) -> list[SignedFinal]:
        """The first final version of each report (the read that peer review judges)."""
        rows = self.db.execute(
            "SELECT v.report_id, v.version, v.signer_id, v.signer_name, v.signed_at FROM report_versions v "
            "WHERE v.kind = 'final' AND v.signed_at >= ? AND v.signed_at < ? ORDER BY v.signed_at",
            (since or 0.0, until or 1e12)).fetchall()
        return [from_row(SignedFinal, r) for r in rows]

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

    def reviews(self, *, pending: bool | None = None) -> list[Review]:
        where = {None: "", True: "WHERE score IS NULL", False: "WHERE score IS NOT NULL"}[pending]
        return [from_row(Review, r) for r in self.db.execute(f"SELECT * FROM reviews {where} ORDER BY id")]

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
