"""The ``radscribe`` group, and what every command module shares: one-line errors, ``--store``,
and the workstation (the one composition root) built from the config.

Exit codes: 0 ok, 1 a check found problems or a signing was refused, 2 usage or input error —
always with a one-line message that says what to do, never a traceback for bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn

import click

from dictation.errors import RadscribeError
from dictation.workstation import Workstation

if TYPE_CHECKING:
    from dictation.config import Config
    from dictation.speech.server import SpeechServer


def fail(message: str, code: int = 2) -> NoReturn:
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


def station(store_path: str | None = None) -> Workstation:
    """The workstation as the config describes it; ``--store`` outranks the config's store."""
    return Workstation.from_config(store_path, on_warning=lambda m: click.echo(f"radscribe: warning: {m}", err=True))


store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False),
                            help="SQLite file, or postgresql:// URL of a group's store (default: [store] url or path "
                                 "in the config, else $RADSCRIBE_STORE, else the user data folder).")


server_option = click.option("--server", "server_url", metavar="URL",
                             help="The group's recognition server (https://…; http on loopback only), or `local` "
                                  "for this workstation's model (default: [speech] server in the config, else local).")


def speech_server(url: str | None, config: Config) -> SpeechServer | None:
    """``--server`` over the config's ``[speech] server`` (its deadline, model name and CA kept)."""
    from dataclasses import replace

    from dictation.speech.server import SpeechServer, check_server_url

    if url is None:
        return config.speech_server
    if url.strip().lower() == "local":
        return None
    check_server_url(url)  # a URL audio may not go to: one line, before anything loads
    return replace(config.speech_server, url=url) if config.speech_server else SpeechServer(url)


def device_arg(device: str | None) -> int | str | None:
    """A microphone given as its index or its name."""
    return int(device) if device is not None and device.isdigit() else device


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--audio", type=click.Path(dir_okay=False), help="Replay FILE in real time as the microphone.")
@click.option("--template", "template_id", help="Open a new report from this template at once.")
@click.option("--model", help="Speech model: a CTranslate2 folder or a size name (default: bundled tiny.en).")
@click.option("--device", help="Microphone: index or name (default: the system's default input).")
@server_option
@click.version_option(package_name="radscribe")
@click.pass_context
@friendly
def main(ctx: click.Context, audio: str | None, template_id: str | None, model: str | None, device: str | None,
         server_url: str | None) -> None:
    """radscribe: offline voice-driven structured radiology reporting.

    Without a command, opens the terminal UI.
    """
    from dictation.logs import setup_logging

    setup_logging()  # no patient data goes in it (see dictation/logs.py)
    ws = station()  # the config read once for every command: a broken one is one line; the site's vocabulary is in use
    if ctx.invoked_subcommand is not None:
        return
    server = speech_server(server_url, ws.config)
    if audio is not None:
        from dictation.speech.audio import decode_file

        decode_file(audio)  # a bad file is a one-line error before the screen opens
    from tui.app import run_app

    run_app(audio=audio, template_id=template_id, model=model, device=device_arg(device), server=server)


def run() -> None:
    """The console script: the commands, with click's own usage errors also said in one line
    ("radscribe: no such option: --jsn (radscribe dictate --help)") and exit status 2."""
    try:
        code = main.main(standalone_mode=False, prog_name="radscribe")
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "radscribe"
        click.echo(f"radscribe: {e.format_message()} (see `{where} --help`)", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("radscribe: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"radscribe: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    if isinstance(code, int):
        sys.exit(code)
