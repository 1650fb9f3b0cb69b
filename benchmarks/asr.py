"""`python -m benchmarks asr`: accuracy and speed of dictation, stage by stage, against plain faster-whisper.

Everything runs in one process on the same audio: the development set in devset.toml is spoken
by the offline Piper voice, then transcribed by
  1. plain faster-whisper (its defaults: beam 5, 30 s window), no vocabulary, no rules;
  2. radscribe's decoding (VAD utterances, short encoder window, beam 5), no prompt;
  3. + a prompt built from the lexicon group of the study;
  4. + spoken-to-written rules;
  5. + vocabulary correction (the full product).
End-of-utterance latency is measured by replaying dictations in real time through the live
DictationSession, beside the latency a plain system would add by decoding after the silence.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from benchmarks.metrics import ErrorCounts, medical_vocabulary, percentile, score
from dictation.speech.audio import SAMPLE_RATE, ArraySource
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import split_utterances
from dictation.speech.session import DictationSession, PartialText, UtteranceCommitted
from dictation.text.correction import default_term_lexicon
from dictation.text.pipeline import TextPipeline, TextStages
from dictation.text.spoken import join_text
from tests.datasets import Dictation, load_devset


def shared_data(data: str | None) -> Path | None:
    if data:
        return Path(data)
    for candidate in (Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def medical_words(shared: Path | None) -> set[str]:
    """The words that count as medical terms: the lexicon's, and the shared medical term list's when present."""
    terms = list(default_term_lexicon().terms)
    if shared and (shared / "medical_terms.txt").is_file():
        terms += [t for t in (shared / "medical_terms.txt").read_text().splitlines() if t and not t.startswith("#")]
    return medical_vocabulary(terms)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, faster-whisper "
            f"{version('faster-whisper')}, ctranslate2 {version('ctranslate2')}")


@dataclass
class Row:
    name: str
    counts: ErrorCounts
    seconds: float
    audio: float

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio if self.audio else 0.0


def _transcribe_utterances(rec: Recognizer, audio: np.ndarray, pipeline: TextPipeline) -> tuple[list, float]:
    """Decode the VAD utterances of one recording; the transcripts and the seconds it took."""
    t0 = time.perf_counter()
    options = pipeline.decode_options()
    heard = [rec.transcribe(u.audio, options) for u in split_utterances(audio)]
    return heard, time.perf_counter() - t0


def _write(heard: list, pipeline: TextPipeline) -> tuple[str, float]:
    t0 = time.perf_counter()
    text = ""
    for h in heard:
        written, _ = pipeline.written(h, before=text)
        text = join_text(text, written)
    return text, time.perf_counter() - t0


def ablation(*, limit: int | None, echo: Callable[[str], None], model: str | None = None) -> dict:
    """Beam size and prompt length, the two choices that trade accuracy for speed."""
    from dictation.speech.recognizer import DecodeOptions
    from tests.voice import synthesize

    items = load_devset()[: limit or None]
    echo(f"machine: {machine()}")
    echo(f"ablation on the development set ({len(items)} dictations, full text pipeline)")
    audios = [synthesize(d.spoken) for d in items]
    utterances = [split_utterances(a) for a in audios]
    total_audio = sum(len(a) for a in audios) / SAMPLE_RATE
    rec = Recognizer(model)
    echo(f"model: {rec.label}")
    lexicon = default_term_lexicon()
    out = {}
    echo(f"{'beam':>4} {'prompt terms':>12} {'WER':>6} {'critical':>8} {'RTF':>6}")
    for beam, terms in ((1, 40), (3, 40), (5, 40), (3, 0), (3, 12), (3, 100)):
        counts = ErrorCounts()
        seconds = 0.0
        for d, utts in zip(items, utterances):
            options = DecodeOptions(beam_size=beam, prompt=lexicon.prompt(d.group, max_terms=terms))
            t = time.perf_counter()
            heard = [rec.transcribe(u.audio, options) for u in utts]
            seconds += time.perf_counter() - t
            text, _ = _write(heard, TextPipeline(group=d.group))
            counts.add(score(d.written, text, set()))
        out[f"beam{beam}_terms{terms}"] = {"wer": round(counts.wer, 4), "critical_errors": counts.critical_errors,
                                           "real_time_factor": round(seconds / total_audio, 4)}
        echo(f"{beam:>4} {terms:>12} {counts.wer:>6.3f} {counts.critical_errors:>8d} {seconds / total_audio:>6.3f}")
    return out


def run(*, limit: int | None, latency_items: int, data: str | None, as_json: bool,
        echo: Callable[[str], None], texts_limit: int = 20, model: str | None = None,
        sentence_pauses: bool = False) -> dict:
    from tests.voice import synthesize

    items = load_devset()[: limit or None]
    echo(f"machine: {machine()}")
    echo(f"development set: {len(items)} dictations (tests/data/devset.toml), Piper voice en_US-joe-medium")
    shared = shared_data(data)
    medical = medical_words(shared)

    t0 = time.perf_counter()
    audios = [synthesize(d.spoken) for d in items]
    echo(f"synthesised {sum(len(a) for a in audios) / SAMPLE_RATE:.0f} s of speech in {time.perf_counter() - t0:.1f} s")

    # Both sides run the same model: plain faster-whisper is the baseline for that model.
    plain = Recognizer(model, short_context=False)
    ours = Recognizer(model)
    echo(f"model: {ours.label}, {ours.cpu_threads} thread(s) for radscribe, {plain.cpu_threads} for plain")
    rss_models = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Each stage added in turn, on one decode with the prompt: the language model that weighs the beam's
    # readings is in none of these rows (its figures: `benchmarks unseen`, with and without it).
    none, prompt_only = TextStages(False, False, False, False), TextStages(True, False, False, False)
    norm_only, full = TextStages(True, True, False, False), TextStages(True, True, True, True)
    rows = {name: Row(name, ErrorCounts(), 0.0, 0.0) for name in
            ("plain faster-whisper", "radscribe decoding", "+ prompting", "+ spoken-to-written", "+ correction (all)")}
    per_item = []
    for d, audio in zip(items, audios):
        seconds = len(audio) / SAMPLE_RATE
        t = time.perf_counter()
        plain_text = plain.transcribe(audio, plain=True).text
        results = {"plain faster-whisper": (plain_text, time.perf_counter() - t)}
        heard_np, t_np = _transcribe_utterances(ours, audio, TextPipeline(none, group=d.group))
        results["radscribe decoding"] = (_write(heard_np, TextPipeline(none))[0], t_np)
        heard, t_dec = _transcribe_utterances(ours, audio, TextPipeline(prompt_only, group=d.group))
        for name, stages in (("+ prompting", prompt_only), ("+ spoken-to-written", norm_only), ("+ correction (all)", full)):
            text, t_text = _write(heard, TextPipeline(stages, group=d.group))
            results[name] = (text, t_dec + t_text)
        for name, (text, secs) in results.items():
            row = rows[name]
            row.counts.add(score(d.written, text, medical))
            row.seconds += secs
            row.audio += seconds
        per_item.append({"id": d.id, "reference": d.written, "plain": plain_text, "radscribe": results["+ correction (all)"][0]})

    echo("")
    echo(f"{'stage':<24} {'WER':>6} {'med-term ER':>11} {'critical errors':>16} {'RTF':>6}")
    for row in rows.values():
        c = row.counts
        echo(f"{row.name:<24} {c.wer:>6.3f} {c.medical_error_rate:>11.3f} {c.critical_errors:>9d} / {c.critical_words:<4d} {row.rtf:>6.3f}")
    echo(f"  ({rows['plain faster-whisper'].counts.words} reference words, {rows['plain faster-whisper'].counts.medical_words} "
         f"medical, {rows['plain faster-whisper'].counts.critical_words} critical: no/new/left/right and numbers)")
    final = rows["+ correction (all)"].counts
    if final.critical_examples:
        echo("  radscribe critical-word errors: " + "; ".join(final.critical_examples))

    latency = _latency(ours, plain, items[: latency_items], audios[: latency_items], echo, medical, model)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    echo(f"\npeak memory (this process): {peak:.0f} MiB; after loading the plain and radscribe models: {rss_models:.0f} MiB"
         + (f"; the partials' copy and the 2-thread copy for the latency rows came on top ({latency['two_thread_copy_mib']} MiB"
            " for the latter)" if latency else ""))

    texts = _dictation_texts(shared, ours, plain, medical, echo, texts_limit) if shared and texts_limit else None
    if texts is not None and sentence_pauses:
        texts = {"read_on": texts,
                 "sentence_pauses": _dictation_texts(shared, ours, plain, medical, echo, texts_limit, pause=0.9)}
    if not shared:
        echo("\n../shared/data not found: the Radiopaedia dictation-texts comparison was not run")

    result = {
        "machine": machine(), "model": ours.label,
        "stages": {r.name: {"wer": round(r.counts.wer, 4), "medical_term_error_rate": round(r.counts.medical_error_rate, 4),
                            "critical_errors": r.counts.critical_errors, "critical_words": r.counts.critical_words,
                            "real_time_factor": round(r.rtf, 4), "words": r.counts.words} for r in rows.values()},
        "latency": latency, "peak_memory_mib": round(peak), "dictation_texts": texts, "items": per_item,
    }
    if as_json:
        echo(json.dumps(result))
    return result


def _rss_mib() -> float:
    """This process's resident memory now (MiB), from /proc; 0 where there is none."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _latency(ours: Recognizer, plain: Recognizer, items: list[Dictation], audios: list[np.ndarray],
             echo: Callable[[str], None], medical: set[str] | None = None, model: str | None = None) -> dict:
    """Each dictation replayed in real time through the live session in four ways: as before
    (the model on two threads, partials decoded in line, whole utterances decoded speculatively
    during the end-of-utterance silence), then partials on a low-priority thread, then the
    product (also the model on one thread), and the product with the pieces before pauses
    decoded during the dictation (an option, off by default). The session's own text is scored
    too, so what a mode costs in accuracy is visible beside what it saves."""
    if not items:
        return {}
    echo(f"\nend-of-utterance latency: {len(items)} dictations replayed in real time through the live session")
    # The same model on two threads, as before one thread became the default.
    rss = _rss_mib()
    two = Recognizer(model, cpu_threads=2)
    two_threads_mib = _rss_mib() - rss
    modes = {"inline": (0.0, False, two), "background2": (0.0, True, two), "background": (0.0, True, ours),
             "pieces": (2.0, True, ours)}
    lat: dict[str, list[float]] = {m: [] for m in modes}
    gaps: dict[str, list[float]] = {m: [] for m in modes}  # seconds between partials while speaking
    counts = {m: ErrorCounts() for m in modes}
    durations: list[float] = []
    for i, (d, audio) in enumerate(zip(items, audios)):
        order = list(modes) if i % 2 == 0 else list(reversed(modes))  # alternate: no mode always runs warm
        for mode in order:
            shown: list[float | None] = []  # partial times; None where an utterance ended

            def seen(e: object, shown: list[float | None] = shown) -> None:
                if isinstance(e, PartialText) and (e.committed or e.tentative):
                    shown.append(time.monotonic())
                elif isinstance(e, UtteranceCommitted):
                    shown.append(None)

            session = DictationSession(ArraySource(audio, realtime=True), seen, recognizer=modes[mode][2],
                                       pipeline=TextPipeline(group=d.group), piece_seconds=modes[mode][0])
            session.background_partials = modes[mode][1]
            session.start()
            session.wait()
            lat[mode].extend(session.latencies)
            gaps[mode].extend(b - a for a, b in zip(shown, shown[1:]) if a is not None and b is not None)
            counts[mode].add(score(d.written, session.text, medical or set()))
        durations.extend(u.duration for u in split_utterances(audio))
    # What a plain system adds after the silence: decoding the utterance from scratch.
    naive = []
    for audio in audios:
        for u in split_utterances(audio):
            t = time.perf_counter()
            plain.transcribe(u.audio, plain=True)
            naive.append(time.perf_counter() - t)
    echo(f"  utterances: {len(durations)}, {min(durations):.1f}-{max(durations):.1f} s long")
    echo(f"  {'':<52} {'p50':>6} {'p95':>6} {'max':>6} {'WER':>6}   partial every p50 / max")
    names = {"inline": "before: 2 threads, partials in line",
             "background2": "2 threads, partials on a low-priority thread",
             "background": "1 thread, partials low-priority (product)",
             "pieces": "  + pieces decoded at pauses (option, off)"}
    for mode in modes:
        xs = lat[mode]
        g = gaps[mode] or [0.0]
        echo(f"  {names[mode]:<52} {percentile(xs, 50):>6.3f} {percentile(xs, 95):>6.3f} {max(xs):>6.3f} {counts[mode].wer:>6.3f}"
             f"   {percentile(g, 50):.2f} / {max(g):.2f} s")
        short = [x for x, dur in zip(xs, durations) if dur <= 10.0]
        if short and len(short) != len(xs) and len(xs) == len(durations):
            echo(f"  {'  utterances up to 10 s':<52} {percentile(short, 50):>6.3f} {percentile(short, 95):>6.3f}")
    echo(f"  {'plain faster-whisper decode after silence':<52} {percentile(naive, 50):>6.3f} {percentile(naive, 95):>6.3f} "
         f"{max(naive):>6.3f}")
    echo("  (seconds from the end of the end-of-utterance silence to the final text; the plain row is decode time only;"
         " WER of the session's own text)")
    return {"radscribe_p50": percentile(lat["background"], 50), "radscribe_p95": percentile(lat["background"], 95),
            "radscribe_max": max(lat["background"]), "radscribe_session_wer": round(counts["background"].wer, 4),
            "partial_gap_p50": percentile(gaps["background"], 50) if gaps["background"] else None,
            "partial_gap_max": max(gaps["background"]) if gaps["background"] else None,
            "two_thread_copy_mib": round(two_threads_mib),
            **{f"{m}_{k}": v for m in ("inline", "background2", "pieces") for k, v in (
                ("p50", percentile(lat[m], 50)), ("p95", percentile(lat[m], 95)), ("max", max(lat[m])),
                ("session_wer", round(counts[m].wer, 4)))},
            "plain_p50": percentile(naive, 50), "plain_p95": percentile(naive, 95), "utterances": len(durations),
            "mean_utterance_seconds": statistics.mean(durations)}


