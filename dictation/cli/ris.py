"""The RIS: outbox, worklist, listen-orders, export."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import click

from dictation.cli.base import fail, friendly, main, station, store_option
from dictation.errors import DataFileError


@main.group(invoke_without_command=True)
@store_option
@click.pass_context
@friendly
def outbox(ctx: click.Context, store_path: str | None) -> None:
    """Signed reports on their way to the RIS: per destination pending, sent, failing, dead-lettered."""
    import datetime as dt

    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    ws = station(store_path)
    store = ws.open_store()
    box = ws.outbox_view(store)
    states = box.states()
    if not states:
        click.echo(f"no destinations configured and nothing queued in {store.where}", err=True)
    for st in states:
        flag = "ALERT  " if st.alert else ""
        click.echo(f"{flag}{st.name}: {st.pending} pending ({st.failing} failing), {st.in_flight} in flight, "
                   f"{st.sent} sent, {st.dead} dead-lettered")
        if st.last_error and (st.failing or st.dead):
            click.echo(f"    last error: {st.last_error}")
    for m in box.messages(states=("pending", "in_flight", "dead")):
        when = dt.datetime.fromtimestamp(m.created_at).strftime("%Y-%m-%d %H:%M")
        note = f"  {m.last_error}" if m.last_error else ""
        held = store.held_behind(m.id) if m.state == "dead" else 0
        if held:
            note += f"  (holds back {held} later version{'s' * (held > 1)}: retry it, or `outbox release {m.id}`)"
        click.echo(f"  #{m.id:<5} {m.state:<9} {m.destination:<12} report {m.report_id[:12]} v{m.version} "
                   f"{m.status:<11} {m.control_id}  queued {when}, {m.attempts} attempts{note}")


@outbox.command("retry")
@click.argument("message_id", type=int)
@click.pass_context
@friendly
def outbox_retry(ctx: click.Context, message_id: int) -> None:
    """Send a failing or dead-lettered message again now (after fixing its cause)."""
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    box = ws.outbox_view(store)
    if not box.retry(message_id):
        fail(f"no failing or dead-lettered message #{message_id} in {store.where} (`radscribe outbox` lists them)")
    click.echo(f"message #{message_id} will be sent on the next delivery (`radscribe outbox send`)")


@outbox.command("release")
@click.argument("message_id", type=int)
@click.pass_context
@friendly
def outbox_release(ctx: click.Context, message_id: int) -> None:
    """Let a dead-lettered message go (audited): the later versions of its report that wait
    behind it are sent. Use it when the receiver will never take that version."""
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    if not ws.outbox_view(store).release(message_id):
        fail(f"no dead-lettered message #{message_id} in {store.where} (`radscribe outbox` lists them)")
    click.echo(f"message #{message_id} released: later versions of its report go on the next delivery")


@outbox.command("send")
@click.option("--wait", type=float, default=0, help="Keep delivering (with retries) for up to this many seconds.")
@click.pass_context
@friendly
def outbox_send(ctx: click.Context, wait: float) -> None:
    """Deliver what is due now; exit 1 if anything is still undelivered."""
    ws = station(ctx.obj.get("store"))
    box = ws.outbox(ws.open_store())
    if box is None:
        fail("no [[export]] destinations in the config; see docs/ris-integration.md")
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
    """Studies waiting to be read: STAT first, then the longest waiting; who reads each one."""
    from dictation.store.claims import being_read

    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    store = station(store_path).open_store()
    rows = store.worklist()
    if not rows:
        click.echo(f"no studies waiting in {store.where}", err=True)
    now = time.time()
    for r in rows:
        minutes = int((now - r.ordered_at) // 60)
        draft = " draft" if store.draft_for(r.id) else ""
        changed = f"  ORDER CHANGED ({r.order_changed.replace(',', ', ')})" if r.order_changed else ""
        claimed = f"  {being_read(r.claimed_by, r.claimed_at)}" if r.claim_until > now and r.claimed_by else ""
        click.echo(f"{r.priority.upper():<8}{minutes:>6} min  {r.accession:<14} {(r.exam or r.exam_code)[:28]:<28} "
                   f"{r.facility[:16]:<16} {r.template_id or 'generic'}{draft}{changed}{claimed}")


@worklist.command("claim")
@click.argument("accession", required=False)
@click.option("--next", "take_next", is_flag=True, help="The most urgent study nobody is reading, at a facility "
                                                         "where you hold a valid licence.")
@click.option("--facility", help="When two facilities use the same accession number.")
@click.pass_context
@friendly
def worklist_claim(ctx: click.Context, accession: str | None, take_next: bool, facility: str | None) -> None:
    """Claim a study for the configured reader (other workstations see who reads it); prints
    its accession and facility. The claim runs out after 5 minutes unless a screen keeps it."""
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    if take_next == bool(accession):
        fail("give an ACCESSION or --next (one of them)")
    if take_next:
        item = store.claim_next(ws.reader_name, not_at=ws.unlicensed_facilities())
        if item is None:
            click.echo("nothing to claim: every study waiting is being read, or at a facility you hold no licence for",
                       err=True)
            sys.exit(1)
    else:
        item = store.worklist_item(str(accession), facility)
        if item is None:
            fail(f"no study with accession {accession!r} (`radscribe worklist` lists them)")
        store.claim_study(item.id, ws.reader_name)
    click.echo(f"{item.accession}\t{item.facility}\t{item.priority}")


@worklist.command("release")
@click.argument("accession")
@click.option("--facility", help="When two facilities use the same accession number.")
@click.option("--admin", is_flag=True, help="Release whoever's claim it is (audited, naming who held it).")
@click.pass_context
@friendly
def worklist_release(ctx: click.Context, accession: str, facility: str | None, admin: bool) -> None:
    """End a claim on a study: your own, or with --admin anyone's."""
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    item = store.worklist_item(accession, facility)
    if item is None:
        fail(f"no study with accession {accession!r} (`radscribe worklist` lists them)")
    if not store.release_study(item.id, ws.reader_name, admin=ws.reader_name if admin else ""):
        fail(f"{accession}: no claim of yours to release" + ("" if admin else " (--admin releases another reader's)"))
    click.echo(f"{accession}: released")


