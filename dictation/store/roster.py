"""The group's licence roster: who each database login is as a reader, and where they hold a
licence until when. Kept by an administrator (on PostgreSQL only the owner role may change it);
every workstation reads its own reader from it by the login it connected with."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from dictation.errors import StoreError
from dictation.store.base import StoreBase
from dictation.store.engine_postgres import PostgresEngine
from dictation.store.schema import os_user


@dataclass(frozen=True)
class RosterLicence:
    jurisdiction: str
    expires: dt.date
    number: str = ""


@dataclass(frozen=True)
class RosterReader:
    login: str  # the PostgreSQL role (or the operating-system user on a SQLite file)
    reader_id: str  # what signed reports and the audit log call them (HL7 OBR-32)
    family: str = ""
    given: str = ""
    licences: tuple[RosterLicence, ...] = ()


class RosterStore(StoreBase):
    def login(self) -> str:
        """Who this connection is: the PostgreSQL role it logged in as (its password or
        certificate proved it), or the operating-system user for a SQLite file."""
        if isinstance(self.engine, PostgresEngine):
            return str(self.db.execute("SELECT current_user AS who").fetchone()["who"])
        return os_user()

    def roster(self) -> list[RosterReader]:
        readers = self.db.execute("SELECT * FROM roster_readers ORDER BY login").fetchall()
        licences = self.db.execute("SELECT * FROM roster_licences ORDER BY login, jurisdiction").fetchall()
        held: dict[str, list[RosterLicence]] = {}
        for row in licences:
            held.setdefault(row["login"], []).append(
                RosterLicence(row["jurisdiction"], dt.date.fromisoformat(row["expires"]), row["number"]))
        return [RosterReader(r["login"], r["reader_id"], r["family"], r["given"], tuple(held.get(r["login"], ())))
                for r in readers]

    def roster_reader(self, login: str) -> RosterReader | None:
        return next((r for r in self.roster() if r.login == login), None)

    def set_roster_reader(self, login: str, reader_id: str, family: str = "", given: str = "") -> None:
        """Add a reader to the roster, or change their id or name (audited)."""
        if not login.strip() or not reader_id.strip():
            raise StoreError("a roster entry needs the login and the reader id")
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO roster_readers (login, reader_id, family, given, updated_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (login) DO UPDATE SET reader_id = excluded.reader_id, family = excluded.family, "
                       "given = excluded.given, updated_at = excluded.updated_at",
                       (login, reader_id, family, given, now))
            self._audit(db, "roster", None, "", f"{login} is reader {reader_id}", now)

    def set_licence(self, login: str, jurisdiction: str, expires: dt.date, number: str = "") -> None:
        """Record (or renew) a reader's licence in a jurisdiction (audited)."""
        now = time.time()
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM roster_readers WHERE login = ?", (login,)).fetchone() is None:
                raise StoreError(f"{login} is not on the roster: add them first (radscribe roster add)")
            db.execute("INSERT INTO roster_licences (login, jurisdiction, expires, number) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (login, jurisdiction) DO UPDATE SET expires = excluded.expires, "
                       "number = excluded.number", (login, jurisdiction, expires.isoformat(), number))
            self._audit(db, "roster", None, "", f"{login} licensed in {jurisdiction} until {expires.isoformat()}", now)

    def revoke_licence(self, login: str, jurisdiction: str) -> bool:
        """Take a licence off the roster (audited); False when there was none."""
        now = time.time()
        with self.transaction() as db:
            gone = db.execute("DELETE FROM roster_licences WHERE login = ? AND jurisdiction = ?",
                              (login, jurisdiction)).rowcount
            if gone:
                self._audit(db, "roster", None, "", f"{login}: licence in {jurisdiction} revoked", now)
        return bool(gone)

    def remove_roster_reader(self, login: str) -> bool:
        """Take a reader (and their licences) off the roster (audited); False when not on it."""
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM roster_licences WHERE login = ?", (login,))
            gone = db.execute("DELETE FROM roster_readers WHERE login = ?", (login,)).rowcount
            if gone:
                self._audit(db, "roster", None, "", f"{login} removed from the roster", now)
        return bool(gone)
