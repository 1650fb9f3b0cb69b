"""A group's recognition server, with this workstation's model as the fallback.

The protocol is the OpenAI-compatible ``POST /v1/audio/transcriptions`` (multipart: the
utterance as a WAV file, ``response_format=verbose_json``, word timestamps): WhisperLive's REST
API (``whisper-live``, faster-whisper on a GPU host) speaks it, and so do other self-hosted
servers; a group picks the one it runs. Only the decode moves to the server: segmentation,
commands (scored against the audio by the local model), partial text, the spoken-to-written
rules, the safety net and the checks stay on the workstation. The server's answer must carry
each word's timing and probability (the critical-word safety net and playback need them): a
server whose answer lacks them is not used, and this workstation's model reads instead.

When the server does not answer within ``deadline`` seconds (or answers nonsense), the
workstation reads that utterance with its own model and says so. A server that took the
utterance but answered late is asked again at the next one (a decode that looped is not a
server that is down); one late twice in a row, or one that cannot be reached or answers
nonsense, is left alone for ``RETRY_SECONDS``. Each utterance is read whole by one model, never
by both and spliced, and the transcript names the model that read it (stored with the utterance).

Audio goes only to the configured server: over HTTPS, or plain HTTP on loopback only. An API
key, when the server asks for one, comes from ``$RADSCRIBE_SPEECH_KEY``, never the config file.
"""

from __future__ import annotations

import io
import ipaddress
import os
import threading
import time
import wave
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from dictation.errors import ModelError
from dictation.logs import log
from dictation.speech.audio import SAMPLE_RATE, Samples
from dictation.speech.guards import is_hallucination, trim_hallucinated_tail
from dictation.speech.recognizer import DecodeOptions, Recognizer
from dictation.speech.transcript import Segment, Transcript, Word

RETRY_SECONDS = 30.0  # after a failure, utterances are read locally this long before the server is asked again
# A server that was reached but answered late is asked again at the next utterance, unless it was
# late this many times in a row (a hung server must not cost every utterance the deadline).
SLOW_IN_A_ROW = 2
DEFAULT_DEADLINE = 3.0
KEY_ENV = "RADSCRIBE_SPEECH_KEY"
PATH = "/v1/audio/transcriptions"


class ServerUnusable(Exception):
    """The server did not answer in time, or its answer cannot be used (the reason, one line)."""


class ServerSlow(ServerUnusable):
    """The server took the utterance but had not answered by the deadline: it is up, and may
    answer the next one in time (a decode that looped), or it may hang."""


