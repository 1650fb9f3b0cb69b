"""`python -m benchmarks punctuation`: spoken commas on radiologists' sentences nobody tuned for,
tune and frozen test side by side, per voice, with and without reading a near word as the mark.

Material: the Indiana chest X-ray sentences that have a comma, and as many that have none (where a
near word read as the mark can only be wrong), split by report as in ``benchmarks unseen`` (a
report's uid hashed: odd to the frozen test part, even to tune; the order by hash, chosen before
anything was looked at). Each is said with its punctuation spoken
("Low lung volumes bilaterally comma with lungs otherwise grossly clear period"), by Piper and
by espeak-ng at 150 and 185 words a minute, perturbed as in ``benchmarks unseen``. The same
recognition is written three ways: by the product; with no near word read as a mark
(``[heard_as]`` of vocab/spoken.toml emptied: "common" stays a word); and without reading the
end of an utterance again for the full stop said (speech/marks.py). Counted: commas said, commas
written (per sentence at most as many as were said), a spoken mark left as a word ("comma",
"common", "period"...), commas written where none was said, sentences that end with their full
stop, and WER on the words.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from benchmarks.asr import _write, machine, shared_data
from benchmarks.metrics import align
from benchmarks.unseen import VOICES, perturbed, sentences
from dictation.speech.marks import full_stop_said
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import split_utterances
from dictation.text.pipeline import TextPipeline
from dictation.text.spoken import Normalizer, load_spoken_rules

LEFT_AS_WORDS = {"comma", "common", "comic", "kama", "period", "full", "stop"}


def spoken(sentence: str) -> str:
    """The sentence as dictated: "comma" and "period" said."""
    said = re.sub(r",", " comma", sentence.strip())
    return re.sub(r"\.$", " period", said)


@dataclass
class Tally:
    said: int = 0
    written: int = 0
    extra: int = 0
    stops: int = 0
    sentences: int = 0
    left: int = 0
    errors: int = 0
    words: int = 0

    def add(self, reference: str, written: str) -> None:
        said, wrote = reference.count(","), written.count(",")
        self.said += said
        self.written += min(said, wrote)
        self.extra += max(0, wrote - said)
        self.sentences += 1
        self.stops += written.rstrip().endswith(".")
        self.left += sum(re.sub(r"[^\w]", "", w.lower()) in LEFT_AS_WORDS for w in written.split())
        ref, _, _, errors = align(reference, written)
        self.errors += errors
        self.words += len(ref)


def run(echo: Callable[[str], None], per_part: int = 20, data: str | None = None) -> dict[str, object] | None:
    shared = shared_data(data)
    if not shared or not (shared / "iu-xray" / "reports_negbio_labels.csv").is_file():
        echo("../shared/data/iu-xray not found: the spoken-punctuation comparison was not run")
        return None
    echo(f"machine: {machine()}")
    parts = sentences(shared, per_part, salt="comma", min_words=4, keep=lambda s: "," in s)
    # As many sentences without a comma, where a near word read as the mark can only be wrong.
    no_comma = sentences(shared, per_part, salt="no comma", min_words=4, keep=lambda s: "," not in s)
    ours = Recognizer()
    product = TextPipeline(group="chest")
    without = TextPipeline(group="chest", normalizer=Normalizer(replace(load_spoken_rules(), heard_as={})))
    options = product.decode_options()
    keep = product.keep_words
    echo(f"Indiana chest X-ray sentences, split by report: {len(parts['tune'])} tune and {len(parts['test'])} test with "
         f"a comma, {len(no_comma['tune'])} and {len(no_comma['test'])} without; punctuation spoken; perturbed as in "
         "`benchmarks unseen`")
    started = time.perf_counter()
    rows: dict[str, Tally] = {}
    for part, texts in parts.items():
        for voice, rate in VOICES:
            name = voice if voice == "piper" else f"espeak{rate}"
            mine, plain = rows.setdefault(f"{part}/{name}/radscribe", Tally()), rows.setdefault(f"{part}/{name}/no near words", Tally())
            unread = rows.setdefault(f"{part}/{name}/no stop check", Tally())
            for k, sentence in enumerate(texts + no_comma[part]):
                salt = f"comma:{part}:{name}:{k}" if k < len(texts) else f"no comma:{part}:{name}:{k - len(texts)}"
                audio = perturbed(spoken(sentence), salt, voice, rate)
                utterances = split_utterances(audio)
                heard = [ours.transcribe(u.audio, options) for u in utterances]
                read = [full_stop_said(ours, u.audio, h, product.full_stop, keep) for u, h in zip(utterances, heard)]
                mine.add(sentence, _write(read, product)[0])
                plain.add(sentence, _write(read, without)[0])
                unread.add(sentence, _write(heard, product)[0])
    echo(f"{time.perf_counter() - started:.0f} s\n")
    echo(f"{'part':<5} {'voice':<10} {'system':<14} {'commas written':>15} {'left as words':>13} "
         f"{'commas not said':>15} {'full stops':>10} {'WER':>6}")
    out: dict[str, object] = {"machine": machine(), "per_part": per_part}
    for key, t in rows.items():
        part, name, system = key.split("/")
        echo(f"{part:<5} {name:<10} {system:<14} {f'{t.written}/{t.said}':>15} {t.left:>13} {t.extra:>15} "
             f"{f'{t.stops}/{t.sentences}':>10} {t.errors / max(t.words, 1):>6.3f}")
        out[key] = vars(t)
    echo("  (commas written: per sentence at most as many as were said; left as words: a spoken mark written as a "
         "word, 'comma', 'common', 'period'...; full stops: sentences written ending with their full stop; no near "
         "words: the same recognition with [heard_as] emptied; no stop check: the end not read again for a full stop)")
    return out
