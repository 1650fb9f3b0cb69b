"""The radscribe terminal UI: worklist → report → sign, hands-free or by keyboard.

A thin face on the engine. Screens: the worklist (`screens/worklist.py`), the report
(`screens/report.py`, with the checks panel), the sign screen (`screens/sign.py`). The dictation
session runs on its own thread and reaches the screens only through messages; the speech model is
loaded once, off the UI thread, and shared by every study of the night. The outbox delivers on its
own thread with its own store connection; the orders listener (when configured) on another.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from dictation.config import Config
from dictation.errors import RadscribeError, StoreDamaged
from dictation.practice.facilities import Practice
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report, load_report
from dictation.reporting.templates import TemplateLibrary
from dictation.ris.outbox import DestinationState, Outbox
from dictation.speech.audio import AudioSource, FileSource, MicrophoneSource
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import SegmenterOptions
from dictation.speech.server import SpeechServer
from dictation.speech.session import Backlog, DictationSession
from dictation.store import Store, WorklistItem
from dictation.workstation import Workstation

from .messages import OutboxStates
from .screens.quit import QuitScreen
from .screens.report import ReportScreen
from .screens.worklist import WorklistScreen
from .widgets.report_view import flags_items, report_view
from .widgets.status import STATE_TEXT

__all__ = ["RadscribeApp", "flags_items", "outbox_summary", "report_view", "run_app", "STATE_TEXT"]


def outbox_summary(states: list[DestinationState]) -> str:
    """The status bar's word on delivery: quiet when all is sent, impossible to miss when not."""
    alerts = [s for s in states if s.alert]
    if alerts:
        a = alerts[0]
        return f"⚠ NOT DELIVERED to {a.name}: {a.pending + a.in_flight} waiting, {a.dead} dead-lettered — {a.last_error}"
    waiting = sum(s.pending + s.in_flight for s in states)
    if waiting:
        failing = [s for s in states if s.failing]
        note = f" ({failing[0].name}: {failing[0].last_error})" if failing else ""
        return f"outbox: {waiting} waiting{note}"
    sent = sum(s.sent for s in states)
    return f"outbox: all {sent} sent" if sent else ""


def play_audio(audio: Any) -> None:
    """Play 16 kHz mono samples on the default output device (blocking; call it off the UI thread)."""
    import sounddevice as sd

    from dictation.speech.audio import SAMPLE_RATE

    sd.play(audio, SAMPLE_RATE, blocking=True)


class RadscribeApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "radscribe"
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True),
        Binding("f8", "settings", "Settings", priority=True),
        Binding("f4", "toggle_listening", "Listen on/off", priority=True),
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
    ]

    def __init__(self, source: Callable[[], AudioSource] | None, recognizer: Callable[[], Recognizer] | Recognizer,
                 *, model_label: str = "tiny.en (bundled)", model_name: str | None = None, group: str | None = None,
                 controller: ReportController | None = None, outbox: Outbox | None = None,
                 store: Store | None = None, library: TemplateLibrary | None = None,
                 make_controller: Callable[[Report, int | None], ReportController] | None = None,
                 clock: Callable[[], float] | None = None, limits: dict[str, int] | None = None,
                 show_clock: bool = True, player: Callable[[Any], None] | None = None,
                 device: int | str | None = None, end_silence_ms: int = 600, push_to_talk: bool = False,
                 practice: Practice | None = None, station: Workstation | None = None) -> None:
        super().__init__()
        self.startup_warnings: list[str] = []  # said once the screen is up
        # How a worklist study becomes a report (the composition root); tests without a config
        # get one with the defaults.
        self.station = station or Workstation(Config(practice=practice or Practice()))
        if station is None and library is not None:
            self.station.library = library
        self.practice = practice or Practice()  # facilities (limits, time zones) and the reader's licences
        self.critical_line = ""  # critical results not yet communicated, across every study
        self.player = player or play_audio  # "play that back": sounddevice by default
        self.show_clock = show_clock  # off in snapshot tests: the time of day would change them
        self._source = source  # None: the microphone chosen in the settings
        self.device: int | str | None = device
        self.end_silence_ms = end_silence_ms
        self.push_to_talk = push_to_talk
        self._recognizer = recognizer
        self._recognizer_lock = threading.Lock()
        self.model_label = model_label
        self.model_name = model_name
        self.group = group
        self.controller = controller  # a report opened at start (radscribe --template)
        self.outbox = outbox  # with its own Store: it delivers on its own thread
        self.store = store  # the worklist (radscribe without --template)
        self.library = library
        self.make_controller = make_controller
        self.clock = clock
        self.limits = limits
        self.outbox_line = ""
        self._outbox_stop = threading.Event()
        self._outbox_thread: threading.Thread | None = None
        self.session: DictationSession | None = None
        self.state = "loading"
        self.detail = ""
        self.latency: float | None = None
        self.backlog = Backlog(0.0)  # recognition behind the microphone (the status line says so)
        self.local_reading = ""  # why the recognition server did not read the last utterance
        self.open_worklist_id: int | None = None

    def source_factory(self) -> AudioSource:
        """The audio for the next session: a replayed file (--audio) or the chosen microphone."""
        return self._source() if self._source is not None else MicrophoneSource(self.device)

    def segmenter(self) -> SegmenterOptions:
        return SegmenterOptions(end_silence_ms=self.end_silence_ms)

    def use_recognizer(self, factory: Callable[[], Recognizer], name: str, label: str) -> None:
        """Another speech model from the next session on (Settings); it loads when first used."""
        with self._recognizer_lock:
            self._recognizer = factory
        self.model_name, self.model_label = name, label

    # One speech model for the whole night: loaded on first use by the session thread, then shared.
    def recognizer_factory(self) -> Recognizer:
        with self._recognizer_lock:
            if not isinstance(self._recognizer, Recognizer) and callable(self._recognizer):
                self._recognizer = self._recognizer()
            return self._recognizer

    def get_default_screen(self) -> ReportScreen | WorklistScreen:
        if self.controller is not None or self.store is None:
            return ReportScreen(self.controller, group=self.group)
        import time

        return WorklistScreen(self.clock or time.time, self.limits)

    def _tick_critical(self) -> None:
        self.refresh_critical()
        if isinstance(self.screen, ReportScreen) and self.screen.is_mounted:
            self.screen.show_status()

    def refresh_critical(self) -> None:
        """The status line's word on critical results nobody has been told of yet (every study)."""
        import time

        if self.store is None:
            return
        rows = self.store.open_critical()
        if not rows:
            self.critical_line = ""
            return
        from dictation.practice.facilities import deadline_text

        now = (self.clock or time.time)()
        first = rows[0]
        when = deadline_text(first.dictated_at, first.deadline_minutes, now)
        overdue = sum(1 for r in rows if deadline_text(r.dictated_at, r.deadline_minutes, now).startswith("OVERDUE"))
        where = first.accession or first.report_id[:8]
        more = f" (+{len(rows) - 1} more{f', {overdue} overdue' if overdue else ''})" if len(rows) > 1 else ""
        self.critical_line = f"⚠ not communicated: {first.finding} ({where}) {when}{more}"

    def on_mount(self) -> None:
        for line in self.startup_warnings:
            self.notify(line, title="Store", severity="error", timeout=30)
        for line in self.practice.expiring():
            self.notify(line, title="Licence", severity="warning", timeout=20)
        self.refresh_critical()
        self.set_interval(15, self._tick_critical)  # the deadlines move even when nothing is said
        if self.store is not None and self.controller is None:
            # The worklist is usable at once; the speech model and the checks load meanwhile.
            self.run_worker(self._warm_up, name="radscribe-warm-up", thread=True, exit_on_error=False)
        if self.outbox is not None:
            self._outbox_thread = threading.Thread(
                target=self.outbox.run, args=(self._outbox_stop,),
                kwargs={"poll": 1.0, "on_pass": lambda states: self.post_message(OutboxStates(states))},
                name="radscribe-outbox", daemon=True)
            self._outbox_thread.start()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.stop()
        if self._outbox_thread is not None:
            self._outbox_stop.set()
            self._outbox_thread.join(5)
            if self.outbox is not None:
                self.outbox.close()

    def on_outbox_states(self, message: OutboxStates) -> None:
        self.outbox_line = outbox_summary(message.states)
        screen = self.screen if self.screen_stack else None
        if isinstance(screen, ReportScreen) and screen.is_mounted:
            screen.show_status()

    def _warm_up(self) -> None:
        try:
            self.recognizer_factory()
            from dictation.checks import Checker

            Checker()  # the shared NLP pipeline
        except RadscribeError as e:
            self.detail = str(e)  # shown when a study opens; the session reports it again

    # -- studies ---------------------------------------------------------------------------------

    @property
    def reader(self) -> str:
        """Who this workstation's claims name (the open report's reader, else the config's)."""
        hold = self.controller.hold if self.controller is not None else None
        return hold.reader if hold is not None else self.station.reader_name

    def open_study(self, item: WorklistItem) -> None:
        """Open a worklist item: its draft if one was started, else a new report from its template."""
        assert self.store is not None and self.station is not None and self.make_controller is not None
        try:
            report = self.station.report_for_study(item, self.store)
            controller = self.make_controller(report, item.id)
        except RadscribeError as e:  # a broken site template, a damaged store: said, the worklist stays
            self.notify(f"cannot open {item.accession or 'this study'}: {e}", title="Not opened", severity="error",
                        timeout=20)
            return
        self.open_worklist_id = item.id
        if not controller.licence.ok:
            self.notify(f"{controller.licence.message}: "
                        + ("only a preliminary read can be signed" if controller.licence.preliminary_allowed
                           else "this study cannot be signed by you"), title="Licence", severity="error", timeout=15)
        self.push_screen(ReportScreen(controller, group=self.group))

    def open_draft(self, report_id: str) -> None:
        """A draft that belongs to no worklist item (left by a crash or a quit)."""
        assert self.store is not None and self.library is not None and self.make_controller is not None
        try:
            report = load_report(self.store, report_id, self.library)
            controller = self.make_controller(report, None)
        except RadscribeError as e:
            self.notify(f"cannot open report {report_id[:8]}: {e} (`radscribe versions {report_id[:8]}` shows what "
                        "was signed)", title="Not opened", severity="error", timeout=20)
            return
        self.open_worklist_id = None
        if not controller.licence.ok:
            self.notify(controller.licence.message, title="Licence", severity="error", timeout=15)
        self.push_screen(ReportScreen(controller, group=self.group))

    def open_review(self) -> None:
        """The next report waiting for this reader's peer review (not one of their own)."""
        from .screens.review import ReviewScreen

        if self.store is None or self.library is None:
            return
        me = self.store.actor
        waiting = [r for r in self.store.reviews(pending=True) if r.author != me]
        if not waiting:
            self.notify("no report waiting for your review (radscribe review sample --percent N picks some)")
            return
        self.push_screen(ReviewScreen(self.store, self.library, waiting[0]),
                         callback=lambda said: self.notify(said) if said else None)

    def open_next(self, *, stat: bool = False) -> None:
        """"Open next" / "open STAT": the first study waiting (STAT first), not the one open now."""
        if self.store is None or self.make_controller is None:
            return
        # The most urgent study nobody else is reading, at a facility where this reader may sign a final.
        now = time.time()  # claims are kept in real time, whatever clock the screens show
        rows = [r for r in self.store.worklist() if r.id != self.open_worklist_id
                and not r.claimed_by_other(self.reader, now) and self.practice.licence_check(r.facility).ok]
        if stat:
            rows = [r for r in rows if r.priority == "stat"]
        if not rows:
            self.notify("no STAT study waiting" if stat else "no other study waiting (that nobody else is reading, "
                        "and that you hold a licence for)", severity="warning")
            return
        if isinstance(self.screen, ReportScreen) and len(self.screen_stack) > 1:
            self.pop_screen()  # this study's draft is in the store
        self.open_study(rows[0])

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle_listening(self) -> None:
        if self.session is None or self.state in ("no_microphone", "error", "loading"):
            return
        if self.state == "paused":
            self.session.resume()
        else:
            self.session.pause()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen())

    def action_request_quit(self) -> None:
        screen = self.screen
        if isinstance(screen, ReportScreen) and screen.controller is not None:
            report = screen.controller.report
            if report.status == "draft" and report.has_work:
                self.push_screen(QuitScreen(report.template.title), callback=lambda yes: self.exit() if yes else None)
                return
        self.exit()


