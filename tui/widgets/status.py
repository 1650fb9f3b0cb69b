"""The report screen's status line: what the session is doing, where the cursor is, and every
problem the radiologist must know of at once (the store away, recognition behind, a dropped
microphone, a message not sent, a critical result overdue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dictation.reporting.controller import ReportController

    from ..app import RadscribeApp

STATE_TEXT = {
    "loading": "Loading the speech model…",
    "listening": "● Listening",
    "paused": "❚❚ Paused (F4 to listen)",
    "recognising": "… Recognising",
    "asleep": "☾ Asleep (say “start listening”)",
    "no_microphone": "No microphone",
    "error": "Error",
    "stopped": "Stopped",
}



def status_line(app: RadscribeApp, controller: ReportController | None, last_command: str) -> tuple[str, bool]:
    """The line, and whether it shows a problem (drawn as one)."""
    parts = [STATE_TEXT.get(app.state, app.state)]
    if app.state == "no_microphone":
        parts.append("connect one, or run radscribe --audio FILE; typing still works")
    elif app.state == "error" or app.state == "listening" and app.detail:
        parts.append(app.detail)
    unstored = len(controller.unsent) if controller is not None else 0
    if unstored and controller is not None:  # kept on this workstation, never lost
        parts.append(f"⚠ the store cannot be reached: {controller.unsent.describe()} kept on "
                     "this workstation only (stored when it answers; signing waits)")
    if controller is not None:
        report = controller.report
        if report.amendment:  # the signed report stays as sent until this is signed too
            parts.append(f"{report.status} · {report.amendment} open (F9 signs, “cancel {report.amendment}” drops it)")
        else:
            parts.append(f"{report.status} · at {report.slot.title}")
        if last_command:
            parts.append(last_command)
    if app.backlog.seconds:
        parts.append(f"⏳ recognition {app.backlog.seconds:.0f} s behind (nothing is lost: it comes late)")
    if app.local_reading:  # a group's recognition server did not answer: this workstation reads
        parts.append(f"⚠ {app.local_reading}: read on this workstation")
    if app.backlog.overflows:
        parts.append(f"⚠ the microphone dropped audio {app.backlog.overflows}× (check the device, or close what loads the machine)")
    if app.outbox_line:
        parts.append(app.outbox_line)
    if app.critical_line:
        parts.append(app.critical_line)
    parts.append(f"model {app.model_label}")
    if app.latency is not None:
        parts.append(f"last {app.latency * 1000:.0f} ms")
    problem = (bool(unstored) or app.state in ("no_microphone", "error") or app.outbox_line.startswith("⚠")
               or bool(app.backlog.overflows) or bool(app.local_reading) or "OVERDUE" in app.critical_line)
    return "  ·  ".join(parts), problem
