"""The live path with the real model: a recording replayed in real time like a microphone."""

import pytest

from dictation.speech.audio import FileSource
from dictation.speech.session import DictationSession, PartialText, UtteranceCommitted
from dictation.text.pipeline import TextPipeline

pytestmark = pytest.mark.model


def test_partials_while_speaking_then_final_text(recognizer, recordings):
    events = []
    session = DictationSession(FileSource(recordings["two"], realtime=True), events.append, recognizer=recognizer,
                               pipeline=TextPipeline(group="chest"))
    session.start()
    assert session.wait(60)
    finals = [e.utterance.text for e in events if isinstance(e, UtteranceCommitted)]
    assert finals[0] == "The lungs are clear."
    assert "pleural effusion or pneumothorax." in finals[1]
    # Text appears while the radiologist is still speaking: every utterance shows partial text
    # before its final text.
    previous = 0
    for i, e in enumerate(events):
        if isinstance(e, UtteranceCommitted):
            assert any(isinstance(p, PartialText) and (p.committed or p.tentative) for p in events[previous:i])
            previous = i
    assert session.text == " ".join(finals)


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
