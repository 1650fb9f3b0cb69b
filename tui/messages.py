"""Messages from other threads to the UI: threads reach the UI only through ``post_message``.

Each event of the DictationSession has a message of its own (and a handler of its own on the
report screen); ``session_message`` makes the right one. High-rate messages (audio level, partial
text, outbox states) replace queued copies of themselves, so a busy UI never works through a
backlog of stale meters.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from dictation.speech.session import (
    Backlog,
    CommandApplied,
    CommandAsked,
    Event,
    FlagsChanged,
    LevelChanged,
    LocalReading,
    PartialText,
    SessionError,
    StateChanged,
    Unstored,
    UtteranceCommitted,
    UtteranceRejected,
)


class _Replacing(Message):
    """A message that replaces a queued copy of its own kind (the newest value is all that counts)."""

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


class LevelMessage(_Replacing):
    """The microphone level and speech probability (about 30 a second)."""

    def __init__(self, event: LevelChanged) -> None:
        super().__init__()
        self.event = event


class PartialMessage(_Replacing):
    """Words still being recognised: committed and tentative."""

    def __init__(self, event: PartialText) -> None:
        super().__init__()
        self.event = event


class UtteranceMessage(Message):
    """An utterance was stored and written into the report (or the pad)."""

    def __init__(self, event: UtteranceCommitted) -> None:
        super().__init__()
        self.event = event


class CommandMessage(Message):
    """A voice command was applied (ok) or could not apply (its message says why)."""

    def __init__(self, event: CommandApplied) -> None:
        super().__init__()
        self.event = event


class RejectedMessage(Message):
    """An utterance was heard but not used (asleep, or a command that was refused)."""

    def __init__(self, event: UtteranceRejected) -> None:
        super().__init__()
        self.event = event


class AskedMessage(Message):
    """A near-command held as a question: "Scratch that?" (yes obeys it, no writes it)."""

    def __init__(self, event: CommandAsked) -> None:
        super().__init__()
        self.event = event


class FlagsMessage(Message):
    """The clinical checks' flags changed."""

    def __init__(self, event: FlagsChanged) -> None:
        super().__init__()
        self.event = event


class StateMessage(Message):
    """The session's state changed (loading, listening, paused, no microphone...)."""

    def __init__(self, event: StateChanged) -> None:
        super().__init__()
        self.event = event


class ErrorMessage(Message):
    """The session hit a problem the user can act on."""

    def __init__(self, event: SessionError) -> None:
        super().__init__()
        self.event = event


class BacklogMessage(_Replacing):
    """Recognition behind the microphone, or audio the device dropped (the status line says so)."""

    def __init__(self, event: Backlog) -> None:
        super().__init__()
        self.event = event


class UnstoredMessage(Message):
    """The store cannot be reached (or is back): utterances kept on this workstation."""

    def __init__(self, event: Unstored) -> None:
        super().__init__()
        self.event = event


class LocalReadingMessage(Message):
    """The recognition server did not read the last utterance (or reads again)."""

    def __init__(self, event: LocalReading) -> None:
        super().__init__()
        self.event = event


_BY_EVENT: dict[type, type[Message]] = {
    LevelChanged: LevelMessage, PartialText: PartialMessage, UtteranceCommitted: UtteranceMessage,
    CommandApplied: CommandMessage, UtteranceRejected: RejectedMessage, CommandAsked: AskedMessage, FlagsChanged: FlagsMessage,
    StateChanged: StateMessage, SessionError: ErrorMessage, Backlog: BacklogMessage, Unstored: UnstoredMessage,
    LocalReading: LocalReadingMessage,
}


def session_message(event: Event) -> Message:
    """The message that carries one session event to the UI."""
    message: Message = _BY_EVENT[type(event)](event)  # type: ignore[call-arg]  # each takes its own event
    return message


class OutboxStates(_Replacing):
    """The outbox's destinations after a delivery pass (from its own thread)."""

    def __init__(self, states: list[Any]) -> None:
        super().__init__()
        self.states = states


class FirstFlags(Message):
    """The first check of a draft just opened has run, on a worker thread (the NLP pipeline loads
    there): the screen shows the controller's flags, the latest check's."""


class LeaseRenewed(Message):
    """The hold on the report renewed (and what the store could not take given to it) on a
    worker thread: a store that is away may take seconds to say so. ``error``: what went wrong."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class PlaybackFailed(Message):
    """Playing an utterance back failed on the worker thread (the reason, for the status line)."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


class LevelTest(_Replacing):
    """The settings' microphone test: the level now, or (``done``) the verdict at the end."""

    def __init__(self, db: float | None = None, said: str = "", done: bool = False) -> None:
        super().__init__()
        self.db = db
        self.said = said
        self.done = done

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LevelTest) and not message.done and not self.done
