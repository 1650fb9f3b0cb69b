"""`python -m benchmarks listening`: is "stop listening" ever taken for "start listening"?

A stop phrase misheard as a start phrase while listening changes nothing the radiologist sees at
once, and the tool goes on writing what is said (a phone call, a conversation) into the report.
Each of the four stop phrases and four start phrases of ``vocab/commands.toml`` is said alone by
Piper and by espeak-ng, perturbed with seeded noise (``tests.voice.perturb``), while the report
is listening, and decoded as in a session. Counted per voice: stop phrases taken for a start
phrase (obeyed or asked; target 0) and start phrases taken for a stop phrase, by the product and,
on the same audio in the same run, by the product without the twin check
(``dictation/reporting/verify.py``, ``TWINS``). Two parts: **tune** (seeds from 0), on which the
twin margins were chosen, and **test** (seeds from 1000), of which only the figure is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from unittest import mock

from benchmarks.asr import machine
from dictation.reporting import verify
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.recognizer import Recognizer
from tests.voice import VOICES, perturb, synthesize

STOP = ["stop listening", "go to sleep", "microphone off", "mic off"]
START = ["start listening", "wake up", "microphone on", "mic on"]
PARTS = {"tune": 0, "test": 1000}


def _reading(controller: ReportController, recognizer: Recognizer, audio) -> str:
    """What the product makes of the utterance: the command's name (a "?" when it is asked), or "none"."""
    final = controller.recognise(recognizer, audio, recognizer.transcribe(audio, controller.decode_options()))
    command = controller.parser.parse(final.reading or final.text)
    return "none" if command is None else command.name + ("" if final.reading_sure else "?")


def run(*, echo: Callable[[str], None], seeds: int = 10, parts: tuple[str, ...] = ("tune", "test")) -> dict:
    recognizer = Recognizer()
    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False)
    echo(f"python -m benchmarks listening — {machine()}")
    echo(f"{len(STOP)} stop and {len(START)} start phrases said alone while listening, {seeds} seeds per part")
    echo(f"{'part':<5} {'voice':<7} {'reader':<16} {'stop taken for start':>21} {'stop obeyed':>12} {'stop asked':>11}"
         f" {'start taken for stop':>21}")
    out: dict = {}
    t0 = time.perf_counter()
    for part in parts:
        first = PARTS[part]
        for voice in VOICES:
            tallies = {"product": {"stop_as_start": 0, "stop": 0, "stop_asked": 0, "start_as_stop": 0},
                       "no twin check": {"stop_as_start": 0, "stop": 0, "stop_asked": 0, "start_as_stop": 0}}
            for said in STOP + START:
                for seed in range(first, first + seeds):
                    audio = perturb(synthesize(said, lead=0.2, trail=0.5, voice=voice), seed)
                    readings = {"product": _reading(controller, recognizer, audio)}
                    with mock.patch.dict(verify.TWINS, {}, clear=True):
                        readings["no twin check"] = _reading(controller, recognizer, audio)
                    for reader, got in readings.items():
                        t = tallies[reader]
                        if said in STOP:
                            t["stop_as_start"] += got.startswith("start_listening")
                            t["stop"] += got == "stop_listening"
                            t["stop_asked"] += got == "stop_listening?"
                        else:
                            t["start_as_stop"] += got.startswith("stop_listening")
            n = len(STOP) * seeds
            for reader, t in tallies.items():
                echo(f"{part:<5} {voice:<7} {reader:<16} {t['stop_as_start']:>14}/{n:<6} {t['stop']:>5}/{n:<6}"
                     f" {t['stop_asked']:>4}/{n:<6} {t['start_as_stop']:>14}/{n:<6}")
            out.setdefault(part, {})[voice] = tallies
    echo(f"{time.perf_counter() - t0:.0f} s")
    return out
