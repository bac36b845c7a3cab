"""Legal bases: the case, authority and document that make a sensitive act lawful.

A watchlist entry, a face search, a plate search beyond a short window, an evidence export and an
unmasking each name a legal basis. The basis says which acts it allows (``purposes``), where
(``regions``; empty = the whole country) and for how long; past ``valid_until`` it stops working by
itself, with no job to run. Pure logic: the service stores bases and calls ``check_use``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from koopsuz.domain.regions import region_codes

MAX_VALIDITY = timedelta(days=366)  # a basis is renewed, not granted open-ended


class BasisKind(StrEnum):
    COURT_ORDER = "court_order"  # a judge's order (e.g. for covert surveillance)
    PROSECUTOR_SANCTION = "prosecutor_sanction"
    CRIMINAL_CASE = "criminal_case"  # an opened criminal case
    MISSING_PERSON = "missing_person"  # a registered missing-person report
    ADMINISTRATIVE = "administrative"  # an administrative offence case (e.g. road fines)


class Purpose(StrEnum):
    WATCHLIST = "watchlist"  # enrol a person on a face watchlist
    FACE_SEARCH = "face_search"  # search recorded faces by photo
    PLATE_SEARCH = "plate_search"  # search plate reads beyond the short window
    EXPORT = "export"  # export evidence
    UNMASK = "unmask"  # lift a privacy mask


class LegalBasisIn(BaseModel):
    """What an officer registers; validated before anything is stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    case_number: str = Field(min_length=3, max_length=64, pattern=r"^[\w./№#-]+( [\w./№#-]+)*$")
    kind: BasisKind
    authority: str = Field(min_length=3, max_length=200, description="who issued it, e.g. a court or prosecutor")
    document_ref: str = Field(min_length=1, max_length=200, description="the document's number and date")
    purposes: list[Purpose] = Field(min_length=1)
    regions: list[str] = Field(default_factory=list, description="ISO 3166-2:KG codes; empty = whole country")
    valid_from: datetime | None = None
    valid_until: datetime
    note: str = Field(default="", max_length=1000)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        unknown = [r for r in v if r not in region_codes()]
        if unknown:
            raise ValueError(f"unknown region(s) {', '.join(unknown)}; use codes such as KG-Y")
        return sorted(set(v))

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, v: list[Purpose]) -> list[Purpose]:
        return sorted(set(v))

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2027-01-31T23:59:59+06:00)")
        return v

    @model_validator(mode="after")
    def _window(self) -> LegalBasisIn:
        start = self.valid_from or datetime.now(UTC)
        if self.valid_until <= start:
            raise ValueError("valid_until must be after valid_from (or now)")
        if self.valid_until - start > MAX_VALIDITY:
            raise ValueError("a legal basis is valid for at most 366 days; register a renewal when it runs out")
        return self


def check_use(
    *,
    purposes: list[str],
    regions: list[str],
    valid_from: datetime,
    valid_until: datetime,
    revoked: bool,
    purpose: Purpose,
    region: str | None,
    at: datetime,
) -> str | None:
    """Why the basis does not cover this act (a sentence for the officer), or None when it does.

    ``region`` None means an act over the whole country, which only a basis without regions covers.
    """
    if revoked:
        return "the legal basis was revoked"
    if at < valid_from:
        return f"the legal basis is valid only from {valid_from.isoformat()}"
    if at >= valid_until:
        return f"the legal basis expired at {valid_until.isoformat()}; register a renewal"
    if purpose not in purposes:
        return f"the legal basis does not allow {purpose} (it allows {', '.join(purposes)})"
    if regions and (region is None or region not in regions):
        where = "the whole country" if region is None else region
        return f"the legal basis covers {', '.join(regions)}, not {where}"
    return None
