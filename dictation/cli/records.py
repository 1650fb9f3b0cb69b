"""What the store keeps: drafts, versions, audit, critical results, stats, peer review."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dictation.cli.base import fail, friendly, main, station, store_option
from dictation.reporting.report import load_report


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


    store = station(store_path).open_store()
    found = store.drafts(include_signed=include_signed)
    if not found:
        click.echo(f"no drafts in {store.where}", err=True)
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

    from dictation.errors import DataFileError, TemplateNotFound
    from dictation.reporting.exchange import report_json

    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    full = store.resolve_report_id(draft_id)
    try:
        report = load_report(store, full, ws.library)
    except (DataFileError, TemplateNotFound) as e:
        # History does not depend on today's templates: the signed text is shown as it was stored.
        signed = store.latest_version(full)
        if signed is None:
            fail(f"report {full[:12]} cannot be shown: {e}")
        click.echo(f"radscribe: its template cannot be loaded now ({e}); signed version {signed.version} as stored:",
                   err=True)
        if as_json:
            click.echo(json.dumps({"id": full, "status": signed.status, "version": signed.version, "text": signed.text,
                                   "sections": json.loads(signed.sections)}, ensure_ascii=False))
        else:
            click.echo(signed.text, nl=False)
        return
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False))
    else:
        click.echo(report.render(with_unaccepted=True), nl=False)


@drafts.command("discard")
@click.argument("draft_id")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_context
@friendly
def drafts_discard(ctx: click.Context, draft_id: str, yes: bool) -> None:
    """Throw an unsigned draft away (audited; its worklist study waits again). Signed reports
    change only through an addendum or a correction."""
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    full = store.resolve_report_id(draft_id)
    if not yes and not click.confirm(f"Discard draft {full[:12]}?", err=True):
        fail("not discarded", 1)
    store.discard_draft(full)
    click.echo(f"draft {full[:12]} discarded")


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
    from dictation.practice import stats as st

    ws = station(store_path)
    tables = st.compute(ws.open_store(), ws.config.practice, since=_since(since), facility=facility)
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

    from dictation.practice.review import sample

    picked = sample(station(store_path).open_store(), percent, since=_since(since), rng=random.Random(seed) if seed is not None else None)
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

    rows = station(store_path).open_store().reviews(pending=None if show_all else True)
    if not rows:
        click.echo("no reviews waiting" if not show_all else "no reviews", err=True)
    for r in rows:
        when = dt.datetime.fromtimestamp(r.sampled_at).strftime("%Y-%m-%d")
        score = f"score {r.score} by {r.reviewer}" if r.score else "waiting"
        click.echo(f"{r.id:>5}  report {r.report_id[:12]} v{r.version}  reader {r.author:<12} sampled {when}  {score}")


@review.command("score")
@click.argument("review_id", type=int)
@click.argument("score", type=click.Choice(["1", "2a", "2b", "3a", "3b"], case_sensitive=False))
@click.option("--comment", default="", help="What the reviewer saw (required for 2 and 3).")
@store_option
@friendly
def review_score(review_id: int, score: str, comment: str, store_path: str | None) -> None:
    """Record a RADPEER score for a sampled report (the reviewer is [reader] id)."""
    from dictation.practice.review import record_score

    record_score(station(store_path).open_store(), review_id, score, comment)
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

    from dictation.reporting.versions import describe_differences

    ws = station(store_path)
    store = ws.open_store()
    full = store.resolve_report_id(report_id)  # a short id works as in `drafts show`
    rows = store.versions(full)  # as stored: never re-rendered through today's template
    if not rows:
        click.echo(f"report {full[:12]} has no signed version yet", err=True)
    for v in rows:
        diff = json.loads(v.differences) if v.differences else None
        if as_json:
            click.echo(json.dumps({"version": v.version, "status": v.status, "kind": v.kind,
                                   "signer": v.signer_id or v.signer_name, "signed_at": v.signed_at,
                                   "text": v.text, "differences": diff, "metrics": json.loads(v.metrics)},
                                  ensure_ascii=False))
            continue
        when = dt.datetime.fromtimestamp(v.signed_at).strftime("%Y-%m-%d %H:%M")
        click.echo(f"v{v.version}  {v.kind:<11} {v.status:<11} {when}  {v.signer_name or v.signer_id or '-'}")
        if show_diff and diff is not None:
            for line in describe_differences(diff):
                click.echo(f"    {line}")


@main.command()
@click.argument("report_id", required=False)
@click.option("--since", help="Entries on or after this date (YYYY-MM-DD).")
@click.option("--verify", is_flag=True, help="Check the audit log's and the signed versions' hash chains "
                                             "(and the heads recorded outside the store); exit 1 if broken.")
@store_option
@friendly
def audit(report_id: str | None, since: str | None, verify: bool, store_path: str | None) -> None:
    """The audit log: who opened, dictated, signed, exported, reviewed which study, when."""
    import datetime as dt

    from dictation.logs import read_anchors

    store = station(store_path).open_store()
    if verify:
        anchors = read_anchors(store.anchor_key)
        problems = store.verify_chains(anchors)
        for p in problems:
            click.echo(f"radscribe: {store.where}: {p}", err=True)
        if problems:
            sys.exit(1)
        heads = store.chain_heads()
        click.echo(f"{store.where}: intact: {heads.audit_id} audit rows, {heads.versions} signed versions, "
                   f"{len(anchors)} outside anchors match")
        return
    full = store.resolve_report_id(report_id) if report_id else None
    for a in store.audit_log(full, _since(since)):
        when = dt.datetime.fromtimestamp(a.at).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{when}  {a.actor:<12} {a.action:<22} {(a.report_id or '-')[:12]:<12} "
                   f"{a.accession:<12} {a.detail}".rstrip())


@main.command()
@store_option
@friendly
def critical(store_path: str | None) -> None:
    """Critical results not yet communicated, across every study, with time left to the deadline."""
    import time as _time

    rows = station(store_path).open_store().open_critical()
    if not rows:
        click.echo("no critical result waiting to be communicated", err=True)
    for line in critical_lines(rows, _time.time()):
        click.echo(line)


def critical_lines(rows: list[Any], now: float) -> list[str]:
    from dictation.practice.facilities import deadline_text

    out = []
    for r in rows:
        minutes = (now - r.dictated_at) / 60
        left = deadline_text(r.dictated_at, r.deadline_minutes, now)
        out.append(f"{r.finding:<28} {r.accession or r.report_id[:12]:<14} {r.facility or '-':<12} "
                   f"dictated {minutes:.0f} min ago, ACR {r.acr_category or '-'}: {left}")
    return out


