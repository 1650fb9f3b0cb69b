"""`python -m benchmarks speech-server`: a group's recognition server against the local model.

The server is WhisperLive's OpenAI-compatible REST API (tests/peers/whisper-live, its own venv)
serving the same bundled tiny.en on this machine, so the comparison is the path, not the model:

  - accuracy: the development set's dictations (tune material; nothing is tuned here), each
    utterance read by the server and by the local model, through the same text pipeline, WER
    against the written reference;
  - end-of-utterance latency with 1, 4 and 8 clients dictating at once: each client replays
    dictations in real time and sends each utterance when its audio has ended; latency is from
    the utterance's end to its transcript. The local model with one client is the baseline (each
    workstation has its own CPU; here every client and the server share this machine's cores).

Utterances come from the same segmenter for both paths, so the end-of-utterance silence (equal on
both) is not counted.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.metrics import ErrorCounts, percentile, score
from dictation.speech.audio import SAMPLE_RATE
from dictation.speech.recognizer import Recognizer
from dictation.speech.segmenter import Utterance, split_utterances
from dictation.text.pipeline import TextPipeline
from dictation.text.spoken import join_text

DEADLINE = 3.0  # the default [speech] deadline_seconds: what a later answer would have cost


def _text(rec: Recognizer, utterances: list[Utterance], pipeline: TextPipeline) -> str:
    text = ""
    options = pipeline.decode_options()
    for u in utterances:
        written, _ = pipeline.written(rec.transcribe(u.audio, options), before=text)
        text = join_text(text, written)
    return text


def _replay(rec: Recognizer, recordings: list[tuple[list[Utterance], TextPipeline]], out: list[float],
            start_at: float) -> None:
    """Each recording in real time, one after the other: an utterance is sent when its audio ends
    (with its study's prompt, as the live session sends it)."""
    while time.monotonic() < start_at:
        time.sleep(0.01)
    clock = time.monotonic()
    for utterances, pipeline in recordings:
        options = pipeline.decode_options()
        for u in utterances:
            ended = clock + u.end
            wait = ended - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            rec.transcribe(u.audio, options)
            out.append(time.monotonic() - max(ended, clock))
        clock = max(time.monotonic(), clock + (utterances[-1].end if utterances else 0.0) + 1.0)


def _clients(make: Callable[[], Recognizer], n: int,
             recordings: list[list[tuple[list[Utterance], TextPipeline]]]) -> list[float]:
    recs = [make() for _ in range(n)]
    latencies: list[list[float]] = [[] for _ in range(n)]
    start_at = time.monotonic() + 1.0
    threads = [threading.Thread(target=_replay, args=(recs[k], recordings[k], latencies[k], start_at))
               for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for lat in latencies for x in lat]


def run(echo: Callable[[str], None] = print, items: int = 12, clients: tuple[int, ...] = (1, 4, 8),
        per_client: int = 2, server_url: str | None = None, model: str = "whisper-1") -> dict[str, Any]:
    """``server_url``: a group's own server instead of WhisperLive started here (``model``: its
    name for its model)."""
    import contextlib

    from benchmarks.asr import machine
    from dictation.speech.server import ServerRecognizer, SpeechServer
    from tests.datasets import load_devset
    from tests.peers.whisper_live import WhisperLive
    from tests.voice import synthesize

    dictations = load_devset()[:items]
    echo(f"machine: {machine()}")
    where = (f"{server_url} ({model})" if server_url else
             "WhisperLive 0.10 REST API on 127.0.0.1, serving the bundled tiny.en (the same model as the local path)")
    echo(f"development set: {len(dictations)} dictations, Piper voice; server: {where}")
    audios = [synthesize(d.spoken) for d in dictations]
    split = [split_utterances(a) for a in audios]
    result: dict[str, Any] = {"dictations": len(dictations)}
    with contextlib.nullcontext() if server_url else WhisperLive() as started:
        url = server_url or started.url
        local = Recognizer()
        remote = ServerRecognizer(SpeechServer(url, deadline=60.0, model=model))
        counts = {"local model": ErrorCounts(), "recognition server": ErrorCounts()}
        fell_back = 0
        for d, utterances in zip(dictations, split):
            group = TextPipeline(group=d.group)
            counts["local model"].add(score(d.written, _text(local, utterances, group), set()))
            counts["recognition server"].add(score(d.written, _text(remote, utterances, group), set()))
            fell_back += bool(remote.why)
        echo("")
        echo(f"{'accuracy (same utterances, same text pipeline)':<48} {'WER':>6}  {'critical-word errors':>20}")
        for name, c in counts.items():
            echo(f"  {name:<46} {c.wer:>6.3f}  {c.critical_errors:>9} of {c.critical_words:<9}")
            result[f"wer {name}"] = round(c.wer, 4)
        if fell_back:
            echo(f"  (the server missed its 60 s deadline {fell_back}x: those utterances were read locally)")

        groups = [TextPipeline(group=d.group) for d in dictations]

        def recordings(n: int) -> list[list[tuple[list[Utterance], TextPipeline]]]:
            picks = [[(k * per_client + j) % len(split) for j in range(per_client)] for k in range(n)]
            return [[(split[i], groups[i]) for i in pick] for pick in picks]

        echo("")
        echo(f"end-of-utterance latency, {per_client} dictations per client replayed in real time")
        echo(f"  {'path':<34} {'utterances':>10} {'p50 s':>7} {'p95 s':>7} {f'over {DEADLINE:g} s':>10}")
        rows = [("local model, 1 client", Recognizer, 1)]
        rows += [(f"server, {n} client{'s' if n > 1 else ''}",
                  lambda: ServerRecognizer(SpeechServer(url, deadline=60.0, model=model)), n) for n in clients]
        for name, make, n in rows:
            lat = _clients(make, n, recordings(n))
            over = sum(x > DEADLINE for x in lat)
            echo(f"  {name:<34} {len(lat):>10} {percentile(lat, 50):>7.2f} {percentile(lat, 95):>7.2f} {over:>10}")
            result[name] = {"utterances": len(lat), "p50": round(percentile(lat, 50), 3),
                            "p95": round(percentile(lat, 95), 3), "over_deadline": over,
                            "mean": round(statistics.fmean(lat), 3) if lat else None}
    echo("")
    echo(f"audio: {sum(len(a) for a in audios) / SAMPLE_RATE:.0f} s in {sum(len(s) for s in split)} utterances; "
         f"'over {DEADLINE:g} s': utterances the default deadline would have read locally instead")
    return result


__all__ = ["run"]
