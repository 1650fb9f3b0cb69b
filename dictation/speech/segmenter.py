"""Utterance segmentation with the Silero VAD that faster-whisper ships.

Audio arrives in 32 ms blocks; the segmenter keeps a short pre-roll while nobody speaks (so the
first syllable is never clipped), collects speech, and closes an utterance after a configurable
stretch of silence, or at a pause near the maximum length so a long sentence is never cut in a
word. Nothing here blocks or does I/O: push audio in, get events out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from dictation.speech.audio import BLOCK_SAMPLES, SAMPLE_RATE, AudioBlock, Samples

_CONTEXT = 64  # samples of the previous window Silero v6 expects in front of each window


class VadStream:
    """Silero VAD, one 512-sample window at a time, with its recurrent state carried over."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def __call__(self, window: Samples) -> float:
        if len(window) < BLOCK_SAMPLES:
            window = np.pad(window, (0, BLOCK_SAMPLES - len(window)))
        x = np.concatenate([self._context, window]).reshape(1, -1).astype(np.float32)
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = window[-_CONTEXT:].astype(np.float32)
        return float(prob[0])


@dataclass(frozen=True)
class SegmenterOptions:
    threshold: float = 0.5  # speech probability that starts speech
    end_silence_ms: int = 600  # silence that ends an utterance
    max_utterance_s: float = 25.0  # Whisper sees 30 s at most; cut at a pause before that
    preroll_ms: int = 320  # audio kept from before speech started
    postroll_ms: int = 150  # silence kept after the last speech
    min_speech_ms: int = 160  # shorter bursts (a click, a cough) are not utterances


