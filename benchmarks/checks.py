"""`python -m benchmarks checks`: are the clinical checks right about what is present?

Four measurements, each beside a plain baseline in the same run:
  1. critical findings on the project's labelled sentences (tests/data/checks): radscribe
     (context + sections) vs keyword spotting with the same lexicon and no context;
  2. negation on NegEx's 2,376 annotated concept/sentence pairs (../shared/data/negex), when
     present: radscribe's ConText rules vs "a negation word anywhere in the sentence";
  3. NegBio's 14 chest radiograph labels on the 3,851 Indiana University reports
     (../shared/data/iu-xray), report level, when present: radscribe vs keywords without context;
  4. speed: pipeline load (a fresh process) and checks per second on a typical report.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.asr import machine, shared_data
from dictation.checks import Checker
from dictation.checks.consistency import words_pattern
from tests.datasets import TYPICAL_REPORT, load_sentences, sentence_document, sentences_path

# NegBio's labels → radscribe's finding names (observations.toml / critical_findings.toml).
NEGBIO = {
    "Atelectasis": ["atelectasis"],
    "Cardiomegaly": ["cardiomegaly"],
    "Effusion": ["pleural effusion"],
    "Infiltration": ["infiltrate"],
    "Mass": ["mass"],
    "Nodule": ["pulmonary nodule"],
    "Pneumonia": ["pneumonia"],
    "Pneumothorax": ["pneumothorax", "tension pneumothorax"],
    "Consolidation": ["consolidation"],
    "Edema": ["pulmonary edema"],
    "Emphysema": ["emphysema"],
    "Fibrosis": ["pulmonary fibrosis"],
    "Pleural_Thickening": ["pleural thickening"],
    "Hernia": ["hiatal hernia"],
}
NEGATION_WORDS = ["no", "not", "without", "denies", "denied", "negative", "absent", "free of", "ruled out", "none"]


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, gold: bool) -> None:
        if predicted and gold:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        n = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / n if n else 0.0

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else 0.0

    def line(self) -> str:
        return (f"P {self.precision:.3f}  R {self.recall:.3f}  F1 {self.f1:.3f}   "
                f"(TP {self.tp}, FP {self.fp}, FN {self.fn})")

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4), "accuracy": round(self.accuracy, 4)}


class KeywordBaseline:
    """The plain alternative: a finding is flagged wherever one of its terms appears."""

    def __init__(self, checker: Checker) -> None:
        self.patterns = {}
        for f in checker.lexicon.findings:
            self.patterns[("critical", f.name)] = (words_pattern(f.terms), f.abbreviations)
        for o in checker.lexicon.observations:
            self.patterns[("observation", o.name)] = (words_pattern(o.terms), o.abbreviations)

    def found(self, text: str, kind: str) -> set[str]:
        out = set()
        for (k, name), (pattern, abbreviations) in self.patterns.items():
            if k != kind:
                continue
            if pattern.search(text) or any(re.search(rf"\b{re.escape(a)}\b", text) for a in abbreviations):
                out.add(name)
        # longest wins, as in radscribe: "tension pneumothorax" hides "pneumothorax"
        if "tension pneumothorax" in out:
            out.discard("pneumothorax")
        return out


def own_set(checker: Checker, echo: Callable[[str], None], name: str = "critical_sentences.tsv",
            title: str = "1. Critical findings, project's labelled sentences") -> dict[str, Any] | None:
    path = sentences_path(name)
    if not path.is_file():
        echo(f"{title}: {path} not found (run from a source checkout): not run")
        return None
    sentences = load_sentences(path)
    baseline = KeywordBaseline(checker)
    ours, plain = PRF(), PRF()
    certainty_right = certainty_total = 0
    by_label: dict[str, list[int]] = {}
    mistakes = []
    for s in sentences:
        flags = [f for f in checker.check_text(sentence_document(s)) if f.kind == "critical_finding"]
        flagged = {f.finding: f for f in flags}
        expected = set(s.findings) if s.label in ("affirmed", "uncertain") else set()
        names = set(flagged)
        keyword = baseline.found(s.text, "critical")
        for finding in expected | names | keyword | set(s.findings):
            ours.add(finding in names, finding in expected)
            plain.add(finding in keyword, finding in expected)
        right = names == expected
        stats = by_label.setdefault(s.label, [0, 0])
        stats[0] += right
        stats[1] += 1
        if not right:
            mistakes.append(f"    {s.label:<12} expected {sorted(expected) or '-'} got {sorted(names) or '-'}: {s.text}")
        for finding in expected & names:
            certainty_total += 1
            want = "suspected" if s.label == "uncertain" else "definite"
            certainty_right += flagged[finding].certainty == want
    echo(f"{title} ({len(sentences)} sentences, tests/data/checks/{name})")
    echo(f"   keywords, no context (baseline)  {plain.line()}")
    echo(f"   radscribe (ConText + sections)   {ours.line()}")
    echo(f"   present vs suspected right on {certainty_right}/{certainty_total} true flags")
    echo("   sentences fully right, by label: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_label.items())))
    if mistakes:
        echo("   wrong:")
        for m in mistakes:
            echo(m)
    return {"sentences": len(sentences), "radscribe": ours.as_dict(), "keywords": plain.as_dict(),
            "certainty_right": certainty_right, "certainty_total": certainty_total,
            "by_label": {k: {"right": v[0], "total": v[1]} for k, v in by_label.items()}}


def negex(checker: Checker, data: Path, echo: Callable[[str], None]) -> dict[str, Any] | None:
    path = data / "negex" / "Annotations-1-120.txt"
    if not path.is_file():
        echo(f"2. NegEx pairs: {path} not found, not run")
        return None
    ours, plain = PRF(), PRF()
    negation = words_pattern(NEGATION_WORDS)
    skipped = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f, delimiter="\t", quotechar='"')
        next(reader)
        for row in reader:
            if len(row) < 4:
                continue
            concept, sentence, gold = row[1], row[2], row[3].strip() == "Negated"
            span = _find_concept(concept, sentence)
            if span is None:
                skipped += 1
                continue
            doc = checker.pipeline.doc(sentence, targets=[span])
            negated = any(e._.is_negated for e in doc.ents)
            ours.add(negated, gold)
            plain.add(bool(negation.search(sentence)), gold)
    n = ours.tp + ours.fp + ours.fn + ours.tn
    echo(f"2. Negation on NegEx's annotated pairs ({n} pairs{f', {skipped} without the concept in the sentence' if skipped else ''})")
    echo(f"   negation word anywhere (baseline) accuracy {plain.accuracy:.3f}  sensitivity {plain.recall:.3f}  PPV {plain.precision:.3f}  specificity {plain.specificity:.3f}")
    echo(f"   radscribe ConText rules           accuracy {ours.accuracy:.3f}  sensitivity {ours.recall:.3f}  PPV {ours.precision:.3f}  specificity {ours.specificity:.3f}")
    echo("   (NegEx as published, Chapman 2001: sensitivity 0.778, PPV 0.845, specificity 0.945)")
    return {"pairs": n, "skipped": skipped, "radscribe": ours.as_dict() | {"specificity": round(ours.specificity, 4)},
            "baseline": plain.as_dict() | {"specificity": round(plain.specificity, 4)}}


def _find_concept(concept: str, sentence: str) -> tuple[int, int] | None:
    words = concept.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    hits = list(pattern.finditer(sentence))
    if not hits:
        return None
    # The annotated occurrence is written in capitals.
    upper = [m for m in hits if m.group(0).isupper()]
    m = (upper or hits)[0]
    return m.start(), m.end()


def iu_xray(checker: Checker, data: Path, echo: Callable[[str], None]) -> dict[str, Any] | None:
    path = data / "iu-xray" / "reports_negbio_labels.csv"
    if not path.is_file():
        echo(f"3. IU chest radiograph reports: {path} not found, not run")
        return None
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    baseline = KeywordBaseline(checker)
    ours = {k: PRF() for k in NEGBIO}
    plain = {k: PRF() for k in NEGBIO}
    for r in rows:
        text = (f"INDICATION: {r['indication']}\n\nCOMPARISON: {r['comparison']}\n\n"
                f"FINDINGS: {r['findings']}\n\nIMPRESSION: {r['impression']}\n")
        mentions = checker.pipeline.mentions(text)
        start = text.index("\n\nFINDINGS:")
        present = {m.name for m in mentions if m.start > start and m.likely}
        keyword = baseline.found(f"{r['findings']} {r['impression']}", "observation") | baseline.found(
            f"{r['findings']} {r['impression']}", "critical")
        for label, names in NEGBIO.items():
            gold = r[label] == "1"
            ours[label].add(any(n in present for n in names), gold)
            plain[label].add(any(n in keyword for n in names), gold)
    echo(f"3. NegBio labels on Indiana University chest radiograph reports ({len(rows)} reports, report level)")
    echo(f"   {'label':<19}{'gold':>5}   {'keywords, no context (baseline)':<36}  radscribe")
    results = {}
    for label in NEGBIO:
        o, p = ours[label], plain[label]
        if o.tp + o.fn == 0:
            echo(f"   {label:<19}{0:>5}   no report has this label in the gold standard: not scored "
                 f"(radscribe marks {o.fp}, keywords {p.fp})")
            continue
        echo(f"   {label:<19}{o.tp + o.fn:>5}   P {p.precision:.3f} R {p.recall:.3f} F1 {p.f1:.3f}       "
             f"P {o.precision:.3f} R {o.recall:.3f} F1 {o.f1:.3f}  (TP {o.tp}, FP {o.fp}, FN {o.fn})")
        results[label] = {"radscribe": o.as_dict(), "keywords": p.as_dict()}
    micro_o, micro_p = PRF(), PRF()
    for label in NEGBIO:
        for src, dst in ((ours[label], micro_o), (plain[label], micro_p)):
            dst.tp += src.tp
            dst.fp += src.fp
            dst.fn += src.fn
            dst.tn += src.tn
    echo(f"   {'micro average':<19}{micro_o.tp + micro_o.fn:>5}   P {micro_p.precision:.3f} R {micro_p.recall:.3f} F1 {micro_p.f1:.3f}       "
         f"P {micro_o.precision:.3f} R {micro_o.recall:.3f} F1 {micro_o.f1:.3f}")
    results["micro"] = {"radscribe": micro_o.as_dict(), "keywords": micro_p.as_dict()}
    return results




def speed(checker: Checker, echo: Callable[[str], None], seconds: float = 3.0) -> dict[str, Any]:
    code = ("import time; t = time.perf_counter(); from dictation.checks import Checker; Checker(); "
            "print(time.perf_counter() - t)")
    loads = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        loads.append(float(out.stdout.strip().splitlines()[-1]))
    for _ in range(5):
        checker.check_text(TYPICAL_REPORT)
    n = 0
    timings = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        checker.check_text(TYPICAL_REPORT)
        timings.append(time.perf_counter() - t)
        n += 1
    timings.sort()
    per = sum(timings) / n
    words = len(TYPICAL_REPORT.split())
    echo(f"4. Speed on a typical CT chest report ({words} words), after warm-up")
    echo(f"   pipeline load in a fresh process (import spaCy + medspaCy, build rules): "
         f"best {min(loads):.2f} s, worst {max(loads):.2f} s of 3")
    echo(f"   one check of the whole report: mean {per * 1000:.1f} ms, p95 {timings[int(0.95 * (n - 1))] * 1000:.1f} ms "
         f"({1 / per:.0f} checks per second, {n} runs)")
    return {"load_seconds": loads, "check_ms_mean": round(per * 1000, 2),
            "check_ms_p95": round(timings[int(0.95 * (n - 1))] * 1000, 2), "checks_per_second": round(1 / per, 1)}


def run(echo: Callable[[str], None], data: str | None = None) -> dict[str, Any]:
    echo(f"machine: {machine()}")
    t = time.perf_counter()
    checker = Checker()
    echo(f"(pipeline built in {time.perf_counter() - t:.2f} s in this process)\n")
    result: dict[str, Any] = {"own": own_set(checker, echo)}
    echo("")
    result["held_out"] = own_set(checker, echo, "critical_sentences_heldout.tsv",
                                 "1b. The same, held out (written after tuning, never used to tune)")
    echo("")
    shared = shared_data(data)
    if shared is None:
        echo("../shared/data not found: the NegEx and IU X-ray comparisons were not run\n")
    else:
        result["negex"] = negex(checker, shared, echo)
        echo("")
        result["iu_xray"] = iu_xray(checker, shared, echo)
        echo("")
    result["speed"] = speed(checker, echo)
    return result
