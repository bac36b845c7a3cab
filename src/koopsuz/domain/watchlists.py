"""Face watchlists: lists of wanted and missing persons and persons of interest, and their entries.

An entry is a person with photos, a legal basis and an expiry. Two officers are needed: the one who
creates it cannot approve it, and it matches nothing until a second officer with the approve
permission does. It stops matching the moment it expires (``is_active`` is judged at match time,
not by a job that may run late). Pure logic; the service stores and audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ENTRY_LIFE = timedelta(days=366)


class ListKind(StrEnum):
    WANTED = "wanted"
    MISSING = "missing"  # missing persons: every match also reaches the national centre
    INTEREST = "interest"  # persons of interest


class EntryStatus(StrEnum):
    PENDING = "pending"  # created, waiting for a second officer
    ACTIVE = "active"  # approved; matches until it expires
    REJECTED = "rejected"  # the second officer refused it
    REMOVED = "removed"  # taken off the list (found, arrested, basis withdrawn)


# A stricter threshold where a false match costs more (an armed response to a wanted person);
# a missing child is worth a few more checks by an operator. SFace's published threshold is 0.363.
DEFAULT_THRESHOLD: dict[ListKind, float] = {ListKind.WANTED: 0.45, ListKind.MISSING: 0.40, ListKind.INTEREST: 0.45}


class WatchlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=120)
    kind: ListKind
    priority: int = Field(default=3, ge=1, le=5, description="1 = most urgent")
    threshold: float | None = Field(default=None, ge=0.30, le=0.95, description="cosine similarity to match")
    region: str | None = Field(default=None, description="ISO 3166-2:KG code; none = a national list")
    description: str = Field(default="", max_length=1000)

    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[self.kind]


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str = Field(min_length=2, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    notes: str = Field(default="", max_length=2000, description="what an operator needs to know when it matches")
    legal_basis_id: str = Field(min_length=1, max_length=26)
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2027-01-31T23:59:59+06:00)")
        now = datetime.now(UTC)
        if v <= now:
            raise ValueError("expires_at is in the past")
        if v - now > MAX_ENTRY_LIFE:
            raise ValueError("an entry lives at most 366 days; renew it with a fresh legal basis")
        return v


def is_active(status: str, expires_at: datetime, now: datetime) -> bool:
    """Whether an entry may match right now."""
    return status == EntryStatus.ACTIVE and now < expires_at


def approval_refusal(*, creator: str, approver: str, status: str, photos: int, expires_at: datetime, now: datetime) -> (
    str | None
):
    """Why this approval cannot happen (a sentence), or None when it can."""
    if status != EntryStatus.PENDING:
        return f"the entry is {status}, not pending"
    if approver == creator:
        return "the officer who created an entry cannot approve it; a second officer must"
    if photos == 0:
        return "the entry has no photo yet; enrol at least one"
    if expires_at <= now:
        return "the entry has already expired"
    return None


@dataclass(frozen=True, slots=True)
class ActiveFace:
    """One enrolled photo that may match now: what the live matcher's index holds."""

    photo_id: int
    entry_id: str
    watchlist_id: str
    kind: str
    priority: int
    threshold: float
    region: str | None
    expires_at: datetime
    embedding: np.ndarray


@dataclass(frozen=True, slots=True)
class Match:
    face: ActiveFace  # the enrolled photo matched
    similarity: float


def face_rule(entry_id: str) -> str:
    """The ``rule`` a face alert carries, so operator feedback is kept per camera and entry."""
    return f"face:{entry_id}"
