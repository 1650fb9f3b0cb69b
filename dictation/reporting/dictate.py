"""A whole recording through a report controller, utterance by utterance (``radscribe dictate``)."""

from __future__ import annotations

from dictation.reporting.controller import ReportController
from dictation.reporting.records import Handled
from dictation.speech import ahead
from dictation.speech.audio import Samples
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import SegmenterOptions, Utterance, split_utterances


def dictate_audio(audio: Samples, recognizer: Recognizer, controller: ReportController,
                  segmenter: SegmenterOptions | None = None, utterances: list[Utterance] | None = None) -> list[Handled]:
    """A whole recording through the controller, utterance by utterance (``radscribe dictate``);
    ``utterances``: the recording already split (the same segmenter), so it is not split twice.
    Each utterance's further decodes are made on the model's second copy while its first decode
    is made (ahead.py): the same text, sooner."""
    out = []
    options = controller.decode_options()
    reader, background = ahead.reader(recognizer)
    try:
        for u in utterances if utterances is not None else split_utterances(audio, segmenter):
            if background is not None:
                background.ahead(u.audio, controller.further_decodes(u.audio))
            heard = controller.recognise(reader, u.audio, recognizer.transcribe(u.audio, options))
            handled = controller.handle(heard, u.start, u.end)
            if handled is not None:
                out.append(handled)
    finally:
        if background is not None:
            background.stop()
    return out
