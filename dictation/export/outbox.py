"""The outbox: every signed version reaches every destination exactly once, in order.

- Signing and queueing are one SQLite transaction (`Store.commit_utterance(..., outbox=...)`):
  the exact bytes are stored then, with a deterministic control id per (report, version,
  destination), and never rebuilt.
- One message in flight per destination; per report and destination strictly in version order
  (preliminary before final before corrected): a later version waits while an earlier one is
  unsent, even if it is retrying.
- States: ``pending`` (waiting for its time), ``in_flight`` (being sent), ``sent``, ``dead``
  (the receiver said the message is wrong, or it could not be built). After a crash,
  ``in_flight`` goes back to ``pending`` and is sent again with the same bytes and id.
- Retries back off exponentially with jitter; a message undelivered for longer than
  ``alert_after`` seconds puts its destination in the alert state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..logs import log
from ..report import Report
from ..store import OutboxEntry, Store
from .destinations import Delivery, Destination
from .document import ExportError, ReportVersion, Signer

BASE_DELAY = 5.0
MAX_DELAY = 900.0


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1``: 5, 10, 20 ... up to 15 min, ±20% jitter."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return delay * (0.8 + 0.4 * rng())


@dataclass(frozen=True)
class Attempt:
    id: int
    destination: str
    control_id: str
    delivery: Delivery


@dataclass(frozen=True)
class DestinationState:
    name: str
    pending: int
    in_flight: int
    sent: int
    dead: int
    failing: int  # pending after at least one failed attempt
    oldest_unsent_at: float | None
    alert: bool
    last_error: str


class Outbox:
    def __init__(self, store: Store, destinations: list[Destination], *, alert_after: float = 900.0,
                 clock: Callable[[], float] = time.time, rng: Callable[[], float] = random.random,
                 routes: dict[str, list[str]] | None = None) -> None:
        self.store = store
        self.routes = dict(routes or {})  # facility → the destinations it names ([[facility]] destinations)
        self.destinations = {d.name: d for d in destinations}
        self.alert_after = alert_after
        self.clock = clock
        self.rng = rng
        self._lock = threading.Lock()
        self.recover()

    # -- queueing ------------------------------------------------------------------------------

    def entries_for(self, report: Report, signer: Signer | None = None) -> list[OutboxEntry]:
        """The messages one signed version makes, built now (before the transaction)."""
        version = ReportVersion.from_report(report, signer)
        return self.entries_for_version(version)

    def entries_for_version(self, version: ReportVersion) -> list[OutboxEntry]:
        out = []
        facility = str(version.exam.get("facility") or "")
        for d in self.destinations.values():
            if facility in self.routes:
                if d.name not in self.routes[facility]:
                    continue  # the facility names its own destinations
            else:
                wanted = getattr(getattr(d, "config", None), "facilities", None)
                if wanted and facility not in wanted:
                    continue  # another hospital's RIS
            control_id = version.control_id(d.name)
            try:
                payload, state, error = d.build(version), "pending", ""
            except ExportError as e:
                payload, state, error = b"", "dead", f"cannot build the message: {e}"
            except Exception as e:  # noqa: BLE001 - a bug in a builder must not lose the signing
                payload, state, error = b"", "dead", f"cannot build the message (internal error {type(e).__name__}: {e})"
            out.append(OutboxEntry(version.report_id, version.version, version.status, d.name, d.kind, control_id,
                                   payload, state, error))
        return out

    def enqueue(self, version: ReportVersion) -> list[OutboxEntry]:
        """Queue one version on its own (`radscribe export`); the report must be in the store."""
        entries = self.entries_for_version(version)
        with self.store.transaction() as db:
            for e in entries:
                self.store._enqueue(db, e, self.clock())
        return entries

    # -- delivering ----------------------------------------------------------------------------

    def recover(self) -> int:
        """After a crash: messages caught in flight are sent again (same bytes, same id)."""
        with self.store.transaction() as db:
            cur = db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'in_flight'")
        return cur.rowcount

    def _next(self, destination: str, now: float) -> Any:
        return self.store.db.execute(
            "SELECT o.* FROM outbox o WHERE o.destination = ? AND o.state = 'pending' AND o.next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination = o.destination AND e.report_id = o.report_id "
            "AND e.version < o.version AND e.state IN ('pending', 'in_flight')) "
            "AND NOT EXISTS (SELECT 1 FROM outbox f WHERE f.destination = o.destination AND f.state = 'in_flight') "
            "ORDER BY o.id LIMIT 1",
            (destination, now),
        ).fetchone()

    def deliver_due(self) -> list[Attempt]:
        """One pass: for each destination, send messages that are due, one at a time, in order,
        until one fails or none is due."""
        attempts = []
        with self._lock:
            for name, dest in self.destinations.items():
                while True:
                    row = self._next(name, self.clock())
                    if row is None:
                        break
                    attempt = self._send(dest, row)
                    if attempt is None:
                        break  # another process is sending here
                    attempts.append(attempt)
                    if attempt.delivery.outcome != "sent":
                        break  # the receiver is down or unhappy: the next message waits
        return attempts

    def _send(self, dest: Destination, row: Any) -> Attempt | None:
        with self.store.transaction() as db:  # claim it: still pending, nothing else in flight here
            claimed = db.execute(
                "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1 WHERE id = ? AND state = 'pending' "
                "AND NOT EXISTS (SELECT 1 FROM outbox f WHERE f.destination = ? AND f.state = 'in_flight')",
                (row["id"], dest.name)).rowcount
        if not claimed:
            return None
        try:
            delivery = dest.deliver(bytes(row["payload"]))
        except Exception as e:  # a bug in a channel must not lose the message: retry later, say why
            delivery = Delivery("retry", f"{type(e).__name__}: {e}")
        now = self.clock()
        with self.store.transaction() as db:
            if delivery.outcome == "sent":
                db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, ack = ?, last_error = '' WHERE id = ?",
                           (now, delivery.ack, row["id"]))
                self.store._audit(db, "export", row["report_id"], "", f"{row['status']} v{row['version']} to {dest.name} "
                                  f"({row['kind']}, {row['control_id']})", now, actor="outbox")
            elif delivery.outcome == "dead":
                db.execute("UPDATE outbox SET state = 'dead', last_error = ?, ack = ? WHERE id = ?",
                           (delivery.detail, delivery.ack, row["id"]))
                self.store._audit(db, "export_failed", row["report_id"], "", f"{row['status']} v{row['version']} to "
                                  f"{dest.name}: dead-lettered", now, actor="outbox")
            else:
                db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
                           (now + backoff(row["attempts"] + 1, self.rng), delivery.detail, row["id"]))
        # The outcome only: a receiver's error text may quote the message (patient data).
        (log.info if delivery.outcome == "sent" else log.warning)(
            "outbox message %d (%s v%d) to %s: %s after %d attempt(s)", row["id"], row["status"], row["version"],
            dest.name, delivery.outcome, row["attempts"] + 1)
        return Attempt(row["id"], dest.name, row["control_id"], delivery)

    def run(self, stop: threading.Event, poll: float = 1.0,
            on_pass: Callable[[list[DestinationState]], None] | None = None) -> None:
        """Deliver until ``stop`` is set (the TUI's background thread). Give the outbox its own
        `Store` (connection): SQLite transactions must not interleave on one connection.
        ``on_pass`` gets the destinations' states after every pass."""
        while not stop.is_set():
            try:
                self.deliver_due()
                if on_pass is not None:
                    on_pass(self.states())
            except Exception as e:  # noqa: BLE001 - the delivery thread must survive anything
                if on_pass is not None:
                    on_pass([DestinationState("outbox", 0, 0, 0, 0, 0, None, True, f"{type(e).__name__}: {e}")])
            stop.wait(poll)

    def retry(self, message_id: int) -> bool:
        """Send a failing or dead-lettered message again now (after fixing the cause)."""
        with self.store.transaction() as db:
            cur = db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ? "
                             "AND state IN ('pending', 'dead') AND length(payload) > 0", (self.clock(), message_id))
        return cur.rowcount == 1

    def close(self) -> None:
        for d in self.destinations.values():
            d.close()

    # -- reading -------------------------------------------------------------------------------

    def states(self) -> list[DestinationState]:
        now = self.clock()
        names = list(self.destinations) + [r[0] for r in self.store.db.execute("SELECT DISTINCT destination FROM outbox")
                                           if r[0] not in self.destinations]
        out = []
        for name in names:
            counts = {s: 0 for s in ("pending", "in_flight", "sent", "dead")}
            for r in self.store.db.execute("SELECT state, COUNT(*) FROM outbox WHERE destination = ? GROUP BY state", (name,)):
                counts[r[0]] = r[1]
            failing = self.store.db.execute(
                "SELECT COUNT(*) FROM outbox WHERE destination = ? AND state = 'pending' AND attempts > 0", (name,)).fetchone()[0]
            oldest = self.store.db.execute(
                "SELECT MIN(created_at) FROM outbox WHERE destination = ? AND state IN ('pending', 'in_flight')", (name,)).fetchone()[0]
            last = self.store.db.execute(
                "SELECT last_error FROM outbox WHERE destination = ? AND last_error != '' AND state != 'sent' "
                "ORDER BY id DESC LIMIT 1", (name,)).fetchone()
            alert = counts["dead"] > 0 or (oldest is not None and now - oldest > self.alert_after)
            out.append(DestinationState(name, counts["pending"], counts["in_flight"], counts["sent"], counts["dead"],
                                        failing, oldest, alert, last[0] if last else ""))
        return out

    def messages(self, destination: str | None = None, states: tuple[str, ...] | None = None) -> list[Any]:
        sql = "SELECT id, report_id, version, status, destination, kind, control_id, state, attempts, next_attempt_at, " \
              "last_error, created_at, sent_at FROM outbox"
        where, args = [], []
        if destination:
            where.append("destination = ?")
            args.append(destination)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.store.db.execute(sql + " ORDER BY id", args).fetchall()
