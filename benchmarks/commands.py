"""`python -m benchmarks commands`: are spoken voice commands obeyed, and is dictation never obeyed?

Every utterance is spoken by the offline Piper voice and decoded by the bundled model exactly as
in a session (one utterance, the template's dictation prompt), then judged by three readers:
  1. plain: the utterance is a command only if its words equal a command phrase exactly;
  2. fuzzy: radscribe's parser (whole utterance, rapidfuzz, placeholders matched in parts);
  3. product: fuzzy + the second look at short utterances with the command prompt, then the
     closest phrases scored against the audio (an unsure one is asked: counted apart).
Commands come from a list of what a radiologist says on an xr-chest report; dictation comes from
the sentences of the development set (none of which is a command). A false command on dictation
is the costly error: it would move or delete text the radiologist did not ask to.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from benchmarks.asr import load_devset, machine
from dictation.reporting.commands import CommandParser, normalise
from dictation.reporting.controller import ReportController
from dictation.reporting.report import Report
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.recognizer import Recognizer
from tests.voice import synthesize

# (spoken, command name, argument) on an xr-chest report.
COMMANDS = [
    ("go to indication", "go_to", "indication"),
    ("go to findings", "go_to", "findings.lines_tubes"),
    ("go to impression", "go_to", "impression"),
    ("go to the impression", "go_to", "impression"),
    ("go to comparison", "go_to", "comparison"),
    ("go to technique", "go_to", "technique"),
    ("go to lungs", "go_to", "findings.lungs"),
    ("go to pleura", "go_to", "findings.pleura"),
    ("go to heart", "go_to", "findings.heart_mediastinum"),
    ("go to bones", "go_to", "findings.bones"),
    ("go to recommendations", "go_to", "recommendations"),
    ("next field", "next_field", None),
    ("previous field", "previous_field", None),
    ("scratch that", "scratch_that", None),
    ("delete that", "scratch_that", None),
    ("undo", "undo", None),
    ("redo", "redo", None),
    ("new paragraph", "new_paragraph", None),
    ("insert normal", "insert_normal", None),
    ("normal lungs", "normal_field", "findings.lungs"),
    ("normal pleura", "normal_field", "findings.pleura"),
    ("normal bones", "normal_field", "findings.bones"),
    ("accept all normals", "accept_all_defaults", None),
    ("choose mildly enlarged", "choose", "mildly enlarged"),
    ("choose normal", "choose", "normal"),
    ("clear field", "clear_field", None),
    ("sign report", "sign_final", None),
    ("sign as preliminary", "sign_preliminary", None),
    ("stop listening", "stop_listening", None),
    ("start listening", "start_listening", None),
    ("normal chest", "macro", "normal-chest"),
]


def _sentences() -> list[str]:
    out = []
    for d in load_devset():
        for part in re.split(r"\s*\bperiod\b\s*", d.spoken):
            if len(part.split()) >= 2:
                out.append(part + " period")
    return out


def run(*, echo: Callable[[str], None], limit: int | None = None) -> dict:
    template = TemplateLibrary().get("xr-chest")
    recognizer = Recognizer()
    controller = ReportController(Report.new(template))
    parser: CommandParser = controller.parser
    exact = {normalise(p): (c.name, c.arg) for p, c in parser.phrases()}
    dictation = _sentences()[:limit] if limit else _sentences()
    items = [(s, (n, a)) for s, n, a in COMMANDS] + [(s, None) for s in dictation]
    counts = {reader: {"right": 0, "missed": 0, "wrong": 0, "false": 0} for reader in ("plain", "fuzzy", "product")}
    misses: dict[str, list[str]] = {"fuzzy": [], "product": []}
    t0 = time.perf_counter()
    second_looks = 0
    asked = {"command": 0, "dictation": 0}
    for spoken, expected in items:
        audio = synthesize(spoken)
        heard = recognizer.transcribe(audio, controller.decode_options())
        final = controller.recognise(recognizer, audio, heard)
        second_looks += final is not heard
        said = normalise(heard.text, parser.commands.fillers)
        unsure = bool(final.reading) and not final.reading_sure  # asked, neither obeyed nor written
        asked["command" if expected else "dictation"] += unsure
        readings = {
            "plain": exact.get(said),
            "fuzzy": _meaning(parser.parse(heard.text)),
            "product": None if unsure else _meaning(parser.parse(final.reading or final.text)),
        }
        for reader, got in readings.items():
            c = counts[reader]
            if expected is None:
                c["false"] += got is not None
            elif got == expected:
                c["right"] += 1
            elif got is None:
                c["missed"] += 1
            else:
                c["wrong"] += 1
            if reader in misses and got != expected:
                misses[reader].append(f"{spoken!r} heard {final.text if reader == 'product' else heard.text!r} → {got}")
    seconds = time.perf_counter() - t0
    n_cmd, n_dict = len(COMMANDS), len(dictation)
    echo(f"python -m benchmarks commands — {machine()}")
    echo(f"{n_cmd} spoken commands (xr-chest), {n_dict} dictated sentences from the development set; Piper voice, bundled tiny.en")
    echo("")
    echo(f"{'reader':<34}{'commands right':>16}{'missed':>8}{'wrong':>7}{'false commands on dictation':>30}")
    names = {"plain": "plain (exact phrase)", "fuzzy": "fuzzy whole-utterance parser",
             "product": "+ second look + audio (product)"}
    for reader, c in counts.items():
        echo(f"{names[reader]:<34}{c['right']:>9}/{n_cmd} ({c['right'] / n_cmd:4.0%}){c['missed']:>8}{c['wrong']:>7}"
             f"{c['false']:>21}/{n_dict}")
    echo("")
    echo(f"product: asked (not obeyed, not written) {asked['command']} commands, {asked['dictation']} sentences")
    echo(f"second looks taken: {second_looks}; total {seconds:.1f} s")
    for reader, lines in misses.items():
        for line in lines:
            echo(f"  {reader} miss: {line}")
    return {"commands": n_cmd, "dictation": n_dict, "counts": counts, "asked": asked, "seconds": round(seconds, 1)}


def _meaning(command) -> tuple[str, str | None] | None:
    return (command.name, command.arg) if command is not None else None