def run_app(*, audio: str | None = None, template_id: str | None = None, model: str | None = None,
            device: int | str | None = None, server: SpeechServer | None = None) -> None:
    from dictation.speech.models import resolve_model
    from dictation.speech.server import make_recognizer
    from dictation.workstation import Workstation

    _, label = resolve_model(model)  # a bad --model is a one-line error before the screen opens
    if server is not None:  # read on the group's server; this workstation's model when it does not answer
        label = f"{server.model} on {server.host}, else {label}"
    warnings: list[str] = []
    station = Workstation.from_config(on_warning=warnings.append)
    station.check_dictation_files()
    config = station.config
    library = station.library
    # The outbox delivers on its own thread with its own connection: SQLite transactions must not
    # interleave on one connection.
    outbox = station.outbox(station.open_store(actor="outbox"))
    orders = None
    if config.orders_port:  # the worklist fills from the RIS while the UI is open

        try:
            orders = station.orders_listener(station.order_handler(station.open_store()))
        except OSError as e:
            raise RadscribeError(f"cannot listen for orders on {config.orders_host}:{config.orders_port}: "
                                 f"{e.strerror or e}") from None
        threading.Thread(target=orders.serve_forever, name="radscribe-orders", daemon=True).start()
    store = station.open_store()
    if store.check_due():  # every page read, at most once a day: damage is found before dictation goes into it
        damage = store.quick_check()
        if damage:
            raise StoreDamaged(f"{store.where} is damaged ({damage[0]}); `radscribe store check` lists it; restore the "
                               "last backup (docs/practice-admin.md: Backups)")
    store.audit("start", detail="radscribe opened")

    def make_controller(report: Report, worklist_id: int | None = None) -> ReportController:
        return station.controller(report, store, outbox=outbox)

    controller = None
    if template_id is not None:  # a bad id is a one-line error before the screen opens
        controller = make_controller(Report.new(library.get(template_id)))

    def source() -> AudioSource:
        assert audio is not None
        return FileSource(Path(audio), realtime=True)

    # --audio without --template: a plain dictation pad (a demo, or a machine without a microphone).
    worklist_store = None if (template_id is not None or audio) else store
    app = RadscribeApp(source if audio else None, lambda: make_recognizer(model, server), model_label=label, model_name=model,
                       controller=controller,
                       outbox=outbox, store=worklist_store, library=library, make_controller=make_controller,
                       device=device, end_silence_ms=config.end_silence_ms, push_to_talk=config.push_to_talk,
                       practice=station.practice, station=station)
    app.startup_warnings = warnings
    try:
        app.run()
    finally:
        if orders is not None:
            orders.shutdown()
            orders.server_close()
    if app.return_code:  # the screen stopped on an error it could not show: never exit 0 after a crash
        sys.exit(app.return_code)
