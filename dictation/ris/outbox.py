"""The outbox: every signed version reaches every destination exactly once, in order.

- Signing and queueing are one SQLite transaction (`Store.commit_utterance(..., outbox=...)`):
  the exact bytes are stored then, with a deterministic control id per (report, version,
  destination), and never rebuilt.
- One message in flight per destination; per report and destination strictly in version order
  (preliminary before final before corrected): a later version waits while an earlier one is
  unsent, even if it is retrying, and while it is dead-lettered, until someone fixes and
  retries it or releases it on purpose (``radscribe outbox release ID``, audited). Reports of
  different accessions may overtake each other.
- States: ``pending`` (waiting for its time), ``in_flight`` (being sent), ``sent``, ``dead``
  (the receiver said the message is wrong, or it could not be built). A message in flight is
  held by the process sending it (an owner and a lease a few times the destination's timeout);
  only a delivering pass takes back a claim that ran out or whose owner died on this machine,
  never a listing, and a sender marks the outcome only while it still holds the claim.
- Delivery is at least once: a crash between sending and storing the ACK sends the message
  again, with the same bytes and control id (HL7 MSH-10, the FHIR identifier, the DICOM SOP
  Instance UID), so the receiver can tell a repeat.
- Retries back off exponentially with jitter; a message undelivered for longer than
  ``alert_after`` seconds puts its destination in the alert state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dictation.errors import ExportError, StoreError
from dictation.logs import log
from dictation.reporting.report import Report
from dictation.ris.destinations import Delivery, Destination
from dictation.ris.document import ReportVersion, Signer
from dictation.store import OutboxEntry, OutboxMessage, Store
from dictation.store.reports import lease_owner

BASE_DELAY = 5.0
MAX_DELAY = 900.0


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1``: 5, 10, 20 ... up to 15 min, ±20% jitter."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return float(delay * (0.8 + 0.4 * rng()))


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
        self.owner = f"{lease_owner()}#outbox-{id(self):x}"  # who holds the messages this outbox sends

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
            except Exception as e:
                payload, state, error = b"", "dead", f"cannot build the message (internal error {type(e).__name__}: {e})"
            out.append(OutboxEntry(version.report_id, version.version, version.status, d.name, d.kind, control_id,
                                   payload, state, error))
        return out

    def enqueue(self, version: ReportVersion) -> list[OutboxEntry]:
        """Queue one version on its own (`radscribe export`); the report must be in the store."""
        entries = self.entries_for_version(version)
        self.store.enqueue(entries, self.clock())
        return entries

    # -- delivering ----------------------------------------------------------------------------

    def recover(self) -> int:
        """Messages whose sender died or hung past its lease are due again (same bytes, same id)."""
        return self.store.recover_in_flight(self.clock())

    def deliver_due(self) -> list[Attempt]:
        """One pass: for each destination, send messages that are due, one at a time, in order,
        until one fails or none is due."""
        attempts = []
        with self._lock:
            self.recover()
            for name, dest in self.destinations.items():
                while True:
                    row = self.store.next_due(name, self.clock())
                    if row is None:
                        break
                    attempt = self._send(dest, row)
                    if attempt is None:
                        break  # another process is sending here
                    attempts.append(attempt)
                    if attempt.delivery.outcome == "retry":
                        break  # the receiver is down or unhappy: the next message waits
                    # dead: that message is wrong, not the channel; the others go on
        return attempts

    def _send(self, dest: Destination, message: OutboxMessage) -> Attempt | None:
        timeout = float(getattr(getattr(dest, "config", None), "timeout_seconds", 10.0))
        if not self.store.claim(message, self.owner, self.clock() + max(60.0, 3 * timeout)):
            return None  # no longer pending, or something else is in flight here
        try:
            delivery = dest.deliver(message.payload)
        except Exception as e:  # a bug in a channel must not lose the message: retry later, say why
            delivery = Delivery("retry", f"{type(e).__name__}: {e}")
        now = self.clock()
        if delivery.outcome == "sent":
            held = self._record(lambda: self.store.mark_sent(message, delivery.ack, now, self.owner))
        elif delivery.outcome == "dead":
            held = self._record(lambda: self.store.mark_dead(message, delivery.detail, delivery.ack, now, self.owner))
        else:
            at = now + backoff(message.attempts + 1, self.rng)
            held = self._record(lambda: self.store.reschedule(message, at, delivery.detail, self.owner))
        if not held:  # the lease ran out meanwhile: another pass sends it again (same id)
            log.warning("outbox message %d to %s: outcome not recorded (claim lost or store unavailable)", message.id,
                        dest.name)
        # The outcome only: a receiver's error text may quote the message (patient data).
        (log.info if delivery.outcome == "sent" else log.warning)(
            "outbox message %d (%s v%d) to %s: %s after %d attempt(s)", message.id, message.status, message.version,
            dest.name, delivery.outcome, message.attempts + 1)
        return Attempt(message.id, dest.name, message.control_id, delivery)

    @staticmethod
    def _record(write: Callable[[], bool], tries: int = 3) -> bool:
        """Store an outcome, trying again when the store is busy: a message is never left in
        flight for want of one write (if it is, its lease runs out and it is sent again)."""
        for attempt in range(tries):
            try:
                return write()
            except StoreError as e:
                log.warning("outbox: outcome not stored yet (%s), attempt %d", type(e).__name__, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        return False

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
            except Exception as e:
                if on_pass is not None:
                    on_pass([DestinationState("outbox", 0, 0, 0, 0, 0, None, True, f"{type(e).__name__}: {e}")])
            stop.wait(poll)

    def retry(self, message_id: int) -> bool:
        """Send a failing or dead-lettered message again now (after fixing the cause)."""
        return self.store.retry_message(message_id, self.clock())

    def release(self, message_id: int) -> bool:
        """Let a dead letter go, so the later versions of its report it holds back are sent."""
        return self.store.release_message(message_id)

    def close(self) -> None:
        for d in self.destinations.values():
            d.close()

    # -- reading -------------------------------------------------------------------------------

    def states(self) -> list[DestinationState]:
        now = self.clock()
        names = list(self.destinations) + [d for d in self.store.queued_destinations() if d not in self.destinations]
        out = []
        for name in names:
            c = self.store.destination_counts(name)
            alert = c.dead > 0 or (c.oldest_waiting is not None and now - c.oldest_waiting > self.alert_after)
            out.append(DestinationState(name, c.pending, c.in_flight, c.sent, c.dead, c.failing, c.oldest_waiting, alert,
                                        c.last_error))
        return out

    def messages(self, destination: str | None = None, states: tuple[str, ...] | None = None) -> list[OutboxMessage]:
        return self.store.outbox_messages(destination, states)
