"""Messages from the dictation thread to the UI. Threads reach the UI only through post_message.

High-rate messages (audio level, partial text) replace queued copies of themselves, so a busy
UI never works through a backlog of stale meters.
"""

from __future__ import annotations

from textual.message import Message

from dictation.session import Event, LevelChanged, PartialText


class SessionEvent(Message):
    """One event of the DictationSession (see dictation.session for the kinds)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        if not isinstance(message, SessionEvent):
            return False
        high_rate = (LevelChanged, PartialText)
        return isinstance(self.event, high_rate) and type(message.event) is type(self.event)


class OutboxStates(Message):
    """The outbox's destinations after a delivery pass (from its own thread)."""

    def __init__(self, states: list) -> None:
        super().__init__()
        self.states = states

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OutboxStates)
