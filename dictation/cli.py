"""The ``radscribe`` command line. A thin face on the engine: no engine logic here.

Exit codes: 0 ok, 1 a check found problems, 2 usage or input error — always with a one-line
message that says what to do, never a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
import time
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
    from .logs import setup_logging

    setup_logging()  # no patient data goes in it (see dictation/logs.py)
    if ctx.invoked_subcommand is not None:
        return
    if audio is not None:
        from .audio import decode_file

        decode_file(audio)  # a bad file is a one-line error before the screen opens
    from tui.app import run_app

    run_app(audio=audio, template_id=template_id, model=model, device=_device(device))


store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False),
                            help="SQLite store (default: [store] path in the config, else $RADSCRIBE_STORE or the user data folder).")


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
    """Validate every vocab file: spoken forms, lexicon, corrections, commands, macros, critical
    findings, observations, context rules, anatomy (exit 1 on problems)."""
    from .commands import CommandParser, load_commands, load_macros
    from .correction import load_corrections, load_lexicon
    from .resources import data_dir
    from .spoken import load_spoken_rules

    root = Path(folder) if folder else data_dir("vocab")
    problems = 0
    for name, loader in (("spoken.toml", load_spoken_rules), ("lexicon.txt", load_lexicon),
                         ("corrections.toml", load_corrections), ("macros.toml", load_macros)):
        try:
            loader(root / name)
        except DataFileError as e:
            click.echo(str(e))
            problems += 1
    try:
        commands = load_commands(root / "commands.toml", root / "macros.toml")
    except DataFileError as e:
        click.echo(str(e))
        problems += 1
    else:
        # Fixed phrases that the matcher cannot tell apart (two commands, or a command and a macro).
        for _, other, why in CommandParser(commands).collisions():
            click.echo(f"{root / 'commands.toml'}: {why}")
            problems += 1
    from .checks import load_lexicon

    try:
        load_lexicon(root)  # critical_findings, observations, context_rules, anatomy
    except DataFileError as e:
        click.echo(str(e))
        problems += 1
    if problems:
        sys.exit(1)
    click.echo(f"{root}: vocabulary OK")


def _library():
    from .config import load_config
    from .templates import TemplateLibrary

    return TemplateLibrary(load_config().template_folders)


@main.group()
def templates() -> None:
    """Report templates: list, check (lint), show."""


@templates.command("list")
@friendly
def templates_list() -> None:
    """Every template id with its title, modality and file (site templates override built-ins)."""
    library = _library()
    for t in library:
        click.echo(f"{t.id:<28} {t.spec.modality:<3} {t.title:<45} {t.path}")


@templates.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@friendly
def templates_check(paths: tuple[str, ...]) -> None:
    """Lint templates: the given files or folders, or every template in use (exit 1 on problems)."""
    from .template_lint import check_paths

    if paths:
        targets = [Path(p) for p in paths]
    else:
        library = _library()
        targets = library.folders
    checked, problems = check_paths(targets)
    for p in problems:
        click.echo(str(p))
    if problems:
        click.echo(f"{len(problems)} problem{'s' * (len(problems) != 1)} in {len({p.path for p in problems})} file(s)", err=True)
        sys.exit(1)
    click.echo(f"{len(checked)} template{'s' * (len(checked) != 1)} OK")


@templates.command("show")
@click.argument("template_id")
@click.option("--json", "as_json", is_flag=True, help="The template's structure as JSON instead.")
@friendly
def templates_show(template_id: str, as_json: bool) -> None:
    """The template rendered with every default (as a report would read if all were accepted)."""
    from .report import Report

    t = _library().get(template_id)
    if as_json:
        click.echo(json.dumps(t.spec.model_dump(), indent=2))
        return
    click.echo(Report.new(t).render(with_unaccepted=True), nl=False)


def _report_json(report: object, flags: list | None = None) -> dict:
    from .report import Report

    if flags is None:
        from .checks import Checker

        flags = Checker().check_report(report)  # type: ignore[arg-type]

    assert isinstance(report, Report)
    return {
        "id": report.id,
        "template": report.template.id,
        "status": report.status,
        "version": report.version,
        "signed_at": report.signed_at,
        "exam": report.exam,
        "sections": report.sections_text(),
        "fields": report.fields_text(),
        "not_accepted": report.unaccepted_defaults(),
        "cursor": report.slot.key,
        "utterances": [{"seq": u.seq, "kind": u.kind, "text": u.text, "slot": u.slot, "command": u.command,
                        "start": round(u.start, 3), "end": round(u.end, 3), "scratched": u.scratched,
                        **({"message": u.message} if u.message else {})} for u in report.utterances],
        "flags": [f.to_dict() for f in flags],
        "text": report.render(),
    }


@main.command()
@click.argument("audio", type=click.Path(dir_okay=False))
@click.option("--template", "template_id", help="Template id (`radscribe templates list`).")
@click.option("--resume", "resume_id", help="Go on dictating into this draft instead of a new report.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option("--model", help="CTranslate2 model folder or faster-whisper size name.")
@store_option
@click.option("--no-route", is_flag=True, help="Keep every sentence in the active field (no routing by anatomy).")
@click.option("--realtime", is_flag=True, help="Replay AUDIO in real time through the live session, as a microphone.")
@click.option("--progress", is_flag=True, help="Print each utterance to stderr once it is stored.")
@click.option("--amend", type=click.Choice(["addendum", "correction"]),
              help="With --resume on a report signed final: the recording is an addendum or a correction "
                   "(say \"sign report\" at the end to sign it).")
@friendly
def dictate(audio: str, template_id: str | None, resume_id: str | None, as_json: bool, model: str | None,
            store_path: str | None, no_route: bool, realtime: bool, progress: bool, amend: str | None) -> None:
    """The whole chain on a recording: voice commands obeyed, report built and stored as a draft."""
    from .audio import FileSource, decode_file
    from .config import load_config
    from .recognizer import Recognizer
    from .report import Report
    from .reporting import Handled, ReportController, dictate_audio
    from .segmenter import SegmenterOptions

    if (template_id is None) == (resume_id is None):
        fail("give --template ID for a new report, or --resume DRAFT to go on with one")
    config = load_config()
    library = _library()
    samples = decode_file(audio)  # a bad file is a one-line error before anything loads
    store = _store(store_path)
    report = store.load_report(resume_id, library) if resume_id else Report.new(library.get(template_id or ""))
    if amend and report.status not in ("final", "corrected"):
        fail(f"--amend is for a report signed final; {report.id} is {report.status} (dictate into it with --resume)")
    if report.status in ("final", "corrected") and not amend and not report.amendment:
        fail(f"report {report.id} is signed {report.status}; add --amend addendum (or correction) to amend it")

    def show(handled: Handled) -> None:
        r = handled.record
        what = f"[{r.command}] {r.message}" if r.command else f"→ {r.slot}: {r.text}"
        click.echo(f"stored utterance {r.seq} ({r.kind}) {what}", err=True)

    outbox = _outbox(store, config)
    controller = ReportController(report, store=store, route=config.route_by_anatomy and not no_route,
                                  on_handled=show if progress else None, outbox=outbox, signer=_signer(config),
                                  practice=config.practice, keep_audio=config.keep_audio)
    if not controller.licence.ok:
        click.echo(f"radscribe: warning: {controller.licence.message}", err=True)
    if amend and not report.amendment:
        started = controller.command(f"begin_{amend}", via="command line")
        if not started.outcome.ok:
            fail(started.outcome.message)
    segmenter = SegmenterOptions(end_silence_ms=config.end_silence_ms)
    recognizer = Recognizer(model)
    if realtime:
        from .session import DictationSession, SessionError

        errors: list[str] = []
        session = DictationSession(FileSource(audio, realtime=True),
                                   lambda e: errors.append(e.message) if isinstance(e, SessionError) else None,
                                   recognizer=recognizer, controller=controller, segmenter=segmenter)
        session.start()
        session.wait()
        if errors:
            fail(errors[0])
    else:
        dictate_audio(samples, recognizer, controller, segmenter)
    controller.run_checks()  # the final state (the session checked after every utterance)
    if outbox is not None:
        for attempt in outbox.deliver_due():
            click.echo(f"radscribe: {attempt.destination}: {attempt.delivery.outcome}: {attempt.delivery.detail}", err=True)
        outbox.close()
    if controller.check_error:
        click.echo(f"radscribe: {controller.check_error}", err=True)
    if as_json:
        click.echo(json.dumps(_report_json(report, controller.flags), ensure_ascii=False))
    else:
        click.echo(report.render(), nl=False)
        for flag in controller.flags:
            click.echo(f"radscribe: {flag.describe()}", err=True)
        click.echo(f"radscribe: {report.status} report {report.id} stored in {store.path}", err=True)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--template", "template_id", help="Template the reports follow (its sections, required fields and sex).")
@click.option("--sex", type=click.Choice(["F", "M", "female", "male"], case_sensitive=False), help="The patient's sex (for anatomy checks).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@friendly
def check(files: tuple[str, ...], template_id: str | None, sex: str | None, as_json: bool) -> None:
    """The clinical pass on report text: critical findings, completeness, consistency, follow-up.

    Sections are read from headings like FINDINGS: and IMPRESSION:. Exit 0 when nothing needs a
    look (info only), 1 when a file has a critical or warning flag, 2 on bad input."""
    from .checks import Checker
    from .datafiles import read_text

    template = _library().get(template_id) if template_id else None
    texts = []
    for path in files:  # every file readable before the pipeline loads
        try:
            texts.append((path, read_text(Path(path))))
        except DataFileError as e:
            fail(f"{path}: {e.detail}")
    checker = Checker()
    worst = 0
    for path, text in texts:
        flags = checker.check_text(text, template, sex)
        if any(f.severity in ("critical", "warning") for f in flags):
            worst = 1
        if as_json:
            click.echo(json.dumps({"path": path, "flags": [f.to_dict() for f in flags]}, ensure_ascii=False))
            continue
        click.echo(f"{path}: {len(flags) or 'no'} flag{'s' if len(flags) != 1 else ''}")
        for f in flags:
            where = ""
            if f.start is not None:
                line = text.count("\n", 0, f.start) + 1
                col = f.start - (text.rfind("\n", 0, f.start) + 1) + 1
                where = f"{line}:{col} "
            click.echo(f"  {where}{f.describe()}")
            if f.action:
                click.echo(f"      → {f.action}")
    sys.exit(worst)


def _store(path: str | None):  # type: ignore[no-untyped-def]
    """The store named by --store (else the config's, else the default), with the reader as the
    audit log's actor."""
    from .config import load_config
    from .store import Store

    config = load_config()
    store = Store(path or config.store_path, actor=config.reader.get("id", ""))
    store.purge_audio(config.keep_audio_days)  # stored audio past its retention period goes at once
    return store


def _signer(config):  # type: ignore[no-untyped-def]
    from .export.document import Signer

    r = config.reader
    return Signer(r.get("id", ""), r.get("family", ""), r.get("given", "")) if r else None


def _outbox(store, config):  # type: ignore[no-untyped-def]
    """The outbox for the configured destinations (None when there are none)."""
    if not config.destinations:
        return None
    from .export.destinations import make_destination
    from .export.outbox import Outbox

    return Outbox(store, [make_destination(d) for d in config.destinations], alert_after=config.alert_after_minutes * 60,
                  routes=config.practice.routes())


@main.group(invoke_without_command=True)
@store_option
@click.pass_context
@friendly
def outbox(ctx: click.Context, store_path: str | None) -> None:
    """Signed reports on their way to the RIS: per destination pending, sent, failing, dead-lettered."""
    import datetime as dt

    from .config import load_config
    from .export.outbox import Outbox

    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    config = load_config()
    store = _store(store_path)
    box = _outbox(store, config) or Outbox(store, [], alert_after=config.alert_after_minutes * 60)
    states = box.states()
    if not states:
        click.echo(f"no destinations configured and nothing queued in {store.path}", err=True)
    for st in states:
        flag = "ALERT  " if st.alert else ""
        click.echo(f"{flag}{st.name}: {st.pending} pending ({st.failing} failing), {st.in_flight} in flight, "
                   f"{st.sent} sent, {st.dead} dead-lettered")
        if st.last_error and (st.failing or st.dead):
            click.echo(f"    last error: {st.last_error}")
    for m in box.messages(states=("pending", "in_flight", "dead")):
        when = dt.datetime.fromtimestamp(m["created_at"]).strftime("%Y-%m-%d %H:%M")
        note = f"  {m['last_error']}" if m["last_error"] else ""
        click.echo(f"  #{m['id']:<5} {m['state']:<9} {m['destination']:<12} report {m['report_id'][:12]} v{m['version']} "
                   f"{m['status']:<11} {m['control_id']}  queued {when}, {m['attempts']} attempts{note}")


@outbox.command("retry")
@click.argument("message_id", type=int)
@click.pass_context
@friendly
def outbox_retry(ctx: click.Context, message_id: int) -> None:
    """Send a failing or dead-lettered message again now (after fixing its cause)."""
    from .config import load_config
    from .export.outbox import Outbox

    config = load_config()
    store = _store(ctx.obj.get("store"))
    box = _outbox(store, config) or Outbox(store, [])
    if not box.retry(message_id):
        fail(f"no failing or dead-lettered message #{message_id} in {store.path} (`radscribe outbox` lists them)")
    click.echo(f"message #{message_id} will be sent on the next delivery (`radscribe outbox send`)")


@outbox.command("send")
@click.option("--wait", type=float, default=0, help="Keep delivering (with retries) for up to this many seconds.")
@click.pass_context
@friendly
def outbox_send(ctx: click.Context, wait: float) -> None:
    """Deliver what is due now; exit 1 if anything is still undelivered."""
    from .config import load_config

    config = load_config()
    store = _store(ctx.obj.get("store"))
    box = _outbox(store, config)
    if box is None:
        fail("no [[export]] destinations in the config; see the README (Configuring a RIS)")
    deadline = time.monotonic() + wait
    try:
        while True:
            for a in box.deliver_due():
                click.echo(f"#{a.id} {a.destination} {a.control_id}: {a.delivery.outcome}: {a.delivery.detail}")
            left = [m for m in box.messages(states=("pending", "in_flight"))]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    finally:
        box.close()
    if left:
        sys.exit(1)


@main.group(invoke_without_command=True)
@store_option
@click.pass_context
@friendly
def worklist(ctx: click.Context, store_path: str | None) -> None:
    """Studies waiting to be read: STAT first, then the longest waiting."""

    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    store = _store(store_path)
    rows = store.worklist()
    if not rows:
        click.echo(f"no studies waiting in {store.path}", err=True)
    now = time.time()
    for r in rows:
        minutes = int((now - r["ordered_at"]) // 60)
        draft = " draft" if store.draft_for(r["id"]) else ""
        click.echo(f"{r['priority'].upper():<8}{minutes:>6} min  {r['accession']:<14} {(r['exam'] or r['exam_code'])[:28]:<28} "
                   f"{r['facility'][:16]:<16} {r['template_id'] or 'generic'}{draft}")


@worklist.command("add")
@click.argument("accession")
@click.option("--exam", required=True, help="Exam description, e.g. \"CT Head without contrast\".")
@click.option("--code", "exam_code", default="", help="Procedure code (chooses the template if --template is not given).")
@click.option("--patient-id", default="")
@click.option("--name", "patient_name", default="", help="Patient name, Family^Given.")
@click.option("--sex", type=click.Choice(["F", "M", "O", "U", ""], case_sensitive=False), default="")
@click.option("--birth-date", default="", help="YYYY-MM-DD")
@click.option("--facility", default="")
@click.option("--priority", type=click.Choice(["stat", "urgent", "routine"]), default="routine", show_default=True)
@click.option("--template", "template_id", help="Template id (default: from the procedure code, else generic).")
@click.option("--ordered-minutes-ago", type=float, default=0, help="When it was ordered (for the turnaround clock).")
@click.pass_context
@friendly
def worklist_add(ctx: click.Context, accession: str, exam: str, exam_code: str, patient_id: str, patient_name: str,
                 sex: str, birth_date: str, facility: str, priority: str, template_id: str | None,
                 ordered_minutes_ago: float) -> None:
    """Put a study on the worklist by hand (orders from the RIS come through listen-orders)."""
    from .config import load_config
    from .export.orders import OrderHandler

    config = load_config()
    store = _store(ctx.obj.get("store"))
    library = _library()
    if template_id:
        library.get(template_id)  # a bad id is an error now, not when the study is opened
    else:
        template_id = OrderHandler(store, library, config.order_templates,
                                   facility_mapping=config.facility_templates,
                                   facility_defaults=config.practice.template_defaults()).template_for(exam_code, facility)
    store.add_worklist_item(accession, exam=exam, exam_code=exam_code, patient_id=patient_id, patient_name=patient_name,
                            sex=sex.upper(), birth_date=birth_date, facility=facility, priority=priority,
                            template_id=template_id, ordered_at=time.time() - ordered_minutes_ago * 60)
    click.echo(f"{accession}: on the worklist ({priority}, template {template_id or 'generic'})")


@main.command("listen-orders")
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port (default: [orders] port in the config).")
@click.option("--host", help="Address to listen on (default: [orders] host, else 127.0.0.1).")
@store_option
@friendly
def listen_orders(port: int | None, host: str | None, store_path: str | None) -> None:
    """Receive ORM^O01 / OMI^O23 orders over MLLP and keep the worklist in step (Ctrl-C stops)."""
    from .config import load_config
    from .export.orders import OrderHandler, OrdersListener, describe

    config = load_config()
    port = port or config.orders_port
    if not port:
        fail("give --port, or set [orders] port in the config")
    store = _store(store_path)
    library = _library()
    for code, template_id in config.order_templates.items():
        library.get(template_id)  # a mapping to a template that does not exist is an error now, not per order
    for mapping in config.facility_templates.values():
        for template_id in mapping.values():
            library.get(template_id)
    handler = OrderHandler(store, library, config.order_templates, on_order=lambda r: click.echo(describe(r)),
                           facility_mapping=config.facility_templates,
                           facility_defaults=config.practice.template_defaults())
    try:
        server = OrdersListener(host or config.orders_host, port, handler)
    except OSError as e:
        fail(f"cannot listen on {host or config.orders_host}:{port}: {e.strerror or e}")
    click.echo(f"radscribe: listening for orders on {server.server_address[0]}:{server.port} (store {store.path})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.command("export")
@click.argument("report_json", type=click.Path(dir_okay=False))
@click.option("--hl7", "hl7_target", metavar="HOST:PORT", help="Send an ORU^R01 over MLLP and wait for its ACK.")
@click.option("--fhir", "fhir_target", metavar="URL", help="FHIR R4 base URL: DiagnosticReport (bearer token from $RADSCRIBE_FHIR_TOKEN).")
@click.option("--dicom", "dicom_target", metavar="AET@HOST:PORT", help="C-STORE a Basic Text SR to this DICOM node.")
@click.option("--dir", "dir_target", type=click.Path(file_okay=False), help="Write the report (JSON and text) into DIR.")
@click.option("--obx", type=click.Choice(["sections", "report", "tx"]), default="sections", show_default=True,
              help="HL7: one FT per section, one FT for the whole report, or TX lines.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the receiver.")
@friendly
def export_report(report_json: str, hl7_target: str | None, fhir_target: str | None, dicom_target: str | None,
                  dir_target: str | None, obx: str, timeout: float) -> None:
    """One report (as `radscribe dictate --json` or `drafts show --json` print it) to one destination."""
    from .config import load_config
    from .datafiles import read_text
    import os

    from .export.destinations import DICOMConfig, DirConfig, FHIRConfig, HL7Config, make_destination
    from .export.document import ReportVersion

    if sum(x is not None for x in (hl7_target, fhir_target, dicom_target, dir_target)) != 1:
        fail("give one destination: --hl7 HOST:PORT, --fhir URL, --dicom AET@HOST:PORT or --dir DIR")
    try:
        data = json.loads(read_text(Path(report_json)))
    except DataFileError as e:
        fail(f"{report_json}: {e.detail}")
    except json.JSONDecodeError as e:
        fail(f"{report_json}: not JSON ({e.msg} at line {e.lineno})")
    if not isinstance(data, dict) or "template" not in data:
        fail(f"{report_json}: not a radscribe report (as `radscribe dictate --json` prints)")
    config = load_config()
    version = ReportVersion.from_json(data, _library().get(str(data["template"])), _signer(config))
    if hl7_target:
        host, _, port = hl7_target.rpartition(":")
        if not host or not port.isdigit():
            fail(f"--hl7 wants HOST:PORT, not {hl7_target!r}")
        dest = make_destination(HL7Config(name="cli", kind="hl7", host=host, port=int(port), obx=obx,
                                          timeout_seconds=timeout))  # type: ignore[arg-type]
    elif fhir_target:
        if not fhir_target.startswith(("http://", "https://")):
            fail(f"--fhir wants a URL (http:// or https://), not {fhir_target!r}")
        dest = make_destination(FHIRConfig(name="cli", kind="fhir", url=fhir_target, timeout_seconds=timeout,
                                           token=os.environ.get("RADSCRIBE_FHIR_TOKEN")))  # type: ignore[arg-type]
    elif dicom_target:
        aet, _, address = dicom_target.partition("@")
        host, _, port = address.rpartition(":")
        if not aet or not host or not port.isdigit() or len(aet) > 16:
            fail(f"--dicom wants AET@HOST:PORT (AE title up to 16 characters), not {dicom_target!r}")
        dest = make_destination(DICOMConfig(name="cli", kind="dicom", host=host, port=int(port), called_ae=aet,
                                            timeout_seconds=timeout))  # type: ignore[arg-type]
    else:
        dest = make_destination(DirConfig(name="cli", kind="dir", path=str(dir_target)))
    payload = dest.build(version)
    delivery = dest.deliver(payload)
    dest.close()
    if delivery.outcome != "sent":
        fail(f"not delivered: {delivery.detail}", code=1)
    click.echo(f"delivered report {version.report_id[:12]} v{version.version} ({version.status}) "
               f"as {version.control_id('cli')}: {delivery.detail}")


@main.group(invoke_without_command=True)
@store_option
@click.option("--all", "include_signed", is_flag=True, help="Signed reports too.")
@click.pass_context
@friendly
def drafts(ctx: click.Context, store_path: str | None, include_signed: bool) -> None:
    """Reports in the store that are not signed final: what survives a crash."""
    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    import datetime as dt


    store = _store(store_path)
    found = store.drafts(include_signed=include_signed)
    if not found:
        click.echo(f"no drafts in {store.path}", err=True)
    for d in found:
        when = dt.datetime.fromtimestamp(d.updated_at).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{d.id[:12]}  {d.status:<11} {d.template_id:<28} {d.utterances:>3} utterances  {when}  {d.accession or ''}".rstrip())


@drafts.command("show")
@click.argument("draft_id")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.pass_context
@friendly
def drafts_show(ctx: click.Context, draft_id: str, as_json: bool) -> None:
    """One stored report, as `radscribe dictate` prints it."""

    store = _store(ctx.obj.get("store"))
    report = store.load_report(draft_id, _library())
    if as_json:
        click.echo(json.dumps(_report_json(report), ensure_ascii=False))
    else:
        click.echo(report.render(with_unaccepted=True), nl=False)


def _since(value: str | None) -> float | None:
    if not value:
        return None
    import datetime as dt

    try:
        day = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: give a date as YYYY-MM-DD (or YYYY-MM-DDTHH:MM)")
    return day.astimezone().timestamp()


@main.command()
@click.option("--since", help="Only reports first signed on or after this date (YYYY-MM-DD, local time).")
@click.option("--facility", help="Only this facility (its id, as on the worklist).")
@click.option("--csv", "as_csv", is_flag=True, help="One tidy CSV (table, row, column, value) instead of tables.")
@store_option
@friendly
def stats(since: str | None, facility: str | None, as_csv: bool, store_path: str | None) -> None:
    """Turnaround, critical-result communication, flags, dictation and peer review figures."""
    from . import stats as st
    from .config import load_config

    config = load_config()
    tables = st.compute(_store(store_path), config.practice, since=_since(since), facility=facility)
    click.echo(st.as_csv(tables) if as_csv else st.as_text(tables), nl=False)


@main.group()
def review() -> None:
    """Peer review: sample signed reports, list them, record RADPEER scores."""


@review.command("sample")
@click.option("--percent", type=click.FloatRange(0, 100, min_open=True), required=True, help="Share of each reader's finals to review.")
@click.option("--since", help="Finals signed on or after this date (YYYY-MM-DD).")
@click.option("--seed", type=int, help="Seed the random choice (repeatable samples for audits).")
@store_option
@friendly
def review_sample(percent: float, since: str | None, seed: int | None, store_path: str | None) -> None:
    """Pick PERCENT of each reader's signed finals (at least one each) for peer review."""
    import random

    from .review import sample

    picked = sample(_store(store_path), percent, since=_since(since), rng=random.Random(seed) if seed is not None else None)
    if not picked:
        click.echo("no signed finals to sample", err=True)
    for reader, rows in picked.items():
        click.echo(f"{reader}: {len(rows)} report{'s' * (len(rows) != 1)} for review")


@review.command("list")
@click.option("--all", "show_all", is_flag=True, help="Scored reviews too.")
@store_option
@friendly
def review_list(show_all: bool, store_path: str | None) -> None:
    """Reviews waiting for a score (or all of them)."""
    import datetime as dt

    rows = _store(store_path).reviews(pending=None if show_all else True)
    if not rows:
        click.echo("no reviews waiting" if not show_all else "no reviews", err=True)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["sampled_at"]).strftime("%Y-%m-%d")
        score = f"score {r['score']} by {r['reviewer']}" if r["score"] else "waiting"
        click.echo(f"{r['id']:>5}  report {r['report_id'][:12]} v{r['version']}  reader {r['author']:<12} sampled {when}  {score}")


@review.command("score")
@click.argument("review_id", type=int)
@click.argument("score", type=click.Choice(["1", "2a", "2b", "3a", "3b"], case_sensitive=False))
@click.option("--comment", default="", help="What the reviewer saw (required for 2 and 3).")
@store_option
@friendly
def review_score(review_id: int, score: str, comment: str, store_path: str | None) -> None:
    """Record a RADPEER score for a sampled report (the reviewer is [reader] id)."""
    if score != "1" and not comment.strip():
        fail("a discrepancy (score 2 or 3) needs --comment saying what was missed or misread")
    _store(store_path).record_review(review_id, score.lower(), comment.strip())
    click.echo(f"review {review_id}: score {score.lower()} recorded")


@main.command()
@click.argument("report_id")
@click.option("--diff", "show_diff", is_flag=True, help="Print what each version changed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version per line.")
@store_option
@friendly
def versions(report_id: str, show_diff: bool, as_json: bool, store_path: str | None) -> None:
    """Every signed version of a report (preliminary, final, addenda, corrections), never edited."""
    import datetime as dt

    from .versions import describe_differences

    store = _store(store_path)
    full = store.load_report(report_id, _library()).id  # a short id works as in `drafts show`
    rows = store.versions(full)
    if not rows:
        click.echo(f"report {full[:12]} has no signed version yet", err=True)
    for v in rows:
        diff = json.loads(v["differences"]) if v["differences"] else None
        if as_json:
            click.echo(json.dumps({"version": v["version"], "status": v["status"], "kind": v["kind"],
                                   "signer": v["signer_id"] or v["signer_name"], "signed_at": v["signed_at"],
                                   "text": v["text"], "differences": diff, "metrics": json.loads(v["metrics"])},
                                  ensure_ascii=False))
            continue
        when = dt.datetime.fromtimestamp(v["signed_at"]).strftime("%Y-%m-%d %H:%M")
        click.echo(f"v{v['version']}  {v['kind']:<11} {v['status']:<11} {when}  {v['signer_name'] or v['signer_id'] or '-'}")
        if show_diff and diff is not None:
            for line in describe_differences(diff):
                click.echo(f"    {line}")


@main.command()
@click.argument("report_id", required=False)
@click.option("--since", help="Entries on or after this date (YYYY-MM-DD).")
@store_option
@friendly
def audit(report_id: str | None, since: str | None, store_path: str | None) -> None:
    """The audit log: who opened, dictated, signed, exported, reviewed which study, when."""
    import datetime as dt

    store = _store(store_path)
    full = store.load_report(report_id, _library()).id if report_id else None
    for a in store.audit_log(full, _since(since)):
        when = dt.datetime.fromtimestamp(a["at"]).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{when}  {a['actor']:<12} {a['action']:<22} {(a['report_id'] or '-')[:12]:<12} "
                   f"{a['accession']:<12} {a['detail']}".rstrip())


@main.command()
@store_option
@friendly
def critical(store_path: str | None) -> None:
    """Critical results not yet communicated, across every study, with time left to the deadline."""
    import time as _time

    rows = _store(store_path).open_critical()
    if not rows:
        click.echo("no critical result waiting to be communicated", err=True)
    for line in critical_lines(rows, _time.time()):
        click.echo(line)


def critical_lines(rows: list[Any], now: float) -> list[str]:
    from .practice import deadline_text

    out = []
    for r in rows:
        minutes = (now - r["dictated_at"]) / 60
        left = deadline_text(r["dictated_at"], r["deadline_minutes"], now)
        out.append(f"{r['finding']:<28} {r['accession'] or r['report_id'][:12]:<14} {r['facility'] or '-':<12} "
                   f"dictated {minutes:.0f} min ago, ACR {r['acr_category'] or '-'}: {left}")
    return out


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
@click.option("--model", help="A CTranslate2 model folder or size name, for radscribe and the plain baseline alike "
              "(default: the bundled tiny.en).")
@click.option("--sentence-pauses", is_flag=True,
              help="Also read the Radiopaedia texts with a pause after each sentence, as radiologists dictate.")
@friendly
def bench_asr(limit: int | None, latency_items: int, data: str | None, as_json: bool, texts: int, ablation: bool,
              model: str | None, sentence_pauses: bool) -> None:
    """Speech recognition accuracy and speed on synthesised radiology dictations."""
    from .bench import asr

    if ablation:
        result = asr.ablation(limit=limit, echo=click.echo, model=model)
        if as_json:
            click.echo(json.dumps(result))
        return
    asr.run(limit=limit, latency_items=latency_items, data=data, as_json=as_json, echo=click.echo, texts_limit=texts,
            model=model, sentence_pauses=sentence_pauses)


@bench.command("commands")
@click.option("--limit", type=int, help="Only the first N dictated sentences.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
@friendly
def bench_commands(limit: int | None, as_json: bool) -> None:
    """Voice commands obeyed, and dictation never taken for a command, against exact matching."""
    from .bench import commands

    result = commands.run(echo=click.echo, limit=limit)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("checks")
@click.option("--data", type=click.Path(file_okay=False), help="The shared evaluation data folder (default: ../shared/data if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
@friendly
def bench_checks(data: str | None, as_json: bool) -> None:
    """Critical findings, negation and chest radiograph labels against keyword baselines; speed."""
    from .bench import checks

    result = checks.run(echo=click.echo, data=data)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("export")
@click.option("--messages", type=int, default=200, show_default=True, help="Reports signed and delivered for throughput.")
@click.option("--latency-items", type=int, default=50, show_default=True, help="Reports timed one at a time, sign to ACK.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
@friendly
def bench_export(messages: int, latency_items: int, as_json: bool) -> None:
    """Signed reports to a local HL7 receiver: throughput and sign-to-ACK time, against a plain client."""
    from .bench import export

    result = export.run(echo=click.echo, messages=messages, latency_items=latency_items)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("tui")
@click.option("--seconds", type=float, help="How long to press keys (default: the length of the dictation).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
@friendly
def bench_tui(seconds: float | None, as_json: bool) -> None:
    """Keypress response in the terminal UI while speech is recognised, against an idle UI."""
    from .bench import tui

    result = tui.run(echo=click.echo, seconds=seconds)
    if as_json:
        click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