def _dictation_texts(shared: Path, ours: Recognizer, plain: Recognizer, medical: set[str],
                     echo: Callable[[str], None], limit: int, pause: float = 0.0) -> dict | None:
    """The Radiopaedia texts as the voice reads them: on without a break (as the issue's figures
    were measured) or, with ``pause``, that many seconds of silence after each sentence, as a
    radiologist dictates sentence by sentence."""
    path = shared / "dictation-texts" / "radiopaedia_msk_dictations.csv"
    if not path.is_file():
        echo(f"\n{path} not found: the dictation-texts comparison was not run")
        return None
    import re

    from tests.voice import speak_with_pauses, synthesize

    rows = list(csv.DictReader(path.open(encoding="utf-8")))[:limit]
    echo(f"\nRadiopaedia MSK dictation texts ({path.name}): first {len(rows)} of them, synthesised with the same voice"
         + (f", {pause:g} s of silence after each sentence" if pause else ""))
    model = ours.label.removesuffix(" (bundled)")
    names = ("PowerScribe (real voice)", "Whisper API large-v2 (real voice)", f"plain faster-whisper {model}", f"radscribe {model}")
    totals = {n: ErrorCounts() for n in names}
    groups = default_term_lexicon().groups
    for row in rows:
        # The study's body part picks the prompt group, as a template for that body part would.
        anatomy = row["anatomy"]
        group = anatomy if anatomy in groups else "spine" if "spine" in anatomy else "msk"
        pipeline = TextPipeline(TextStages(True, True, True), group=group)
        ref = row["original_postprocessed"]
        spoken_text = _readable(ref)
        if pause:
            audio = speak_with_pauses([s for s in re.split(r"(?<=\.)\s+", spoken_text) if s.strip()], pause=pause)
        else:
            audio = synthesize(spoken_text)
        plain_text = plain.transcribe(audio, plain=True).text
        heard, _ = _transcribe_utterances(ours, audio, pipeline)
        ours_text, _ = _write(heard, pipeline)
        for name, hyp in zip(names, (row["powerscribe_postprocessed"], row["whisper_postprocessed"], plain_text, ours_text)):
            totals[name].add(score(ref, hyp, medical))
    echo(f"  {'system':<36} {'WER':>6} {'med-term ER':>11} {'critical errors':>16}")
    for name, c in totals.items():
        echo(f"  {name:<36} {c.wer:>6.3f} {c.medical_error_rate:>11.3f} {c.critical_errors:>9d} / {c.critical_words:<4d}")
    echo("  (words only: lower case, punctuation removed, the same for every row; PowerScribe and Whisper API")
    echo("   heard the radiologist's real voice, radscribe and plain heard the synthetic voice reading the text;")
    echo("   critical: no/new/left/right and numbers, missed or inserted)")
    kinds = Counter(totals[names[-1]].critical_examples)
    if kinds:
        echo("  radscribe critical-word errors: " + ", ".join(f"{k} ×{n}" for k, n in kinds.most_common(10))
             + (", …" if len(kinds) > 10 else ""))
    return {n: {"wer": round(c.wer, 4), "medical_term_error_rate": round(c.medical_error_rate, 4), "words": c.words,
                "critical_errors": c.critical_errors, "critical_words": c.critical_words}
            for n, c in totals.items()}


def _readable(postprocessed: str) -> str:
    """The CSV's text is lower-cased with punctuation split off; put it back for the voice, and
    say the units as the radiologist did: the voice reads "mm" as two letters ("em em"), which
    nobody dictates and which took the words around it down too."""
    import re

    t = re.sub(r"(\d) \. (\d)", r"\1.\2", postprocessed)
    t = re.sub(r" ([.,;:])", r"\1", t)
    t = re.sub(r"(?<=\d) mm\b", " millimeters", t)
    t = re.sub(r"(?<=\d) cm\b", " centimeters", t)
    return t
