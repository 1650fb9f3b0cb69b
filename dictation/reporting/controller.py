"""From recognised utterances to a report: commands or dictation, applied and stored durably.

``ReportController`` is the one place where an utterance becomes part of a report. Given what
the recogniser heard, it asks the command parser whether the whole utterance is a command; if
so it applies it, otherwise it writes the text (spoken forms, corrections) into the active
field, or routes it by anatomy. Either way the utterance is committed to the store before
``handle`` returns: the caller reports it as done only after that. The live session and
``radscribe dictate`` both go through here.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from dictation.checks import Checker, Flag, FlagKind
from dictation.errors import DataFileError, RadscribeError, ReportLocked, StoreError, StoreUnavailable
from dictation.logs import log, write_anchor
from dictation.practice.facilities import LicenceCheck, Practice
from dictation.reporting.commands import UI_COMMANDS, Command, CommandParser, normalise
from dictation.reporting.confirm import confirm_critical
from dictation.reporting.hold import Hold
from dictation.reporting.learning import typed_over
from dictation.reporting.playback import PlaybackCache
from dictation.reporting.records import NO, YES, Handled, Outcome, Question, UtteranceRecord, take_order
from dictation.reporting.report import Report
from dictation.reporting.signing import signing_problems, told_by_voice
from dictation.reporting.unsent import TRANSIENT, Unsent, restore, snapshot
from dictation.reporting.verify import further_decodes, near_command, nothing_to_write, second_look
from dictation.reporting.verify import warm_up as verify_warm_up
from dictation.reporting.versions import build_version
from dictation.ris.document import Signer
from dictation.speech.audio import SAMPLE_RATE, Samples
from dictation.speech.recognizer import DecodeOptions, Reads
from dictation.speech.transcript import Transcript
from dictation.status import ReportStatus
from dictation.store import Store
from dictation.text.pipeline import TextPipeline, WrittenUtterance

if TYPE_CHECKING:
    from dictation.ris.outbox import Outbox


SIGNING = frozenset({"sign_final", "sign_preliminary"})
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_at_a_time(method: Callable[Concatenate[ReportController, _P], _R]) -> Callable[Concatenate[ReportController, _P], _R]:
    """The session thread (utterances) and the screen (keys, edits, signing) change the report
    in turn: never an undo, a typed field or a signing in the middle of an utterance's change."""
    @functools.wraps(method)
    def in_turn(self: ReportController, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)
    return in_turn


