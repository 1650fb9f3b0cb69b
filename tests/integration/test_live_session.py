"""The live path with the real model: a recording replayed in real time like a microphone."""

import os
import time
from pathlib import Path

import pytest

from dictation.speech.audio import FileSource
from dictation.speech.session import DictationSession, PartialText, UtteranceCommitted
from dictation.text.pipeline import TextPipeline
from tests.voice import VOICES, speak_with_pauses

pytestmark = pytest.mark.model


def _spare_core() -> bool:
    """Whether other work leaves this machine a core to spare now: fewer runnable tasks besides
    this test than cores (median of ten readings of /proc/stat over half a second)."""
    readings = []
    for _ in range(10):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running"):
                readings.append(int(line.split()[1]) - 1)  # this test's own thread is running
        time.sleep(0.05)
    return not readings or sorted(readings)[len(readings) // 2] < (os.cpu_count() or 1)


def test_partials_while_speaking_then_final_text(recognizer, recordings):
    spare_core = _spare_core()
    events = []
    session = DictationSession(FileSource(recordings["two"], realtime=True), events.append, recognizer=recognizer,
                               pipeline=TextPipeline(group="chest"))
    session.start()
    assert session.wait(60)
    finals = [e.utterance.text for e in events if isinstance(e, UtteranceCommitted)]
    assert finals[0] == "The lungs are clear."
    assert "pleural effusion or pneumothorax." in finals[1]
    # Text appears while the radiologist is still speaking: every utterance shows partial text
    # before its final text. Partials are decoded at the lowest CPU priority so that they never
    # delay the final text: on a machine already busy with other work they may come late or not
    # at all (the final text is the same, `test_the_final_text_is_the_same_with_two_busy_loops_beside_it`),
    # so they are asserted where the machine had a core to spare when the test began.
    assert session.text == " ".join(finals)
    previous = 0
    for i, e in enumerate(events):
        if isinstance(e, UtteranceCommitted):
            shown = any(isinstance(p, PartialText) and (p.committed or p.tentative) for p in events[previous:i])
            assert shown or not spare_core, f"no partial text before {e.utterance.text!r} on a machine with a core to spare"
            previous = i


def test_the_final_text_is_the_same_with_two_busy_loops_beside_it(recognizer, recordings, busy_cpu):
    """Utterance boundaries and final text come from the samples, not from how busy the machine
    is: partials may come late (they yield to the final decode), the committed text may not differ."""

    def finals() -> list[str]:
        events = []
        session = DictationSession(FileSource(recordings["two"], realtime=True), events.append, recognizer=recognizer,
                                   pipeline=TextPipeline(group="chest"))
        session.start()
        assert session.wait(120)
        return [e.utterance.text for e in events if isinstance(e, UtteranceCommitted)]

    idle = finals()
    with busy_cpu(2):
        loaded = finals()
    assert loaded == idle and len(idle) == 2


@pytest.mark.parametrize("voice", VOICES)
def test_the_second_copy_of_the_model_decodes_as_the_first(recognizer, voice):
    """Decodes made ahead by the second copy (``Recognizer.twin``, ahead.py) stand for the first
    copy's: the same words, timings and probabilities, with and without a prompt, on noisy speech."""
    from dictation.reporting.controller import ReportController
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.speech.segmenter import split_utterances

    controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False)
    audio = speak_with_pauses(["go to findings", "no pleural effusion period", "undo",
                               "small left apical pneumothorax measuring eight millimeters period"], voice=voice, seed=3)
    copy = recognizer.twin()
    assert copy is not recognizer
    utterances = split_utterances(audio)
    assert len(utterances) == 4
    for u in utterances:
        options = [controller.decode_options(), *controller.further_decodes(u.audio)]
        for o in options:
            first, second = recognizer.transcribe(u.audio, o), copy.transcribe(u.audio, o)
            assert first.text == second.text
            assert [(w.word, w.start, w.end, w.probability) for w in first.words] == \
                [(w.word, w.start, w.end, w.probability) for w in second.words]


def test_dictate_takes_the_decodes_made_ahead_and_writes_the_report_it_writes_without_them(recognizer, monkeypatch):
    import dictation.speech.ahead as ahead
    from dictation.reporting.controller import ReportController
    from dictation.reporting.dictate import dictate_audio
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary

    class OneCopy:  # the same model without its second copy: every decode one after the other
        def transcribe(self, *a, **kw):
            return recognizer.transcribe(*a, **kw)

        def score(self, *a, **kw):
            return recognizer.score(*a, **kw)

    monkeypatch.setattr(ahead, "two_cores_free", lambda loadavg=None: True)  # as on an idle machine
    taken = []
    take = ahead.Background.take

    def counted(self, audio, options):
        made = take(self, audio, options)
        taken.append(made is not None)
        return made

    monkeypatch.setattr(ahead.Background, "take", counted)
    recognizer.twin()  # loaded, so the first utterance's decodes start at once
    audio = speak_with_pauses(["go to findings", "no effusion period", "small left apical pneumothorax period"],
                              voice="espeak", seed=5)
    reports = []
    for reader in (recognizer, OneCopy()):
        controller = ReportController(Report.new(TemplateLibrary().get("xr-chest")), checks=False)
        dictate_audio(audio, reader, controller)
        reports.append([(u.kind, u.heard, u.text, u.command) for u in controller.report.utterances])
    assert any(taken)  # "no effusion period" is short and no command: its second look was made ahead
    assert reports[0] == reports[1] and len(reports[0]) >= 3
