"""`python -m benchmarks unseen`: speech on radiologists' sentences nobody tuned for, tune and
frozen test side by side, per voice, radscribe against plain tiny.en on the same audio.

Material: the Indiana University chest X-ray reports (Open-i, ``../shared/data/iu-xray``, research
use; never copied into the project), findings and impression sentences. Split **by report**
before anything was measured on it: a report belongs to the test part when the SHA-256 of its uid
is odd, to the tune part when even, so no report gives sentences to both. One sentence per
report, at most 20 words, none with a masked identifier ("XXXX"). The tune part may be read for
errors and rules; of the test part only the figures are looked at.

Each sentence is spoken as one utterance, without spoken punctuation (both systems are judged on
the words), by three voices: Piper (joe), espeak-ng at 150 and at 185 words a minute; then
perturbed as a room would: speed ±10%, noise at 20 dB SNR, a faint echo, and sox's reverb.
Plain tiny.en is faster-whisper's defaults on the clip; radscribe is the product's decoding,
chest prompt, spoken-to-written rules and vocabulary correction (what ``radscribe dictate`` does
for a chest study). Errors are counted per category of the reference word: negation, laterality,
numbers, medical terms, function words (a word inserted counts against its category too).
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks.asr import _write, machine, medical_words, shared_data
from benchmarks.metrics import align, critical_errors
from dictation.reporting.learning import typed_over
from dictation.speech.critical import SECOND_READING_BELOW, second_reading, unsure
from dictation.speech.marks import full_stop_said
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import split_utterances
from dictation.text.pipeline import TextPipeline

VOICES = (("piper", 0), ("espeak", 150), ("espeak", 185))  # (voice, espeak-ng rate)
NEGATION = {"no", "not", "without", "negative", "none", "nor", "neither", "absent", "free"}
LATERALITY = {"left", "right", "bilateral", "bilaterally"}
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "half"}
CATEGORIES = ("negation", "laterality", "numbers", "medical", "function", "other")


def _part(uid: str) -> str:
    return "test" if int(hashlib.sha256(uid.encode()).hexdigest(), 16) % 2 else "tune"


def sentences(shared: Path, per_part: int, *, salt: str = "pick", min_words: int = 3,
              keep: Callable[[str], bool] | None = None) -> dict[str, list[str]]:
    """``per_part`` sentences for each part, one per report, chosen by hash (not by looking);
    ``keep`` narrows the candidates (sentences with a comma), ``salt`` makes another choice."""
    out: dict[str, list[tuple[str, str]]] = {"tune": [], "test": []}
    with (shared / "iu-xray" / "reports_negbio_labels.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            text = " ".join(filter(None, (row["findings"], row["impression"])))
            candidates = [s.strip() for s in re.split(r"(?<=\.)\s+", text)
                          if s.strip() and "XXXX" not in s and min_words <= len(s.split()) <= 20
                          and re.search(r"[a-z]", s) and (keep is None or keep(s))]
            if not candidates:
                continue
            key = hashlib.sha256(f"{salt}:{row['uid']}".encode()).hexdigest()
            out[_part(row["uid"])].append((key, candidates[int(key, 16) % len(candidates)]))
    return {part: [s for _, s in sorted(chosen)[:per_part]] for part, chosen in out.items()}


def perturbed(said: str, seed_key: str, voice: str, rate: int) -> np.ndarray:
    """``said`` spoken by the voice, then as a room would hear it: speed ±10%, noise at 20 dB
    SNR, a faint echo and reverb; seeded by the SHA-256 of ``seed_key``."""
    from tests.voice import perturb, reverberate, synthesize

    seed = int(hashlib.sha256(seed_key.encode()).hexdigest(), 16) % 2**32
    clean = synthesize(said, voice=voice, rate=rate)
    speed = float(np.random.default_rng(seed).uniform(0.9, 1.1))
    return reverberate(perturb(clean, seed, snr_db=20.0, speed=speed), 50)


def _spoken(sentence: str) -> str:
    """The sentence as said: its words, no spoken punctuation."""
    return re.sub(r"[.;:]+(\s|$)", r"\1", sentence).replace(",", "")


def category(word: str, medical: set[str]) -> str:
    from spacy.lang.en.stop_words import STOP_WORDS

    if word in NEGATION:
        return "negation"
    if word in LATERALITY:
        return "laterality"
    if word in NUMBER_WORDS or any(c.isdigit() for c in word):
        return "numbers"
    if word in medical:
        return "medical"
    return "function" if word in STOP_WORDS else "other"


@dataclass
class Counts:
    words: int = 0
    errors: int = 0
    by_category: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0] for c in CATEGORIES})  # [words, errors]

    def add(self, reference: str, hypothesis: str, medical: set[str]) -> None:
        r_words, ok, inserted, errors = align(reference, hypothesis)
        self.words += len(r_words)
        self.errors += errors
        for w in inserted:
            self.by_category[category(w, medical)][1] += 1
        for w, right in zip(r_words, ok):
            cell = self.by_category[category(w, medical)]
            cell[0] += 1
            cell[1] += not right

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0

    def rate(self, name: str) -> str:
        words, errors = self.by_category[name]
        return f"{errors}/{words}"


@dataclass
class Safety:
    """The critical-word safety net on one voice and part: critical-word errors of each system,
    how many of radscribe's erroneous sentences carry a critical_word flag, flags on sentences
    without such an error (false flags), and what the second reading cost; the same without the
    check of a negation against the audio without it (ablation)."""

    plain_errors: int = 0
    errors: int = 0
    sentences_wrong: int = 0
    flagged: int = 0
    false_flags: int = 0
    flagged_without_check: int = 0
    false_flags_without_check: int = 0
    words: int = 0
    utterances: int = 0
    read_twice: int = 0
    chosen_otherwise: int = 0  # utterances whose reading the language model chose otherwise than the audio alone
    audio_seconds: float = 0.0
    decode_seconds: float = 0.0
    second_seconds: float = 0.0

    def add(self, reference: str, plain: str, written: str, flags: int, flags_without_check: int) -> None:
        self.words += len(reference.split())
        self.plain_errors += critical_errors(reference, plain)
        wrong = critical_errors(reference, written)
        self.errors += wrong
        self.sentences_wrong += wrong > 0
        self.flagged += wrong > 0 and flags > 0
        self.false_flags += 0 if wrong else flags
        self.flagged_without_check += wrong > 0 and flags_without_check > 0
        self.false_flags_without_check += 0 if wrong else flags_without_check



def _learned_pipeline(pipeline: TextPipeline, typed: Counter[tuple[str, str]]) -> TextPipeline:
    """The pipeline with the pairs typed over at least twice as list corrections (the most
    frequent spelling when one heard form was typed two ways), as `vocab suggest` proposes them;
    the reporting lead's review is simulated by one rule: a pair with only function words on a
    side ("the" → "a") is refused."""
    from spacy.lang.en.stop_words import STOP_WORDS

    from dictation.text.correction import Corrections, Corrector

    chosen: dict[str, str] = {}
    for (heard, written), times in typed.most_common():
        if all(w in STOP_WORDS for w in heard.split()) or all(w in STOP_WORDS for w in written.split()):
            continue
        if times >= 2 and heard not in chosen:
            chosen[heard] = written
    base = pipeline.corrector
    corrections = Corrections({**base.corrections.phrases, **chosen}, base.corrections.protected, base.corrections.words)
    return TextPipeline(corrector=Corrector(base.lexicon, corrections), group=pipeline.group)


def run(echo: Callable[[str], None], per_part: int = 60, data: str | None = None) -> dict[str, object] | None:
    shared = shared_data(data)
    if not shared or not (shared / "iu-xray" / "reports_negbio_labels.csv").is_file():
        echo("../shared/data/iu-xray not found: the unseen-material comparison was not run")
        return None
    echo(f"machine: {machine()}")
    parts = sentences(shared, per_part)
    medical = medical_words(shared)
    plain = Recognizer(short_context=False)
    ours = Recognizer()
    pipeline = TextPipeline(group="chest")
    echo(f"Indiana chest X-ray sentences, split by report: {len(parts['tune'])} tune, {len(parts['test'])} test; "
         f"voices {', '.join(v if v == 'piper' else f'{v} {r} wpm' for v, r in VOICES)}; perturbed (speed ±10%, "
         "20 dB SNR, echo, reverb)")
    table: dict[str, dict[str, dict[str, Counts]]] = {}
    safety: dict[str, dict[str, Safety]] = {}
    options = pipeline.decode_options()
    audio_alone = replace(options, language_model=None)  # the beam's best reading by the audio alone
    keep = pipeline.keep_words
    started = time.perf_counter()
    typed: Counter[tuple[str, str]] = Counter()  # the tune part's corrections, as a radiologist would type them
    learned: TextPipeline | None = None
    for part, texts in parts.items():
        table[part] = {}
        if part == "test":  # what the reporting lead would accept from `vocab suggest` after the tune part
            learned = _learned_pipeline(pipeline, typed)
            echo(f"learned on the tune part: {len(learned.corrector.corrections.phrases) - len(pipeline.corrector.corrections.phrases)} "
                 "corrections typed over at least twice")
        for voice, rate in VOICES:
            name = voice if voice == "piper" else f"espeak{rate}"
            cells = table[part][name] = {"plain": Counts(), "radscribe": Counts(), "no LM": Counts()}
            if learned is not None:
                cells["+learned"] = Counts()
            net = safety.setdefault(part, {})[name] = Safety()
            for k, sentence in enumerate(texts):
                audio = perturbed(_spoken(sentence), f"{part}:{name}:{k}", voice, rate)
                plain_text = plain.transcribe(audio, plain=True).text
                cells["plain"].add(sentence, plain_text, medical)
                heard, heard_alone, flags, flags_without_check = [], [], 0, 0
                for u in split_utterances(audio):
                    t0 = time.perf_counter()
                    first = ours.transcribe(u.audio, options)
                    t1 = time.perf_counter()
                    read = second_reading(ours, u.audio, first, options.beam_size)  # as the controller does
                    read = full_stop_said(ours, u.audio, read, pipeline.full_stop, keep)
                    net.decode_seconds += t1 - t0
                    net.second_seconds += time.perf_counter() - t1
                    ablated = second_reading(ours, u.audio, first, options.beam_size, check_negations=False)
                    flags_without_check += len(ablated.disputes) + sum(
                        unsure(w.word, w.probability, i) for i, w in enumerate(ablated.words))
                    net.utterances += 1
                    net.read_twice += any(w.probability < SECOND_READING_BELOW for w in first.words)
                    flags += len(read.disputes) + sum(unsure(w.word, w.probability, i) for i, w in enumerate(read.words))
                    heard.append(read)
                    # The same without the language model choosing among the beam's readings (ablation).
                    alone = ours.transcribe(u.audio, audio_alone)
                    if (alone.text, alone.words) == (first.text, first.words):
                        heard_alone.append(read)
                    else:
                        net.chosen_otherwise += 1
                        heard_alone.append(full_stop_said(ours, u.audio, second_reading(ours, u.audio, alone, options.beam_size),
                                                          pipeline.full_stop, keep))
                net.audio_seconds += len(audio) / 16000
                written = _write(heard, pipeline)[0]
                cells["radscribe"].add(sentence, written, medical)
                cells["no LM"].add(sentence, _write(heard_alone, pipeline)[0], medical)
                net.add(sentence, plain_text, written, flags, flags_without_check)
                if learned is None:
                    typed.update((h, w) for h, w, _ in typed_over(written, sentence))
                else:
                    cells["+learned"].add(sentence, _write(heard, learned)[0], medical)
    echo(f"{time.perf_counter() - started:.0f} s\n")
    echo(f"{'part':<5} {'voice':<10} {'system':<10} {'WER':>6} " + " ".join(f"{c:>11}" for c in CATEGORIES))
    out: dict[str, object] = {"machine": machine(), "per_part": per_part}
    for part, voices in table.items():
        for name, cells in voices.items():
            for system, c in cells.items():
                echo(f"{part:<5} {name:<10} {system:<10} {c.wer:>6.3f} " + " ".join(f"{c.rate(k):>11}" for k in CATEGORIES))
                out[f"{part}/{name}/{system}"] = {"wer": round(c.wer, 4), "words": c.words,
                                                   **{k: dict(zip(("words", "errors"), v)) for k, v in c.by_category.items()}}
    echo("  (category cells: errors/reference words; a word inserted counts as an error of its category; no LM: radscribe "
         "with the beam's best reading by the audio alone, no language model choosing)")
    echo("  language model chose another reading than the audio alone: " + ", ".join(
        f"{part} {name} {n.chosen_otherwise}/{n.utterances}" for part, voices in safety.items() for name, n in voices.items()))
    echo("\ncritical-word safety net (radscribe; critical words: negations, sides, numbers and units, hypo-/hyper-, "
         "normal/abnormal, new)")
    echo(f"{'part':<5} {'voice':<10} {'errors plain':>12} {'radscribe':>9} {'wrong sentences flagged':>24} "
         f"{'unflagged':>9} {'false flags/100 w':>17} {'read twice':>10} {'RTF':>11}  {'no negation check':>17}")
    for part, voices in safety.items():
        for name, n in voices.items():
            rtf = f"{n.decode_seconds / n.audio_seconds:.3f}+{n.second_seconds / n.audio_seconds:.3f}"
            echo(f"{part:<5} {name:<10} {n.plain_errors:>12} {n.errors:>9} {f'{n.flagged}/{n.sentences_wrong}':>24} "
                 f"{n.sentences_wrong - n.flagged:>9} {100 * n.false_flags / n.words:>17.2f} "
                 f"{f'{n.read_twice}/{n.utterances}':>10} {rtf:>11}  "
                 f"{f'{n.flagged_without_check}/{n.sentences_wrong}, {100 * n.false_flags_without_check / n.words:.2f}':>17}")
            out[f"{part}/{name}/safety"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(n).items()}
    echo("  (errors: critical words heard wrong; flagged: a sentence with such an error that carries a critical_word "
         "flag; false flags: flags on sentences without one; RTF: first decode + second reading; no negation "
         "check: wrong sentences flagged and false flags/100 w without the check of a negation against the audio without it)")
    return out
