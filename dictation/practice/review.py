"""Peer review: a random sample of each reader's signed reports, scored RADPEER-style.

``sample`` takes, for every reader, ``ceil(percent / 100 × n)`` of the n reports they signed
final in the period and not yet sampled (so every reader with reports is reviewed at least
once); the reviewer records a score (1, 2a, 2b, 3a, 3b) and a comment, in the TUI review screen
or with ``radscribe review score``. Nobody reviews their own report.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

from dictation.errors import StoreError
from dictation.store import Store

RADPEER = ("1", "2a", "2b", "3a", "3b")
RADPEER_MEANING = {
    "1": "concur with interpretation",
    "2a": "discrepancy in interpretation, not ordinarily expected to be made; unlikely to be clinically significant",
    "2b": "discrepancy in interpretation, not ordinarily expected to be made; likely to be clinically significant",
    "3a": "discrepancy in interpretation, should be made most of the time; unlikely to be clinically significant",
    "3b": "discrepancy in interpretation, should be made most of the time; likely to be clinically significant",
}


def record_score(store: Store, review_id: int, score: str, comment: str) -> None:
    """A RADPEER score for a sampled report, by the store's actor (the reviewer). A discrepancy
    (2a and worse) needs a comment saying what was missed or misread; StoreError when the
    review does not exist, is scored already, or is the reviewer's own report."""
    score, comment = score.lower(), comment.strip()
    if score not in RADPEER:
        raise StoreError(f"a RADPEER score is one of {', '.join(RADPEER)}, not {score!r}")
    if score != "1" and not comment:
        raise StoreError("a discrepancy needs a comment: what was missed or misread")
    store.record_review(review_id, score, comment)


def sample(store: Store, percent: float, *, since: float | None = None, until: float | None = None,
           rng: random.Random | None = None) -> dict[str, list[Any]]:
    """Pick reports for review, per reader; returns reader → the finals picked (already stored)."""
    if not 0 < percent <= 100:
        raise ValueError("the percentage must be more than 0 and at most 100")
    rng = rng or random.SystemRandom()
    done = store.reviewed_ids()
    by_reader: dict[str, list[Any]] = defaultdict(list)
    for row in store.signed_finals(since, until):
        if row.report_id not in done:
            by_reader[row.signer_id or row.signer_name or "-"].append(row)
    picked: dict[str, list[Any]] = {}
    for reader, rows in sorted(by_reader.items()):
        n = math.ceil(len(rows) * percent / 100 - 1e-9)
        picked[reader] = rng.sample(rows, n)
    store.add_reviews([(r.report_id, r.version, reader) for reader, rows in picked.items() for r in rows])
    return picked
