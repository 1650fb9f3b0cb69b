"""The robustness benchmark's scoring: each part said is judged by the records of its own audio."""

from benchmarks.robustness import Tally, _doubled, _score, _trailing
from dictation.reporting.report import UtteranceRecord


def _record(seq, kind, heard, start, end, command=None, text=None):
    return UtteranceRecord(seq, kind, text if text is not None else heard, heard, start, end, [], "findings", command, "", 0.0)


class _Report:
    def __init__(self, utterances):
        self.utterances = utterances


SCRIPT = [("go to indication", "go_to indication"), ("undo", "undo"), ("go to impression", "go_to impression"),
          ("no pneumothorax period", None)]
SPANS = [(0.0, 2.0), (2.0, 3.5), (3.5, 5.5), (5.5, 8.0)]


def test_an_utterance_lost_moves_nothing_else():
    # "undo" heard as nothing at all: the others are still judged by their own audio.
    report = _Report([_record(1, "command", "Go to indication.", 0.2, 1.1, "go_to indication"),
                      _record(2, "asked", "Got impression", 3.7, 4.6, "go_to impression"),
                      _record(2, "dictation", "Got impression", 3.7, 4.6),
                      _record(3, "dictation", "No pneumothorax.", 5.7, 7.0)])
    tally = Tally()
    _score(SCRIPT, SPANS, report, tally, {"go to indication", "undo", "go to impression"})
    assert (tally.commands, tally.obeyed, tally.asked, tally.plain_obeyed) == (3, 1, 1, 1)
    assert (tally.dictated, tally.false_commands, tally.false_asked, tally.doubled) == (1, 0, 0, 0)


def test_dictation_obeyed_or_written_twice_is_counted():
    report = _Report([_record(1, "command", "Go to indication.", 0.2, 1.1, "go_to indication"),
                      _record(2, "rejected", "Undo.", 2.2, 2.8, "undo"),  # heard as said, refused by the report
                      _record(3, "command", "Go to impression.", 3.7, 4.6, "go_to impression"),
                      _record(4, "dictation", "No pneumothorax. No pneumothorax.", 5.7, 7.0)])
    tally = Tally()
    _score(SCRIPT, SPANS, report, tally, set())
    assert (tally.obeyed, tally.doubled) == (3, 1)


def test_words_said_twice_are_not_heard_twice():
    said = "oblique tear of the posterior horn of the medial meniscus period"
    assert not _doubled("Oblique tear of the posterior horn of the medial meniscus.", said)
    assert _doubled("Oblique tear of the posterior horn of the medial meniscus. Oblique tear of the", said)
    assert _doubled("small small effusion", "small effusion")
    assert not _doubled("very very small", "very very small")


def test_words_written_after_all_that_was_said_are_a_trailing_fragment():
    said = "right knee pain after a twisting injury period"
    assert _trailing("Right knee pain after a twisting injury. Through", said)
    assert not _trailing("Right knee pain after a twisting injury.", said)
    assert not _trailing("Right knee pain after a twisting in fury.", said)  # misheard, not added
    assert not _trailing("Knee pain after a twisting injury.", said)


def test_the_parts_spans_follow_the_perturbations_change_of_speed(monkeypatch):
    import numpy as np

    import tests.voice as voice

    monkeypatch.setattr(voice, "synthesize", lambda text, **kw: np.full(16000 * len(text.split()), 0.1, np.float32))
    audio, spans = voice.speak_timed(["one two", "three"], seed=7)
    factor = voice.speed_of(7)
    assert spans == [(0.0, 2 / factor), (2 / factor, 3 / factor)]
    assert abs(len(audio) / 16000 - 3 / factor) < 0.01  # the perturbed audio ends where the last span does
    assert voice.speak_timed(["one two", "three"])[1] == [(0.0, 2.0), (2.0, 3.0)]


def test_a_command_obeyed_as_another_is_counted_wrong():
    report = _Report([_record(1, "command", "Dr learn...", 0.2, 1.1, "go_to findings.lines_tubes"),
                      _record(2, "asked", "And you.", 2.2, 2.8, "undo"),
                      _record(3, "command", "Go to impression.", 3.7, 4.6, "go_to impression"),
                      _record(4, "dictation", "No pneumothorax.", 5.7, 7.0)])
    tally = Tally()
    _score(SCRIPT, SPANS, report, tally, set())
    assert (tally.obeyed, tally.asked, tally.wrong) == (1, 1, 1)


def test_the_live_only_run_replays_the_recordings_the_whole_run_picks():
    from benchmarks.robustness import PARTS, VOICES, _recordings

    everything = _recordings(("tune", "test"), 3)
    assert len(everything) == 3 * len(VOICES) * (len(PARTS["tune"][0]) + len(PARTS["test"][0]))
    # The offline pass makes them part by part, voice by voice, seed by seed, script by script.
    assert everything[0][:3] == (VOICES[0], 0, next(iter(PARTS["tune"][0])))
    first_test = 3 * len(VOICES) * len(PARTS["tune"][0])
    assert everything[first_test][:3] == (VOICES[0], 1000, next(iter(PARTS["test"][0])))
    assert everything[1][2] != everything[0][2] and everything[1][1] == 0
