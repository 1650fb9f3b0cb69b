"""The worklist: studies waiting to be read, STAT first, then the longest waiting.

Each row shows a turnaround clock (time since ordered), coloured as it nears its facility's limit
for its priority (green under half, yellow under the limit, red past it), and a warning where the
reader holds no valid licence for the facility. Critical results not yet communicated, from any
study, stay in a line above the list until closed. Enter opens the study (its draft if one was
started: nothing is lost by a crash or a quit); N opens the next one; S shows reports signed in
the last two days (for an addendum); V opens the next peer review. A study claimed, signed or
newly ordered elsewhere shows at once (the store's worklist watcher), without polling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dictation.errors import RadscribeError
from dictation.status import SIGNED_FINAL
from dictation.store.claims import being_read

from ..widgets.title import TitleBar

if TYPE_CHECKING:
    from ..app import RadscribeApp

def waited(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // 1440} d"


def clock_style(priority: str, seconds: float, limits: dict[str, int]) -> str:
    limit = limits.get(priority, limits["routine"]) * 60
    if seconds >= limit:
        return "bold red"
    if seconds >= limit / 2:
        return "yellow"
    return "green"


class VoiceOpen(Message):
    def __init__(self, stat: bool) -> None:
        super().__init__()
        self.stat = stat


class ListenState(Message):
    def __init__(self, state: str) -> None:
        super().__init__()
        self.state = state


class WorklistChanged(Message):
    """Another workstation (or the orders listener) changed the worklist."""


REFRESH_AT_MOST_EVERY = 0.5  # seconds: a burst of changes elsewhere is one redraw, not a storm


class WorklistScreen(Screen):
    clock_refresh_seconds = 15.0  # the turnaround clocks; changes elsewhere show at once (the watcher)
    BINDINGS = [
        Binding("enter", "open", "Open study"),
        Binding("n", "open_next", "Open next"),
        Binding("r", "refresh", "Refresh"),
        Binding("s", "toggle_signed", "Signed"),
        Binding("v", "review", "Peer review"),
        Binding("d", "discard", "Discard draft"),
        Binding("a", "acknowledge", "Ack order change", show=False),
    ]

    def __init__(self, clock: Callable[[], float] = time.time, limits: dict[str, int] | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.limits = dict(limits) if limits else None  # None: each facility's own ([[facility]] turnaround_minutes)
        self.show_signed = False
        self.signed: list[Any] = []
        self.rows: list[Any] = []
        self.loose: list[Any] = []
        self.session: Any = None
        self.listening = ""
        self._watch_stop = threading.Event()
        self._refreshed_at = 0.0
        self._refresh_pending = False

    def title_text(self) -> str:
        return "radscribe · worklist"

    @property
    def rapp(self) -> RadscribeApp:
        return cast("RadscribeApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar(self.title_text())
        yield Static(id="worklist-status")
        yield Static(id="worklist-critical")
        yield DataTable(id="worklist", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def _listen(self) -> None:
        """Hands-free on the worklist: "open next", "open STAT" (a session without a report)."""
        from dictation.reporting.commands import CommandParser
        from dictation.speech.session import DictationSession, Event, StateChanged
        from dictation.text.pipeline import WrittenUtterance

        app = self.rapp
        # Never behind another screen (a listen asked for before a study opened may run after): its session has the microphone.
        if app.session is not None or self.session is not None or app.screen is not self:
            return
        parser = CommandParser()

        # post_message, never call_from_thread: opening a study stops this session (joining its
        # thread), which must not be waiting for the UI thread at that moment.
        def heard(utterance: WrittenUtterance) -> None:  # on the session thread
            command = parser.parse(utterance.text)
            if command is not None and command.name in ("open_next", "open_stat"):
                self.post_message(VoiceOpen(command.name == "open_stat"))

        def event(e: Event) -> None:
            if isinstance(e, StateChanged):
                self.post_message(ListenState(e.state))

        self.session = DictationSession(app.source_factory, event, recognizer=app.recognizer_factory,
                                        on_utterance=heard, segmenter=app.segmenter())
        app.session = self.session
        self.session.start()

    def on_voice_open(self, message: VoiceOpen) -> None:
        if self.session is not None:  # still the worklist's own session speaking
            self.rapp.open_next(stat=message.stat)

    def on_listen_state(self, message: ListenState) -> None:
        if self.session is not None:
            self._state(message.state)

    def _state(self, state: str) -> None:
        self.rapp.state = state
        self.listening = state
        if self.is_mounted:
            self.action_refresh()

    def _stop_listening(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.stop()
            if self.rapp.session is session:
                self.rapp.session = None

    def on_screen_suspend(self) -> None:
        self._stop_listening()  # the study's own session takes the microphone

    def on_unmount(self) -> None:
        self._stop_listening()
        self._watch_stop.set()

    def _watch(self) -> None:
        store = self.rapp.store
        if store is None:
            return

        def changed() -> None:  # on the watcher's thread
            self.post_message(WorklistChanged())

        threading.Thread(target=store.watch_worklist, args=(self._watch_stop, changed), name="radscribe-worklist-watch",
                         daemon=True).start()

    def on_worklist_changed(self, message: WorklistChanged) -> None:
        if not self.is_current or self._refresh_pending:
            return  # a study is open: the worklist is read again when it shows
        wait = self._refreshed_at + REFRESH_AT_MOST_EVERY - time.monotonic()
        if wait <= 0:
            self.action_refresh()
            return
        self._refresh_pending = True

        def later() -> None:
            self._refresh_pending = False
            self.action_refresh()

        self.set_timer(wait, later)

    def on_mount(self) -> None:
        self._watch()
        self._listen()
        table = self.query_one(DataTable)
        table.add_columns("Priority", "Waiting", "Accession", "Exam", "Facility", "Patient", "Report")
        self.action_refresh()
        self.set_interval(self.clock_refresh_seconds, self.action_refresh)  # the clocks move
        table.focus()

    def action_refresh(self) -> None:
        store = self.rapp.store
        if store is None:
            return
        self._refreshed_at = time.monotonic()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        self.rows = list(store.worklist())
        now = self.clock()
        practice = self.rapp.practice
        for row in self.rows:
            age = max(0.0, now - row.ordered_at)
            status = row.report_status  # "" when no report was started for it
            licence = practice.licence_check(row.facility)
            facility = Text(row.facility)
            if not licence.ok:
                facility.append(" ⚠ no licence" if "no licence" in licence.message else " ⚠ licence expired", style="bold red")
            if row.order_changed:  # changed under its report: A after a look
                facility.append(" ⚠ order changed", style="bold red")
            if row.claimed_by_other(self.rapp.reader, time.time()):  # another workstation's reader has it open
                facility.append(f" · {being_read(row.claimed_by, row.claimed_at)}", style="bold yellow")
            table.add_row(
                Text(row.priority.upper(), style="bold red" if row.priority == "stat" else ""),
                Text(waited(age), style=clock_style(row.priority, age, self.limits or practice.limits(row.facility))),
                row.accession, row.exam or row.exam_code, facility,
                row.patient_name.replace("^", ", "),
                ("preliminary" if status == "preliminary" else "draft") if status else (row.template_id or "generic"),
                key=str(row.id),
            )
        # Reports started without a worklist item (radscribe --template) and never signed final:
        # what a crash or a quit left behind is offered here too.
        self.loose = [d for d in store.drafts() if d.accession is None and d.status == "draft"]
        for d in self.loose:
            age = max(0.0, now - d.updated_at)
            table.add_row(Text("DRAFT", style="italic"), Text(waited(age)), "—", d.template_id, "", "",
                          f"draft ({d.utterances} utterances)", key=f"draft:{d.id}")
        # Signed in the last two days (S shows them): open one for an addendum (F7) or a correction.
        self.signed = []
        if self.show_signed:
            self.signed = [d for d in store.drafts(include_signed=True)
                           if d.status in SIGNED_FINAL and now - d.updated_at < 2 * 86400]
            for d in self.signed:
                table.add_row(Text("SIGNED", style="dim"), Text(waited(max(0.0, now - d.updated_at)) + " ago"),
                              d.accession or "—", d.template_id, "", "", d.status, key=f"signed:{d.id}")
        total = len(self.rows) + len(self.loose) + len(self.signed)
        if total:
            table.move_cursor(row=min(cursor, total - 1))
        count = len(self.rows)
        stat = sum(1 for r in self.rows if r.priority == "stat")
        status = f"{count} stud{'y' if count == 1 else 'ies'} waiting" + (f", {stat} STAT" if stat else "")
        if self.loose:
            status += f"  ·  {len(self.loose)} unfinished draft{'s' if len(self.loose) > 1 else ''} below"
        if not count and not self.loose:
            status = "No studies waiting. Orders arrive from the RIS (radscribe listen-orders, or [orders] port) or radscribe worklist add."
        if self.listening == "listening":
            status += "  ·  ● say “open next” or “open STAT”"
        elif self.listening == "no_microphone":
            status += "  ·  no microphone: Enter opens a study"
        line = self.rapp.outbox_line
        self.query_one("#worklist-status", Static).update(Text(status + (f"  ·  {line}" if line else "")))
        self.rapp.refresh_critical()
        critical = self.query_one("#worklist-critical", Static)
        critical.update(Text(self.rapp.critical_line, style="bold red" if "OVERDUE" in self.rapp.critical_line else "bold yellow"))
        critical.display = bool(self.rapp.critical_line)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if row < len(self.rows):
            self.rapp.open_study(self.rows[row])
        elif row - len(self.rows) < len(self.loose):
            self.rapp.open_draft(self.loose[row - len(self.rows)].id)
        elif row - len(self.rows) - len(self.loose) < len(self.signed):
            self.rapp.open_draft(self.signed[row - len(self.rows) - len(self.loose)].id)

    def _selected_draft(self) -> tuple[str, str] | None:
        """(report id, what to call it) of the unsigned draft on the selected row, if any."""
        store = self.rapp.store
        row = self.query_one(DataTable).cursor_row
        if store is None:
            return None
        if row < len(self.rows):
            item = self.rows[row]
            draft = store.draft_for(item.id)
            if draft and store.report_status(draft) == "draft":
                return draft, f"the draft of {item.accession}"
            return None
        if row - len(self.rows) < len(self.loose):
            d = self.loose[row - len(self.rows)]
            return d.id, f"draft {d.id[:8]} ({d.template_id})"
        return None

    def action_discard(self) -> None:
        """D: throw away the selected study's unsigned draft (asked first; audited)."""
        from .quit import ConfirmScreen

        picked = self._selected_draft()
        if picked is None:
            self.rapp.notify("no unsigned draft on this row (a signed report changes through an addendum)",
                             severity="warning")
            return
        report_id, what = picked

        def answered(yes: bool | None) -> None:
            if not yes or self.rapp.store is None:
                return
            try:
                self.rapp.store.discard_draft(report_id)
            except RadscribeError as e:
                self.rapp.notify(str(e), severity="error", timeout=15)
                return
            self.rapp.notify(f"{what} discarded")
            self.action_refresh()

        self.app.push_screen(ConfirmScreen(f"Discard {what}? The study waits again, without it (the store keeps it, audited)."),
                             callback=answered)

    def action_acknowledge(self) -> None:
        """A: the changed order of the selected study was looked at (audited)."""
        store, row = self.rapp.store, self.query_one(DataTable).cursor_row
        if store is None or row >= len(self.rows) or not self.rows[row].order_changed:
            self.rapp.notify("no changed order on this row", severity="warning")
            return
        item = self.rows[row]
        try:
            store.acknowledge_order_change(item.id)
        except RadscribeError as e:
            self.rapp.notify(str(e), severity="error")
            return
        self.rapp.notify(f"{item.accession}: changed order acknowledged ({item.order_changed.replace(',', ', ')})")
        self.action_refresh()

    def action_toggle_signed(self) -> None:
        self.show_signed = not self.show_signed
        self.action_refresh()

    def action_review(self) -> None:
        self.rapp.open_review()

    def action_open_next(self) -> None:
        if self.rows:
            self.rapp.open_next()
        else:
            self.rapp.notify("no study waiting: orders arrive from the RIS, or add one with `radscribe worklist add`",
                             severity="warning")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_screen_resume(self) -> None:
        self.action_refresh()
        self.call_after_refresh(self._listen)