@dataclass(frozen=True)
class SpeechServer:
    """Where a group's recognition server is and how long an utterance may wait for it."""

    url: str  # https://asr.group.example (or http:// on loopback); the API path is added
    deadline: float = DEFAULT_DEADLINE
    model: str = "whisper-1"  # the name the server knows its model by ("whisper-1": its default)
    ca_file: Path | None = None  # the group's CA, when the server's certificate is not in the system's

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def check_server_url(url: str) -> str:
    """``url`` as the endpoint to post to; ModelError (one line) when it is not one audio may go to."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"speech server {url!r} is not an http(s) URL (like https://asr.group.example)")
    if parts.username or parts.password:
        raise ModelError(f"speech server URL holds credentials: put the API key in ${KEY_ENV} instead")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ModelError(f"speech server {parts.hostname}: audio leaves this machine only over https "
                         "(plain http is allowed on loopback only)")
    path = parts.path.rstrip("/")
    if not path.endswith(PATH):
        path += PATH
    return f"{parts.scheme}://{parts.netloc}{path}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wav_bytes(audio: Samples) -> bytes:
    """The utterance as 16 kHz mono 16-bit PCM WAV (what every such server reads)."""
    pcm = (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def segments_from_answer(answer: Any, duration: float) -> list[Segment]:
    """The server's verbose_json segments, every word with its timing and probability; raises
    ServerUnusable when the answer is not that (a server that gives no word probabilities cannot
    feed the safety net)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("segments"), list):
        raise ServerUnusable("the speech server's answer has no segments (verbose_json expected)")
    segments: list[Segment] = []
    for s in answer["segments"]:
        try:
            text = str(s["text"]).strip()
            words = tuple(Word(str(w["word"]).strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
                          for w in s.get("words") or () if str(w["word"]).strip())  # no text, no word (as read here)
            start, end = float(s["start"]), float(s["end"])
            avg, no_speech = float(s.get("avg_logprob", 0.0)), float(s.get("no_speech_prob", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ServerUnusable("the speech server's answer lacks word timings or probabilities") from None
        if text and not words:
            raise ServerUnusable("the speech server's answer lacks word timings or probabilities")
        if not all(0.0 <= w.probability <= 1.0 and -0.5 <= w.start <= w.end <= duration + 1.0 for w in words):
            raise ServerUnusable("the speech server's word timings or probabilities are out of range")
        if segments and _failed_after_speech(s, words):
            continue
        segments.append(Segment(start, end, text, words, avg, no_speech))
    return segments


def _untrusted(e: BaseException) -> bool:
    import ssl

    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _failed_after_speech(s: dict[str, Any], words: tuple[Word, ...]) -> bool:
    """A segment after the first that Whisper's own measures call a failed decode: repetitive
    (compression ratio over 2.4, Whisper's threshold), or probably no speech (no_speech_prob over
    0.5) with its words squeezed into no time. A server decoding one request at temperature 0
    keeps such a tail (faster-whisper would re-decode it; the local path reads an utterance up to
    10 s as one segment without timestamp tokens). Seen on the development set as invented
    sentences after the dictation ("Now, we're going to take a look at what..."). A segment with
    a word that changes a finding's meaning (no, left, a number...) is kept, never dropped unseen."""
    from dictation.speech.guards import MEANING_WORDS

    if any(w.word.strip(" .,;:!?").lower() in MEANING_WORDS or w.word.strip()[:1].isdigit() for w in words):
        return False
    try:
        ratio, no_speech = float(s.get("compression_ratio", 0.0)), float(s.get("no_speech_prob", 0.0))
    except (TypeError, ValueError):
        return False
    squeezed = bool(words) and sorted(w.end - w.start for w in words)[len(words) // 2] < 0.05
    return ratio > 2.4 or (no_speech > 0.5 and squeezed)


class ServerRecognizer(Recognizer):
    """Reads each utterance on the group's recognition server, this workstation's model when the
    server does not answer in time. Scoring commands against the audio and the partial text use
    the local model (its copy at low priority), as without a server."""

    reads_locally = False  # the server's decodes: the local copy cannot make them ahead

    def __init__(self, server: SpeechServer, model: str | None = None, **kwargs: Any) -> None:
        self.endpoint = check_server_url(server.url)  # a URL audio may not go to is refused before loading
        super().__init__(model, **kwargs)
        import httpx

        self.server = server
        self.local_label = self.label
        self.label = f"{server.model} on {server.host}"
        verify: Any = True
        if server.ca_file is not None:
            import ssl

            verify = ssl.create_default_context(cafile=str(server.ca_file))
        key = os.environ.get(KEY_ENV, "").strip()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(verify=verify, headers=headers, follow_redirects=False,
                                    timeout=httpx.Timeout(server.deadline, connect=min(server.deadline, 2.0)))
        self._retry_at = 0.0
        self._why = ""
        self._slow = 0  # answers late in a row
        self._lock = threading.Lock()

    def transcribe(self, audio: Samples, options: DecodeOptions | None = None, *, plain: bool = False) -> Transcript:
        o = options or DecodeOptions()
        if plain:  # the plain baseline is this workstation's model by definition
            return replace(super().transcribe(audio, o, plain=True), decoder=self.local_label)
        with self._lock:
            ask = time.monotonic() >= self._retry_at
        if ask:
            t0 = time.perf_counter()
            try:
                heard = self._read(audio, o, self._ask, t0, decoder=self.label)
            except ServerUnusable as e:
                with self._lock:
                    self._slow = self._slow + 1 if isinstance(e, ServerSlow) else SLOW_IN_A_ROW
                    rest = RETRY_SECONDS if self._slow >= SLOW_IN_A_ROW else 0.0
                    self._retry_at, self._why = time.monotonic() + rest, str(e)
                log.warning("speech server: %s; this utterance read locally%s", e,
                            f", and the next ones for {rest:.0f} s" if rest else "")
                t0 = time.perf_counter()
                return self._read(audio, o, self._decode, t0, decoder=self.local_label, fallback=str(e))
            with self._lock:
                self._slow = 0
            return heard
        t0 = time.perf_counter()
        return self._read(audio, o, self._decode, t0, decoder=self.local_label, fallback=self._why)

    def _ask(self, audio: Samples, o: DecodeOptions, **extra: Any) -> list[Segment]:
        import httpx

        data = {"model": self.server.model, "language": self.language, "response_format": "verbose_json",
                "temperature": "0", "timestamp_granularities[]": ["word", "segment"],
                "timestamp_granularities": ["word", "segment"]}
        if o.prompt:
            data["prompt"] = o.prompt
        if o.hotwords:
            data["hotwords"] = o.hotwords  # a faster-whisper server's extension; others ignore it
        started = time.monotonic()
        try:
            r = self._client.post(self.endpoint, data=data, files={"file": ("utterance.wav", wav_bytes(audio), "audio/wav")})
        except httpx.ConnectTimeout:
            raise ServerUnusable(f"the speech server cannot be reached (no connection within "
                                 f"{min(self.server.deadline, 2.0):g} s)") from None
        except httpx.TimeoutException:
            raise ServerSlow(f"the speech server did not answer within {self.server.deadline:g} s") from None
        except httpx.HTTPError as e:
            if _untrusted(e):  # never sent: the audio goes only to the server the certificate proves
                raise ServerUnusable("the speech server's certificate is not trusted (see [speech] ca_file)") from None
            raise ServerUnusable(f"the speech server cannot be reached ({type(e).__name__})") from None
        if time.monotonic() - started > self.server.deadline:
            raise ServerSlow(f"the speech server did not answer within {self.server.deadline:g} s")
        if r.status_code != 200:
            raise ServerUnusable(f"the speech server answered HTTP {r.status_code}")
        try:
            answer = r.json()
        except ValueError:
            raise ServerUnusable("the speech server's answer is not JSON") from None
        segments = segments_from_answer(answer, len(audio) / SAMPLE_RATE)
        rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
        return trim_hallucinated_tail([s for s in segments if not is_hallucination(s, rms)])

    @property
    def why(self) -> str:
        """Why the server did not read the last utterance this workstation read in its place ("" when
        it has read every one): kept when the server reads again, as an utterance read locally is
        often reported after the server has read the next one."""
        return self._why

    def close(self) -> None:
        self._client.close()


def make_recognizer(model: str | None = None, server: SpeechServer | None = None) -> Recognizer:
    """This workstation's model, behind the group's recognition server when one is configured."""
    return ServerRecognizer(server, model) if server is not None else Recognizer(model)


__all__ = ["DEFAULT_DEADLINE", "KEY_ENV", "RETRY_SECONDS", "SLOW_IN_A_ROW", "ServerRecognizer", "ServerSlow",
           "ServerUnusable", "SpeechServer",
           "check_server_url", "make_recognizer", "segments_from_answer", "wav_bytes"]
