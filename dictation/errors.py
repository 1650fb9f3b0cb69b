"""The errors radscribe raises on purpose.

Every one carries a one-line message that says what went wrong and what to do; the command
line prints it and exits 2, the terminal UI shows it in the status bar. Anything else is a bug.

    RadscribeError
    ├── AudioError
    │   ├── NoInputDevice        no microphone, or the named one does not exist
    │   ├── DeviceError          the device is busy, or vanished mid-dictation
    │   └── UnreadableAudio      a file that is missing, empty, or not audio
    ├── ModelError               the speech model cannot be found or loaded
    ├── DataFileError            a malformed vocab/ or templates/ file (names file and line)
    ├── TemplateNotFound         no template with that id (suggests the nearest ids)
    ├── ReportLocked             the report is signed: it changes only through an addendum or correction
    ├── StoreError               the store cannot be opened or does not hold what was asked for
    │   ├── StoreBusy            another process held it too long
    │   ├── StoreDamaged         damaged pages, or not a store
    │   ├── StoreConflict        a write the store refuses (a duplicate, an append-only row changed)
    │   └── StoreUnavailable     the database server cannot be reached
    ├── ExportError              a report cannot be built into a message, or a destination is malformed
    └── MissingDependency        an optional package is not installed (names what to install)
"""

from __future__ import annotations


class RadscribeError(Exception):
    """Base class: a problem the user can act on, described in one line."""


class AudioError(RadscribeError):
    pass


class NoInputDevice(AudioError):
    pass


class DeviceError(AudioError):
    pass


class UnreadableAudio(AudioError):
    pass


class ModelError(RadscribeError):
    pass


class DataFileError(RadscribeError):
    """A data file (vocab/, templates/) that cannot be used as written."""

    def __init__(self, path: object, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class TemplateNotFound(RadscribeError):
    pass


class ReportLocked(RadscribeError):
    """The report is signed final: it changes only through an addendum or correction."""


class StoreError(RadscribeError):
    pass


class StoreBusy(StoreError):
    """Another process held the store longer than the busy timeout: try again later."""


class StoreDamaged(StoreError):
    """SQLite found damaged pages (or the file is not a store): restore from a backup."""


class StoreConflict(StoreError):
    """A write the store refuses: a duplicate key, a missing value, or a change to a row that is
    never changed (a signed version, the audit log). Nothing of the transaction was written."""


class StoreUnavailable(StoreError):
    """The database server (PostgreSQL) cannot be reached now: nothing was written; try again."""


class ExportError(RadscribeError):
    pass


class MissingDependency(RadscribeError):
    pass


__all__ = [
    "RadscribeError",
    "AudioError",
    "NoInputDevice",
    "DeviceError",
    "UnreadableAudio",
    "ModelError",
    "DataFileError",
    "TemplateNotFound",
    "ReportLocked",
    "StoreError",
    "StoreBusy",
    "StoreDamaged",
    "ExportError",
    "MissingDependency",
]
