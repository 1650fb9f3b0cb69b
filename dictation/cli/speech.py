"""Speech and vocabulary: transcribe, listen, devices, vocab check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dictation.cli.base import device_arg, fail, friendly, main, server_option, speech_server, station, store_option
from dictation.errors import RadscribeError


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--model", help="CTranslate2 model folder or faster-whisper size name.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@click.option("--group", help="Lexicon group used for the recognition prompt (chest, neuro, spine, ...).")
@click.option("--raw", is_flag=True, help="Plain faster-whisper output: no prompt, no rules, no corrections.")
@server_option
@friendly
def transcribe(audio: tuple[str, ...], model: str | None, as_json: bool, group: str | None, raw: bool,
               server_url: str | None) -> None:
    """Written-form text of each AUDIO file. The words that change the meaning which the
    recogniser was unsure of, or which a second reading heard otherwise, are named on stderr
    (and under "check" with --json)."""
    from dictation.speech.server import make_recognizer
    from dictation.text.pipeline import TextPipeline, TextStages, transcribe_file

    stages = TextStages(False, False, False, False) if raw else TextStages()
    pipeline = TextPipeline(stages, group=group)
    recognizer = make_recognizer(model, speech_server(server_url, station().config))
    failed = 0
    for path in audio:
        try:
            result = transcribe_file(path, recognizer, pipeline, read_twice=not raw)
        except RadscribeError as e:  # one bad file does not lose the others
            click.echo(f"radscribe: {e}", err=True)
            failed += 1
            continue
        local = [u for u in result.utterances if u.heard.fallback]
        if local:  # the server did not read them: said, never hidden
            click.echo(f"radscribe: {path}: {local[0].heard.fallback}: "
                       f"{len(local)} of {len(result.utterances)} utterances read on this workstation "
                       f"({local[0].heard.decoder})", err=True)
        if not result.text.strip():  # said, and counted as a file that gave nothing (JSON still has its object)
            click.echo(f"radscribe: {path}: no speech found (silence or noise only)", err=True)
            failed += 1
            if as_json:
                click.echo(json.dumps(result.to_json(), ensure_ascii=False))
            continue
        check = result.to_check()
        if check:  # shown, never chosen silently: as the critical-word flags of a report
            click.echo(f"radscribe: {path}: {len(check)} word{'s that change' if len(check) > 1 else ' that changes'} "
                       f"the meaning to check: {'; '.join(check[:3])}{'; ...' if len(check) > 3 else ''}", err=True)
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
@server_option
@friendly
def listen(device: str | None, audio: str | None, seconds: float | None, model: str | None, as_json: bool,
           group: str | None, end_silence: int, server_url: str | None) -> None:
    """Dictate without the UI: print each utterance as it is recognised (a microphone test)."""
    import threading

    from dictation.speech.audio import FileSource, MicrophoneSource
    from dictation.speech.segmenter import SegmenterOptions
    from dictation.speech.server import make_recognizer
    from dictation.speech.session import (
        Backlog,
        DictationSession,
        LocalReading,
        SessionError,
        StateChanged,
        UtteranceCommitted,
    )
    from dictation.text.pipeline import TextPipeline

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
        elif isinstance(event, LocalReading):
            click.echo(f"radscribe: {event.reason}: read on this workstation ({event.decoder})" if event.reason
                       else "radscribe: the speech server reads again", err=True)
        elif isinstance(event, Backlog) and (event.seconds or event.overflows):
            dropped = f", the microphone dropped audio {event.overflows}x" if event.overflows else ""
            click.echo(f"radscribe: recognition {event.seconds:.0f} s behind{dropped}", err=True)

    source = FileSource(audio, realtime=True) if audio else MicrophoneSource(device_arg(device))
    server = speech_server(server_url, station().config)
    session = DictationSession(source, on_event, recognizer=lambda: make_recognizer(model, server),
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
    from dictation.speech.audio import input_devices

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
@friendly
def vocab_check(folder: str | None) -> None:
    """Validate every vocab file: spoken forms, lexicon, corrections, commands, macros, critical
    findings, observations, context rules, anatomy (exit 1 on problems). Without FOLDER: the
    vocabulary in use, the site's folder ([vocab] folder) layered over the built-in one, with
    the macros checked against every template in use."""
    from dictation.data.resources import data_dir, site_vocab
    from dictation.reporting.lint import check_vocabulary

    ws = station()
    if folder:
        problems = check_vocabulary(Path(folder))
        what = folder
    else:
        problems = check_vocabulary(None, ws.library.loadable())
        site = site_vocab()
        what = f"{data_dir('vocab')}" + (f" with {site} over it" if site else "")
    for problem in problems:
        click.echo(problem)
    if problems:
        sys.exit(1)
    click.echo(f"{what}: vocabulary OK")


@vocab.command("suggest")
@click.option("--min", "at_least", type=click.IntRange(1), default=2, show_default=True,
              help="Only pairs typed over at least this many times.")
@store_option
@friendly
def vocab_suggest(at_least: int, store_path: str | None) -> None:
    """What radiologists typed over what was heard (F2), most frequent first, as corrections.toml
    entries for the reporting lead to review; nothing is applied. Pairs older than [vocab]
    learn_days are forgotten first."""
    import json

    ws = station(store_path)
    if not ws.config.learn_days:
        fail("no corrections are kept: [vocab] learn_days is 0")
    store = ws.open_store()
    store.forget_learned(ws.config.learn_days)
    pairs = store.learned_pairs(at_least)
    if not pairs:
        click.echo(f"nothing typed over what was heard {at_least} times or more in the last {ws.config.learn_days} days")
        return
    click.echo(f"# typed over what was heard, at least {at_least} times in the last {ws.config.learn_days} days;")
    click.echo("# review, then add the ones you want to [corrections] in your site's corrections.toml")
    for p in pairs:
        click.echo(f"{json.dumps(p.heard)} = {json.dumps(p.written)}   # {p.times}x, {', '.join(p.templates)}; "
                   f"e.g. \"{p.context.replace('_', p.heard)}\"")
