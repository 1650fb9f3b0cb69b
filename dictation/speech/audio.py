"""Audio in: the microphone and recordings, as one stream of 16 kHz mono float32 blocks.

``AudioSource`` is the small interface the rest of the engine reads from. ``MicrophoneSource``
captures through PortAudio (sounddevice); its callback only enqueues, so the audio thread is
never blocked by recognition. ``FileSource`` decodes anything PyAV can, and can pace itself in
real time so a recording behaves exactly like a microphone (demos, tests, machines without one).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dictation.errors import DeviceError, MissingDependency, NoInputDevice, UnreadableAudio

SAMPLE_RATE = 16_000
# Mono audio at SAMPLE_RATE, float32 in [-1, 1]: what every stage passes on.
Samples = npt.NDArray[np.float32]
BLOCK_SAMPLES = 512  # 32 ms: the Silero VAD window, so the segmenter never has to re-chunk


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """One block of audio with its level, for the segmenter and the level meter."""

    samples: Samples  # float32, mono, SAMPLE_RATE
    start: float  # seconds since the source started
    rms: float
    peak: float
    captured_at: float = 0.0  # time.monotonic() when the block's last sample was captured

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def level_db(self) -> float:
        """RMS level in dBFS (-100 for digital silence)."""
        return 20 * math.log10(self.rms) if self.rms > 1e-5 else -100.0


def make_block(samples: Samples, start: float, captured_at: float | None = None) -> AudioBlock:
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    when = time.monotonic() if captured_at is None else captured_at
    if len(samples) == 0:
        return AudioBlock(samples, start, 0.0, 0.0, when)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return AudioBlock(samples, start, rms, float(np.max(np.abs(samples))), when)


class AudioSource(ABC):
    """A stream of audio blocks. Use as a context manager, then iterate or ``read()``."""

    description: str = "audio"

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def read(self, timeout: float | None = None) -> AudioBlock | None:
        """The next block; ``None`` at the end of the stream.

        Raises ``TimeoutError`` when no block arrived within ``timeout`` seconds (a live source
        that is merely quiet never does this: it delivers silence).
        """

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> AudioSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __iter__(self) -> Iterator[AudioBlock]:
        while (block := self.read()) is not None:
            yield block


# ---------------------------------------------------------------------------------------------
# Recordings


def decode_file(path: str | Path) -> Samples:
    """Decode an audio (or video) file to 16 kHz mono float32; clear errors for bad input."""
    p = Path(path)
    if not p.exists():
        raise UnreadableAudio(f"cannot read {p}: no such file")
    if p.is_dir():
        raise UnreadableAudio(f"cannot read {p}: it is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise UnreadableAudio(f"cannot read {p}: the file is empty")
    import av  # PyAV: bundled FFmpeg, no system ffmpeg needed
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(p), sampling_rate=SAMPLE_RATE)
    except av.error.FFmpegError as e:
        raise UnreadableAudio(f"cannot read {p}: not an audio file radscribe can decode ({e.strerror or e})") from None
    except (IndexError, StopIteration, ValueError):
        raise UnreadableAudio(f"cannot read {p}: it has no audio stream") from None
    if audio.size == 0:
        raise UnreadableAudio(f"cannot read {p}: it contains no audio")
    return np.ascontiguousarray(audio, dtype=np.float32)


class ArraySource(AudioSource):
    """Audio already in memory, delivered in blocks; optionally paced in real time."""

    def __init__(self, audio: Samples, *, realtime: bool = False, description: str = "audio") -> None:
        self.audio = np.asarray(audio, dtype=np.float32)
        self.realtime = realtime
        self.description = description
        self._pos = 0
        self._t0 = 0.0
        self._stopped = threading.Event()

    def start(self) -> None:
        self._pos = 0
        self._stopped.clear()
        self._t0 = time.monotonic()

    def read(self, timeout: float | None = None) -> AudioBlock | None:
        if self._stopped.is_set() or self._pos >= len(self.audio):
            return None
        start = self._pos / SAMPLE_RATE
        chunk = self.audio[self._pos : self._pos + BLOCK_SAMPLES]
        self._pos += len(chunk)
        if self.realtime:
            # A microphone delivers a block once it has been spoken: wait until its end.
            due = self._t0 + self._pos / SAMPLE_RATE
            self._stopped.wait(max(0.0, due - time.monotonic()))
            return make_block(chunk, start, captured_at=due)
        return make_block(chunk, start)

    def stop(self) -> None:
        self._stopped.set()


class FileSource(ArraySource):
    """A recording as a source. ``realtime=True`` paces it like a microphone."""

    def __init__(self, path: str | Path, *, realtime: bool = False) -> None:
        super().__init__(decode_file(path), realtime=realtime, description=Path(path).name)
        self.path = Path(path)


# ---------------------------------------------------------------------------------------------
# The microphone


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError:  # the Python package is there, PortAudio is not
        raise MissingDependency(
            "PortAudio is not installed, so no microphone can be used: "
            "sudo apt-get install libportaudio2 (or use --audio FILE)"
        ) from None
    return sd


def input_devices() -> list[dict[str, Any]]:
    """The input devices PortAudio sees: index, name, channels, default sample rate."""
    sd = _sounddevice()
    out = []
    for index, dev in enumerate(sd.query_devices()):
        if dev["max_input_channels"] > 0:
            out.append({"index": index, "name": dev["name"], "channels": dev["max_input_channels"],
                        "samplerate": dev["default_samplerate"]})
    return out


class MicrophoneSource(AudioSource):
    """Live capture. The PortAudio callback copies the block into a queue and returns."""

    #: With no block for this long, a running stream has lost its device.
    STALL_SECONDS = 2.0

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.description = "microphone"
        self._queue: queue.Queue[tuple[float, Samples]] = queue.Queue()
        self._stream: Any = None  # sounddevice.InputStream while capturing
        self._resampler: Any = None  # av.AudioResampler when the device cannot do 16 kHz
        self._captured = 0
        self.overflows = 0

    def _callback(self, indata: Samples, frames: int, time_info: Any, status: Any) -> None:  # PortAudio's thread
        if status.input_overflow:
            self.overflows += 1
        self._queue.put((time.monotonic(), indata[:, 0].copy()))

    def start(self) -> None:
        sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError):
            which = f"microphone {self.device!r}" if self.device is not None else "microphone"
            raise NoInputDevice(f"no {which} found: connect one, pick another in settings, or use --audio FILE") from None
        self.description = str(info["name"])
        rate = SAMPLE_RATE
        try:
            sd.check_input_settings(device=self.device, channels=1, dtype="float32", samplerate=SAMPLE_RATE)
        except (ValueError, sd.PortAudioError):
            # The hardware cannot do 16 kHz: capture at its own rate and resample off the audio thread.
            rate = int(info["default_samplerate"])
            import av

            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self._rate = rate
        try:
            self._stream = sd.InputStream(
                device=self.device, channels=1, dtype="float32", samplerate=rate,
                blocksize=BLOCK_SAMPLES * rate // SAMPLE_RATE, callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as e:
            self._stream = None
            raise DeviceError(f"microphone {self.description!r} cannot be opened (busy or unavailable: {e})") from None

    def _to_16k(self, chunk: Samples) -> Samples:
        if self._resampler is None:
            return chunk
        import av

        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self._rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def read(self, timeout: float | None = None) -> AudioBlock | None:
        if self._stream is None:
            return None
        wait = self.STALL_SECONDS if timeout is None else min(timeout, self.STALL_SECONDS)
        try:
            captured_at, chunk = self._queue.get(timeout=wait)
        except queue.Empty:
            if self._stream is not None and not self._stream.active:
                raise DeviceError(
                    f"microphone {self.description!r} stopped delivering audio (unplugged?); what was captured is kept"
                ) from None
            if timeout is not None and timeout <= self.STALL_SECONDS:
                raise TimeoutError from None
            raise DeviceError(
                f"microphone {self.description!r} delivered no audio for {self.STALL_SECONDS:.0f} s; what was captured is kept"
            ) from None
        samples = self._to_16k(chunk)
        block = make_block(samples, self._captured / SAMPLE_RATE, captured_at)
        self._captured += len(samples)
        return block

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # a vanished device can fail to close; nothing left to save
                pass
