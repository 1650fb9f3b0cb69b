"""The audio behind "play that back": recent utterances in memory for the open study, and, when
the site keeps audio ([audio] keep = true), in the store for playback after a restart."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dictation.reporting.records import UtteranceRecord
from dictation.reporting.report import Report
from dictation.speech.audio import Samples


class AudioStore(Protocol):
    def save_audio(self, report_id: str, seq: int, samples: bytes) -> None: ...
    def load_audio(self, report_id: str, seq: int) -> bytes | None: ...


class PlaybackCache:
    """The last ``limit`` utterances' audio, by utterance number; ``store`` keeps them too."""

    def __init__(self, report_id: str, store: AudioStore | None = None, limit: int = 200) -> None:
        self.report_id = report_id
        self.store = store
        self.limit = limit
        self.audio: dict[int, Samples] = {}

    def remember(self, seq: int, audio: Samples) -> None:
        self.audio[seq] = audio
        while len(self.audio) > self.limit:
            self.audio.pop(next(iter(self.audio)))
        if self.store is not None:
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            self.store.save_audio(self.report_id, seq, pcm)

    def get(self, seq: int) -> Samples | None:
        """An utterance's audio: from memory, else from the store (after a restart)."""
        if seq in self.audio:
            return self.audio[seq]
        if self.store is None:
            return None
        pcm = self.store.load_audio(self.report_id, seq)
        return None if pcm is None else np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767

    def last(self, report: Report, slot: str | None = None) -> tuple[UtteranceRecord, Samples] | None:
        """The most recent dictation still in the report (in ``slot`` if given) and its audio."""
        for record in reversed(report.utterances):
            if record.kind != "dictation" or record.scratched:
                continue
            if slot is not None and slot not in (record.slot or "").split(","):
                continue
            audio = self.get(record.seq)
            if audio is not None:
                return record, audio
        return None
