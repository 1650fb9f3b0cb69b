"""`python -m benchmarks robustness`: every utterance heard once and every command obeyed, on many
renderings of the same hands-free dictations, idle and on a busy machine.

Hands-free scripts across templates (the README's chest report, a CT head, an abdominal
ultrasound, a CT abdomen and pelvis, an MR cervical spine, an MR knee, a venous ultrasound, an MR
brain, a scrotal ultrasound, an MR shoulder, a CT cervical spine) are synthesised with two voices
(Piper, espeak-ng) and many seeds of perturbation (speed ±6%, room noise at 25 dB SNR, an echo:
``tests.voice.perturb``), then run through the whole chain exactly as ``radscribe dictate`` runs
it. Two parts: ``TUNE``, what the command checks were tuned on (every command of the grammar at
least once), and ``TEST``, frozen (other templates, commands, sentences and seeds), of which only
the figure is looked at, never the errors. Each part said is judged by the records of its own
stretch of audio (by time). Counted:
  - commands obeyed (or refused by the report's own rules, as redo with nothing undone), against
    a plain reader (a command only when the decode is exactly a phrase), and commands obeyed as
    another command (the costly error: "go to lungs" taken to the lines and tubes);
  - dictation obeyed as a command (the costly error: text moved or deleted unasked), and
    dictation asked about as a possible command (an interruption, nothing lost);
  - dictation with text heard twice (more pairs of words repeated than were said, or a word
    twice in a row), and dictation with a trailing fragment (words written after the last word
    said, which nobody said);
and, on a subset replayed in real time through the live session, idle and beside two busy loops:
the committed text identical to the idle run, and end-of-utterance latency p50/p95.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from benchmarks.asr import machine
from benchmarks.metrics import percentile
from dictation.reporting.commands import normalise
from dictation.reporting.controller import ReportController
from dictation.reporting.dictate import dictate_audio
from dictation.reporting.report import Report, UtteranceRecord
from dictation.reporting.templates import TemplateLibrary
from dictation.speech.audio import ArraySource, Samples
from dictation.speech.recognizer import Recognizer
from dictation.speech.session import DictationSession
from tests.voice import VOICES, speak_timed, speak_with_pauses

# (what is said, the command it is, or None for dictation), per template.
# TUNE: what the command checks were tuned on (their errors may be read). TEST: frozen, written
# before any tuning on it, never read for errors: only its figure is looked at. Different
# templates, different commands and sentences, other seeds.
TUNE: dict[str, list[tuple[str, str | None]]] = {
    "xr-chest": [
        ("go to indication", "go_to indication"), ("shortness of breath after a fall period", None),
        ("go to findings", "go_to findings.lines_tubes"), ("go to lungs", "go_to findings.lungs"),
        ("there is airspace consolidation in the left lower lobe period", None),
        ("go to pleura", "go_to findings.pleura"), ("there is a small left pleural effusion period", None),
        ("no pneumothorax period", None), ("go to impression", "go_to impression"),
        ("small left pleural effusion period", None), ("sign as preliminary", "sign_preliminary"),
    ],
    "ct-head": [
        ("go to indication", "go_to indication"), ("headache and confusion period", None),
        ("go to findings", "go_to findings.hemorrhage"), ("no intracranial hemorrhage period", None),
        ("scratch that", "scratch_that"), ("there is no acute intracranial abnormality period", None),
        ("go to impression", "go_to impression"), ("no acute intracranial abnormality period", None),
    ],
    "us-abdomen": [
        ("go to indication", "go_to indication"), ("right upper quadrant pain period", None),
        ("go to impression", "go_to impression"), ("cholelithiasis without cholecystitis period", None),
        ("next field", "next_field"), ("undo", "undo"),
    ],
    # Longer sentences with numbers, sizes and spine levels, as in the reports of the test part's
    # kind (written without looking at the test part's errors).
    "ct-abdomen-pelvis": [
        ("go to indication", "go_to indication"), ("right lower quadrant pain with fever period", None),
        ("go to appendix", "go_to findings.appendix"),
        ("the appendix is dilated to twelve millimeters with surrounding fat stranding period", None),
        ("go to liver", "go_to findings.liver"), ("there is a two centimeter cyst in segment seven period", None),
        ("go to kidneys", "go_to findings.kidneys"), ("no hydronephrosis or renal calculi period", None),
        ("go to impression", "go_to impression"), ("acute appendicitis without perforation period", None),
    ],
    "mr-cervical-spine": [
        ("go to indication", "go_to indication"), ("neck pain radiating to the right arm period", None),
        ("go to disc levels", "go_to findings.levels"),
        ("at C5 C6 there is a posterior disc osteophyte complex with moderate right foraminal narrowing period", None),
        ("at C6 C7 there is a small left paracentral disc protrusion period", None),
        ("go to cord", "go_to findings.cord"), ("normal cord signal period", None),
        ("go to impression", "go_to impression"), ("multilevel degenerative disc disease most pronounced at C5 C6 period", None),
    ],
    # Every command of the grammar at least once across the tune part (strike and delete that,
    # previous field, new paragraph, redo, choosing an option, clearing a field, inserting the
    # normal text, going to sleep and waking up), and section names of two and three words.
    "mr-knee": [
        ("go to comparison", "go_to comparison"), ("no prior imaging period", None),
        ("go to medial meniscus", "go_to findings.medial_meniscus"),
        ("there is a horizontal tear of the posterior horn period", None), ("strike that", "scratch_that"),
        ("there is an oblique tear of the posterior horn extending to the inferior articular surface period", None),
        ("go to cruciates", "go_to findings.cruciates"), ("the anterior cruciate ligament is intact period", None),
        ("new paragraph", "new_paragraph"), ("the posterior cruciate ligament is intact period", None),
        ("previous field", "previous_field"), ("go to impression", "go_to impression"),
        ("oblique tear of the posterior horn of the medial meniscus period", None),
    ],
    "us-venous-lower-extremity": [
        ("go to indication", "go_to indication"), ("left calf swelling period", None),
        ("go to side", "go_to findings.side"), ("choose left", "choose left"),
        ("go to popliteal vein", "go_to findings.popliteal"),
        ("there is occlusive thrombus in the popliteal vein period", None),
        ("go to calf veins", "go_to findings.calf_veins"), ("the posterior tibial veins are not compressible period", None),
        ("undo", "undo"), ("redo", "redo"), ("stop listening", "stop_listening"), ("start listening", "start_listening"),
        ("go to impression", "go_to impression"),
        ("acute deep vein thrombosis of the left popliteal and posterior tibial veins period", None),
    ],
    "mr-brain": [
        ("go to indication", "go_to indication"), ("new onset seizure period", None),
        ("go to enhancement", "go_to findings.enhancement"),
        ("there is a ring enhancing lesion in the right frontal lobe measuring eighteen millimeters period", None),
        ("delete that", "scratch_that"), ("there is a ring enhancing lesion in the right frontal lobe period", None),
        ("next field", "next_field"), ("clear field", "clear_field"), ("insert normal", "insert_normal"),
        ("go to impression", "go_to impression"), ("solitary ring enhancing lesion in the right frontal lobe period", None),
    ],
    # Section names with a side in them: a side misheard must not take the words to the other side.
    "us-scrotum": [
        ("go to indication", "go_to indication"), ("left scrotal pain and swelling period", None),
        ("go to left testis", "go_to findings.left_testis"), ("the left testis is enlarged and hyperemic period", None),
        ("go to right testis", "go_to findings.right_testis"), ("the right testis is normal in size period", None),
        ("go to epididymis", "go_to findings.epididymides"),
        ("the left epididymis is enlarged with increased flow period", None),
        ("new paragraph", "new_paragraph"), ("small reactive hydrocele period", None),
        ("go to impression", "go_to impression"), ("left epididymo orchitis period", None),
    ],
    # Section names of one word that sound like another section's ("lungs" and "lines"): two
    # targets about as probable on the audio.
    "mr-shoulder": [
        ("go to indication", "go_to indication"), ("right shoulder pain after a fall period", None),
        ("go to rotator cuff", "go_to findings.rotator_cuff"),
        ("there is a full thickness tear of the supraspinatus tendon with two centimeters of retraction period", None),
        ("the infraspinatus and subscapularis tendons are intact period", None),
        ("go to biceps", "go_to findings.biceps"), ("the long head of the biceps tendon is medially dislocated period", None),
        ("go to impression", "go_to impression"), ("full thickness supraspinatus tear with retraction period", None),
    ],
    "ct-cervical-spine": [
        ("go to indication", "go_to indication"), ("motor vehicle collision with neck pain period", None),
        ("go to vertebrae", "go_to findings.vertebrae"),
        ("there is a nondisplaced fracture of the right lamina of C6 period", None),
        ("the vertebral body heights are maintained period", None), ("go to alignment", "go_to findings.alignment"),
        ("there is straightening of the normal cervical lordosis period", None),
        ("go to impression", "go_to impression"), ("nondisplaced fracture of the right C6 lamina period", None),
    ],
}
TEST: dict[str, list[tuple[str, str | None]]] = {
    "mr-lumbar-spine": [
        ("go to indication", "go_to indication"), ("low back pain radiating to the left leg period", None),
        ("go to disc levels", "go_to findings.levels"),
        ("at L4 L5 there is a small central disc protrusion period", None), ("delete that", "scratch_that"),
        ("at L4 L5 there is a broad based disc bulge period", None), ("next field", "next_field"),
        ("no paraspinal abnormality period", None), ("go to impression", "go_to impression"),
        ("mild degenerative disc disease period", None), ("stop listening", "stop_listening"),
    ],
    "cta-chest-pe": [
        ("go to comparison", "go_to comparison"), ("chest radiograph from yesterday period", None),
        ("go to pulmonary arteries", "go_to findings.pulmonary_arteries"),
        ("there are filling defects in the right lower lobe pulmonary arteries period", None),
        ("go to lungs", "go_to findings.lungs"), ("no consolidation period", None),
        ("new paragraph", "new_paragraph"), ("mild bibasilar atelectasis period", None),
        ("go to impression", "go_to impression"), ("acute right lower lobe pulmonary embolism period", None),
    ],
    "us-pelvis": [
        ("go to indication", "go_to indication"), ("pelvic pain period", None),
        ("go to right ovary", "go_to findings.right_ovary"), ("the right ovary measures three centimeters period", None),
        ("previous field", "previous_field"), ("the uterus is normal in size period", None),
        ("go to free fluid", "go_to findings.free_fluid"), ("small amount of free fluid period", None),
        ("undo", "undo"), ("go to impression", "go_to impression"), ("no ovarian torsion period", None),
    ],
}
PARTS = {"tune": (TUNE, 0), "test": (TEST, 1000)}  # scripts and the first seed of each part
# Short dictations said alone, as a radiologist answers a field in a word or two: none of them a
# command. A short utterance is where a command can be read into dictation (the second look and
# the audio check run only on short ones). TUNE_SHORT: what the command checks were tuned on;
# TEST_SHORT: frozen, written before any tuning on it, only its figure is read. Said on the
# first template of the part (its command phrases and sections).
TUNE_SHORT = [
    "Normal.", "Unremarkable.", "Unchanged.", "Stable.", "No change.", "Negative.", "None.", "Clear.",
    "No effusion.", "No fracture.", "No pneumothorax.", "Within normal limits.", "As above.", "See above.",
    "Not seen.", "Resolved.", "Improved.", "Mild.", "Moderate.", "Severe.", "Trace.", "Left.", "Right.",
    "Bilateral.", "Unchanged from prior.", "No new findings.", "Findings as above.", "Indeterminate.",
    "Index lesion.", "Next to the liver.", "Nodule unchanged.", "Undisplaced.", "Intact.", "Patent.",
    "Not dilated.", "Small.", "No mass.", "Normal size.", "Normal in size.", "No acute findings.",
]
TEST_SHORT = [
    "Unremarkable study.", "Normal appearance.", "No collection.", "No free air.", "Not enlarged.",
    "Mildly dilated.", "Well aerated.", "Preserved.", "Symmetric.", "Minimal.", "Absent.", "Present.",
    "Degenerative.", "Postoperative.", "Calcified.", "No abscess.", "Likely benign.", "Follow up advised.",
    "Correlate clinically.", "No stenosis.", "Normal caliber.", "Subcentimeter.", "Right kidney normal.",
    "Spleen normal.", "Liver unremarkable.", "No hydronephrosis.", "Questionable.", "Equivocal.",
    "Nonspecific.", "Not visualized.",
]
SHORT = {"tune": TUNE_SHORT, "test": TEST_SHORT}


@dataclass
class Tally:
    commands: int = 0
    obeyed: int = 0
    plain_obeyed: int = 0
    asked: int = 0
    wrong: int = 0  # commands obeyed as another command
    dictated: int = 0
    false_commands: int = 0
    false_asked: int = 0
    doubled: int = 0
    trailing: int = 0  # dictation with words written after all that was said
    short: int = 0  # short dictations said alone
    short_commands: int = 0  # ... obeyed as a command (or refused as one)
    short_asked: int = 0
    examples: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _repeats(text: str) -> tuple[int, set[str]]:
    """How often a pair of words comes again, and the words of four letters or more said twice in a row."""
    w = _words(text)
    pairs = [f"{a} {b}" for a, b in zip(w, w[1:])]
    return len(pairs) - len(set(pairs)), {a for a, b in zip(w, w[1:]) if a == b and len(a) >= 4}


def _doubled(written: str, said: str) -> bool:
    """Text heard twice: more pairs of words repeated than in what was said ("of the ... of the"
    is said so), or a word of four letters or more twice in a row that was not said so."""
    (pairs, twice), (said_pairs, said_twice) = _repeats(written), _repeats(said)
    return pairs > said_pairs or bool(twice - said_twice)


def _trailing(written: str, said: str) -> bool:
    """Words written after everything said: the written text ends in words the alignment with
    what was said matches to nothing ("Right knee pain after a twisting injury. Through")."""
    said_words = [w for w in _words(said) if w != "period"]  # the spoken full stops are written as marks
    ops = difflib.SequenceMatcher(a=said_words, b=_words(written), autojunk=False).get_opcodes()
    return bool(ops) and ops[-1][0] == "insert"


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def _score(script: list[tuple[str, str | None]], spans: list[tuple[float, float]], report: Report, tally: Tally,
           plain_phrases: set[str]) -> None:
    # What was made of each part said: the records of the audio within its span (by time, so an
    # utterance lost, merged or split moves nothing else). A question not answered is written as
    # dictation afterwards (a second record of the same audio); the first record says what was done.
    got: dict[int, list[UtteranceRecord]] = {}
    seen: set[tuple[float, float]] = set()
    for u in report.utterances:
        if (u.start, u.end) in seen:
            continue
        seen.add((u.start, u.end))
        i = max(range(len(spans)), key=lambda k: _overlap(spans[k], (u.start, u.end)))
        if _overlap(spans[i], (u.start, u.end)) > 0:
            got.setdefault(i, []).append(u)
    for i, (text, command) in enumerate(script):
        records = got.get(i, [])
        heard = " ".join(u.heard for u in records)
        if command is not None:
            tally.commands += 1
            # Obeyed, or refused by the report's own rules (redo with nothing undone): heard as said.
            ok = any(u.kind in ("command", "rejected") and u.command == command for u in records)
            tally.obeyed += ok
            tally.asked += not ok and any(u.kind == "asked" and u.command == command for u in records)
            tally.plain_obeyed += normalise(heard, frozenset()) in plain_phrases
            tally.wrong += not ok and any(u.kind in ("command", "rejected") and u.command for u in records)
            if not ok:
                kinds = ",".join(u.kind for u in records) or "nothing"
                tally.examples.append(f"not obeyed: {text!r} heard {heard!r} ({kinds})")
        else:
            tally.dictated += 1
            obeyed = [u.command for u in records if u.kind in ("command", "rejected") and u.command]
            if obeyed:
                tally.false_commands += 1
                tally.examples.append(f"dictation obeyed: {text!r} heard {heard!r} as {obeyed[0]}")
            asked = [u.command for u in records if u.kind == "asked"]
            if asked:
                tally.false_asked += 1
                tally.examples.append(f"dictation asked: {text!r} heard {heard!r} as {asked[0]}")
            written = " ".join(u.text for u in records if u.kind == "dictation")
            if written and not obeyed and not asked and _doubled(written, text):
                tally.doubled += 1
                tally.examples.append(f"heard twice: {text!r} written {written!r}")
            if written and not obeyed and not asked and _trailing(written, text):
                tally.trailing += 1
                tally.examples.append(f"trailing fragment: {text!r} written {written!r}")


def _score_short(said: list[str], report: Report, tally: Tally) -> None:
    """Short dictations, none a command: what was made of each stretch of audio."""
    tally.short += len(said)
    seen: set[tuple[float, float]] = set()
    for u in report.utterances:
        if (u.start, u.end) in seen:
            continue
        seen.add((u.start, u.end))
        if u.kind in ("command", "rejected") and u.command:
            tally.short_commands += 1
            tally.examples.append(f"short dictation obeyed: heard {u.heard!r} as {u.command}")
        elif u.kind == "asked":
            tally.short_asked += 1
            tally.examples.append(f"short dictation asked: heard {u.heard!r} as {u.command}")


@contextlib.contextmanager
def _busy(loops: int) -> Iterator[None]:
    # Each loop in a process group of its own, bounded by timeout, the group killed at the end.
    procs = [subprocess.Popen(["timeout", "900", "sh", "-c", "while :; do :; done"], start_new_session=True)
             for _ in range(loops)]
    try:
        yield
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _live(audio: Samples, template: str, library: TemplateLibrary, recognizer: Recognizer) -> tuple[list[str], list[float]]:
    controller = ReportController(Report.new(library.get(template)), checks=False)
    session = DictationSession(ArraySource(audio, realtime=True), lambda e: None, recognizer=recognizer,
                               controller=controller)
    session.start()
    session.wait()
    return [f"{u.kind}:{u.command or u.text}" for u in controller.report.utterances], session.latencies


def _recordings(parts: tuple[str, ...], seeds: int) -> list[tuple[str, int, str, list[tuple[str, str | None]]]]:
    """(voice, seed, template, script) of every script recording, in the order the offline pass makes them."""
    return [(voice, seed, template, script) for part in parts for voice in VOICES
            for seed in range(PARTS[part][1], PARTS[part][1] + seeds) for template, script in PARTS[part][0].items()]


def run(echo: Callable[[str], None], seeds: int = 20, live: int = 6, parts: tuple[str, ...] = ("tune", "test"),
        examples: int = 6, live_only: bool = False) -> dict[str, object]:
    echo(f"machine: {machine()}")
    library = TemplateLibrary()
    recognizer = Recognizer()
    out: dict[str, object] = {}
    recordings: list[tuple[str, str, Samples]] = []
    tallies: dict[str, dict[str, Tally]] = {}
    if live_only:  # the same recordings the whole run would replay, without the offline pass
        everything = _recordings(parts, seeds)
        for voice, seed, template, script in everything[:: max(1, len(everything) // live)][:live]:
            recordings.append((voice, template, speak_timed([t for t, _ in script], voice=voice, seed=seed)[0]))
        parts = ()
    for part in parts:
        scripts, first_seed = PARTS[part]
        # The plain reader: a command only when the decode is exactly one of the template's phrases.
        exact = {t: {normalise(p, frozenset()) for p, _ in ReportController(Report.new(library.get(t)), checks=False).parser.phrases()}
                 for t in scripts}
        tally = tallies[part] = {v: Tally() for v in VOICES}
        started = time.perf_counter()
        for voice in VOICES:
            for seed in range(first_seed, first_seed + seeds):
                for template, script in scripts.items():
                    audio, spans = speak_timed([t for t, _ in script], voice=voice, seed=seed)
                    recordings.append((voice, template, audio))
                    controller = ReportController(Report.new(library.get(template)), checks=False)
                    dictate_audio(audio, recognizer, controller)
                    _score(script, spans, controller.report, tally[voice], exact[template])
                # The part's short dictations, each said alone, on its first template.
                template = next(iter(scripts))
                controller = ReportController(Report.new(library.get(template)), checks=False)
                dictate_audio(speak_with_pauses(SHORT[part], voice=voice, seed=seed), recognizer, controller)
                _score_short(SHORT[part], controller.report, tally[voice])
        echo(f"{part}: {seeds} seeds x {len(VOICES)} voices x {len(scripts)} scripts ({', '.join(scripts)}), "
             f"{time.perf_counter() - started:.0f} s")
    if tallies:
        echo(f"{'part':<5} {'voice':<7} {'commands obeyed':>18} {'asked':>6} {'wrong':>6} {'plain (exact)':>14} {'dictation obeyed':>17} "
             f"{'dictation asked':>16} {'heard twice':>12} {'trailing':>10} {'short obeyed':>13} {'short asked':>12}")
    for part, tally in tallies.items():
        out[part] = {}
        for voice, t in tally.items():
            echo(f"{part:<5} {voice:<7} {t.obeyed:>6}/{t.commands:<4} ({t.obeyed / max(1, t.commands):5.1%}) {t.asked:>6} {t.wrong:>6} "
                 f"{t.plain_obeyed / max(1, t.commands):>13.1%} {t.false_commands:>8}/{t.dictated:<8} "
                 f"{t.false_asked:>8}/{t.dictated:<7} {t.doubled:>6}/{t.dictated:<5} {t.trailing:>4}/{t.dictated:<5} "
                 f"{t.short_commands:>6}/{t.short:<6} "
                 f"{t.short_asked:>5}/{t.short}")
            out[part][voice] = {"commands": t.commands, "obeyed": t.obeyed, "asked": t.asked, "wrong": t.wrong, "plain_obeyed": t.plain_obeyed,
                                "dictated": t.dictated, "false_commands": t.false_commands,
                                "false_asked": t.false_asked, "heard_twice": t.doubled, "trailing": t.trailing,
                                "short": t.short,
                                "short_commands": t.short_commands, "short_asked": t.short_asked}
    # Errors are shown for the tune part only: the test part is read for its figure, never its errors.
    for voice, t in tallies.get("tune", {}).items():
        for line in t.examples[:examples]:
            echo(f"  tune {voice}: {line}")
    if not live:
        return out
    # Real time, idle and beside two busy loops: same text, and how late.
    picked = recordings if live_only else recordings[:: max(1, len(recordings) // live)][:live]
    same = 0
    latency: dict[str, list[float]] = {"idle": [], "two busy loops": []}
    for _, template, audio in picked:
        idle_text, idle_lat = _live(audio, template, library, recognizer)
        with _busy(2):
            busy_text, busy_lat = _live(audio, template, library, recognizer)
        same += idle_text == busy_text
        latency["idle"] += idle_lat
        latency["two busy loops"] += busy_lat
    echo(f"\nreal time through the live session ({len(picked)} recordings): committed text identical idle and "
         f"beside two busy loops in {same}/{len(picked)}")
    for name, values in latency.items():
        echo(f"  end-of-utterance latency {name:<15} p50 {percentile(values, 50):.3f} s  p95 {percentile(values, 95):.3f} s"
             f"  ({len(values)} utterances)")
    out["live"] = {"recordings": len(picked), "identical": same,
                   "latency": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in latency.items()}}
    return out