class ReportController:
    def __init__(self, report: Report, *, store: Store | None = None, parser: CommandParser | None = None,
                 pipeline: TextPipeline | None = None, route: bool = True,
                 on_handled: Callable[[Handled], None] | None = None, checks: bool = True,
                 outbox: Outbox | None = None, signer: Signer | None = None, practice: Practice | None = None,
                 keep_audio: bool = False, learn_days: int = 0, unsent_folder: Path | None = None) -> None:
        self.report = report
        self.learn_days = learn_days  # [vocab] learn_days: words typed over what was heard, kept this long
        facility = str(report.exam.get("facility") or "")
        # Checked when the study opens (the screen warns) and again at each signing.
        self.practice = practice
        self.licence = practice.licence_check(facility) if practice else LicenceCheck(True)
        self.keep_audio = keep_audio  # [audio] keep: utterance audio in the store, purged after N days
        self._critical_state: tuple[frozenset[str], frozenset[str]] | None = None
        self.outbox = outbox  # signing queues the report's messages in the same transaction
        self.signer = signer
        self.store = store
        self.parser = parser or CommandParser(template=report.template)
        # Its language model knows the template's command phrases as well as report text.
        self.pipeline = (pipeline or TextPipeline(group=report.template.spec.group)).saying(p for p, _ in self.parser.phrases())
        self.route = route
        self.on_handled = on_handled  # called once the utterance is stored
        self.question: Question | None = None  # a near-command waiting for yes or no
        # Spoken punctuation at an utterance's edge ("normal heart period") marks dictation, not a near-command.
        self._punctuation_words = self.pipeline.punctuation_words
        self._command_prompt = self.parser.prompt()
        self.checks = checks
        self._checker: Checker | None = None
        self._loading = threading.Lock()  # the checks load once, whichever thread asks first
        # Held to change or check the report, and by a screen to read it while the session dictates.
        self.lock = threading.RLock()
        self.flags: list[Flag] = []
        self.check_error = ""
        # The audio of recent utterances, for "play that back" (in the store too with [audio] keep).
        self.playback = PlaybackCache(report.id, store if keep_audio else None)
        # The draft's lease (one dictating process) and the study's claim (one reader): refused here
        # when another holds either.
        self.hold: Hold | None = None
        self.unsent = Unsent(report.id, unsent_folder)  # what only this workstation holds while the store is away
        self._before_sign: dict[str, Any] = {}
        if store is not None:
            recovered = self.unsent.recover(report)  # left by a workstation that stopped before the store was back
            self.hold = Hold(store, report.id, self._actor or store.actor)
            self.hold.take(lambda: store.save_report(report))
            store.audit("open", report.id, str(report.exam.get("accession") or ""), report.status, actor=self._actor)
            if recovered:
                self.flush_unsent(force=True)

    @_one_at_a_time
    def renew_lease(self) -> None:
        """Keep the hold on the report and its study (the screen calls this while it is open),
        and give the store what it could not take before, once it answers again."""
        if self.hold is not None and self.flush_unsent():
            self.hold.renew_if_due()

    def flush_unsent(self, force: bool = False) -> bool:
        """True when the store holds every utterance (tried at most every few seconds unless forced)."""
        if not len(self.unsent) or self.store is None or self.hold is None:
            return True
        if not force and not self.unsent.due():
            return False
        return self.unsent.flush(self.store, self.report, self.hold.lease, self._actor)

    @_one_at_a_time
    def close(self) -> None:
        """The study is closed here: another process, or another reader, may open it at once.
        What the store could not take is given to it once more (else it stays on this workstation)."""
        with contextlib.suppress(StoreError):
            self.flush_unsent(force=True)
        if self.hold is not None:
            self.hold.release()

    @property
    def checker(self) -> Checker:
        """The clinical checks (spaCy + ConText load on first use: a couple of seconds)."""
        with self._loading:
            if self._checker is None:
                self._checker = Checker()
            return self._checker

    @property
    def checks_ready(self) -> bool:
        """The NLP pipeline is loaded (a check takes milliseconds now), or could not be and the checks are off."""
        return self._checker is not None or bool(self.checks_off)

    def warm_up(self) -> None:
        """Load the checks and what the command check needs now (a background thread); a failure shows on the next check."""
        verify_warm_up()
        if not self.checks:
            return
        try:
            self.checker  # noqa: B018 - loads the pipeline
        except RadscribeError:
            pass

    def run_checks(self) -> tuple[list[Flag], bool]:
        """Check the report as it stands; returns the flags and whether they changed.

        A broken vocab file turns the checks off with a message (``check_error``) but never
        stops dictation. The checks load outside the report's lock (seconds: dictation goes on)
        and check under it: a check started earlier never overwrites a later one."""
        if not self.checks or self.check_error:
            return self.flags, False
        try:
            checker = self.checker
            with self.lock:
                started = time.perf_counter()
                flags = checker.check_report(self.report)
                changed = [f.key for f in flags] != [f.key for f in self.flags]
                if changed:
                    log.info("report %s: checks %.0f ms, %d flags (%s)", self.report.id[:8],
                             (time.perf_counter() - started) * 1000, len(flags),
                             ", ".join(sorted({f.kind for f in flags})) or "none")
                self.flags = flags
                self._sync_critical(flags)
                return flags, changed
        except RadscribeError as e:
            self.check_error = f"clinical checks are off: {e}"
        except Exception as e:
            self.check_error = f"clinical checks are off after an internal error ({type(e).__name__}: {e})"
        return self.flags, False

    def _sync_critical(self, flags: list[Flag]) -> None:
        """Critical-result timers in the store, when the critical findings or who was told changed."""
        if self.store is None:
            return
        state = (frozenset(f.finding for f in flags if f.kind == "critical_finding" and f.finding),
                 frozenset(self.report.communicated()))
        if state == self._critical_state:
            return
        dictated = [u.at for u in self.report.utterances if u.kind == "dictation" and u.at]
        try:
            told = {f: c.at for c in self.report.communications for f in c.findings}
            self.store.sync_critical(self.report, flags, told, at=dictated[-1] if dictated else None, actor=self._actor)
        except StoreError as e:  # a timer not written must never stop dictation; the next check tries again
            log.warning("report %s: critical-result timers not stored (%s)", self.report.id[:8], type(e).__name__)
            return
        self._critical_state = state

    @property
    def checks_off(self) -> str:
        """Why the clinical checks are not running (empty: they are)."""
        if not self.checks:
            return "clinical checks are turned off"
        return self.check_error

    @_one_at_a_time
    def signing_problems(self, status: str) -> list[str]:
        """What stops signing ``status`` now, with the checks run on the report as it stands."""
        if self.checks:
            self.run_checks()
        problems = signing_problems(self.report, self.flags if self.checks else [], status, self.licence,
                                    signer=self.signer, checks_off=self.checks_off)
        changed = self.order_changed()
        if changed:  # the report may describe another patient or exam than the order now does
            problems.insert(0, f"the order changed after this report was started ({', '.join(changed)}): check the "
                               f"patient and the exam, then acknowledge it (radscribe worklist ack "
                               f"{self.report.exam.get('accession') or 'ACCESSION'}, or A on the worklist)")
        try:
            self.report.render()  # what is signed is the rendered text: a body that fails stops any signing
        except DataFileError as e:
            problems.insert(0, f"template {self.report.template.id} cannot render this report ({e}); "
                               "`radscribe templates check` shows the fix")
        return problems

    def _take_order(self) -> None:
        """At signing, who the patient is and what the exam is come from the study's order as it
        stands (a change since the report was started has been acknowledged, or signing waits)."""
        try:
            study = self.store.study_of(self.report.id) if self.store is not None else None
        except StoreError:
            return
        if study is not None:
            take_order(self.report.exam, study.report_exam())

    def order_changed(self) -> list[str]:
        """What the study's order changed since this report was started ([] when nothing did)."""
        if self.store is None:
            return []
        try:
            return self.store.order_changes(self.report.id)
        except StoreError:
            return []

    def _sign_blocked(self, command: Command | None) -> str:
        """Why a "sign final" (or "sign preliminary") cannot go ahead (empty: it can)."""
        if command is None or command.name not in SIGNING:
            return ""
        if self.question is not None:  # what the report holds is not settled while a question waits
            return f"not signed: first answer {self.question.asked} (yes or no)"
        if not self.flush_unsent(force=True):
            return (f"not signed: the store cannot be reached ({self.unsent.describe()} kept on this "
                    "workstation only); signing waits until it is back")
        status = ReportStatus.FINAL if command.name == "sign_final" else ReportStatus.PRELIMINARY
        problems = self.signing_problems(status)
        if not problems:
            return ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"not signed: {problems[0]}{more}"

    def remember_audio(self, seq: int, audio: Samples) -> None:
        self.playback.remember(seq, audio)

    def last_audio(self, slot: str | None = None) -> tuple[UtteranceRecord, Samples] | None:
        """The most recent dictation still in the report (in ``slot`` if given) and its audio."""
        return self.playback.last(self.report, slot)

    def decode_options(self) -> DecodeOptions:
        return self.pipeline.decode_options()

    def further_decodes(self, audio: Samples) -> list[DecodeOptions]:
        """The decodes ``recognise`` may ask for after the first (to start them ahead)."""
        return further_decodes(len(audio) / SAMPLE_RATE, self._command_prompt, self.decode_options().beam_size)

    def recognise(self, recognizer: Reads, audio: Samples, heard: Transcript | None = None) -> Transcript:
        """Final text of an utterance, with a second look when it may be a misheard command (verify.py)."""
        heard = heard if heard is not None else recognizer.transcribe(audio, self.decode_options())
        return second_look(self.parser, recognizer, audio, heard, listening=self.report.listening,
                           command_prompt=self._command_prompt, beam_size=self.decode_options().beam_size,
                           keep_words=self.pipeline.keep_words, full_stop=self.pipeline.full_stop)

    def _obey(self, command: Command, seq: int) -> Outcome:
        """Apply a report command under the signing rules. A preliminary signed while the checks
        are off says so, in the outcome and in the stored version's flags."""
        blocked = self._sign_blocked(command)
        if blocked:
            return Outcome(False, blocked)
        if command.name in SIGNING:
            self._take_order()
        if command.name == "confirm_words":  # the flags as they stand (never loads the NLP on a UI thread)
            return confirm_critical(self.report.utterances, self.run_checks()[0] if self.checks_ready else self.flags)
        if self.store is not None and command.name.startswith("sign"):
            self._before_sign = snapshot(self.report)  # a signing the store does not take is undone
        macro = self.parser.macro(command.arg or "") if command.name == "macro" else None  # the parser knows the macros
        outcome = self.report.apply(command, utterance=seq, signer=self._signer_name(), macro=macro)
        if outcome.ok and command.name == "sign_preliminary" and self.checks_off:
            outcome = replace(outcome, message=f"{outcome.message} — {self.checks_off}: not checked")
        return outcome

    def recorded_flags(self) -> list[Flag]:
        """The flags a signed version records (the signing checked the report just before); with
        the checks off, one flag that says so."""
        if self.checks_off:
            return [*self.flags, Flag(FlagKind.CHECKS_OFF, "critical", self.checks_off)]
        return self.flags

    @_one_at_a_time
    def context(self) -> str:
        return self.report.text_before_cursor()

    @_one_at_a_time
    def handle(self, heard: Transcript, start: float = 0.0, end: float = 0.0, *, ask: bool = True) -> Handled | None:
        """Apply one utterance; None when it held no words (or was heard while asleep). A
        near-command is held as a question (``ask``), not obeyed and not written."""
        if self.question is not None:
            answer = normalise(heard.text, self.parser.commands.fillers)
            if answer in YES or answer in NO:
                return self.answer(answer in YES, heard, start, end)
            signing = self.parser.parse(heard.reading or heard.text) if not heard.reading or heard.reading_sure else None
            if signing is None or signing.name not in SIGNING:
                self._lapse()  # something else was said: the held words are dictation after all (a signing waits)
        report = self.report
        version_before = report.version
        seq = (report.utterances[-1].seq + 1) if report.utterances else 1
        words = heard.words_json(start)  # with where a second reading heard a critical word otherwise
        command = self.parser.parse(heard.reading or heard.text) if heard.text.strip() else None
        unsure: Command | None = None
        if heard.reading and not heard.reading_sure:
            unsure, command = command, None  # the audio is close to a command: asked, never obeyed unasked
        written: WrittenUtterance | None = None
        if command is not None and command.name in UI_COMMANDS:
            outcome = Outcome(True, command.describe())  # the screen acts on it; the report is unchanged
            record = UtteranceRecord(seq, "command", heard.text.strip(), heard.text, start, end, words, report.slot.key,
                                     command.describe(), outcome.message, time.time())
        elif command is not None:
            outcome = self._obey(command, seq)
            if heard.reading:  # obeyed on the audio's evidence: say what the words were
                outcome = replace(outcome, message=f"{outcome.message} (heard “{heard.text.strip()}”)")
            kind = "command" if outcome.ok else "rejected"
            record = UtteranceRecord(seq, kind, heard.text.strip(), heard.text, start, end, words, report.slot.key,
                                     command.describe(), outcome.message, time.time())
        elif ask and report.listening and (near := unsure or near_command(self.parser, heard, self._punctuation_words)) is not None:
            self.question = Question(near, heard, start, end, seq)
            outcome = Outcome(False, self.question.prompt)
            record = UtteranceRecord(seq, "asked", heard.text.strip(), heard.text, start, end, words, report.slot.key,
                                     near.describe(), outcome.message, time.time())
        else:
            if not report.listening:
                return None  # asleep: nothing dictated is kept, only "start listening" wakes it
            text, corrections = self.pipeline.written(heard, before=self.context())
            if not text:
                return None
            told = told_by_voice(self, text, seq, heard, start, end, words)
            if told is not None:
                told[0].decoder = heard.decoder
                return self._commit(told[0], told[1], None, WrittenUtterance(text, heard, start, end, corrections),
                                    version_before)
            try:
                slots = report.dictate(text, utterance=seq, route=self.route)
            except ReportLocked as e:  # a signed report takes no more dictation
                outcome = Outcome(False, str(e))
                record = UtteranceRecord(seq, "rejected", text, heard.text, start, end, words, report.slot.key, None,
                                         outcome.message, time.time())
            else:
                outcome = Outcome(True, "dictated into " + ", ".join(slots), True)
                record = UtteranceRecord(seq, "dictation", text, heard.text, start, end, words, ",".join(slots), None,
                                         "", time.time())
                written = WrittenUtterance(text, heard, start, end, corrections)
        record.decoder = heard.decoder
        return self._commit(record, outcome, command, written, version_before)

    @_one_at_a_time
    def answer(self, yes: bool, heard: Transcript | None = None, start: float = 0.0, end: float = 0.0) -> Handled | None:
        """The radiologist's answer to the question (by voice, or by key without ``heard``): yes
        obeys the held command; no writes the held words as dictation."""
        question, self.question = self.question, None
        if question is None:
            return None
        if not yes:
            return self.handle(question.heard, question.start, question.end, ask=False)
        report, version_before = self.report, self.report.version
        seq = (report.utterances[-1].seq + 1) if report.utterances else 1
        command = question.command
        outcome = self._obey(command, seq)
        said = heard.text.strip() if heard is not None else "[key] yes"
        record = UtteranceRecord(seq, "command" if outcome.ok else "rejected", said, heard.text if heard else "", start,
                                 end, [], report.slot.key, command.describe(), outcome.message, time.time(),
                                 decoder=heard.decoder if heard else "")
        return self._commit(record, outcome, command, None, version_before)

    def _lapse(self) -> None:
        """The question was not answered: what was held is written as dictation (nothing lost),
        unless it holds nothing a report says ("And you." for "undo"): its record stays, asked."""
        question, self.question = self.question, None
        if question is not None and not nothing_to_write(question.heard.text):
            self.handle(question.heard, question.start, question.end, ask=False)

    @_one_at_a_time
    def command(self, name: str, arg: str | None = None, via: str = "key") -> Handled:
        """A command from the keyboard (F9 sign, a button): the same rules, record and store as
        the spoken one, so signing by key queues the outbox messages too."""
        report = self.report
        version_before = report.version
        seq = (report.utterances[-1].seq + 1) if report.utterances else 1
        command = Command(name, arg)
        outcome = self._obey(command, seq)
        record = UtteranceRecord(seq, "command" if outcome.ok else "rejected", f"[{via}] {command.describe()}", "", 0.0,
                                 0.0, [], report.slot.key, command.describe(), outcome.message, time.time())
        return self._commit(record, outcome, command, None, version_before)

    @property
    def _actor(self) -> str | None:
        """Who the audit log names: the signing reader (else the store's actor)."""
        return (self.signer.id or self.signer.display or None) if self.signer else None

    @_one_at_a_time
    def type_into(self, key: str, text: str) -> Outcome:
        """Typed text (F2) in place of a field's. The words typed over what was heard are kept
        (``learning.typed_over``) for the reporting lead's `radscribe vocab suggest`."""
        heard = " ".join(p.text for p in self.report.slots.get(key, []) if p.source == "dictated" and p.accepted)
        self.report.type_text(key, text)
        pairs = typed_over(heard, text) if heard and self.learn_days else []
        if pairs and self.store is not None:
            with contextlib.suppress(StoreError):  # a lost suggestion never stops an edit
                self.store.learn(self.report.template.id, pairs, self.learn_days)
        return Outcome(True, f"typed into {'the addendum' if key == 'addendum' else self.report.template.slot(key).title}", True)

    @_one_at_a_time
    def edit(self, change: Callable[[Report], Outcome], what: str = "") -> Outcome:
        """A change made on the screen (a key, a typed field, a flag chosen): applied in turn with
        the utterances and stored; a change of text is named in the audit log (``what``, else the
        outcome: "undone", "typed into Findings", never the text), a move of the cursor only stored."""
        outcome = change(self.report)
        try:
            if outcome.ok:
                self.save_edit((what or outcome.message) if outcome.changed else "")
        except StoreError as e:  # not a store away (kept then) but one that refuses: said, no traceback
            return replace(outcome, ok=False, message=f"{outcome.message}; not stored: {e}")
        return outcome

    def save_edit(self, what: str) -> None:
        """A change made outside dictation (typed with F2, a communication from the sign form):
        stored, and named in the audit log (what kind of change, never the text; "" for none: a
        cursor moved). While the store cannot be reached it is kept here, after the utterances."""
        if self.store is None:
            return
        try:
            if not self.flush_unsent():  # in order: after what was kept before it
                raise StoreUnavailable(self.unsent.reason)
            self.store.save_report(self.report)
            if what:
                self.store.audit("edit", self.report.id, str(self.report.exam.get("accession") or ""), what,
                                 actor=self._actor)
        except TRANSIENT as e:
            try:
                self.unsent.keep_edit(self.report, what, str(e))
            except OSError:
                raise e from None
            log.warning("report %s: the store cannot be reached; a change kept on this workstation", self.report.id[:8])

    def _signer_name(self) -> str:
        return self.signer.display if self.signer else ""

    def _commit(self, record: UtteranceRecord, outcome: Outcome, command: Command | None,
                written: WrittenUtterance | None, version_before: int) -> Handled:
        report = self.report
        report.utterances.append(record)
        if self.store is not None:
            try:
                self._store(record, version_before)
            except TRANSIENT as e:  # dictation goes on: kept here, stored when the store answers again
                if report.version > version_before:  # a signing the store did not take has not happened
                    restore(report, self._before_sign)
                    outcome = Outcome(False, "not signed: the store cannot be reached; the draft is kept on this "
                                             "workstation, sign again once it is back")
                    record = replace(record, kind="rejected", message=outcome.message)
                    report.utterances.append(record)
                try:
                    self.unsent.keep(report, record, str(e))
                except OSError:
                    raise e from None
                log.warning("report %s: the store cannot be reached; utterance %d kept on this workstation",
                            report.id[:8], record.seq)
        # Ids, kinds and statuses only: never the text or the exam.
        log.info("report %s: utterance %d %s%s", report.id[:8], record.seq, record.kind,
                 f" ({record.command})" if record.command else "")
        if report.version > version_before:
            log.info("report %s signed %s as %s, version %d, by %s", report.id[:8], report.signed_kind, report.status,
                     report.version, self.signer.id if self.signer else "-")
        handled = Handled(record, outcome, command, written, len(self.unsent))
        if self.on_handled is not None:
            self.on_handled(handled)
        return handled

    def _store(self, record: UtteranceRecord, version_before: int) -> None:
        report, store = self.report, self.store
        assert store is not None
        if not self.flush_unsent():  # in order: after the utterances kept before it
            raise StoreUnavailable(self.unsent.reason)
        if self.hold is not None:
            self.hold.renew_if_due()
        entries, signed = [], None
        if report.version > version_before:
            if self.outbox is not None:
                entries = self.outbox.entries_for(report, self.signer)  # built now, queued with the signing
            # The flags as the signing saw them (_sign_blocked checked the report just before).
            signed = build_version(report, self.signer, self.recorded_flags(), store.latest_version(report.id))
        store.commit_utterance(report, record, outbox=entries, signed=signed, actor=self._actor)
        if signed is not None:  # the chains' heads, outside the store too
            heads = store.chain_heads()
            write_anchor(store.anchor_key, heads.audit_id, heads.audit_hash, heads.versions, heads.versions_hash)

