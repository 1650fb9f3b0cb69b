"""The outbox queue: one row per (report, signed version, destination) with the exact bytes.

The delivery policy (order, backoff, dead letters) is the outbox's (``dictation/ris/outbox.py``);
this is only how the queue is kept.
"""

from __future__ import annotations

import time
from typing import Any

from dictation.store.base import StoreBase
from dictation.store.records import DestinationCounts, OutboxEntry, OutboxMessage, from_row
from dictation.store.reports import owner_alive

_LISTED = ("id, report_id, version, status, destination, kind, control_id, state, attempts, next_attempt_at, "
           "last_error, created_at, sent_at")


class OutboxStore(StoreBase):
    def enqueue(self, entries: list[OutboxEntry], now: float | None = None) -> None:
        """Queue messages on their own (a version signed earlier, sent again by `radscribe export`)."""
        with self.transaction() as db:
            for e in entries:
                self._enqueue(db, e, now or time.time())

    def recover_in_flight(self, now: float) -> int:
        """Messages whose claim ran out (the process sending them died or hung) go back to
        pending, to be sent again with the same bytes and id. A live claim is never touched."""
        with self.transaction() as db:
            rows = db.execute("SELECT id, claim_owner, claim_until FROM outbox WHERE state = 'in_flight'").fetchall()
            stale = [r["id"] for r in rows if r["claim_until"] <= now or not owner_alive(r["claim_owner"])]
            for message_id in stale:
                db.execute("UPDATE outbox SET state = 'pending', claim_owner = '', claim_until = 0 WHERE id = ? "
                           "AND state = 'in_flight'", (message_id,))
            return len(stale)

    def next_due(self, destination: str, now: float) -> OutboxMessage | None:
        """The next message to send to ``destination``: due, no earlier version of its report
        still waiting, nothing else in flight there."""
        row = self.db.execute(
            "SELECT o.* FROM outbox o WHERE o.destination = ? AND o.state = 'pending' AND o.next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination = o.destination AND e.report_id = o.report_id "
            "AND e.version < o.version AND e.state IN ('pending', 'in_flight', 'dead')) "
            "AND NOT EXISTS (SELECT 1 FROM outbox f WHERE f.destination = o.destination AND f.state = 'in_flight') "
            "ORDER BY o.id LIMIT 1",
            (destination, now),
        ).fetchone()
        return from_row(OutboxMessage, {**dict(row), "payload": bytes(row["payload"])}) if row else None

    def claim(self, message: OutboxMessage, owner: str, until: float) -> bool:
        """Take a message for sending (``owner`` holds it until ``until``): still pending, and
        nothing else in flight to its destination."""
        with self.transaction() as db:
            return bool(db.execute(
                "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, claim_owner = ?, claim_until = ? "
                "WHERE id = ? AND state = 'pending' "
                "AND NOT EXISTS (SELECT 1 FROM outbox f WHERE f.destination = ? AND f.state = 'in_flight')",
                (owner, until, message.id, message.destination)).rowcount)

    def mark_sent(self, message: OutboxMessage, ack: bytes | None, now: float, owner: str) -> bool:
        """Sent, if ``owner`` still holds the claim (False: it ran out and another process took
        the message back; the receiver may see it twice, with the same control id)."""
        with self.transaction() as db:
            if not db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, ack = ?, last_error = '', claim_owner = '' "
                              "WHERE id = ? AND state = 'in_flight' AND claim_owner = ?",
                              (now, ack, message.id, owner)).rowcount:
                return False
            self._audit(db, "export", message.report_id, "", f"{message.status} v{message.version} to "
                        f"{message.destination} ({message.kind}, {message.control_id})", now, actor="outbox")
            return True

    def mark_dead(self, message: OutboxMessage, reason: str, ack: bytes | None, now: float, owner: str) -> bool:
        with self.transaction() as db:
            if not db.execute("UPDATE outbox SET state = 'dead', last_error = ?, ack = ?, claim_owner = '' "
                              "WHERE id = ? AND state = 'in_flight' AND claim_owner = ?",
                              (reason, ack, message.id, owner)).rowcount:
                return False
            self._audit(db, "export_failed", message.report_id, "", f"{message.status} v{message.version} to "
                        f"{message.destination}: dead-lettered", now, actor="outbox")
            return True

    def reschedule(self, message: OutboxMessage, at: float, reason: str, owner: str) -> bool:
        with self.transaction() as db:
            return bool(db.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?, claim_owner = '' "
                "WHERE id = ? AND state = 'in_flight' AND claim_owner = ?", (at, reason, message.id, owner)).rowcount)

    def retry_message(self, message_id: int, now: float) -> bool:
        """A failing or dead-lettered message (that could be built) is due again now."""
        with self.transaction() as db:
            return bool(db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ? "
                              "AND state IN ('pending', 'dead') AND length(payload) > 0", (now, message_id)).rowcount == 1)

    def release_message(self, message_id: int, actor: str | None = None) -> bool:
        """A dead letter the receiver will never take, let go on purpose: the later versions of
        its report that it held back may be sent. Audited."""
        with self.transaction() as db:
            row = db.execute("SELECT report_id, version, status, destination FROM outbox WHERE id = ? AND state = 'dead'",
                             (message_id,)).fetchone()
            if row is None:
                return False
            db.execute("UPDATE outbox SET state = 'released' WHERE id = ?", (message_id,))
            self._audit(db, "export_released", row["report_id"], "", f"{row['status']} v{row['version']} to "
                        f"{row['destination']}: released, later versions may go", actor=actor)
            return True

    def held_behind(self, message_id: int) -> int:
        """How many later versions of the same report wait for this message (to the same place)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM outbox o JOIN outbox d ON d.id = ? AND o.destination = d.destination "
            "AND o.report_id = d.report_id AND o.version > d.version AND o.state = 'pending'", (message_id,)).fetchone()
        return int(row[0])

    def queued_destinations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT destination FROM outbox")]

    def destination_counts(self, name: str) -> DestinationCounts:
        counts = {s: 0 for s in ("pending", "in_flight", "sent", "dead")}
        for r in self.db.execute("SELECT state, COUNT(*) FROM outbox WHERE destination = ? GROUP BY state", (name,)):
            counts[r[0]] = r[1]
        failing = self.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE destination = ? AND state = 'pending' AND attempts > 0", (name,)).fetchone()[0]
        oldest = self.db.execute(
            "SELECT MIN(created_at) FROM outbox WHERE destination = ? AND state IN ('pending', 'in_flight')", (name,)).fetchone()[0]
        last = self.db.execute(
            "SELECT last_error FROM outbox WHERE destination = ? AND last_error != '' AND state != 'sent' "
            "ORDER BY id DESC LIMIT 1", (name,)).fetchone()
        return DestinationCounts(name, counts["pending"], counts["in_flight"], counts["sent"], counts["dead"], failing,
                                 oldest, last[0] if last else "")

    def outbox_messages(self, destination: str | None = None, states: tuple[str, ...] | None = None) -> list[OutboxMessage]:
        sql = f"SELECT {_LISTED} FROM outbox"
        where: list[str] = []
        args: list[Any] = []
        if destination:
            where.append("destination = ?")
            args.append(destination)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [from_row(OutboxMessage, r) for r in self.db.execute(sql + " ORDER BY id", args)]
