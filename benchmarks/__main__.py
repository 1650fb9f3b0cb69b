"""Run a benchmark: ``python -m benchmarks asr|unseen|punctuation|commands|listening|checks|export|robustness|kernels|tui|group|speech-server`` (``make bench`` runs them all).

Benchmarks are not the product: they live beside the package, are not in the wheel, and need the
``bench`` extra (``pip install -e '.[bench,test]'``).
"""

from __future__ import annotations

import json

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--unseen", type=int, default=60, show_default=True,
              help="Indiana chest X-ray sentences per part (tune, frozen test) for `benchmarks unseen`; 0 skips it.")
def bench_asr(limit: int | None, latency_items: int, data: str | None, as_json: bool, texts: int, ablation: bool,
              model: str | None, sentence_pauses: bool, unseen: int) -> None:
    """Speech recognition accuracy and speed on synthesised radiology dictations."""
    from benchmarks import asr

    if ablation:
        result = asr.ablation(limit=limit, echo=click.echo, model=model)
        if as_json:
            click.echo(json.dumps(result))
        return
    asr.run(limit=limit, latency_items=latency_items, data=data, as_json=as_json, echo=click.echo, texts_limit=texts,
            model=model, sentence_pauses=sentence_pauses)
    if unseen:
        from benchmarks import unseen as unseen_material

        click.echo("")
        result = unseen_material.run(echo=click.echo, per_part=unseen, data=data)
        if as_json and result:
            click.echo(json.dumps(result))


