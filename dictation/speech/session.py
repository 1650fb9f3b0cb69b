"""DictationSession: audio source → segmenter → streaming recognizer → written text, as events.

The session runs on its own thread and reports through one callback with small event
dataclasses; the command line prints them, the terminal UI turns them into Textual messages.
Nothing here knows about either face.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dictation.errors import DeviceError, NoInputDevice, RadscribeError
from dictation.logs import log
from dictation.reporting.commands import Command
from dictation.speech import ahead
from dictation.speech.ahead import Background
from dictation.speech.audio import SAMPLE_RATE, AudioSource
from dictation.speech.recognizer import DecodeOptions, Reads, Recognizer, StreamingRecognizer
from dictation.speech.segmenter import Segmenter, SegmenterOptions, SpeechStarted, Utterance
from dictation.speech.transcript import Partial, Transcript, join_transcripts
from dictation.text.pipeline import TextPipeline, WrittenUtterance
from dictation.text.spoken import join_text

if TYPE_CHECKING:
    from dictation.checks import Flag
    from dictation.reporting.controller import ReportController


@dataclass(frozen=True)
class StateChanged:
    """loading, listening, paused, recognising, no_microphone, stopped or error."""

    state: str
    detail: str = ""


@dataclass(frozen=True)
class LevelChanged:
    rms: float
    peak: float
    db: float
    speech_probability: float


@dataclass(frozen=True)
class PartialText:
    committed: str
    tentative: str


@dataclass(frozen=True)
class UtteranceCommitted:
    utterance: WrittenUtterance
    latency: float  # seconds from end of speech detected to final text


@dataclass(frozen=True)
class CommandApplied:
    """A voice command was recognised and applied (ok) or could not apply (message says why)."""

    command: Command
    ok: bool
    message: str
    latency: float


@dataclass(frozen=True)
class UtteranceRejected:
    """Dictation that could not go into the report (it is signed final): kept out, said why."""

    text: str
    message: str


@dataclass(frozen=True)
class CommandAsked:
    """An utterance that is a command but for one word: held, neither obeyed nor written, until
    the radiologist answers yes or no (``message`` is the question)."""

    text: str
    message: str


@dataclass(frozen=True)
class FlagsChanged:
    """The clinical checks ran after an utterance and their result changed."""

    flags: list[Flag]


@dataclass(frozen=True)
class SessionError:
    message: str


@dataclass(frozen=True)
class Backlog:
    """Recognition is behind the microphone by ``seconds`` (0: caught up), or the sound device
    dropped audio (``overflows``, counted since the session started). Nothing waiting is lost,
    it comes late; dropped audio is said, never hidden."""

    seconds: float
    overflows: int = 0


@dataclass(frozen=True)
class Unstored:
    """The store cannot be reached: ``count`` utterances of the open report are kept on this
    workstation only (stored as soon as it answers; a signing waits). 0: the store has them all."""

    count: int
    reason: str = ""


@dataclass(frozen=True)
class LocalReading:
    """The group's recognition server did not read the last utterance (``reason``): this
    workstation's model did (``decoder``), and reads until the server answers again. An empty
    reason: the server reads again."""

    reason: str
    decoder: str


# An utterance is read for the report in its closing pause only while the thread is this close
# to real time (a reading wasted when the speech goes on would delay what follows).
READ_AHEAD_BEHIND_S = 0.15
# Behind the microphone by this much, the status line says so (utterance ends come late).
BACKLOG_SHOWN_S = 1.0


Event = (StateChanged | LevelChanged | PartialText | UtteranceCommitted | CommandApplied | UtteranceRejected
         | CommandAsked | FlagsChanged | SessionError | Backlog | Unstored | LocalReading)


class DictationSession:
    def __init__(
        self,
        source: AudioSource | Callable[[], AudioSource],
        on_event: Callable[[Event], None],
        *,
        recognizer: Recognizer | Callable[[], Recognizer],
        pipeline: TextPipeline | None = None,
        segmenter: SegmenterOptions | None = None,
        on_utterance: Callable[[WrittenUtterance], None] | None = None,
        controller: ReportController | None = None,
        piece_seconds: float = 0.0,
    ) -> None:
        self._source = source
        self._emit = on_event
        self._recognizer = recognizer
        # With a report: commands are obeyed, text goes into the report and the store.
        self.controller = controller
        self.pipeline = pipeline or (controller.pipeline if controller else TextPipeline())
        self.segmenter_options = segmenter or SegmenterOptions()
        # A pause inside an utterance (shorter than the end-of-utterance silence) after at least
        # this much speech: the piece before it is decoded then and kept. 0 (the default): whole
        # utterances. `python -m benchmarks asr` measured pieces at 2 s no better on the development
        # set (docs/benchmarks.md), so they stay off until a real-voice set says otherwise.
        self.piece_seconds = piece_seconds
        self.background_partials = True  # False: partials decoded in line (the old way; for comparison)
        # Called before UtteranceCommitted is emitted: where the store makes it durable.
        self._on_utterance = on_utterance
        self.text = ""
        self.latencies: list[float] = []
        self._told_check_error = False
        self._unstored = 0  # utterances only this workstation holds, as last said
        self._local_reading = ""  # why the recognition server did not read the last utterance, as last said
        self._stop = threading.Event()
        self._backlog: tuple[int, int] = (0, 0)  # what the status line was last told (seconds, overflows)
        self._paused = threading.Event()
        self._state_lock = threading.RLock()  # pause() and the session thread: the state said last is the state
        self._thread: threading.Thread | None = None
        self.state = "stopped"

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="radscribe-dictation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def pause(self) -> None:
        with self._state_lock:
            self._paused.set()
            self._set_state("paused")

    def resume(self) -> None:
        with self._state_lock:
            self._paused.clear()
            if self.state == "paused":
                self._set_state("listening")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the session to end by itself (end of a recording); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the dictation thread ----------------------------------------------------------------

    def _set_state(self, state: str, detail: str = "") -> None:
        with self._state_lock:
            self.state = state
            self._emit(StateChanged(state, detail))

    def _set_ready(self, detail: str = "") -> None:
        """Paused, else listening (asleep: a report told to stop listening), decided and said at
        once: a pause() from the screen in between would otherwise be said over with "listening"."""
        with self._state_lock:
            awake = self.controller is None or self.controller.report.listening
            self._set_state("paused" if self._paused.is_set() else ("listening" if awake else "asleep"), detail)

    def _run(self) -> None:
        if self.controller is not None:
            # The NLP pipeline loads beside the speech model, not on the first utterance.
            threading.Thread(target=self.controller.warm_up, name="radscribe-checks", daemon=True).start()
        try:
            self._set_state("loading", "speech model")
            recognizer = self._recognizer() if callable(self._recognizer) and not isinstance(self._recognizer, Recognizer) else self._recognizer
            self.recognizer = recognizer
            source = self._source() if callable(self._source) and not isinstance(self._source, AudioSource) else self._source
            self._loop(recognizer, source)
        except NoInputDevice as e:
            log.warning("session: no microphone")
            self._set_state("no_microphone", str(e))
            self._emit(SessionError(str(e)))
        except RadscribeError as e:
            log.warning("session stopped: %s", type(e).__name__)  # the message may name a file
            self._set_state("error", str(e))
            self._emit(SessionError(str(e)))
        else:
            self._set_state("stopped")

    def _loop(self, recognizer: Recognizer, source: AudioSource) -> None:
        segmenter = Segmenter(self.segmenter_options)
        options = self.pipeline.decode_options()
        streamer = StreamingRecognizer(recognizer, options)
        # Decode speculatively once the silence is as long as the post-roll: the audio is then
        # exactly what the utterance will hold if the silence goes on long enough to end it.
        # With ``piece_seconds`` set (off by default), when speech goes on after such a pause the
        # piece already decoded is kept (if long enough to decode well on its own) and only what
        # follows is decoded at the end; otherwise that speculation is dropped.
        speculate_ms = max(self.segmenter_options.postroll_ms, 100)
        min_piece = int(self.piece_seconds * SAMPLE_RATE)
        min_tail = 3 * SAMPLE_RATE // 2  # a last piece under 1.5 s ("period") is decoded with the one before it

        def start_for(end: int) -> int:
            """Where the decode of audio ending at ``end`` starts: after the kept pieces, or with
            the last of them when what follows it is too short to decode well alone."""
            return pieces[-1][0] if pieces and end - piece_start < min_tail else piece_start

        speculation: tuple[int, int, Transcript] | None = None  # (start, end) in the utterance's samples
        # The report's reading of a speculation that covers the whole utterance (the command
        # checks, the second reading: ``ReportController.recognise``), made in the same pause:
        # (the decode it read, the report state it read it in, what it gave).
        read_ahead: tuple[Transcript, tuple[int, bool], Transcript] | None = None
        pieces: list[tuple[int, Transcript]] = []  # decoded at pauses, each with its start
        piece_start = 0
        generation = 0  # which utterance a partial belongs to: late ones are dropped
        source.start()
        # Partials on a thread of their own when the recogniser has a low-priority copy for them;
        # started once the source is open (a missing microphone must not leave that copy loading
        # while the process exits: a thread inside CTranslate2 at exit aborts the process).
        partials = Background(recognizer) if hasattr(recognizer, "background") and self.background_partials else None
        # The reading's further decodes, made ahead on the other core by a copy at normal priority (ahead.py).
        reader, further = ahead.reader(recognizer) if self.controller is not None else (recognizer, None)
        try:
            self._set_ready(source.description)
            while not self._stop.is_set():
                try:
                    block = source.read(timeout=0.5)
                except TimeoutError:
                    continue
                except DeviceError:
                    # Keep what was captured: finish the utterance in progress, then report.
                    for u in segmenter.flush():
                        self._finish(u, reader, options, None, time.monotonic())
                    raise
                if block is None:
                    break
                self._emit(LevelChanged(block.rms, block.peak, block.level_db, segmenter.last_probability))
                self._report_backlog(time.monotonic() - block.captured_at, getattr(source, "overflows", 0))
                if self._paused.is_set():
                    continue
                started = False
                for event in segmenter.push(block):
                    generation += 1
                    if isinstance(event, SpeechStarted):
                        streamer.reset()
                        streamer.insert_audio(segmenter.current_audio())
                        started = True
                        speculation, pieces, piece_start, read_ahead = None, [], 0, None
                    elif isinstance(event, Utterance):
                        end = len(event.audio)
                        if speculation and speculation[1] == end:
                            parts = [*(p for p in pieces if p[0] < speculation[0]), (speculation[0], speculation[2])]
                        elif pieces:
                            start = start_for(end)
                            parts = [*(p for p in pieces if p[0] < start),
                                     (start, recognizer.transcribe(event.audio[start:], options))]
                        else:
                            parts = []
                        # Pieces read by different models (a recognition server, then this
                        # workstation's after it stopped answering) are never spliced: the whole
                        # utterance is read again by one.
                        one_reader = len({t.decoder for _, t in parts}) <= 1
                        ready = join_transcripts([(s / SAMPLE_RATE, t) for s, t in parts]) if parts and one_reader else None
                        read = (read_ahead[2] if read_ahead and ready is read_ahead[0]
                                and read_ahead[1] == self._report_state() else None)
                        self._finish(event, reader, options, ready, block.captured_at, read)
                        speculation, pieces, piece_start, read_ahead = None, [], 0, None
                        if further is not None:
                            further.forget()
                        streamer.reset()
                        if segmenter.in_speech:  # a long utterance cut at max length goes on
                            streamer.insert_audio(segmenter.current_audio())
                            started = True
                if not segmenter.in_speech:
                    continue
                if not started:
                    streamer.insert_audio(block.samples)
                if segmenter.silence_ms >= speculate_ms:
                    if speculation is None:
                        audio = segmenter.closing_audio()
                        start = start_for(len(audio))
                        keeping_up = time.monotonic() - block.captured_at < READ_AHEAD_BEHIND_S
                        # Read now, in the pause, rather than after the utterance has ended: the
                        # same audio and decode give the same reading, which is used only if the
                        # utterance ends with exactly this audio, in the same report state. Only
                        # while the thread keeps up with the audio: on a loaded machine a reading
                        # wasted (the speech goes on) would delay what follows.
                        whole = self.controller is not None and start == 0 and not pieces and keeping_up
                        if whole and self.controller is not None and further is not None:
                            further.ahead(audio, self.controller.further_decodes(audio))
                        speculation = (start, len(audio), recognizer.transcribe(audio[start:], options))
                        if whole and self.controller is not None:
                            read_ahead = (speculation[2], self._report_state(),
                                          self.controller.recognise(reader, audio, speculation[2]))
                    continue  # no partials while the utterance is probably ending
                if speculation is not None:  # speech went on after the pause
                    start, end, heard = speculation
                    if self.piece_seconds and end - start >= min_piece and heard.text.strip():
                        pieces = [*(p for p in pieces if p[0] < start), (start, heard)]
                        piece_start = end
                    speculation, read_ahead = None, None
                    if further is not None:
                        further.forget()
                # A partial only when the thread keeps up with the audio: falling behind would
                # delay the final text, which matters more than one more partial.
                behind = time.monotonic() - block.captured_at
                if partials is not None:
                    # Decoded by the low-priority copy on its own thread: the loop goes on
                    # reading, and a partial never holds up the final text.
                    done = partials.result(generation)
                    if done is not None:
                        self._show_partial(streamer.accept(done))
                    if segmenter.silence_ms == 0 and behind < 0.15 and partials.idle:
                        due = streamer.due()
                        if due is not None:
                            partials.submit(generation, due, streamer.quick_options())
                elif segmenter.silence_ms == 0 and behind < 0.15 and (partial := streamer.process()) is not None:
                    self._show_partial(partial)
            for u in segmenter.flush():
                self._finish(u, reader, options, None, time.monotonic())
        finally:
            self._report_backlog(0.0, getattr(source, "overflows", 0))  # nothing waits any more
            source.stop()
            for worker in (partials, further):
                if worker is not None:
                    worker.stop()

    def _show_partial(self, partial: Partial) -> None:
        # Shown in written form too, so "period" never flashes on screen as a word.
        norm = self.pipeline.normalizer
        before = self.controller.context() if self.controller else self.text
        committed = norm(partial.committed, before=before) if partial.committed else ""
        tentative = norm(partial.tentative, before=join_text(before, committed)) if partial.tentative else ""
        self._emit(PartialText(committed, tentative))

    def _report_backlog(self, behind: float, overflows: int) -> None:
        """Say at once when recognition falls a second or more behind the audio, or the device
        drops audio; and again when it has caught up. Only changes are said (whole seconds)."""
        seconds = round(behind) if behind >= BACKLOG_SHOWN_S else 0
        if (seconds, overflows) != self._backlog:
            self._backlog = (seconds, overflows)
            self._emit(Backlog(float(seconds), overflows))

    def _report_state(self) -> tuple[int, bool]:
        """What a report's reading of an utterance depends on besides the audio: which report,
        and whether it is listening (a start phrase said while listening may be its stop twin)."""
        return (id(self.controller), bool(self.controller and self.controller.report.listening))

    def _finish(self, u: Utterance, recognizer: Reads, options: DecodeOptions,
                heard: Transcript | None, decided_at: float, read: Transcript | None = None) -> None:
        """Final text for an utterance. ``decided_at``: when its end was captured (monotonic);
        ``read``: the report's reading of ``heard``, when it was made while the utterance ended."""
        self._set_state("recognising")
        if heard is None:
            heard = recognizer.transcribe(u.audio, options)
        if heard.fallback != self._local_reading:  # said at once, before the utterance itself
            self._local_reading = heard.fallback
            self._emit(LocalReading(heard.fallback, heard.decoder))
        if self.controller is not None:
            heard = read if read is not None else self.controller.recognise(recognizer, u.audio, heard)
            self._finish_into_report(u, heard, decided_at)
            return
        written, corrections = self.pipeline.written(heard, before=self.text)
        latency = max(0.0, time.monotonic() - decided_at)
        if written:
            wu = WrittenUtterance(written, heard, u.start, u.end, corrections)
            if self._on_utterance is not None:
                self._on_utterance(wu)
            self.text = join_text(self.text, written)
            self.latencies.append(latency)
            self._emit(UtteranceCommitted(wu, latency))
        else:
            self._emit(PartialText("", ""))
        self._set_ready()

    def _finish_into_report(self, u: Utterance, heard: Transcript, decided_at: float) -> None:
        assert self.controller is not None
        handled = self.controller.handle(heard, u.start, u.end)  # durable before it counts as done
        if handled is not None:
            self.controller.remember_audio(handled.record.seq, u.audio)  # for "play that back"
            if handled.unsent != self._unstored:  # said at once, before the utterance itself
                self._unstored = handled.unsent
                self._emit(Unstored(handled.unsent, self.controller.unsent.reason))
        latency = max(0.0, time.monotonic() - decided_at)
        if handled is None:
            self._emit(PartialText("", ""))
        elif handled.command is not None:
            self.latencies.append(latency)
            self._emit(CommandApplied(handled.command, handled.outcome.ok, handled.outcome.message, latency))
        elif handled.written is not None:
            self.latencies.append(latency)
            self.text = join_text(self.text, handled.written.text)
            self._emit(UtteranceCommitted(handled.written, latency))
        elif handled.record.kind == "asked":
            self._emit(CommandAsked(handled.record.text, handled.outcome.message))
        else:
            self._emit(UtteranceRejected(handled.record.text, handled.outcome.message))
        if handled is not None:
            # After the utterance is shown, so checks never add to end-of-utterance latency.
            flags, changed = self.controller.run_checks()
            if changed:
                self._emit(FlagsChanged(list(flags)))
            if self.controller.check_error and not self._told_check_error:
                self._told_check_error = True
                self._emit(SessionError(self.controller.check_error))
        self._set_ready()
