"""Reports: templates, dictate, check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dictation.cli.base import fail, friendly, main, server_option, speech_server, station, store_option
from dictation.errors import DataFileError

if TYPE_CHECKING:
    from dictation.reporting.controller import ReportController
    from dictation.speech.audio import Samples
    from dictation.speech.recognizer import Recognizer
    from dictation.speech.segmenter import Utterance


@main.group()
def templates() -> None:
    """Report templates: list, check (lint), show."""


@templates.command("list")
@friendly
def templates_list() -> None:
    """Every template id with its title, modality and file (site templates override built-ins)."""
    library = station().library
    for t in library:
        click.echo(f"{t.id:<28} {t.spec.modality:<3} {t.title:<45} {t.path}")


@templates.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@friendly
def templates_check(paths: tuple[str, ...]) -> None:
    """Lint templates: the given files or folders, or every template in use (exit 1 on problems)."""
    from dictation.reporting.lint import check_paths

    if paths:
        targets = [Path(p) for p in paths]
    else:
        library = station().library
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
    from dictation.reporting.report import Report

    t = station().library.get(template_id)
    if as_json:
        click.echo(json.dumps(t.spec.model_dump(), indent=2))
        return
    click.echo(Report.new(t).render(with_unaccepted=True), nl=False)


@main.command()
@click.argument("audio", type=click.Path(dir_okay=False))
@click.option("--template", "template_id", help="Template id (`radscribe templates list`).")
@click.option("--accession", help="The worklist study: its order gives the patient, the template and the facility.")
@click.option("--facility", help="With --accession: the facility, when two use the same accession number.")
@click.option("--resume", "resume_id", help="Go on dictating into this draft instead of a new report.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option("--model", help="CTranslate2 model folder or faster-whisper size name.")
@store_option
@click.option("--no-route", is_flag=True, help="Keep every sentence in the active field (no routing by anatomy).")
@click.option("--realtime", is_flag=True, help="Replay AUDIO in real time through the live session, as a microphone.")
@click.option("--progress", is_flag=True, help="Print each utterance to stderr once it is stored.")
@server_option
@click.option("--amend", type=click.Choice(["addendum", "correction"]),
              help="With --resume on a report signed final: the recording is an addendum or a correction "
                   "(say \"sign report\" at the end to sign it).")
@friendly
def dictate(audio: str, template_id: str | None, accession: str | None, facility: str | None, resume_id: str | None,
            as_json: bool, model: str | None, store_path: str | None, no_route: bool, realtime: bool, progress: bool,
            server_url: str | None, amend: str | None) -> None:
    """The whole chain on a recording: voice commands obeyed, report built and stored as a draft."""
    from dictation.reporting.exchange import report_json
    from dictation.reporting.records import Handled
    from dictation.reporting.report import Report, load_report
    from dictation.speech.audio import decode_file
    from dictation.speech.segmenter import SegmenterOptions, split_utterances
    from dictation.speech.server import make_recognizer
    from dictation.status import ReportStatus

    if template_id is None and resume_id is None and accession is None:
        fail("give --template ID for a new report, --accession ACC for a worklist study, or --resume DRAFT")
    if accession is not None and (template_id is not None or resume_id is not None):
        fail("--accession takes the study's own template and draft: give it alone")
    ws = station(store_path)
    config = ws.config
    server = speech_server(server_url, config)
    samples = decode_file(audio)  # a bad file is a one-line error before anything loads
    utterances = split_utterances(samples, SegmenterOptions(end_silence_ms=config.end_silence_ms))
    if not utterances:
        fail(f"{audio}: no speech found (silence or noise only); nothing stored")
    store = ws.open_store()
    if resume_id is not None:
        resume_id = store.resolve_report_id(resume_id)  # a draft that does not exist is said first
        if template_id is not None:
            fail("give --template ID for a new report or --resume DRAFT to go on with one, not both")
        if store.report_status(resume_id) == ReportStatus.DISCARDED:
            fail(f"report {resume_id[:12]} was discarded; start a new one with --template")
    if accession is not None:
        item = store.worklist_item(accession, facility)
        if item is None:
            fail(f"no study with accession {accession!r} on the worklist (`radscribe worklist` lists them)")
        if item.state in ("done", "cancelled"):
            fail(f"study {accession} is {'signed final' if item.state == 'done' else 'cancelled'}"
                 + (": amend its report with --resume ID --amend addendum" if item.state == "done" else ""))
        report = ws.report_for_study(item, store)  # its draft, or a new report from its order
    else:
        report = load_report(store, resume_id, ws.library) if resume_id else Report.new(ws.library.get(template_id or ""))
    refusal = report.amendment_refusal(amend)
    if refusal:
        fail(f"{refusal} (" + ("--resume it without --amend)" if amend else "add --amend addendum or --amend correction)"))

    refused: list[str] = []  # signings refused, said at the end with exit status 1
    recognizer = make_recognizer(model, server)
    local: list[int] = []  # utterances this workstation read because the server did not

    def show(handled: Handled) -> None:
        r = handled.record
        if server is not None and r.decoder and r.decoder != recognizer.label:
            if not local:  # said at once, not only at the end
                click.echo(f"radscribe: {getattr(recognizer, 'why', '') or 'the speech server did not answer'}: "
                           f"read on this workstation ({r.decoder})", err=True)
            local.append(r.seq)
        if handled.command is not None and handled.command.name.startswith("sign_") and not handled.outcome.ok:
            refused.append(handled.outcome.message)
        if progress:
            what = f"[{r.command}] {r.message}" if r.command else f"→ {r.slot}: {r.text}"
            where = "kept on this workstation (the store cannot be reached):" if handled.unsent else "stored"
            click.echo(f"{where} utterance {r.seq} ({r.kind}) {what}", err=True)

    outbox = ws.outbox(store)
    controller = ws.controller(report, store, outbox=outbox, route=config.route_by_anatomy and not no_route,
                               on_handled=show)
    try:
        _dictate_into(controller, audio, samples, utterances, recognizer, realtime, amend, config.end_silence_ms)
    finally:
        controller.close()
    if controller.unsent.records:  # nothing lost, nothing signed: said, with where it waits
        reason = controller.unsent.reason.removesuffix("; nothing was written")
        fail(f"{reason}: {len(controller.unsent)} utterances of report "
             f"{report.id[:12]} are kept in {controller.unsent.path}; they go to the store when the report is opened "
             f"again (radscribe dictate --resume {report.id[:12]} FILE, or the terminal UI)")
    if outbox is not None:
        for attempt in outbox.deliver_due():
            click.echo(f"radscribe: {attempt.destination}: {attempt.delivery.outcome}: {attempt.delivery.detail}", err=True)
        for m in outbox.messages(states=("dead",)):  # not built, or refused: said now, not only in `outbox`
            if m.report_id == report.id:
                click.echo(f"radscribe: NOT SENT to {m.destination}: {m.status} v{m.version}: {m.last_error}", err=True)
        outbox.close()
    if controller.check_error:
        click.echo(f"radscribe: {controller.check_error}", err=True)
    if controller.question is not None:  # held at the end: neither obeyed nor written (it is in the store)
        click.echo(f"radscribe: not applied and not written, unanswered: {controller.question.prompt}", err=True)
    if as_json:
        click.echo(json.dumps(report_json(report, controller.recorded_flags()), ensure_ascii=False))
    else:
        click.echo(report.render(), nl=False)
        for flag in controller.flags:
            click.echo(f"radscribe: {flag.describe()}", err=True)
        click.echo(f"radscribe: {report.status} report {report.id} stored in {store.where}", err=True)
    if local:
        click.echo(f"radscribe: {len(local)} utterance{'s' if len(local) != 1 else ''} read on this workstation, "
                   f"not by the speech server ({recognizer.label})", err=True)
    for message in refused:
        click.echo(f"radscribe: {message}", err=True)
    if refused or controller.checks_off:
        sys.exit(1)  # a signing was refused, or the clinical checks did not run


def _dictate_into(controller: ReportController, audio: str, samples: Samples, utterances: list[Utterance],
                  recognizer: Recognizer, realtime: bool, amend: str | None, end_silence_ms: int) -> None:
    """The recording through the controller: its utterances from the file, or the recording
    replayed in real time (the live session finds them as a microphone's)."""
    from dictation.reporting.dictate import dictate_audio
    from dictation.speech.audio import FileSource
    from dictation.speech.segmenter import SegmenterOptions

    report = controller.report
    if not controller.licence.ok:
        click.echo(f"radscribe: warning: {controller.licence.message}", err=True)
    if amend and not report.amendment:
        started = controller.command(f"begin_{amend}", via="command line")
        if not started.outcome.ok:
            fail(started.outcome.message)
    segmenter = SegmenterOptions(end_silence_ms=end_silence_ms)
    if realtime:
        from dictation.speech.session import DictationSession, SessionError

        errors: list[str] = []
        session = DictationSession(FileSource(audio, realtime=True),
                                   lambda e: errors.append(e.message) if isinstance(e, SessionError) else None,
                                   recognizer=recognizer, controller=controller, segmenter=segmenter)
        session.start()
        session.wait()
        if errors:
            fail(errors[0])
    else:
        dictate_audio(samples, recognizer, controller, segmenter, utterances)
    controller.run_checks()  # the final state (the session checked after every utterance)


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
    from dictation.checks import Checker
    from dictation.data.files import read_text

    template = station().library.get(template_id) if template_id else None
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


