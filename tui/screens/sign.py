"""The sign screen: every open flag, the communication of critical findings, then sign.

A final report cannot be signed while a critical finding's communication is unrecorded or a
required section is empty, the checks are off or no reader is configured (the engine's `signing_problems`); a preliminary can, with its flags
shown. Recording the communication (who, their role, how, when) puts the sentence into the
report's communication section.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from dictation.reporting.controller import ReportController
from dictation.reporting.records import Outcome, exam_zone
from dictation.reporting.report import COMMUNICATION_METHODS, Report
from dictation.reporting.signing import untold_findings
from dictation.status import ReportStatus

from ..widgets.report_view import SEVERITY_MARK, minutes


class SignScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, controller: ReportController) -> None:
        super().__init__()
        self.controller = controller

    def compose(self) -> ComposeResult:
        report = self.controller.report
        flags, _ = self.controller.run_checks()
        critical = [f for f in flags if f.kind == "critical_finding"]
        what = {"addendum": "the addendum to", "correction": "the correction of"}.get(report.amendment or "", "")
        with Vertical(id="sign"):
            yield Static(Text(f"Sign {what + ' ' if what else ''}{report.template.title} ({report.status})", style="bold"),
                         id="sign-title")
            if not self.controller.licence.ok:
                yield Static(Text(f"⚠ {self.controller.licence.message}", style="bold red"), id="sign-licence")
            changes = self._changes()
            if changes:
                yield Static(Text(changes), id="sign-changes")
            yield Static(Text(self._flags_text(flags)), id="sign-flags")
            if critical:
                untold = [f.finding for f in critical if f.finding not in report.communicated()]
                yield Static(Text("Communication of critical results" + (f" — still to record: {', '.join(x or '' for x in untold)}"
                                                                          if untold else " — recorded")), id="comm-title")
                with Horizontal(id="comm"):
                    yield Input(placeholder="recipient (e.g. Dr. Jane Roe)", id="recipient")
                    yield Input(placeholder="role (e.g. ED physician)", id="role")
                    yield Select([(m, m) for m in COMMUNICATION_METHODS], value="telephone", allow_blank=False, id="method")
                    yield Input(value=dt.datetime.now(self.zone).strftime("%Y-%m-%d %H:%M"), id="when")
                    yield Button("Record", id="record")
            yield Static(id="sign-problems")
            with Horizontal(id="sign-buttons"):
                yield Button("Sign preliminary", id="preliminary")
                yield Button("Sign final", id="final", variant="primary")
                yield Button("Back", id="cancel")

    @property
    def zone(self) -> dt.tzinfo | None:
        """Times are given and shown in the facility's time zone (this machine's when none is set)."""
        return exam_zone(self.controller.report.exam)

    def _changes(self) -> str:
        """Signing final over a preliminary: what changed since it, and who signed it."""
        store, report = self.controller.store, self.controller.report
        if store is None or report.amendment or report.status != ReportStatus.PRELIMINARY:
            return ""
        previous = store.latest_version(report.id)
        if previous is None:
            return ""
        from dictation.reporting.versions import build_version, describe_differences

        with self.controller.lock:
            draft = build_version(report, self.controller.signer, self.controller.flags, previous)
        lines = describe_differences(draft.differences or {})
        return "Since the preliminary:\n" + "\n".join(f"  {line}" for line in lines[:14])

    def on_mount(self) -> None:
        self._refresh()

    def _flags_text(self, flags: list) -> str:
        if self.controller.checks_off:  # "no open flags" would be a lie: nothing was checked
            return f"Not checked: {self.controller.checks_off}."
        shown = [f for f in flags if f.kind != "default_not_accepted"]
        if not shown:
            return "No open flags."
        lines = [f"Open flags ({len(shown)}):"]
        for f in shown:
            extra = f" — ACR {f.acr_category}, within {minutes(f.deadline_minutes)}" if f.acr_category else ""
            lines.append(f"  {SEVERITY_MARK[f.severity]} {f.message}{extra}")
        return "\n".join(lines)

    def _refresh(self) -> None:
        problems = self.controller.signing_problems(ReportStatus.FINAL)
        flags, licence = self.controller.flags, self.controller.licence
        final = self.query_one("#final", Button)
        final.disabled = bool(problems)
        self.query_one("#preliminary", Button).disabled = bool(licence.blocks("preliminary")) or bool(
            self.controller.report.amendment)
        text = "Final cannot be signed yet:\n" + "\n".join(f"  • {p}" for p in problems) if problems else "Ready to sign final."
        self.query_one("#sign-problems", Static).update(Text(text))
        self.query_one("#sign-flags", Static).update(Text(self._flags_text(flags)))

    def _record(self) -> None:
        when_text = self.query_one("#when", Input).value.strip()
        try:
            at = dt.datetime.strptime(when_text, "%Y-%m-%d %H:%M").replace(tzinfo=self.zone).timestamp()
        except ValueError:
            self.query_one("#sign-problems", Static).update(Text(f"✗ time {when_text!r}: write it as YYYY-MM-DD HH:MM"))
            return
        method = self.query_one("#method", Select).value
        reader = getattr(self.controller.signer, "display", "") if self.controller.signer else ""
        recipient, role = self.query_one("#recipient", Input).value, self.query_one("#role", Input).value

        def record(report: Report) -> Outcome:  # the findings of the report as it stands, in turn with dictation
            untold = untold_findings(self.controller.run_checks()[0], report)
            return report.record_communication(recipient, role, str(method), at, untold, by=reader)

        outcome = self.controller.edit(record, "communication recorded")
        if not outcome.ok:
            self.query_one("#sign-problems", Static).update(Text(f"✗ {outcome.message}"))
            return
        self.query_one("#comm-title", Static).update(Text("Communication of critical results — recorded"))
        self._refresh()

    def _sign(self, status: str) -> None:
        # Through the controller, like the spoken command: the same rules, stored with its outbox messages.
        handled = self.controller.command("sign_final" if status == "final" else "sign_preliminary")
        if not handled.outcome.ok:
            self.query_one("#sign-problems", Static).update(Text(f"✗ {handled.outcome.message}"))
            return
        self.dismiss(f"✓ {handled.outcome.message}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "record":
            self._record()
        elif event.button.id in ("preliminary", "final"):
            self._sign(event.button.id)
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
