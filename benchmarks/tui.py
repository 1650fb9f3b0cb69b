"""`python -m benchmarks tui`: is a keypress answered quickly while speech is being recognised?

The terminal UI runs headless (Textual's test driver) with the real bundled model, the real
checks and a store, while a synthesised dictation is replayed in real time as the microphone.
Every 300 ms F6 or F5 is delivered as a terminal would, and the time until the report's cursor
has moved (the key handled: field moved, pane redrawn, checks re-run, store written) is taken.
The same presses on an idle report (no dictation) are the baseline in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.asr import machine
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.audio import ArraySource
from dictation.speech.recognizer import Recognizer
from dictation.store import Store
from tests.voice import speak_with_pauses

DICTATION = [
    "go to findings",
    "the lungs are clear period there is no focal consolidation period",
    "there is a small left pleural effusion with adjacent atelectasis period",
    "the cardiomediastinal silhouette is within normal limits period",
    "go to impression",
    "small left pleural effusion with adjacent compressive atelectasis period",
    "no pneumothorax period",
]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _measure(app: Any, controller: ReportController, seconds: float, states: list[str]) -> list[float]:
    latencies: list[float] = []
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause(1.0)
        end = time.monotonic() + seconds
        key = "f6"
        while time.monotonic() < end:
            before = controller.report.cursor
            t = time.perf_counter()
            app.simulate_key(key)  # as a terminal delivers it (Pilot.press adds its own ~60 ms of waiting)
            while controller.report.cursor == before and time.perf_counter() - t < 2.0:
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - t)
            states.append(app.state)
            key = "f5" if key == "f6" else "f6"
            await pilot.pause(0.3)
    return latencies


def run(echo: Callable[[str], None], seconds: float | None = None) -> dict[str, Any]:
    from tui.app import RadscribeApp

    echo(f"machine: {machine()}")
    library = TemplateLibrary()
    recognizer = Recognizer()
    speech = speak_with_pauses(DICTATION)
    seconds = seconds or len(speech) / 16000
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, audio in (("idle (baseline)", np.zeros(int(16000 * (seconds + 5)), np.float32)), ("dictating", speech)):
            controller = ReportController(Report.new(library.get("xr-chest")), store=Store(Path(tmp) / f"{len(results)}.db"))
            controller.report.go_to("indication")
            app = RadscribeApp(lambda a=audio: ArraySource(a, realtime=True), recognizer, controller=controller,
                               show_clock=False, player=lambda _: None)
            states: list[str] = []
            latencies = asyncio.run(_measure(app, controller, seconds, states))
            busy = sum(1 for s in states if s == "recognising")
            ms = [x * 1000 for x in latencies]
            results[name] = {"presses": len(ms), "while_recognising": busy, "p50_ms": round(statistics.median(ms), 1),
                             "p95_ms": round(_pct(ms, 0.95), 1), "max_ms": round(max(ms), 1),
                             "over_100_ms": sum(1 for x in ms if x > 100)}
    echo(f"\nF5/F6 every 300 ms for {seconds:.0f} s, headless terminal UI, bundled model, checks on")
    echo(f"  {'':<18}{'presses':>8}{'(recognising)':>15}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'>100 ms':>9}")
    for name, r in results.items():
        echo(f"  {name:<18}{r['presses']:>8}{r['while_recognising']:>15}{r['p50_ms']:>9}{r['p95_ms']:>9}"
             f"{r['max_ms']:>9}{r['over_100_ms']:>9}")
    return results
