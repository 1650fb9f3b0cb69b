"""The ``radscribe`` command line. A thin face on the engine: no engine logic here.

Exit codes: 0 ok, 1 a check found problems, 2 usage or input error — always with a one-line
message that says what to do, never a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .errors import DataFileError, RadscribeError


def fail(message: str, code: int = 2) -> None:
    click.echo(f"radscribe: {message}", err=True)
    sys.exit(code)


def friendly(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors we raise on purpose into one line and exit code 2."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except RadscribeError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--audio", type=click.Path(dir_okay=False), help="Replay FILE in real time as the microphone.")
@click.option("--template", "template_id", help="Open a new report from this template at once.")
@click.option("--model", help="Speech model: a CTranslate2 folder or a size name (default: bundled tiny.en).")
@click.option("--device", help="Microphone: index or name (default: the system's default input).")
@click.version_option(package_name="radscribe")
@click.pass_context
@friendly
def main(ctx: click.Context, audio: str | None, template_id: str | None, model: str | None, device: str | None) -> None:
    """radscribe: offline voice-driven structured radiology reporting.

    Without a command, opens the terminal UI.
    """
    if ctx.invoked_subcommand is not None:
        return
    if audio is not None:
        from .audio import decode_file

        decode_file(audio)  # a bad file is a one-line error before the screen opens
    from tui.app import run_app

    run_app(audio=audio, template_id=template_id, model=model, device=_device(device))


def _device(device: str | None) -> int | str | None:
    return int(device) if device is not None and device.isdigit() else device


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--model", help="CTranslate2 model folder or faster-whisper size name.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@click.option("--group", help="Lexicon group used for the recognition prompt (chest, neuro, spine, ...).")
@click.option("--raw", is_flag=True, help="Plain faster-whisper output: no prompt, no rules, no corrections.")
@friendly
def transcribe(audio: tuple[str, ...], model: str | None, as_json: bool, group: str | None, raw: bool) -> None:
    """Written-form text of each AUDIO file."""
    from .recognizer import Recognizer
    from .transcribe import TextPipeline, TextStages, transcribe_file

    stages = TextStages(False, False, False) if raw else TextStages()
    pipeline = TextPipeline(stages, group=group)
    recognizer = Recognizer(model)
    failed = 0
    for path in audio:
        try:
            result = transcribe_file(path, recognizer, pipeline)
        except RadscribeError as e:  # one bad file does not lose the others
            click.echo(f"radscribe: {e}", err=True)
            failed += 1
            continue
        if as_json:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            if len(audio) > 1:
                click.echo(f"== {path}")
            click.echo(result.text)
    if failed:
        sys.exit(2)


@main.command()
@click.option("--device", help="Microphone: index or name (default: the system's default input).")
@click.option("--audio", type=click.Path(dir_okay=False), help="Replay FILE in real time instead of the microphone.")
@click.option("--seconds", type=float, help="Stop after this many seconds.")
@click.option("--model", help="CTranslate2 model folder or faster-whisper size name.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per utterance per line.")
@click.option("--group", help="Lexicon group used for the recognition prompt.")
@click.option("--end-silence", type=click.IntRange(200, 3000), default=600, show_default=True,
              help="Milliseconds of silence that end an utterance.")
@friendly
def listen(device: str | None, audio: str | None, seconds: float | None, model: str | None, as_json: bool,
           group: str | None, end_silence: int) -> None:
    """Dictate without the UI: print each utterance as it is recognised (a microphone test)."""
    import threading

    from .audio import FileSource, MicrophoneSource
    from .recognizer import Recognizer
    from .segmenter import SegmenterOptions
    from .session import DictationSession, SessionError, StateChanged, UtteranceCommitted
    from .transcribe import TextPipeline

    errors: list[str] = []
    ready = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, UtteranceCommitted):
            u = event.utterance
            if as_json:
                click.echo(json.dumps({**u.segment_json(), "latency": round(event.latency, 3)}, ensure_ascii=False))
            else:
                click.echo(u.text)
        elif isinstance(event, StateChanged) and event.state == "listening" and not ready.is_set():
            ready.set()
            click.echo(f"radscribe: listening on {event.detail}", err=True)
        elif isinstance(event, SessionError):
            errors.append(event.message)

    source = FileSource(audio, realtime=True) if audio else MicrophoneSource(_device(device))
    session = DictationSession(source, on_event, recognizer=lambda: Recognizer(model),
                               pipeline=TextPipeline(group=group), segmenter=SegmenterOptions(end_silence_ms=end_silence))
    session.start()
    try:
        finished = session.wait(seconds) if seconds else session.wait()
        if not finished:
            session.stop()
    except KeyboardInterrupt:
        session.stop()
    if errors:
        fail(errors[0])


@main.command()
@friendly
def devices() -> None:
    """List the microphones PortAudio sees."""
    from .audio import input_devices

    found = input_devices()
    if not found:
        fail("no microphone found: connect one, or use --audio FILE")
    for d in found:
        click.echo(f"{d['index']:>3}  {d['name']}  ({d['channels']} ch, {d['samplerate']:.0f} Hz)")


@main.group()
def vocab() -> None:
    """The vocabulary files in vocab/."""


@vocab.command("check")
@click.argument("folder", required=False, type=click.Path(file_okay=False, exists=True))
def vocab_check(folder: str | None) -> None:
    """Validate spoken.toml, lexicon.txt and corrections.toml (exit 1 on problems)."""
    from .correction import load_corrections, load_lexicon
    from .resources import data_dir
    from .spoken import load_spoken_rules

    root = Path(folder) if folder else data_dir("vocab")
    problems = 0
    for name, loader in (("spoken.toml", load_spoken_rules), ("lexicon.txt", load_lexicon),
                         ("corrections.toml", load_corrections)):
        try:
            loader(root / name)
        except DataFileError as e:
            click.echo(str(e))
            problems += 1
    if problems:
        sys.exit(1)
    click.echo(f"{root}: vocabulary OK")


@main.group()
def bench() -> None:
    """Benchmarks that print figures side by side with a plain baseline."""


@bench.command("asr")
@click.option("--limit", type=int, help="Only the first N dictations of the development set.")
@click.option("--latency-items", type=int, default=12, show_default=True,
              help="Dictations replayed in real time through the live session for end-of-utterance latency.")
@click.option("--data", type=click.Path(file_okay=False), help="The shared evaluation data folder (default: ../shared/data if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
@click.option("--texts", type=int, default=20, show_default=True, help="How many Radiopaedia dictation texts to synthesise.")
@click.option("--ablation", is_flag=True, help="Instead: compare beam sizes and prompt lengths on the development set.")
@friendly
def bench_asr(limit: int | None, latency_items: int, data: str | None, as_json: bool, texts: int, ablation: bool) -> None:
    """Speech recognition accuracy and speed on synthesised radiology dictations."""
    from .bench import asr

    if ablation:
        result = asr.ablation(limit=limit, echo=click.echo)
        if as_json:
            click.echo(json.dumps(result))
        return
    asr.run(limit=limit, latency_items=latency_items, data=data, as_json=as_json, echo=click.echo, texts_limit=texts)


if __name__ == "__main__":
    main()
