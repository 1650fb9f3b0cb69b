"""Fakes for unit tests, shipped with the code (as httpx ships MockTransport).

``ScriptedRecognizer`` stands in for the speech model where a test is about the flow around
it (the session, the UI), not about recognition; tests about recognition use the real model.
"""

from __future__ import annotations

import numpy as np

from dictation.errors import NoInputDevice
from dictation.speech.audio import SAMPLE_RATE, AudioSource, Samples
from dictation.speech.recognizer import DecodeOptions
from dictation.speech.transcript import Segment, Transcript, Word


class ScriptedRecognizer:
    """Answers final decodes from a script, one text per utterance; partials echo progress.

    A word may carry the probability the model gives it, as ``word~0.2`` (otherwise 0.9)."""

    label = "scripted"
    load_seconds = 0.0

    def __init__(self, texts: list[str], audio_says: dict[str, float] | None = None,
                 other_prompt: dict[str, str] | None = None) -> None:
        self.texts = list(texts)
        # What the audio itself supports (``score``): a phrase as written ("Undo.") → its mean
        # token log-probability. The words heard score -1.0, anything else -9.0.
        self.audio_says = dict(audio_says or {})
        # What a decode of the same utterance with another prompt than its first decode's reads
        # (the second look's command prompt, the no-prompt second reading): text → other text.
        self.other_prompt = dict(other_prompt or {})
        self._first_prompt: dict[bytes, str | None] = {}
        self.final_calls: list[int] = []  # audio length of each decode with word timings
        self.partial_calls = 0
        self._by_start: dict[bytes, str] = {}

    def transcribe(self, audio: Samples, options: DecodeOptions | None = None, *, plain: bool = False) -> Transcript:
        o = options or DecodeOptions()
        duration = len(audio) / SAMPLE_RATE
        if not o.word_timestamps:
            self.partial_calls += 1
            return Transcript(f"partial {self.partial_calls}", (), duration)
        self.final_calls.append(len(audio))
        # Decodes of one utterance (speculative, final) share its beginning: same text.
        key = self._key(audio)
        if key not in self._by_start:
            self._by_start[key] = self.texts.pop(0) if self.texts else ""
            self._first_prompt[key] = o.prompt
        script = self._by_start[key]
        if o.prompt != self._first_prompt[key]:
            script = self.other_prompt.get(script, script)
        # A word may carry the model's probability for it: "go to indication in~0.2" (default 0.9).
        said = [(w.partition("~")[0], float(w.partition("~")[2] or 0.9)) for w in script.split()]
        text = " ".join(w for w, _ in said)
        words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, p) for i, (w, p) in enumerate(said))
        return Transcript(text, (Segment(0.0, duration, text, words),) if text else (), duration)

    @staticmethod
    def _key(audio: Samples) -> bytes:
        return np.asarray(audio[: SAMPLE_RATE * 4 // 5], dtype=np.float32).tobytes()

    def score(self, audio: Samples, texts: list[str], *, total: bool = False) -> list[float]:
        heard = " ".join(w.partition("~")[0] for w in self._by_start.get(self._key(audio), "").split())
        return [self.audio_says.get(t, -1.0 if t.strip() == heard.strip() else -9.0) for t in texts]


class MissingMicrophone(AudioSource):
    """A machine without a microphone: starting it raises what MicrophoneSource raises."""

    description = "microphone"

    def start(self) -> None:
        raise NoInputDevice("no microphone found: connect one, pick another in settings, or use --audio FILE")

    def read(self, timeout: float | None = None) -> None:
        return None

    def stop(self) -> None:
        pass


# The reader tests sign as (a final needs one configured).
from dictation.ris.document import Signer  # noqa: E402

READER = Signer("R-TEST", "Reader", "Tess")