@dataclass(frozen=True)
class SpeechStarted:
    start: float


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech ready for final recognition."""

    audio: Samples
    start: float  # seconds since the source started (pre-roll included)
    end: float
    reason: str  # "silence", "max_length" or "end_of_stream"
    speech_end: float = 0.0  # where the last speech window ended

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class _Current:
    start: float
    chunks: list[Samples] = field(default_factory=list)
    samples: int = 0
    speech_samples: int = 0
    silence_run: int = 0
    last_speech_end: int = 0  # samples into the utterance
    last_pause: int = 0  # samples into the utterance where speech last paused


class Segmenter:
    def __init__(self, options: SegmenterOptions | None = None, vad: VadStream | None = None) -> None:
        self.options = options or SegmenterOptions()
        self.vad = vad or VadStream()
        self._preroll: deque[Samples] = deque(maxlen=max(1, self.options.preroll_ms * SAMPLE_RATE // 1000 // BLOCK_SAMPLES))
        self._current: _Current | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._time = 0.0  # seconds of audio seen
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self._current is not None

    @property
    def silence_ms(self) -> float:
        """How long the utterance in progress has been silent (0 while speaking)."""
        return 0.0 if self._current is None else self._current.silence_run * 1000 / SAMPLE_RATE

    def closing_audio(self) -> Samples:
        """The audio the utterance in progress would have if silence ended it now.

        The session decodes this speculatively during the end-of-utterance silence, so the final
        text is ready (almost) as soon as the silence is long enough.
        """
        cur = self._current
        if cur is None:
            return np.zeros(0, dtype=np.float32)
        keep = min(cur.samples, cur.last_speech_end + self.options.postroll_ms * SAMPLE_RATE // 1000)
        return np.concatenate(cur.chunks)[:keep]

    def current_audio(self) -> Samples:
        """The audio of the utterance in progress (for tentative recognition)."""
        if self._current is None:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._current.chunks)

    def push(self, block: AudioBlock | Samples) -> list[SpeechStarted | Utterance]:
        samples = block.samples if isinstance(block, AudioBlock) else np.asarray(block, np.float32)
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        events: list[SpeechStarted | Utterance] = []
        n = len(data) // BLOCK_SAMPLES * BLOCK_SAMPLES
        for i in range(0, n, BLOCK_SAMPLES):
            events.extend(self._window(data[i : i + BLOCK_SAMPLES]))
        self._pending = data[n:].copy()
        return events

    def flush(self) -> list[Utterance]:
        """End of stream: close the utterance in progress."""
        out: list[Utterance] = []
        if len(self._pending) and self._current is not None:
            self._current.chunks.append(self._pending)
            self._current.samples += len(self._pending)
        self._pending = np.zeros(0, dtype=np.float32)
        if self._current is not None:
            u = self._close("end_of_stream", keep=self._current.samples)
            if u is not None:
                out.append(u)
        self.vad.reset()
        return out

    # -- internals ------------------------------------------------------------------------------

    def _window(self, window: Samples) -> list[SpeechStarted | Utterance]:
        o = self.options
        prob = self.vad(window)
        self.last_probability = prob
        t = self._time
        self._time += BLOCK_SAMPLES / SAMPLE_RATE
        events: list[SpeechStarted | Utterance] = []
        cur = self._current
        if cur is None:
            if prob >= o.threshold:
                pre = list(self._preroll)
                self._preroll.clear()
                start = t - sum(len(p) for p in pre) / SAMPLE_RATE
                cur = self._current = _Current(start=max(0.0, start), chunks=pre, samples=sum(len(p) for p in pre))
                events.append(SpeechStarted(cur.start))
            else:
                self._preroll.append(window)
                return events
        cur.chunks.append(window)
        cur.samples += len(window)
        if prob >= o.threshold:
            cur.speech_samples += len(window)
            cur.last_speech_end = cur.samples
            cur.silence_run = 0
        elif prob < max(o.threshold - 0.15, 0.01):
            cur.silence_run += len(window)
            if cur.silence_run >= 3 * BLOCK_SAMPLES:  # ~100 ms: a pause between words
                cur.last_pause = cur.samples - cur.silence_run // 2
        if cur.silence_run >= o.end_silence_ms * SAMPLE_RATE // 1000:
            keep = min(cur.samples, cur.last_speech_end + o.postroll_ms * SAMPLE_RATE // 1000)
            u = self._close("silence", keep=keep)
            if u is not None:
                events.append(u)
        elif cur.samples >= o.max_utterance_s * SAMPLE_RATE:
            # Cut at the last pause if there was one in the last few seconds, else here.
            cut = cur.last_pause if cur.last_pause > cur.samples - 5 * SAMPLE_RATE else cur.samples
            u = self._close("max_length", keep=cut, carry=True)
            if u is not None:
                events.append(u)
        return events

    def _close(self, reason: str, keep: int, carry: bool = False) -> Utterance | None:
        cur = self._current
        assert cur is not None
        audio = np.concatenate(cur.chunks) if cur.chunks else np.zeros(0, np.float32)
        self._current = None
        rest = audio[keep:]
        audio = audio[:keep]
        if carry and len(rest):
            # Speech goes on: what follows the cut starts the next utterance at once.
            self._current = _Current(start=cur.start + keep / SAMPLE_RATE, chunks=[rest], samples=len(rest),
                                     speech_samples=len(rest), last_speech_end=len(rest))
        if cur.speech_samples < self.options.min_speech_ms * SAMPLE_RATE // 1000:
            return None
        return Utterance(audio=audio, start=cur.start, end=cur.start + len(audio) / SAMPLE_RATE, reason=reason,
                         speech_end=cur.start + min(cur.last_speech_end, keep) / SAMPLE_RATE)


def split_utterances(audio: Samples, options: SegmenterOptions | None = None) -> list[Utterance]:
    """Segment a whole recording (the same code path as live audio, run as fast as possible)."""
    seg = Segmenter(options)
    out: list[Utterance] = []
    for i in range(0, len(audio), BLOCK_SAMPLES * 32):
        out.extend(e for e in seg.push(audio[i : i + BLOCK_SAMPLES * 32]) if isinstance(e, Utterance))
    out.extend(seg.flush())
    return out
