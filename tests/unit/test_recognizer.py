"""Model resolution errors and the repetition-loop guard (no model loaded here)."""

import numpy as np
import pytest

from dictation.errors import ModelError
from dictation.speech.guards import collapse_repeats, drop_letter_runs
from dictation.speech.models import bundled_model_path, resolve_model
from dictation.speech.recognizer import default_cpu_threads


def test_default_is_the_bundled_tiny_en():
    path, label = resolve_model(None)
    assert path == str(bundled_model_path())
    assert "tiny.en" in label
    assert resolve_model("tiny.en")[0] == path  # the size name of the bundled model needs no download


def test_folder_without_model(tmp_path):
    with pytest.raises(ModelError, match="not a CTranslate2 model folder"):
        resolve_model(str(tmp_path))


def test_unknown_name():
    with pytest.raises(ModelError, match="unknown model 'huge.en'"):
        resolve_model("huge.en")


def test_named_model_offline_names_both_alternatives(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing downloaded before
    with pytest.raises(ModelError) as e:
        resolve_model("small.en")
    message = str(e.value)
    assert "model folder" in message and "bundled tiny.en" in message


@pytest.mark.parametrize("words, expected", [
    ("the the the the lungs are clear", "the lungs are clear"),
    ("no acute no acute no acute no acute findings", "no acute findings"),
    ("1. 2. 3.", "1. 2. 3."),
    ("very very clear", "very very clear"),  # two copies are speech, three are a loop
    ("The lawns are clear. The lawns are clear.", "The lawns are clear."),  # a phrase twice is a loop
    ("no new nodule no new", "no new nodule no new"),
    ("without cholecystitis, perichole, cholecystitis, perichole.", "without cholecystitis, perichole,"),
    ("scratch now. scratch now it.", "scratch now. it."),
    ("4 mm, 4 mm nodules", "4 mm, 4 mm nodules"),  # two words twice with a number: maybe two nodules
    ("no effusion no effusion", "no effusion no effusion"),  # a negation twice is shown, not dropped
    ("four millimeters four millimeters", "four millimeters four millimeters"),
    ("very very very clear", "very clear"),
])
def test_collapse_repeats(words, expected):
    assert " ".join(collapse_repeats(words.split())) == expected


def test_a_whole_utterance_decoded_twice_is_kept_once():
    from dictation.speech.guards import undouble

    assert undouble(["next", "field,", "next", "field,"]) == ["next", "field"]
    assert undouble(["Normal", "lungs,", "normal", "lungs"]) == ["Normal", "lungs"]
    assert undouble(["no", "no"]) == ["no"]
    assert undouble(["the", "left", "and", "the", "right"]) == ["the", "left", "and", "the", "right"]
    assert undouble(["small", "effusion", "small"]) == ["small", "effusion", "small"]


def test_trailing_stock_word_with_no_confidence_is_cut():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    words = (Word("go", 0, 0.5, 0.3), Word("to", 0.5, 0.7, 0.99), Word("findings,", 0.7, 1.1, 0.86), Word("Thanks.", 1.1, 1.3, 0.02))
    kept = trim_hallucinated_tail([Segment(0, 1.3, "go to findings, Thanks.", words)])
    assert kept[0].text == "go to findings"
    sure = (Word("thank", 0, 0.4, 0.9), Word("you", 0.4, 0.6, 0.9))
    assert trim_hallucinated_tail([Segment(0, 0.6, "thank you", sure)])[0].text == "thank you"


def test_a_loop_squeezed_into_no_time_is_cut_when_it_only_repeats():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    said = [Word("sign", 0, 0.6, 0.2), Word("as", 0.6, 0.8, 0.6), Word("preliminary", 0.8, 1.3, 0.5)]
    loop = [Word(w, 1.32, 1.32, 0.5) for w in ("sign", "as", "preliminary", "sign")]
    assert trim_hallucinated_tail([Segment(0, 1.3, "", tuple(said + loop))])[0].text == "sign as preliminary"
    new_words = [Word(w, 1.32, 1.32, 0.5) for w in ("left", "lobe")]
    assert trim_hallucinated_tail([Segment(0, 1.3, "x", tuple(said + new_words))])[0].text == "x"


def test_a_loop_cut_mid_word_by_the_token_cap_is_cut_with_its_fragment():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    # Seen with the dictation prompt: the loop ran to the token cap and ended inside a word.
    said = [Word("Shortness", 0, 0.74, 0.76), Word("of", 0.74, 0.92, 0.98), Word("breath", 0.92, 1.18, 0.14),
            Word("period,", 1.18, 1.54, 0.49)]
    loop = [Word(w, 1.72, 1.72, 0.9) for w in ("shortness", "of", "breath", "period,", "short")]
    assert trim_hallucinated_tail([Segment(0, 1.76, "", tuple(said + loop))])[0].text == "Shortness of breath period"
    # A squeezed word that is not the start of one already said is speech the aligner crowded: kept.
    crowded = [Word(w, 1.72, 1.72, 0.9) for w in ("shortness", "no")]
    assert len(trim_hallucinated_tail([Segment(0, 1.76, "x", tuple(said + crowded))])[0].words) == 6


def test_a_loop_in_no_time_is_cut_when_a_word_of_its_copies_is_spelled_otherwise():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    # Piper, a long sentence: two more copies at one instant, "thrombosis" spelled otherwise in each.
    text = "Acute deep vein thrombosis of the left popliteal and posterior tibial veins period."
    said = [Word(w, 0.3 * k, 0.3 * k + 0.3, 0.8) for k, w in enumerate(text.split())]
    copies = [Word(w, 4.0, 4.0, 0.9) for w in text.replace("thrombosis", "trombosis").split()]
    copies += [Word(w, 4.2, 4.2, 0.9) for w in [*text.replace("thrombosis", "trombances").split()[:-3], "tib"]]
    kept = trim_hallucinated_tail([Segment(0, 4.2, "", tuple(said + copies))])
    assert kept[0].text == text
    # A copy that says a finding otherwise ("right" for "left") is not taken for a loop: kept for the reader.
    other_side = [Word(w, 4.0, 4.0, 0.9) for w in text.replace("left", "right").split()]
    assert len(trim_hallucinated_tail([Segment(0, 4.0, "x", tuple(said + other_side))])[0].words) == 2 * len(said)
    # Real words the aligner crowded into no time, some of them said before: not a copy, kept.
    crowded = [Word(w, 4.0, 4.0, 0.9) for w in ("of", "the", "left", "kidney")]
    assert len(trim_hallucinated_tail([Segment(0, 4.0, "x", tuple(said + crowded))])[0].words) == len(said) + 4


def test_a_copy_in_no_time_is_cut_when_the_decoder_split_a_hyphenated_word_of_it():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    # faster-whisper gives a hyphenated word as two words ("multi", "-level"): the copy is still a copy.
    said = [Word(w, 0.4 * k, 0.4 * k + 0.4, 0.8) for k, w in enumerate(["Multilevel", "degenerative", "disc", "bulge,"])]
    copy = [Word(w, 2.0, 2.0, 0.7) for w in ("multi", "-level", "degenerative", "disc", "bulge,")]
    rest = [Word(w, 2.0 + 0.4 * k, 2.4 + 0.4 * k, 0.8) for k, w in enumerate(["worst", "at", "two", "levels."])]
    kept = trim_hallucinated_tail([Segment(0, 3.6, "x", tuple(said + copy + rest))])
    assert kept[0].text == "Multilevel degenerative disc bulge, worst at two levels."
    # A hyphenated word kept is written whole again, not "multi -level".
    thanks = [Word("thanks", 3.7, 3.7, 0.01)]
    kept = trim_hallucinated_tail([Segment(0, 3.7, "x", tuple(copy[:2] + rest + thanks))])
    assert kept[0].text == "multi-level worst at two levels."


def test_one_thread_for_the_short_context_model_unless_told(monkeypatch):
    monkeypatch.delenv("RADSCRIBE_CPU_THREADS", raising=False)
    assert default_cpu_threads(True) == 1
    assert default_cpu_threads(False) >= 1
    monkeypatch.setenv("RADSCRIBE_CPU_THREADS", " 3 ")
    assert default_cpu_threads(True) == 3 and default_cpu_threads(False) == 3


@pytest.mark.parametrize("value, message", [("two", "whole number, not 'two'"), ("0", "at least 1, not 0")])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("RADSCRIBE_CPU_THREADS", value)
    with pytest.raises(ModelError, match=message):
        default_cpu_threads(True)


def test_a_loop_inside_one_word_is_dropped_and_real_words_stay():
    heard = ["6", "mm", "in", "anteroposterior.", "Bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "dimensions", "is", "seen"]
    assert drop_letter_runs(heard) == ["6", "mm", "in", "anteroposterior.", "dimensions", "is", "seen"]
    ordinary = ["Hmm,", "100000", "cells;", "the", "skull,", "a", "radiograph,", "Mississippi,", "coccyx,", "aaa"]
    assert drop_letter_runs(ordinary) == ordinary
    # One piece again and again, joined by hyphens: a loop too; spine levels and ranges are not.
    heard = ["Have", "C-I-C-C-C-C-C-C-C-C-C-C-C-C", "disc"]
    assert drop_letter_runs(heard) == ["Have", "disc"]
    levels = ["C5-C6,", "C5-C6-C7", "L4-L5.", "T2-weighted", "gray-white", "1-2-3", "5-5-5-5", "X-X-X", "follow-up"]
    assert drop_letter_runs(levels) == levels


def test_every_decode_is_told_the_dictation_is_english():
    """A multilingual --model (base, small) must not guess the language of each utterance."""
    from dictation.speech.recognizer import Recognizer

    seen = []

    class Model:
        def transcribe(self, audio, **kw):
            seen.append(kw.get("language"))
            return iter(()), None

    rec = object.__new__(Recognizer)
    rec.model = Model()
    audio = np.zeros(16000, np.float32)
    rec.transcribe(audio)
    rec.transcribe(audio, plain=True)
    assert seen == ["en", "en"]



def test_a_stray_short_word_the_model_barely_heard_is_offered_without_it():
    from dictation.speech.guards import without_stray_edges
    from dictation.speech.transcript import Segment, Transcript, Word

    words = (Word("go", 0.0, 0.5, 0.58), Word("to", 0.5, 0.72, 0.95), Word("indication", 0.72, 1.18, 0.32),
             Word("in", 1.18, 1.38, 0.22))
    heard = Transcript("go to indication in", (Segment(0, 1.38, "go to indication in", words),), 1.5)
    assert [t.text for t in without_stray_edges(heard)] == ["go to indication"]
    # Heard with confidence, or a word that changes the meaning: not stray.
    sure = words[:3] + (Word("in", 1.18, 1.38, 0.9),)
    assert without_stray_edges(Transcript("", (Segment(0, 1.38, "", sure),), 1.5)) == []
    negation = (Word("no", 0.0, 0.2, 0.1),) + words[:3]
    assert without_stray_edges(Transcript("", (Segment(0, 1.38, "", negation),), 1.5)) == []


def test_a_sentence_decoded_twice_once_with_no_time_behind_it_is_kept_once():
    from dictation.speech.guards import trim_hallucinated_tail
    from dictation.speech.transcript import Segment, Word

    # Seen with espeak-ng's voice: the whole utterance first at 0.0 s, then aligned to the speech.
    ghost = [Word(w, 0.0, 0.0, p) for w, p in (("Sine", 0.45), ("has", 0.84), ("really", 0.39), ("been", 0.98),
                                               ("varied.", 0.04))]
    heard = [Word("Sine", 0.12, 0.56, 0.8), Word("has", 0.56, 0.78, 0.98), Word("really", 0.78, 1.0, 0.84),
             Word("been", 1.0, 1.22, 1.0)]
    kept = trim_hallucinated_tail([Segment(0, 1.3, "x", tuple(ghost + heard))])
    assert [w.word for w in kept[0].words] == ["Sine", "has", "really", "been"]
    assert kept[0].words[0].start == 0.12
    # A squeezed run that says something new, and is believed, is speech the aligner crowded: kept.
    new = [Word("no", 0.0, 0.0, 0.6), Word("effusion", 0.0, 0.0, 0.7)]
    assert len(trim_hallucinated_tail([Segment(0, 1.3, "x", tuple(new + heard))])[0].words) == 6
    # A meaning word is never dropped for being unlikely: only as a repeat of itself.
    unsure_no = [Word("no", 0.0, 0.0, 0.05), Word("varied", 0.0, 0.0, 0.05)]
    assert "no" in [w.word for w in trim_hallucinated_tail([Segment(0, 1.3, "x", tuple(unsure_no + heard))])[0].words]


def test_a_loop_that_starts_with_no_time_and_runs_to_the_end_is_cut_whole():
    from dictation.speech.guards import trim_hallucinated_tail, without_stray_edges
    from dictation.speech.transcript import Segment, Transcript, Word

    words = (Word("go", 0.0, 0.5, 0.61), Word("to", 0.5, 0.72, 0.95), Word("indication...", 0.72, 1.18, 0.23),
             Word("go", 1.18, 1.18, 0.55), Word("to", 1.18, 1.18, 0.98), Word("indication...", 1.18, 1.46, 0.86))
    kept = trim_hallucinated_tail([Segment(0, 1.46, "x", words)])
    assert [w.word for w in kept[0].words] == ["go", "to", "indication..."]
    # A word said again at the edge is stray, however sure the model is of it.
    twice = words[:3] + (Word("indication", 1.18, 1.46, 0.9),)
    assert without_stray_edges(Transcript("", (Segment(0, 1.46, "", twice),), 1.5))[0].text == "go to indication..."


def test_any_edge_word_the_model_all_but_ruled_out_is_stray():
    from dictation.speech.guards import without_stray_edges
    from dictation.speech.transcript import Segment, Transcript, Word

    words = (Word("Stop", 0.0, 0.76, 0.82), Word("listening.", 0.76, 1.12, 0.96), Word("Again.", 1.12, 1.5, 0.06))
    assert without_stray_edges(Transcript("", (Segment(0, 1.5, "", words),), 1.6))[0].text == "Stop listening."
    believed = words[:2] + (Word("Again.", 1.12, 1.5, 0.3),)  # a long word with some belief: not stray
    assert without_stray_edges(Transcript("", (Segment(0, 1.5, "", believed),), 1.6)) == []


def test_each_stray_edge_is_also_tried_alone():
    from dictation.speech.guards import without_stray_edges
    from dictation.speech.transcript import Segment, Transcript, Word

    words = (Word("go", 0.0, 0.6, 0.25), Word("to", 0.6, 0.82, 0.99), Word("recommendations,", 0.82, 1.46, 0.89),
             Word("trans", 1.46, 1.48, 0.14))
    readings = [t.text for t in without_stray_edges(Transcript("", (Segment(0, 1.5, "", words),), 1.6))]
    assert readings == ["go to recommendations", "to recommendations, trans", "to recommendations"]


def test_a_word_written_twice_in_a_row_is_written_once_unless_it_carries_meaning():
    from dictation.speech.guards import word_said_once

    def once(text):
        return " ".join(word_said_once(text.split()))

    assert once("Small left pleural pleural effusion.") == "Small left pleural effusion."
    assert once("quadrant pain, pain, the area") == "quadrant pain, the area"
    assert once("after a a fall") == "after a fall"
    assert once("Multilevel degenerative disc bulge, disc bulge, most pronounced") == (
        "Multilevel degenerative disc bulge, most pronounced")
    assert once("there is a there is a small effusion") == "there is a small effusion"
    # Side, negation and numbers are never dropped: written twice they stay, to be seen.
    assert once("a small left left effusion") == "a small left left effusion"
    assert once("no no pneumothorax") == "no no pneumothorax"
    assert once("measures 2 2 cm") == "measures 2 2 cm"
    assert once("measures two two cm") == "measures two two cm"
    assert once("no effusion, no effusion") == "no effusion, no effusion"
    assert once("at C5-6, at C5-6") == "at C5-6, at C5-6"
    # Two sentences are no copy: the first one's words stay its own.
    assert once("Mild disc bulge. Disc bulge at the next level.") == "Mild disc bulge. Disc bulge at the next level."
    assert once("Pain. Pain in the right knee.") == "Pain. Pain in the right knee."


def test_a_sentence_written_twice_with_the_copy_a_little_off_is_written_once():
    from dictation.speech.guards import sentence_said_once

    def once(text):
        return " ".join(sentence_said_once(text.split()))

    assert once("shortness of breath after a fall. Chordness of breath after a fall.") == "shortness of breath after a fall."
    assert once("small left pleural effusion, small left pleural effusion") == "small left pleural effusion"
    # Copies that differ in a finding's meaning are both kept: one is never chosen silently.
    assert once("small left pleural effusion. small right pleural effusion.") == (
        "small left pleural effusion. small right pleural effusion.")
    assert once("a 4 mm nodule. a 5 mm nodule.") == "a 4 mm nodule. a 5 mm nodule."
    # A level, a lobe, a size or a signal is never a mishearing of another.
    for kept in ("mild degenerative changes at L3-L4. mild degenerative changes at L4-L5.",
                 "nodule in the right upper lobe. nodule in the right lower lobe.",
                 "a three centimeter cyst. a four centimeter cyst.",
                 "hyperintense lesion in the pons. hypointense lesion in the pons."):
        assert once(kept) == kept
    # Two different sentences stay.
    assert once("the lungs are clear. the heart size is normal.") == "the lungs are clear. the heart size is normal."


def test_the_same_int8_kernels_are_chosen_on_every_x86_64_machine():
    """CTranslate2's kernels decide the text (MKL on Intel, oneDNN's per-CPU kernels elsewhere):
    importing the speech package pins oneDNN's AVX2 kernels, and a setting of the user's stays."""
    import os
    import platform
    import subprocess
    import sys

    code = "import os, dictation.speech; print(os.environ.get('CT2_USE_MKL'), os.environ.get('ONEDNN_MAX_CPU_ISA'))"
    env = {k: v for k, v in os.environ.items() if k not in ("CT2_USE_MKL", "ONEDNN_MAX_CPU_ISA")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    if platform.machine().lower() in ("x86_64", "amd64"):
        with open("/proc/cpuinfo") as f:
            avx2 = " avx2" in f.read()
        assert out == ["0", "AVX2" if avx2 else "None"]
    else:
        assert out == ["None", "None"]
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "CT2_USE_MKL": "1", "ONEDNN_MAX_CPU_ISA": "ALL"},
                          capture_output=True, text=True, check=True).stdout.split()
    assert mine == ["1", "ALL"]


def _fake_segment(words):
    """A faster-whisper segment: (word, start, end) triples, all believed."""
    from types import SimpleNamespace

    ws = [SimpleNamespace(word=" " + w, start=s, end=e, probability=0.9) for w, s, e in words]
    return SimpleNamespace(start=words[0][1], end=words[-1][2], text=" ".join(w for w, _, _ in words), words=ws,
                           avg_logprob=-0.2, no_speech_prob=0.01)


def _recognizer_reading(first, second):
    """A Recognizer whose model reads ``first``, and ``second`` when repetition is penalised."""
    from dictation.speech.recognizer import Recognizer

    calls = []

    class Model:
        def transcribe(self, audio, **kw):
            calls.append(kw)
            return iter([_fake_segment(second if kw.get("repetition_penalty", 1.0) > 1.0 else first)]), None

    rec = object.__new__(Recognizer)
    rec.model = Model()
    return rec, calls


def test_words_written_twice_with_no_speech_behind_the_copy_are_read_again_and_said_once():
    from dictation.speech.recognizer import DecodeOptions

    spoken = [("No", 0.0, 0.64), ("intracranial", 0.64, 1.3), ("hemorrhage", 1.3, 1.8), ("period,", 1.8, 2.14)]
    # Two of the copy's four words spelled otherwise: more than a copy to cut, a reason to read again.
    copy = [("no", 2.14, 2.14), ("intercranial", 2.14, 2.14), ("hemorage", 2.14, 2.14), ("period,", 2.14, 2.14)]
    rec, calls = _recognizer_reading(spoken + copy, spoken)
    audio = np.zeros(16000 * 3, np.float32)
    heard = rec.transcribe(audio, DecodeOptions(prompt="intracranial hemorrhage"))
    assert heard.text == "No intracranial hemorrhage period,"
    assert len(calls) == 2 and calls[1]["initial_prompt"] == "intracranial hemorrhage"
    # Without a prompt nothing conditions the copy: read once, as decoded.
    rec, calls = _recognizer_reading(spoken + copy, spoken)
    rec.transcribe(audio, DecodeOptions())
    assert len(calls) == 1


def test_a_second_sentence_really_said_is_never_read_away():
    from dictation.speech.recognizer import DecodeOptions

    # Two sentences alike but for the side, both with speech behind them ("the" crowded to no time).
    first = [("There", 0.0, 0.3), ("is", 0.3, 0.5), ("a", 0.5, 0.6), ("small", 0.6, 0.9), ("left", 0.9, 1.2),
             ("effusion", 1.2, 1.8), ("period,", 1.8, 2.2), ("there", 2.4, 2.4), ("is", 2.4, 2.6), ("a", 2.6, 2.7),
             ("small", 2.7, 3.0), ("right", 3.0, 3.3), ("effusion", 3.3, 3.9), ("period.", 3.9, 4.3)]
    # Penalised, the model stops early; the alignment stretches its last word to the end.
    stopped = [*first[:7], ("there's", 2.4, 4.3)]
    rec, calls = _recognizer_reading(first, stopped)
    heard = rec.transcribe(np.zeros(16000 * 5, np.float32), DecodeOptions(prompt="pleural effusion"))
    assert len(calls) == 2
    assert "right effusion period." in heard.text
    # A second reading as long but without a word that changes the finding is not taken either.
    swapped = [*first[:11], ("light", 3.0, 3.3), *first[12:13]]
    rec, _ = _recognizer_reading(first, swapped)
    assert "right" in rec.transcribe(np.zeros(16000 * 5, np.float32), DecodeOptions(prompt="x")).text


def test_a_loop_is_read_again_and_the_rest_of_the_sentence_recovered():
    from dictation.speech.recognizer import DecodeOptions

    loop = [("Left", 0.6, 0.9), ("kidney", 0.9, 1.2), ("measures", 1.2, 1.6)] + [("tend", 1.6 + i / 10, 1.7 + i / 10)
                                                                                 for i in range(12)]
    full = [("The", 0.0, 0.5), ("left", 0.5, 0.8), ("kidney", 0.8, 1.2), ("measures", 1.2, 1.5), ("10", 1.5, 2.0),
            ("centimeters.", 2.0, 2.5)]
    rec, _ = _recognizer_reading(loop, full)
    assert rec.transcribe(np.zeros(16000 * 3, np.float32), DecodeOptions(prompt="x")).text == (
        "The left kidney measures 10 centimeters.")


def test_what_looks_written_twice():
    from dictation.speech.guards import looks_repeated

    for twice in ("No intracranial hemorrhage period, no intercranial hemorrhage period,",
                  "without cholecystitis, perichone, cholecystitis, perichone", "go to impression, go to impression. in"):
        assert looks_repeated(twice.split()), twice
    for once in ("no pneumothorax or pleural effusion", "very very small", "left lower lobe and right lower lobe",
                 "at L4 L5 there is a disc bulge and at L5 S1 there is a disc protrusion"):
        assert not looks_repeated(once.split()), once


def test_a_loop_decoded_without_word_timings_is_read_again_only_if_nothing_else_is_lost():
    from types import SimpleNamespace

    from dictation.speech.guards import reads_all_that_was_said

    def seg(text):
        return SimpleNamespace(text=text, words=())

    loop = seg("Left kidney measures tend tend tend tend tend")
    assert reads_all_that_was_said([seg("The left kidney measures 10 centimeters.")], [loop])
    assert not reads_all_that_was_said([seg("Left kidney")], [loop])
    assert not reads_all_that_was_said([seg("Right kidney measures ten")], [loop])


def _timed(spec: str) -> list:
    """Words from "word@start-end" (probability 0.5)."""
    from dictation.speech.transcript import Word

    out = []
    for item in spec.split():
        word, _, times = item.rpartition("@")
        start, end = (float(t) for t in times.split("-"))
        out.append(Word(word, start, end, 0.5))
    return out


def test_a_sentence_copied_with_no_speech_behind_it_is_written_once_and_its_critical_word_disputed():
    from dictation.speech.guards import copy_without_speech
    from dictation.speech.transcript import Segment

    # espeak-ng, the dictation prompt: one "right upper quadrant pain period" read as two copies,
    # the second's first words aligned to no time at all.
    words = _timed("write@0-0.68 up@0.68-0.94 a@0.94-1.06 quadrant@1.06-1.64 pain@1.64-1.66 period,@1.66-1.66 "
                   "right@1.66-1.66 up@1.66-1.66 a@1.66-1.66 quadrant@1.66-1.66 pain@1.66-1.94 period@1.94-2.28")
    segs, found = copy_without_speech([Segment(0, 2.28, "", tuple(words))])
    assert [w.word for w in segs[0].words] == ["write", "up", "a", "quadrant", "pain", "period"]
    assert found == ((0, 1, "right"),)  # never chosen silently: the kept "write" is disputed


def test_the_copy_with_speech_behind_it_is_kept_and_a_plain_copy_goes_without_a_dispute():
    from dictation.speech.guards import copy_without_speech
    from dictation.speech.transcript import Segment

    words = _timed("sine@0-0 has@0-0 really@0-0 been@0-0 varied.@0-0 "
                   "sign@0.1-0.5 has@0.5-0.7 really@0.7-1.0 been@1.0-1.2 varied.@1.2-1.6")
    segs, found = copy_without_speech([Segment(0, 1.6, "", tuple(words))])
    assert " ".join(w.word for w in segs[0].words) == "sign has really been varied."
    assert found == ()


def test_a_sentence_really_said_twice_stays_twice():
    from dictation.speech.guards import copy_without_speech
    from dictation.speech.transcript import Segment

    said = _timed("small@0-0.3 left@0.3-0.6 pleural@0.6-1.0 effusion.@1.0-1.5 "
                  "small@2-2.3 right@2.3-2.6 pleural@2.6-3.0 effusion.@3.0-3.5")
    segs, found = copy_without_speech([Segment(0, 3.5, "", tuple(said))])
    assert len(segs[0].words) == 8 and found == ()
    other = _timed("liver@0-0.4 is@0.4-0.5 normal.@0.5-1 spleen@1-1 is@1-1 enlarged.@1-1")  # no copy at all
    assert len(copy_without_speech([Segment(0, 1, "", tuple(other))])[0][0].words) == 6


def test_disputes_follow_their_words_when_pieces_are_joined():
    from dictation.speech.transcript import Segment, Transcript, join_transcripts

    first = Transcript("a b", (Segment(0, 1, "a b", tuple(_timed("a@0-0.5 b@0.5-1"))),), 1.0, disputes=((1, 1, "no"),))
    second = Transcript("c d", (Segment(0, 1, "c d", tuple(_timed("c@0-0.5 d@0.5-1"))),), 1.0, disputes=((0, 1, "left"),))
    joined = join_transcripts([(0.0, first), (1.0, second)])
    assert joined.disputes == ((1, 1, "no"), (2, 1, "left"))
    assert [w.word for w in joined.words][2] == "c"


def test_speech_after_the_last_word_is_read_on_its_own_and_follows(monkeypatch):
    """A decode that stops short ("Resolving pulmonary interstitial", 2.7 s of speech after it)
    loses the rest of the sentence without a trace: the rest is read on its own and follows."""
    from dictation.speech import segmenter
    from dictation.speech.recognizer import DecodeOptions, Recognizer

    said = [("Resolving", 0.0, 0.96), ("pulmonary", 0.96, 1.44), ("interstitial", 1.44, 1.82)]
    rest = [("And", 0.0, 0.3), ("pulmonary", 0.3, 0.8), ("venous", 0.8, 1.2), ("hypertension.", 1.2, 1.9)]
    lengths = []

    class Model:
        def transcribe(self, audio, **kw):
            lengths.append(len(audio))
            return iter([_fake_segment(said if len(audio) > 4 * 16000 else rest)]), None

    rec = object.__new__(Recognizer)
    rec.model = Model()
    speech_there = [True]
    monkeypatch.setattr(segmenter, "split_utterances", lambda audio, options=None: [audio] if speech_there[0] else [])
    audio = np.zeros(int(16000 * 4.5), np.float32)
    heard = rec.transcribe(audio, DecodeOptions(prompt="x"))
    assert heard.text == "Resolving pulmonary interstitial and pulmonary venous hypertension."
    assert lengths == [len(audio), len(audio) - int(1.82 * 16000)]
    assert heard.words[-1].end == pytest.approx(1.82 + 1.9)  # times on the utterance's clock
    # No speech after the words (silence the segmenter would not call speech): nothing read again.
    speech_there[0] = False
    lengths.clear()
    assert rec.transcribe(audio, DecodeOptions(prompt="x")).text == "Resolving pulmonary interstitial"
    assert lengths == [len(audio)]
    # A reading that ends where its speech does (the kept silence after it) is not read again either.
    speech_there[0] = True
    lengths.clear()
    rec.transcribe(np.zeros(int(16000 * 2.6), np.float32), DecodeOptions(prompt="x"))
    assert len(lengths) == 1


def test_a_token_with_no_text_at_the_end_does_not_hide_the_speech_left_unread(monkeypatch):
    """tiny.en sometimes ends a short reading with a token that decodes to no text, aligned to the
    end of the audio ("Heart signs and pulmonary mass" + "" at 5.2 s): it is no word, so the
    speech after "mass" is still read on, and no empty word reaches the transcript."""
    from types import SimpleNamespace

    from dictation.speech import segmenter
    from dictation.speech.recognizer import DecodeOptions, Recognizer

    said = _fake_segment([("Heart", 0.0, 0.5), ("size", 0.5, 1.0), ("and", 1.0, 1.3), ("pulmonary", 1.3, 2.0)])
    said.words.append(SimpleNamespace(word=" ", start=5.2, end=5.2, probability=0.99))
    rest = [("vascularity", 0.0, 0.8), ("is", 0.8, 1.0), ("normal.", 1.0, 1.6)]

    class Model:
        def transcribe(self, audio, **kw):
            return iter([said if len(audio) > 4 * 16000 else _fake_segment(rest)]), None

    rec = object.__new__(Recognizer)
    rec.model = Model()
    monkeypatch.setattr(segmenter, "split_utterances", lambda audio, options=None: [audio])
    heard = rec.transcribe(np.zeros(int(16000 * 5.25), np.float32), DecodeOptions(prompt="x"))
    assert heard.text == "Heart size and pulmonary vascularity is normal."
    assert all(w.word for w in heard.words)


def test_what_was_read_again_after_a_window_where_nobody_spoke_is_dropped(monkeypatch):
    """faster-whisper reads the audio after a window's last word once more; on the silence kept
    after an utterance it writes words nobody said ("... twisting injury period." + "through.").
    Kept only where the segmenter finds speech there, or when it names a critical word."""
    from dictation.speech import segmenter
    from dictation.speech.recognizer import DecodeOptions, Recognizer

    said = [("Right", 0.0, 0.64), ("knee", 0.64, 0.88), ("pain", 0.88, 1.12), ("period.", 1.12, 1.6)]
    tail = [["through."]]
    starts = []

    class Model:
        def transcribe(self, audio, **kw):
            second = _fake_segment([(w, 1.6, 1.8) for w in tail[0]])
            second.words[0].probability = 0.015
            return iter([_fake_segment(said), second]), None

    def speech_in(audio, options=None):
        starts.append(len(audio))
        return [audio] if speech_there[0] else []

    rec = object.__new__(Recognizer)
    rec.model = Model()
    speech_there = [False]
    monkeypatch.setattr(segmenter, "split_utterances", speech_in)
    audio = np.zeros(int(16000 * 1.85), np.float32)
    assert rec.transcribe(audio, DecodeOptions(prompt="x")).text == "Right knee pain period."
    assert starts == [len(audio) - int(1.6 * 16000)]  # the audio after the window's last word
    speech_there[0] = True  # the rest of a sentence really said there
    assert rec.transcribe(audio, DecodeOptions(prompt="x")).text == "Right knee pain period. through."
    speech_there[0] = False
    tail[0] = ["left."]  # a word that changes the meaning is never dropped unseen
    assert rec.transcribe(audio, DecodeOptions(prompt="x")).text == "Right knee pain period. left."


def test_the_segmenter_finds_no_speech_in_the_last_instant_of_a_word_and_the_silence_after_it():
    """The judge of what was read again: real speech after the last word keeps it; the end of
    the last word and the silence the segmenter keeps after an utterance do not."""
    from dictation.speech.guards import reread_without_speech
    from dictation.speech.transcript import Segment
    from tests.voice import synthesize

    first = synthesize("there is a small pleural effusion", lead=0.3, trail=0.15)
    rest = synthesize("with adjacent atelectasis", lead=0.1, trail=0.15)
    end = (len(first) - int(0.35 * 16000)) / 16000  # the alignment ends the last word a little early
    words = tuple(_timed(f"effusion@{end - 0.5:.2f}-{end:.2f}"))
    window = Segment(0.0, end, "effusion", words)
    again = Segment(end, len(first) / 16000, "here", tuple(_timed(f"here@{end:.2f}-{len(first) / 16000:.2f}")))
    assert reread_without_speech([window, again], first) == [window]
    spoken = np.concatenate([first, rest])
    assert reread_without_speech([window, again], spoken) == [window, again]
