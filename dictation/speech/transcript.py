"""What the recogniser returns: words with timings and probabilities, segments, transcripts,
and the partial text shown while someone is still speaking."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """What the model heard, before any spoken-to-written rules."""

    text: str
    segments: tuple[Segment, ...]
    duration: float
    decode_seconds: float = 0.0
    # A command phrase the audio itself matched when the words heard are not one (the words
    # stay what was heard); ``reading_sure`` False: close, but to be asked, not obeyed.
    reading: str = ""
    reading_sure: bool = True
    # Where a second reading of the same audio heard a critical word otherwise (no, left, a
    # number...): (index into ``words``, how many words, what that reading heard). Shown, never chosen.
    disputes: tuple[tuple[int, int, str], ...] = ()
    # Which model read it (a recognition server's or this workstation's), and, when a server is
    # configured but this workstation's model read it, why.
    decoder: str = ""
    fallback: str = ""

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def words_json(self, start: float = 0.0) -> list[dict[str, object]]:
        """The words as stored and printed: times in the recording (``start``: where the utterance
        begins in it); a word where a second reading heard a critical word otherwise carries what
        it heard (``other``) and over how many words (``span``)."""
        words: list[dict[str, object]] = [
            {"word": w.word, "start": round(start + w.start, 3), "end": round(start + w.end, 3),
             "probability": round(w.probability, 4)} for w in self.words]
        for at, span, other in self.disputes:
            if at < len(words):
                words[at].update(other=other, span=span)
        return words


def join_transcripts(parts: list[tuple[float, Transcript]]) -> Transcript:
    """One transcript from pieces of an utterance decoded separately; each piece comes with its
    start in the utterance (seconds), so word and segment times stay utterance times."""
    if len(parts) == 1 and parts[0][0] == 0.0:
        return parts[0][1]
    segments = tuple(
        Segment(s.start + at, s.end + at, s.text,
                tuple(Word(w.word, w.start + at, w.end + at, w.probability) for w in s.words), s.avg_logprob,
                s.no_speech_prob)
        for at, t in parts for s in t.segments)
    text = " ".join(t.text.strip() for _, t in parts if t.text.strip())
    found, before = [], 0
    for _, t in parts:  # disputes index the words: each piece's move by the words before it
        found += [(at + before, span, other) for at, span, other in t.disputes]
        before += len(t.words)
    last_at, last = parts[-1]
    return Transcript(text, segments, last_at + last.duration, sum(t.decode_seconds for _, t in parts),
                      disputes=tuple(found),
                      decoder=", ".join(dict.fromkeys(t.decoder for _, t in parts if t.decoder)),
                      fallback=next((t.fallback for _, t in parts if t.fallback), ""))


@dataclass(frozen=True)
class Partial:
    """Text while the person is still speaking: committed (stable) and tentative (may change)."""

    committed: str
    tentative: str

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.committed, self.tentative) if t)