@bench.command("unseen")
@click.option("--sentences", type=int, default=60, show_default=True, help="Sentences per part (tune, frozen test).")
@click.option("--data", type=click.Path(file_okay=False), help="The shared evaluation data folder (default: ../shared/data if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_unseen(sentences: int, data: str | None, as_json: bool) -> None:
    """Radiologists' sentences nobody tuned for: tune and frozen test, per voice, against plain tiny.en."""
    from benchmarks import unseen as unseen_material

    result = unseen_material.run(echo=click.echo, per_part=sentences, data=data)
    if as_json and result:
        click.echo(json.dumps(result))


@bench.command("punctuation")
@click.option("--sentences", type=int, default=20, show_default=True, help="Sentences with a comma per part (tune, frozen test).")
@click.option("--data", type=click.Path(file_okay=False), help="The shared evaluation data folder (default: ../shared/data if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_punctuation(sentences: int, data: str | None, as_json: bool) -> None:
    """Spoken commas on sentences nobody tuned for: with and without reading a near word as the mark."""
    from benchmarks import punctuation

    result = punctuation.run(echo=click.echo, per_part=sentences, data=data)
    if as_json and result:
        click.echo(json.dumps(result))


@bench.command("commands")
@click.option("--limit", type=int, help="Only the first N dictated sentences.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_commands(limit: int | None, as_json: bool) -> None:
    """Voice commands obeyed, and dictation never taken for a command, against exact matching."""
    from benchmarks import commands

    result = commands.run(echo=click.echo, limit=limit)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("listening")
@click.option("--seeds", type=int, default=10, show_default=True, help="Seeds of perturbation per part and voice.")
@click.option("--part", "parts", multiple=True, type=click.Choice(["tune", "test"]), help="Only this part (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_listening(seeds: int, parts: tuple[str, ...], as_json: bool) -> None:
    """A stop phrase never taken for a start phrase while listening (the twin check), against no check."""
    from benchmarks import listening

    result = listening.run(echo=click.echo, seeds=seeds, parts=parts or ("tune", "test"))
    if as_json:
        click.echo(json.dumps(result))


@bench.command("checks")
@click.option("--data", type=click.Path(file_okay=False), help="The shared evaluation data folder (default: ../shared/data if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_checks(data: str | None, as_json: bool) -> None:
    """Critical findings, negation and chest radiograph labels against keyword baselines; speed."""
    from benchmarks import checks

    result = checks.run(echo=click.echo, data=data)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("export")
@click.option("--messages", type=int, default=200, show_default=True, help="Reports signed and delivered for throughput.")
@click.option("--latency-items", type=int, default=50, show_default=True, help="Reports timed one at a time, sign to ACK.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_export(messages: int, latency_items: int, as_json: bool) -> None:
    """Signed reports to a local HL7 receiver: throughput and sign-to-ACK time, against a plain client."""
    from benchmarks import export

    result = export.run(echo=click.echo, messages=messages, latency_items=latency_items)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("robustness")
@click.option("--seeds", type=int, default=20, show_default=True, help="Perturbation seeds per voice and script.")
@click.option("--live", type=int, default=6, show_default=True,
              help="Recordings replayed in real time, idle and beside two busy loops.")
@click.option("--part", "parts", type=click.Choice(["tune", "test"]), multiple=True,
              help="The tune part, the frozen test part (default: both, side by side).")
@click.option("--examples", type=int, default=6, show_default=True,
              help="How many of the tune part's errors to print (the test part's are never printed).")
@click.option("--live-only", is_flag=True,
              help="Only the real-time replays: the recordings the whole run would pick, without its offline pass.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_robustness(seeds: int, live: int, parts: tuple[str, ...], examples: int, live_only: bool, as_json: bool) -> None:
    """Commands obeyed, dictation never obeyed, nothing heard twice; the same text on a busy machine."""
    from benchmarks import robustness

    result = robustness.run(echo=click.echo, seeds=seeds, live=live, parts=parts or ("tune", "test"), examples=examples,
                              live_only=live_only)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("kernels")
@click.option("--utterances", type=int, default=60, show_default=True, help="How many utterances to decode each way.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_kernels(utterances: int, as_json: bool) -> None:
    """The same audio through CTranslate2's int8 kernels: the pinned ones, the best for this CPU, Intel MKL."""
    from benchmarks import kernels

    result = kernels.run(echo=click.echo, utterances=utterances)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("tui")
@click.option("--seconds", type=float, help="How long to press keys (default: the length of the dictation).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_tui(seconds: float | None, as_json: bool) -> None:
    """Keypress response in the terminal UI while speech is recognised, against an idle UI."""
    from benchmarks import tui

    result = tui.run(echo=click.echo, seconds=seconds)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("group")
@click.option("--workstations", type=int, default=50, show_default=True, help="Simulated workstations on PostgreSQL.")
@click.option("--studies", type=int, default=10_000, show_default=True, help="Studies on the worklist.")
@click.option("--claims", type=int, default=20, show_default=True, help="Claims per workstation.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_group(workstations: int, studies: int, claims: int, as_json: bool) -> None:
    """A group's shared PostgreSQL store: workstations claiming from one worklist, against one SQLite workstation."""
    from benchmarks import group

    result = group.run(echo=click.echo, workstations=workstations, studies=studies, claims=claims)
    result["outbox"] = group.outbox_kills(echo=click.echo)
    if as_json:
        click.echo(json.dumps(result))


@bench.command("speech-server")
@click.option("--items", type=int, default=12, show_default=True, help="Development-set dictations.")
@click.option("--clients", default="1,4,8", show_default=True, help="Concurrent dictating clients, comma-separated.")
@click.option("--per-client", type=int, default=2, show_default=True, help="Dictations each client replays.")
@click.option("--server", "server_url", help="A group's own server (https://...) instead of WhisperLive started here.")
@click.option("--server-model", default="whisper-1", show_default=True, help="With --server: its name for its model.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON as well.")
def bench_speech_server(items: int, clients: str, per_client: int, server_url: str | None, server_model: str,
                        as_json: bool) -> None:
    """A recognition server (WhisperLive, the same tiny.en) against the local model: WER and latency under load."""
    from benchmarks import speech_server

    result = speech_server.run(echo=click.echo, items=items, clients=tuple(int(c) for c in clients.split(",")),
                               per_client=per_client, server_url=server_url, model=server_model)
    if as_json:
        click.echo(json.dumps(result))


if __name__ == "__main__":
    bench()
