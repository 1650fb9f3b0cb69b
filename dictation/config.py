"""The user's settings: one TOML file (``radscribe config`` paths are in the README).

    [templates]
    folders = ["/srv/radiology/site-templates"]   # site templates; same id overrides a built-in

    [vocab]
    folder = "/srv/radiology/site-vocab"          # lexicon.txt, corrections.toml, macros.toml add to the
                                                  # built-ins (a site entry wins); any other vocab file
                                                  # there replaces the built-in file of that name
    learn_days = 180                              # words typed over what was heard, kept for
                                                  # `radscribe vocab suggest` (0: none kept)

    [dictation]
    route_by_anatomy = true     # send a findings sentence to the field its anatomy words name
    end_silence_ms = 600        # silence that ends an utterance
    push_to_talk = false        # true: listening stops after each utterance until F4

    [store]
    path = "/home/me/radscribe.db"                # default: the user data folder
    # url = "postgresql://db.group.example/radscribe?sslmode=verify-full"   # a group's shared store
    #                           (instead of path; the password in ~/.pgpass, never in the URL)

    [reader]                    # the radiologist who signs (HL7 OBR-32)
    id = "12345"
    family = "Smith"
    given = "Anna"
    licences = [ { jurisdiction = "US-CA", expires = 2027-06-30 } ]   # see practice/facilities.py

    [[facility]]                # the hospitals read for: see dictation/practice/facilities.py
    id = "GENERAL"
    jurisdiction = "US-CA"
    time_zone = "America/Los_Angeles"
    turnaround_minutes = { stat = 30, urgent = 120, routine = 1440 }

    [speech]                    # a group's recognition server (docs/group-deployment.md); without it,
    server = "https://asr.group.example"   # this workstation's model reads (https, or http on loopback)
    deadline_seconds = 3        # an utterance the server has not read by then is read here
    model = "whisper-1"         # the server's name for its model
    ca_file = "/etc/radscribe/group-ca.pem"  # optional: the CA of the server's certificate

    [audio]
    keep = false                # store each utterance's audio (in the store, owner-only)
    keep_days = 7               # purged after this many days

    [outbox]
    alert_after_minutes = 15    # undelivered longer than this: the destination shows an alert

    [orders]                    # `radscribe listen-orders`: ORM^O01 / OMI^O23 in
    tls_cert = "/etc/radscribe/orders.pem"   # optional: TLS (with tls_key); client_ca requires
    tls_key = "/etc/radscribe/orders.key"    #   the sender's certificate signed by that CA
    client_ca = "/etc/radscribe/hospital-ca.pem"
    allow = ["10.1.2.0/24"]     # optional: only these senders (addresses or networks)
    host = "10.1.2.20"          # this workstation's own address (default 127.0.0.1), never 0.0.0.0
    port = 2576
    templates = { "71046" = "xr-chest", "IMG123" = "ct-head" }   # procedure code → template
    [orders.facility_templates.GENERAL]                          # a facility's own codes first
    "CTHEAD1" = "ct-head"

    [[export]]                  # destinations: see dictation/ris/destinations.py
    name = "ris"
    kind = "hl7"
    host = "10.1.2.3"
    port = 2575

The file is found at ``$RADSCRIBE_CONFIG`` or in the user config folder; a missing file means
the defaults. Unknown keys are errors with file and line, like every data file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dictation.data.files import check_keys, line_of, load_toml
from dictation.data.resources import user_file
from dictation.errors import DataFileError
from dictation.practice.facilities import Practice, parse_practice
from dictation.ris.document import Signer

if TYPE_CHECKING:
    from dictation.speech.server import SpeechServer

ENV = "RADSCRIBE_CONFIG"


def config_path() -> Path:
    return user_file(ENV, "config", "config.toml")


@dataclass(frozen=True)
class Config:
    template_folders: list[Path] = field(default_factory=list)
    route_by_anatomy: bool = True
    end_silence_ms: int = 600
    store_path: Path | None = None
    path: Path | None = None
    reader: Signer = field(default_factory=Signer)  # the radiologist who signs
    destinations: list[Any] = field(default_factory=list)
    alert_after_minutes: float = 15.0
    orders_host: str = "127.0.0.1"
    orders_port: int | None = None
    order_templates: dict[str, str] = field(default_factory=dict)
    facility_templates: dict[str, dict[str, str]] = field(default_factory=dict)
    push_to_talk: bool = False
    practice: Practice = field(default_factory=Practice)
    keep_audio: bool = False
    keep_audio_days: int = 7
    vocab_folder: Path | None = None  # the site's vocabulary, layered over the built-in one
    orders_tls: dict[str, str] = field(default_factory=dict)  # tls_cert, tls_key, client_ca (paths)
    orders_allow: list[str] = field(default_factory=list)  # sender addresses or networks; empty: any
    learn_days: int = 180  # words typed over what was heard are kept this long for `vocab suggest` (0: not kept)
    store_url: str | None = None  # a group's PostgreSQL store (instead of store_path)
    speech_server: SpeechServer | None = None  # a group's recognition server


def load_config(path: Path | None = None) -> Config:
    path = Path(path) if path else config_path()
    if not path.exists():
        if os.environ.get(ENV):
            raise DataFileError(path, None, f"config file not found (named by ${ENV})")
        return Config()
    data = load_toml(path, {"templates": dict, "dictation": dict, "store": dict, "reader": dict, "outbox": dict,
                            "export": list, "orders": dict, "facility": list, "audio": dict, "vocab": dict,
                            "speech": dict})
    text = data["__text__"]
    check_keys(path, data, "templates", {"folders"})
    check_keys(path, data, "dictation", {"route_by_anatomy", "end_silence_ms", "push_to_talk"})
    check_keys(path, data, "store", {"path", "url"})
    check_keys(path, data, "reader", {"id", "family", "given", "licences", "licence_warning_days"})
    check_keys(path, data, "audio", {"keep", "keep_days"})
    check_keys(path, data, "outbox", {"alert_after_minutes"})
    reader = {k: v for k, v in data.get("reader", {}).items() if k in ("id", "family", "given")}
    if not all(isinstance(v, str) for v in reader.values()):
        raise DataFileError(path, line_of(text, "reader"), "[reader] id, family and given must be text")
    alert = data.get("outbox", {}).get("alert_after_minutes", 15)
    if not isinstance(alert, int | float) or alert <= 0:
        raise DataFileError(path, line_of(text, "alert_after_minutes"), "[outbox] alert_after_minutes must be a positive number")
    check_keys(path, data, "orders", {"host", "port", "templates", "facility_templates", "tls_cert", "tls_key",
                                      "client_ca", "allow"})
    orders = data.get("orders", {})
    host = orders.get("host", "127.0.0.1")
    port = orders.get("port")
    mapping = orders.get("templates", {})
    if not isinstance(host, str) or (port is not None and (not isinstance(port, int) or not 0 < port < 65536)):
        raise DataFileError(path, line_of(text, "orders"), "[orders] host must be text and port a number from 1 to 65535")
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise DataFileError(path, line_of(text, "templates"), "[orders] templates maps procedure codes to template ids")
    by_facility = orders.get("facility_templates", {})
    if not isinstance(by_facility, dict) or not all(
            isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
            for m in by_facility.values()):
        raise DataFileError(path, line_of(text, "facility_templates"),
                            "[orders.facility_templates] maps a facility to { procedure code = template id }")
    tls = {k: orders[k] for k in ("tls_cert", "tls_key", "client_ca") if k in orders}
    for key, value in tls.items():
        if not isinstance(value, str) or not (path.parent / Path(value).expanduser()).is_file():
            raise DataFileError(path, line_of(text, key), f"[orders] {key} {value!r} is not a file")
    if tls and not ("tls_cert" in tls and "tls_key" in tls):
        raise DataFileError(path, line_of(text, "orders"), "[orders] TLS needs both tls_cert and tls_key")
    tls = {k: str(path.parent / Path(v).expanduser()) for k, v in tls.items()}
    allow = orders.get("allow", [])
    try:
        import ipaddress

        if not isinstance(allow, list):
            raise ValueError
        for a in allow:
            ipaddress.ip_network(str(a), strict=False)
    except ValueError:
        raise DataFileError(path, line_of(text, "allow"), "[orders] allow is a list of addresses or networks, "
                            "like [\"10.1.2.0/24\", \"127.0.0.1\"]") from None
    from dictation.ris.destinations import parse_destinations

    destinations = parse_destinations(data.get("export", []), path, text)
    practice = parse_practice(data.get("facility", []), data.get("reader", {}), [d.name for d in destinations], path, text)
    audio = data.get("audio", {})
    keep, keep_days = audio.get("keep", False), audio.get("keep_days", 7)
    if not isinstance(keep, bool):
        raise DataFileError(path, line_of(text, "keep"), "[audio] keep must be true or false")
    if not isinstance(keep_days, int) or isinstance(keep_days, bool) or not 1 <= keep_days <= 3650:
        raise DataFileError(path, line_of(text, "keep_days"), "[audio] keep_days must be a whole number of days from 1 to 3650")
    folders = data.get("templates", {}).get("folders", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise DataFileError(path, line_of(text, "folders"), "[templates] folders must be a list of folder paths")
    dictation = data.get("dictation", {})
    route = dictation.get("route_by_anatomy", True)
    if not isinstance(route, bool):
        raise DataFileError(path, line_of(text, "route_by_anatomy"), "[dictation] route_by_anatomy must be true or false")
    silence = dictation.get("end_silence_ms", 600)
    if not isinstance(silence, int) or not 200 <= silence <= 3000:
        raise DataFileError(path, line_of(text, "end_silence_ms"), "[dictation] end_silence_ms must be a whole number from 200 to 3000")
    push_to_talk = dictation.get("push_to_talk", False)
    if not isinstance(push_to_talk, bool):
        raise DataFileError(path, line_of(text, "push_to_talk"), "[dictation] push_to_talk must be true or false")
    store = data.get("store", {}).get("path")
    if store is not None and not isinstance(store, str):
        raise DataFileError(path, line_of(text, "path"), "[store] path must be a file path")
    store_url = data.get("store", {}).get("url")
    if store_url is not None:
        store_url = _store_url(path, line_of(text, "url"), store_url, store)
    base = path.parent
    check_keys(path, data, "vocab", {"folder", "learn_days"})
    learn_days = data.get("vocab", {}).get("learn_days", 180)
    if not isinstance(learn_days, int) or isinstance(learn_days, bool) or not 0 <= learn_days <= 3650:
        raise DataFileError(path, line_of(text, "learn_days"), "[vocab] learn_days must be a whole number of days, 0 to 3650")
    vocab = data.get("vocab", {}).get("folder")
    if vocab is not None and (not isinstance(vocab, str) or not (base / Path(vocab).expanduser()).is_dir()):
        raise DataFileError(path, line_of(text, "folder"), f"[vocab] folder {vocab!r} is not a folder")
    return Config([(base / Path(f).expanduser()) for f in folders], route, silence,
                  (base / Path(store).expanduser()) if store else None, path, Signer(**reader), destinations, float(alert),
                  host, port, dict(mapping), {**practice.template_mapping(), **{k: dict(v) for k, v in by_facility.items()}},
                  push_to_talk, practice, keep, keep_days, (base / Path(vocab).expanduser()) if vocab else None,
                  tls, [str(a) for a in allow], learn_days, store_url, _speech_server(path, data))


def _speech_server(path: Path, data: dict[str, Any]) -> SpeechServer | None:
    """``[speech]``: the group's recognition server, checked as audio may go to it."""
    from dictation.errors import ModelError
    from dictation.speech.server import DEFAULT_DEADLINE, SpeechServer, check_server_url

    check_keys(path, data, "speech", {"server", "deadline_seconds", "model", "ca_file"})
    speech, text = data.get("speech", {}), data["__text__"]
    if "server" not in speech:
        if speech:
            raise DataFileError(path, line_of(text, "speech"), "[speech] needs server = \"https://...\" (or remove the section)")
        return None
    url, model = speech["server"], speech.get("model", "whisper-1")
    deadline, ca = speech.get("deadline_seconds", DEFAULT_DEADLINE), speech.get("ca_file")
    try:
        if not isinstance(url, str):
            raise ModelError("[speech] server must be a URL")
        check_server_url(url)
    except ModelError as e:
        raise DataFileError(path, line_of(text, "server"), str(e)) from None
    if not isinstance(deadline, int | float) or isinstance(deadline, bool) or not 0.2 <= deadline <= 60:
        raise DataFileError(path, line_of(text, "deadline_seconds"), "[speech] deadline_seconds must be a number from 0.2 to 60")
    if not isinstance(model, str) or not model.strip():
        raise DataFileError(path, line_of(text, "model"), "[speech] model must be the server's name for its model")
    if ca is not None and (not isinstance(ca, str) or not (path.parent / Path(ca).expanduser()).is_file()):
        raise DataFileError(path, line_of(text, "ca_file"), f"[speech] ca_file {ca!r} is not a file")
    return SpeechServer(url, float(deadline), model.strip(), (path.parent / Path(ca).expanduser()) if ca else None)


def _store_url(path: Path, line: int | None, url: object, store_path: object) -> str:
    """``[store] url``: a PostgreSQL URL with no password in it, and no ``path`` beside it."""
    if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
        raise DataFileError(path, line, "[store] url must be a postgresql:// URL (a SQLite file goes in [store] path)")
    if store_path is not None:
        raise DataFileError(path, line, "[store] has both url and path: keep one (url: a group's PostgreSQL, "
                                        "path: this workstation's file)")
    from dictation.store.engine_postgres import holds_password

    try:
        password = holds_password(url)
    except ValueError as e:
        raise DataFileError(path, line, f"[store] url is not a URL ({e})") from None
    if password:
        raise DataFileError(path, line, "[store] url holds a password: put it in ~/.pgpass or a PostgreSQL service "
                                        "file instead (docs/group-deployment.md)")
    return url
