"""The teleradiology practice: the facilities read for, and the reader's licences.

    [[facility]]
    id = "GENERAL"                  # as orders name it (MSH-4 / PV1-3): the worklist's facility
    name = "General Hospital"
    jurisdiction = "US-CA"          # where the patient is: the reader needs a licence there
    time_zone = "America/Los_Angeles"
    mrn_authority = "GEN"               # PID-3 CX.4 whose MR identifier is this hospital's MRN
    destinations = ["ris"]          # [[export]] names this facility's reports go to (default: all
                                    #   destinations whose own `facilities` list allows it)
    templates = { "CTHEAD1" = "ct-head" }   # the facility's procedure codes → template
    default_template = "generic"    # when no code maps
    turnaround_minutes = { stat = 30, urgent = 120, routine = 1440 }
    preliminary_without_licence = false  # true: a reader without a licence here may still sign
                                    #   preliminary (the site's own radiologist finalises)

    [reader]
    id = "12345"
    family = "Smith"
    given = "Anna"
    licence_warning_days = 30
    licences = [
      { jurisdiction = "US-CA", expires = 2027-06-30 },
      { jurisdiction = "US-NV", expires = 2026-12-15, number = "NV-4411" },
    ]

Without a valid licence in a facility's jurisdiction, opening its study warns and signing it
final is refused; signing preliminary is allowed only where the facility says
``preliminary_without_licence = true``. A study whose facility is not configured, or a facility
without a jurisdiction, is not checked (single-site use needs no licence list).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dictation.data.files import line_of
from dictation.errors import DataFileError
from dictation.status import ReportStatus

PRIORITIES = ("stat", "urgent", "routine")
DEFAULT_TURNAROUND = {"stat": 30, "urgent": 120, "routine": 1440}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Facility(_Model):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    name: str = ""
    jurisdiction: str = ""
    time_zone: str = ""
    destinations: list[str] | None = None
    templates: dict[str, str] = {}
    default_template: str | None = None
    turnaround_minutes: dict[str, Annotated[int, Field(gt=0)]] = {}
    preliminary_without_licence: bool = False
    mrn_authority: str = ""  # the PID-3 assigning authority (CX.4) whose MR identifier is this hospital's MRN

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/London)") from None
        return value

    @field_validator("turnaround_minutes")
    @classmethod
    def _priorities(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(PRIORITIES)
        if unknown:
            raise ValueError(f"priorities are {', '.join(PRIORITIES)}; not {', '.join(sorted(unknown))}")
        return value

    @property
    def label(self) -> str:
        return self.name or self.id

    def limits(self) -> dict[str, int]:
        """Turnaround limits in minutes by priority (the practice's defaults where not set)."""
        return {**DEFAULT_TURNAROUND, **self.turnaround_minutes}

    def zone(self) -> dt.tzinfo | None:
        return zoneinfo.ZoneInfo(self.time_zone) if self.time_zone else None


class Licence(_Model):
    jurisdiction: Annotated[str, Field(min_length=1)]
    expires: dt.date
    number: str = ""


@dataclass(frozen=True)
class LicenceCheck:
    """Whether the reader may report a study from a facility, and what to say about it."""

    ok: bool
    message: str = ""  # a warning when not ok ("no licence for US-NV")
    preliminary_allowed: bool = True

    def blocks(self, status: str) -> str:
        """Why signing ``status`` is refused (empty: allowed)."""
        if self.ok:
            return ""
        if status == ReportStatus.FINAL:
            return f"{self.message}; a final read needs a valid licence there"
        if not self.preliminary_allowed:
            return f"{self.message}; this facility takes no preliminary reads without one either"
        return ""


@dataclass(frozen=True)
class Practice:
    """Facilities and the reader's licences, from the config."""

    facilities: dict[str, Facility] = field(default_factory=dict)
    licences: tuple[Licence, ...] = ()
    warning_days: int = 30

    def facility(self, facility_id: str | None) -> Facility | None:
        return self.facilities.get(facility_id or "")

    def limits(self, facility_id: str | None) -> dict[str, int]:
        f = self.facility(facility_id)
        return f.limits() if f else dict(DEFAULT_TURNAROUND)

    def zone(self, facility_id: str | None) -> dt.tzinfo | None:
        f = self.facility(facility_id)
        return f.zone() if f else None

    def mrn_authority(self, facility_id: str | None) -> str:
        f = self.facility(facility_id)
        return f.mrn_authority if f else ""

    def licence_check(self, facility_id: str | None, today: dt.date | None = None) -> LicenceCheck:
        f = self.facility(facility_id)
        if f is None or not f.jurisdiction:
            return LicenceCheck(True)
        today = today or dt.datetime.now(f.zone()).date()  # the facility's date, not the workstation's
        held = [lic for lic in self.licences if lic.jurisdiction.casefold() == f.jurisdiction.casefold()]
        if not held:
            return LicenceCheck(False, f"you hold no licence for {f.jurisdiction} ({f.label})", f.preliminary_without_licence)
        newest = max(held, key=lambda lic: lic.expires)
        if newest.expires < today:
            return LicenceCheck(False, f"your licence for {f.jurisdiction} expired on {newest.expires.isoformat()} ({f.label})",
                                f.preliminary_without_licence)
        return LicenceCheck(True)

    def expiring(self, today: dt.date | None = None) -> list[str]:
        """Licences expired or expiring within the warning period, as lines to show at start."""
        today = today or dt.date.today()
        out = []
        for lic in sorted(self.licences, key=lambda lic: lic.expires):
            days = (lic.expires - today).days
            if days < 0:
                out.append(f"licence for {lic.jurisdiction} expired on {lic.expires.isoformat()}")
            elif days <= self.warning_days:
                out.append(f"licence for {lic.jurisdiction} expires on {lic.expires.isoformat()} (in {days} day{'s' * (days != 1)})")
        return out

    def routes(self) -> dict[str, list[str]]:
        """facility → the destinations its reports go to, where the facility names them."""
        return {f.id: list(f.destinations) for f in self.facilities.values() if f.destinations is not None}

    def template_defaults(self) -> dict[str, str]:
        return {f.id: f.default_template for f in self.facilities.values() if f.default_template}

    def template_mapping(self) -> dict[str, dict[str, str]]:
        return {f.id: dict(f.templates) for f in self.facilities.values() if f.templates}


def deadline_text(dictated_at: float, deadline_minutes: float | None, now: float) -> str:
    """A critical result's time against its deadline: "12 min left", "OVERDUE by 5 min"."""
    waited = (now - dictated_at) / 60
    if not deadline_minutes:
        return f"{waited:.0f} min, no deadline"
    if waited > deadline_minutes:
        return f"OVERDUE by {waited - deadline_minutes:.0f} min"
    return f"{deadline_minutes - waited:.0f} min left"


class _Facilities(_Model):
    facility: list[Facility] = []


class _Licences(_Model):
    licences: list[Licence] = []
    licence_warning_days: Annotated[int, Field(ge=0, le=365)] = 30


def parse_practice(facilities: list[Any], reader: dict[str, Any], destinations: list[str], path: Path,
                   text: str) -> Practice:
    try:
        parsed = _Facilities.model_validate({"facility": facilities}).facility
        licences = _Licences.model_validate({k: v for k, v in reader.items() if k in ("licences", "licence_warning_days")})
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err["loc"]]
        key = next((x for x in reversed(loc) if not x.isdigit()), "facility")
        where = "[[facility]]" if loc[0] == "facility" else "[reader]"
        raise DataFileError(path, line_of(text, key) or line_of(text, loc[0]), f"{where} {'.'.join(loc[1:] or loc)}: {err['msg']}") from None
    ids = [f.id for f in parsed]
    for f in parsed:
        if ids.count(f.id) > 1:
            raise DataFileError(path, line_of(text, "facility"), f"two [[facility]] tables have id {f.id!r}")
        for name in f.destinations or []:
            if name not in destinations:
                raise DataFileError(path, line_of(text, "destinations"),
                                    f"facility {f.id!r} sends to {name!r}, which no [[export]] table names")
    return Practice({f.id: f for f in parsed}, tuple(licences.licences), licences.licence_warning_days)
