"""The one composition root: from the configuration to the objects every face works with.

The command line (``dictation/cli/``) and the terminal UI (``tui/``) both ask a ``Workstation``
for the store, the template library, the outbox, the orders handler and report controllers, so
the two faces are wired the same way and share every rule: the store path and its audit actor,
which destinations deliver, who signs, how a worklist study becomes a report.

    station = Workstation(store_path=None)        # config from $RADSCRIBE_CONFIG or the user folder
    store = station.open_store()                  # the reader is the audit log's actor
    controller = station.controller(report, store)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dictation.config import Config, load_config
from dictation.logs import log

if TYPE_CHECKING:
    from dictation.practice.facilities import Practice
    from dictation.reporting.controller import ReportController
    from dictation.reporting.records import Handled
    from dictation.reporting.report import Report
    from dictation.reporting.templates import TemplateLibrary
    from dictation.ris.document import Signer
    from dictation.ris.orders import OrderHandler, OrderResult, OrdersListener
    from dictation.ris.outbox import Outbox
    from dictation.store import Store, WorklistItem
    from dictation.store.roster import RosterReader


@dataclass
class Workstation:
    """Config -> Store, TemplateLibrary, Outbox, Signer, OrderHandler, ReportController.

    ``store_path`` (``--store``: a file, or a ``postgresql://`` URL) outranks the config's
    ``[store] url`` or ``[store] path``, which outrank ``$RADSCRIBE_STORE``; without any of them
    the store is a SQLite file in the user data folder.
    """

    config: Config
    store_path: str | Path | None = None
    on_warning: Callable[[str], None] | None = None  # how this face says what the user should know
    # The store's roster, once a store is open: (the login, its entry or None, whether the store
    # has a roster at all). A store with a roster decides who the reader is, not the config.
    roster: tuple[str, RosterReader | None, bool] | None = None

    @classmethod
    def from_config(cls, store_path: str | Path | None = None, config_path: Path | None = None,
                    on_warning: Callable[[str], None] | None = None) -> Workstation:
        from dictation.data.resources import set_site_vocab

        config = load_config(config_path)
        set_site_vocab(config.vocab_folder)  # every vocabulary loader reads the site's layer from here on
        from dictation.store.engine_postgres import is_url

        chosen: str | Path | None = (store_path if is_url(store_path) else Path(store_path)) if store_path \
            else (config.store_url or config.store_path)
        return cls(config, chosen, on_warning)

    @cached_property
    def library(self) -> TemplateLibrary:
        """Built-in templates with the site's folders layered over them."""
        from dictation.reporting.templates import TemplateLibrary

        return TemplateLibrary(self.config.template_folders)

    def check_dictation_files(self) -> None:
        """Read what dictation cannot go without (spoken forms, the term lexicon, corrections,
        voice commands, macros) before a screen opens: a broken file is one line, not a crash
        inside the UI. The clinical checks' files are not needed to dictate: when they are
        broken the checks are off and no final can be signed (the report screen says so)."""
        from dictation.reporting.commands import default_commands
        from dictation.text.pipeline import TextPipeline

        TextPipeline()
        default_commands()

    @property
    def signer(self) -> Signer | None:
        """The radiologist who signs on this workstation, or None when none is known. A store
        with a licence roster names them by the login the store was opened with (the database
        role, proved by its password or certificate): a login the roster does not list is no
        reader. Without a roster, ``[reader]`` in the config."""
        if self.roster is not None and self.roster[2]:
            entry = self.roster[1]
            if entry is None:
                return None
            from dictation.ris.document import Signer

            return Signer(id=entry.reader_id, family=entry.family, given=entry.given)
        return self.config.reader if self.config.reader.configured else None

    @property
    def practice(self) -> Practice:
        """The facilities (config) and the reader's licences: the roster's when the store has one."""
        practice = self.config.practice
        if self.roster is None or not self.roster[2]:
            return practice
        from dataclasses import replace

        from dictation.practice.facilities import Licence

        entry = self.roster[1]
        held = tuple(Licence(jurisdiction=lic.jurisdiction, expires=lic.expires, number=lic.number)
                     for lic in (entry.licences if entry else ()))
        return replace(practice, licences=held)

    @property
    def reader_name(self) -> str:
        """Who claims studies and is named in the audit log from this workstation: the reader's
        id (as the report controller names them), else the operating-system user."""
        from dictation.store.schema import os_user

        signer = self.signer
        return (signer.id or signer.display or os_user()) if signer else os_user()

    def unlicensed_facilities(self) -> set[str]:
        """The configured facilities whose finals this reader may not sign today (no licence
        for their jurisdiction, or an expired one): "claim next" passes them by."""
        practice = self.practice
        return {f for f in practice.facilities if not practice.licence_check(f).ok}

    @property
    def store_target(self) -> str | Path:
        """Where the store is (``--store``, the config, ``$RADSCRIBE_STORE``, the user folder):
        a SQLite file, or a PostgreSQL URL."""
        from dictation.store.schema import default_target

        return self.store_path or default_target()

    def open_store(self, *, actor: str | None = None) -> Store:
        """A connection to the store; the audit actor is the reader unless told (the outbox's
        own connection says "outbox"). Stored audio past its retention period goes at once."""
        from dictation.store import Store

        store = Store(self.store_path, actor=self.config.reader.id if actor is None else actor)
        self._read_roster(store)
        if actor is None and self.roster is not None and self.roster[2]:
            store.actor = self.signer.id if self.signer else self.roster[0]  # the audit names the login's reader
        if store.restored_guards:
            message = (f"{store.where}: the guards that keep the audit log and signed versions append-only were "
                       f"missing and are re-created ({', '.join(store.restored_guards)}); run `radscribe audit --verify`")
            log.warning("store guards re-created: %s", ", ".join(store.restored_guards))
            if self.on_warning is not None:
                self.on_warning(message)
        store.purge_audio(self.config.keep_audio_days)
        return store

    def _read_roster(self, store: Store) -> None:
        login = store.login()
        roster = store.roster()
        entry = next((r for r in roster if r.login == login), None)
        first = self.roster is None
        self.roster = (login, entry, bool(roster))
        if first and roster and entry is None and self.on_warning is not None:
            self.on_warning(f"{login} is not on the group's roster: nothing can be signed from this login until an "
                            "administrator adds it (radscribe roster add)")
        elif first and entry is not None and self.config.reader.configured and self.config.reader.id != entry.reader_id:
            log.warning("config [reader] differs from the roster; the roster's reader is used")
            if self.on_warning is not None:
                self.on_warning(f"[reader] in the config is not {login}'s reader on the group's roster "
                                f"({entry.reader_id}): the roster's is used")

    def outbox(self, store: Store) -> Outbox | None:
        """The outbox for the configured destinations; None when there are none."""
        return self.outbox_view(store) if self.config.destinations else None

    def outbox_view(self, store: Store) -> Outbox:
        """The outbox even with no destination configured: to list or retry what an earlier
        configuration queued."""
        from dictation.ris.destinations import make_destination
        from dictation.ris.outbox import Outbox

        return Outbox(store, [make_destination(d) for d in self.config.destinations],
                      alert_after=self.config.alert_after_minutes * 60, routes=self.config.practice.routes())

    def order_handler(self, store: Store, on_order: Callable[[OrderResult], None] | None = None) -> OrderHandler:
        """Orders onto the worklist, with the configured procedure-code -> template mappings."""
        from dictation.ris.orders import OrderHandler

        return OrderHandler(store, self.library, self.config.order_templates, on_order=on_order,
                            facility_mapping=self.config.facility_templates,
                            facility_defaults=self.config.practice.template_defaults(),
                            zone=self.config.practice.zone, mrn_authority=self.config.practice.mrn_authority)

    def orders_listener(self, handler: OrderHandler, host: str | None = None, port: int | None = None) -> OrdersListener:
        """The orders listener as the config describes it: address, TLS (with client
        certificates when client_ca is set), the senders allowed."""
        import ssl

        from dictation.ris.orders import OrdersListener

        tls = None
        if self.config.orders_tls:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.config.orders_tls["tls_cert"], self.config.orders_tls["tls_key"])
            if self.config.orders_tls.get("client_ca"):
                tls.load_verify_locations(self.config.orders_tls["client_ca"])
                tls.verify_mode = ssl.CERT_REQUIRED
        return OrdersListener(host or self.config.orders_host, port if port is not None else (self.config.orders_port or 0),
                              handler, tls=tls, allow=self.config.orders_allow)

    def check_order_templates(self) -> None:
        """A mapping to a template that does not exist is an error at start, not per order."""
        for template_id in self.config.order_templates.values():
            self.library.get(template_id)
        for mapping in self.config.facility_templates.values():
            for template_id in mapping.values():
                self.library.get(template_id)

    def controller(self, report: Report, store: Store | None, *, outbox: Outbox | None = None,
                   route: bool | None = None, on_handled: Callable[[Handled], None] | None = None,
                   **options: Any) -> ReportController:
        """The controller for one open report, wired as every face wires it."""
        from dictation.reporting.controller import ReportController

        return ReportController(report, store=store, route=self.config.route_by_anatomy if route is None else route,
                                on_handled=on_handled, outbox=outbox, signer=self.signer,
                                practice=self.practice, keep_audio=self.config.keep_audio,
                                learn_days=self.config.learn_days, **options)

    def report_for_study(self, item: WorklistItem, store: Store) -> Report:
        """A worklist study's report: its draft if one was started, else a new one from the
        template its order chose, with the order's exam data in the facility's time zone."""
        from dictation.reporting.report import Report, load_report

        draft = store.draft_for(item.id)
        if draft:
            report = load_report(store, draft, self.library)
        else:
            exam = item.report_exam()
            facility = self.config.practice.facility(item.facility)
            if facility is not None and facility.time_zone:
                exam["time_zone"] = facility.time_zone  # times in the report are the facility's
            report = Report.new(self.library.get(item.template_id or "generic"), exam=exam)
            # Only a new report is stored here: a draft is already in the store, and another
            # process may be dictating into it (its controller's lease decides).
            store.save_report(report, worklist_id=item.id)
        return report
