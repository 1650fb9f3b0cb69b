"""Confirming critical words: the radiologist says a flagged word (no, left, a number...) is right
as written. The confirmation is kept on the utterance the word was heard in, so the flag does not
come back, and the word stays marked as confirmed in the stored report."""

from __future__ import annotations

from dictation.checks import Flag
from dictation.reporting.records import Outcome, UtteranceRecord


def confirm_critical(utterances: list[UtteranceRecord], flags: list[Flag]) -> Outcome:
    """Confirm the open critical-word flags of the latest utterance that has any."""
    open_flags = [f for f in flags if f.kind == "critical_word" and f.word]
    if not open_flags:
        return Outcome(False, "no flagged word to confirm")
    latest = max(int(f.word.split(".")[0]) for f in open_flags if f.word)
    chosen = [f for f in open_flags if f.word and int(f.word.split(".")[0]) == latest]
    record = next((u for u in utterances if u.seq == latest), None)
    if record is None:
        return Outcome(False, "the flagged words are no longer in the report")
    for f in chosen:
        index = int(str(f.word).split(".")[1])
        if index not in record.confirmed:
            record.confirmed.append(index)
    left = len(open_flags) - len(chosen)
    more = f"; {left} more to check" if left else ""
    return Outcome(True, f"confirmed {', '.join(repr(f.text) for f in chosen)} as heard{more}", True)
