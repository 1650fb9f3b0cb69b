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
