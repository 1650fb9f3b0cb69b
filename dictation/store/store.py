"""``Store``: put together from its parts, on either engine.

Each part keeps one aggregate (``reports``, ``worklist``, ``history``, ``outbox_queue``,
``learning``, ``roster``) on the shared engine of ``base`` (the embedded SQLite file, or a group's
PostgreSQL); every SQL statement of radscribe is in this package.
"""

from __future__ import annotations

from dictation.store.claims import ClaimsStore
from dictation.store.history import HistoryStore
from dictation.store.integrity import IntegrityStore
from dictation.store.learning import LearningStore
from dictation.store.outbox_queue import OutboxStore
from dictation.store.reports import ReportsStore
from dictation.store.roster import RosterStore
from dictation.store.worklist import WorklistStore


class Store(ReportsStore, WorklistStore, ClaimsStore, HistoryStore, OutboxStore, IntegrityStore, LearningStore,
            RosterStore):
    """The store: drafts and utterances, the worklist, signed versions, audit, critical-result
    timers, peer reviews, the outbox queue and the words typed over what was heard: in one
    SQLite file (WAL, synchronous=FULL) by default, or in a PostgreSQL database named by a
    ``postgresql://`` URL."""
