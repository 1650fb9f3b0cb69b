"""Copies of the speech model on threads of their own: the partial text while someone speaks
(a copy at the lowest CPU priority), and the further decodes an utterance's reading will ask
for, started before they are asked (a copy at normal priority).

On two cores the first decode of an utterance keeps one core busy; the reading that follows asks
for more decodes of the same audio (without the prompt, for the critical words; with the command
phrases as the prompt, for a short utterance that is no command), each about as long as the first,
one after the other. Started on the other core at the same time as the first, they are done, or
nearly, when the reading asks: the copy is the same model with the same threads, so its decode is
the one the first copy would have made (the same words, timings and probabilities), and the text
of an utterance does not depend on which copy read it, nor on whether the copy kept up.

Only when other programs leave this process two cores (``two_cores_free``): beside a busy
program the copy would take its share of the processor from the first decode.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from dictation.speech.recognizer import DecodeOptions
from dictation.speech.transcript import Transcript

if TYPE_CHECKING:
    from dictation.speech.audio import Samples
    from dictation.speech.recognizer import Reads, Recognizer

# A decode the copy is making when the reading asks for it is waited for: the copy runs at the
# same priority and speed as the first copy and started earlier, so it finishes sooner than a
# decode started now would. This bound is only a safety net.
AHEAD_WAIT_S = 5.0
KEPT = 8  # finished decodes kept (the last utterance's, read again when the report changed meanwhile)

Key = tuple[bytes, tuple[object, ...]]


LOADAVG = Path("/proc/loadavg")


def two_cores_free(loadavg: Path = LOADAVG) -> bool:
    """Whether other programs leave this process two cores now, one for the first decode and one
    for the copy: the tasks running or ready to run on the machine (``/proc/loadavg``) less this
    process's own. Beside a busy program the copy would only slow the first decode (four tasks
    on two cores), so nothing is decoded ahead then. Where this cannot be read (not Linux): only
    on a machine with four cores or more."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0])
        own = 0
        for stat in Path("/proc/self/task").glob("*/stat"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                own += stat.read_text().rpartition(")")[2].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return cores >= 4
    return running - own <= cores - 2


def _key(audio: Samples, options: DecodeOptions) -> Key:
    # The options' own values (a language model by identity: astuple would deep-copy it on every call).
    return hashlib.blake2b(audio.tobytes(), digest_size=16).digest(), tuple(getattr(options, f.name) for f in fields(options))


class Background:
    """One decode at a time with a copy of the model (``copy``: by default the low-priority one,
    ``Recognizer.background``, for partials; ``Recognizer.twin`` for the decodes made ahead):
    decodes asked ahead first, then the latest partial. Partials are collected by the session
    loop; decodes made ahead are taken by ``Ahead.transcribe``."""

    def __init__(self, recognizer: Recognizer, copy: Callable[[], Recognizer] | None = None) -> None:
        self._recognizer = recognizer
        self._load = copy or recognizer.background  # the copy, loaded by the thread
        self._cond = threading.Condition()
        self._partial: tuple[int, Samples, DecodeOptions] | None = None
        self._ahead: list[tuple[Key, Samples, DecodeOptions]] = []
        self._running: Key | None = None
        self._busy = False
        self._ready: dict[Key, Transcript] = {}
        self._done: queue.Queue[tuple[int, Transcript]] = queue.Queue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="radscribe-ahead" if copy else "radscribe-partials",
                                        daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing to decode and nothing decoding: a partial submitted now starts at once."""
        with self._cond:
            return not (self._busy or self._partial or self._ahead)

    def submit(self, generation: int, audio: Samples, options: DecodeOptions) -> None:
        with self._cond:
            self._partial = (generation, audio, options)
            self._cond.notify_all()

    def result(self, generation: int) -> Transcript | None:
        """The latest finished partial of this utterance (older utterances' are dropped)."""
        out = None
        while True:
            try:
                g, heard = self._done.get_nowait()
            except queue.Empty:
                return out
            if g == generation:
                out = heard

    def ahead(self, audio: Samples, decodes: list[DecodeOptions]) -> None:
        """Start these decodes of ``audio``, in this order, in place of any not yet started."""
        if not self._recognizer.reads_locally:
            return  # its decodes go to a recognition server: the local copy cannot make them
        if not two_cores_free():
            return
        with self._cond:
            self._ahead = [(_key(audio, o), audio, o) for o in decodes]
            self._cond.notify_all()

    def forget(self) -> None:
        """The decodes asked ahead and not started are no longer wanted (the speech went on)."""
        with self._cond:
            self._ahead = []

    def take(self, audio: Samples, options: DecodeOptions) -> Transcript | None:
        """The copy's decode of ``audio`` with ``options`` if it has made it, or makes it within
        ``AHEAD_WAIT_S``; else None (and it will not start it: the caller decodes it now)."""
        key = _key(audio, options)
        with self._cond:
            if self._running == key:
                self._cond.wait_for(lambda: self._running != key, timeout=AHEAD_WAIT_S)
            self._ahead = [job for job in self._ahead if job[0] != key]
            return self._ready.get(key)

    def _run(self) -> None:
        try:
            copy = self._load()
        except Exception:
            copy = self._recognizer
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or bool(self._ahead) or self._partial is not None)
                if self._stopped:
                    return
                generation = -1
                # Without a second copy, decoding ahead would share one model between threads.
                if self._ahead and copy is not self._recognizer:
                    key, audio, options = self._ahead.pop(0)
                    self._running = key
                else:
                    self._ahead = []
                    if self._partial is None:
                        continue
                    (generation, audio, options), self._partial = self._partial, None
                self._busy = True
            heard = None
            try:
                heard = copy.transcribe(audio, options)
            except Exception:
                pass
            finally:
                with self._cond:
                    if generation < 0 and heard is not None:
                        self._ready[key] = heard
                        while len(self._ready) > KEPT:
                            del self._ready[next(iter(self._ready))]
                    elif heard is not None:
                        self._done.put((generation, heard))
                    self._running, self._busy = None, False
                    self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(5)
        if self._thread.is_alive():  # a decode still running (a partial at the lowest priority on a busy machine)
            _unfinished.add(self._thread)


def reader(recognizer: Recognizer) -> tuple[Reads, Background | None]:
    """What reads an utterance for the report, and the worker that makes its further decodes
    ahead on a second copy; the recogniser itself, and no worker, when it has no such copy (a
    fake) or its decodes are a recognition server's. The worker is stopped by the caller."""
    if not (hasattr(recognizer, "twin") and recognizer.reads_locally):
        return recognizer, None
    worker = Background(recognizer, recognizer.twin)
    return Ahead(recognizer, worker), worker


class Ahead:
    """A recogniser whose decodes are the background copy's when it has made the same ones."""

    def __init__(self, recognizer: Recognizer, background: Background) -> None:
        self.recognizer = recognizer
        self.background = background

    def transcribe(self, audio: Samples, options: DecodeOptions | None = None, *, plain: bool = False) -> Transcript:
        if not plain and options is not None and (made := self.background.take(audio, options)) is not None:
            return made
        return self.recognizer.transcribe(audio, options, plain=plain)

    def score(self, audio: Samples, texts: list[str], *, total: bool = False) -> list[float]:
        return self.recognizer.score(audio, texts, total=total)


# Threads still inside the model when their session stopped: joined before the process exits,
# since a thread left inside CTranslate2 at exit aborts the process ("terminate called without
# an active exception", seen with `dictate --realtime` beside two busy loops).
_unfinished: set[threading.Thread] = set()


@atexit.register
def _join_unfinished() -> None:
    for thread in list(_unfinished):
        thread.join()