@worklist.command("changed")
@click.pass_context
@friendly
def worklist_changed(ctx: click.Context) -> None:
    """Studies whose order changed (or was cancelled) after their report was started, signed
    reports included: each needs a look (exit 1 when there is one)."""
    store = station(ctx.obj.get("store")).open_store()
    rows = store.changed_orders()
    for r in rows:
        click.echo(f"{r.accession:<14} {r.facility[:16]:<16} report {r.report_status or '-':<11} "
                   f"changed: {r.order_changed.replace(',', ', ')}")
    if rows:
        sys.exit(1)
    click.echo("no order changed under a report", err=True)


@worklist.command("ack")
@click.argument("accession")
@click.option("--facility", help="When two facilities use the same accession number.")
@click.pass_context
@friendly
def worklist_ack(ctx: click.Context, accession: str, facility: str | None) -> None:
    """The changed order was looked at (and the report fixed if it needed it): audited."""
    store = station(ctx.obj.get("store")).open_store()
    item = store.worklist_item(accession, facility)
    if item is None:
        fail(f"no study with accession {accession!r} (`radscribe worklist` lists them)")
    store.acknowledge_order_change(item.id)
    click.echo(f"{accession}: changed order acknowledged")


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
    ws = station(ctx.obj.get("store"))
    store = ws.open_store()
    if template_id:
        ws.library.get(template_id)  # a bad id is an error now, not when the study is opened
    else:
        template_id = ws.order_handler(store).template_for(exam_code, facility)
    store.add_worklist_item(accession, exam=exam, exam_code=exam_code, patient_id=patient_id, patient_name=patient_name,
                            sex=sex.upper(), birth_date=birth_date, facility=facility, priority=priority,
                            template_id=template_id, ordered_at=time.time() - ordered_minutes_ago * 60)
    click.echo(f"{accession}: on the worklist ({priority}, template {template_id or 'generic'})")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@main.command("listen-orders")
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port (default: [orders] port in the config).")
@click.option("--host", help="Address to listen on (default: [orders] host, else 127.0.0.1).")
@store_option
@friendly
def listen_orders(port: int | None, host: str | None, store_path: str | None) -> None:
    """Receive ORM^O01 / OMI^O23 orders and ADT patient updates (A08, A31, A40) over MLLP and keep
    the worklist in step (Ctrl-C or SIGTERM stops)."""
    from dictation.ris.orders import describe

    ws = station(store_path)
    config = ws.config
    port = port or config.orders_port
    if not port:
        fail("give --port, or set [orders] port in the config")
    store = ws.open_store()
    ws.check_order_templates()
    handler = ws.order_handler(store, on_order=lambda r: click.echo(describe(r)))
    try:
        server = ws.orders_listener(handler, host, port)
    except (OSError, ValueError) as e:  # the address is taken, or the TLS files are not a key pair
        fail(f"cannot listen on {host or config.orders_host}:{port}: {getattr(e, 'strerror', None) or e}")
    click.echo(f"radscribe: listening for orders on {server.server_address[0]!s}:{server.port} (store {store.where})", err=True)
    # A service manager stops it with SIGTERM: the same clean stop as Ctrl-C (an order's storing
    # is one transaction; one cut short is not acknowledged, and its sender sends it again).
    signal.signal(signal.SIGTERM, _interrupt)
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
    import os

    from dictation.data.files import read_text
    from dictation.ris.destinations import destination_for_target
    from dictation.ris.document import ReportVersion

    dest = destination_for_target(hl7=hl7_target, fhir=fhir_target, dicom=dicom_target, folder=dir_target, obx=obx,
                                  timeout=timeout, token=os.environ.get("RADSCRIBE_FHIR_TOKEN"))
    try:
        data = json.loads(read_text(Path(report_json)))
    except DataFileError as e:
        fail(f"{report_json}: {e.detail}")
    except json.JSONDecodeError as e:
        fail(f"{report_json}: not JSON ({e.msg} at line {e.lineno})")
    if not isinstance(data, dict) or "template" not in data:
        fail(f"{report_json}: not a radscribe report (as `radscribe dictate --json` prints)")
    ws = station()
    version = ReportVersion.from_json(data, ws.library.get(str(data["template"])), ws.signer)
    payload = dest.build(version)
    delivery = dest.deliver(payload)
    dest.close()
    if delivery.outcome != "sent":
        fail(f"not delivered: {delivery.detail}", code=1)
    click.echo(f"delivered report {version.report_id[:12]} v{version.version} ({version.status}) "
               f"as {version.control_id('cli')}: {delivery.detail}")


