"""Opening hours in Kyrgyzstan's time: is a site open at a given instant?

Sites store hours as local wall-clock spans per weekday (``{"mon": ["07:30-18:00"], ...}``), as
a school writes them on its door. Capture times are UTC, so the check converts to Asia/Bishkek
(UTC+6 all year since 2005, but the zone database says so, not a hard-coded offset). A weekday
that is missing from the hours is closed all day: a school on Sunday is after hours all day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from koopsuz.domain.registry import _SPAN, DAYS

TZ = ZoneInfo("Asia/Bishkek")
Hours = dict[str, list[str]]


def check_hours(hours: Hours) -> Hours:
    """The same grammar as ``Site.opening_hours``; raises ValueError naming the bad span."""
    for day, spans in hours.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use one of {', '.join(DAYS)}")
        for span in spans:
            start, end = _minutes(span)
            if start >= end:
                raise ValueError(f"{day}: {span!r} is not an HH:MM-HH:MM span that ends after it starts")
    return hours


def is_open(hours: Hours, t: float) -> bool:
    """Is the site open at ``t`` (UTC epoch seconds), judged on Bishkek's clock."""
    local = datetime.fromtimestamp(t, UTC).astimezone(TZ)
    now = local.hour * 60 + local.minute
    for span in hours.get(DAYS[local.weekday()], []):
        start, end = _minutes(span)
        if start <= now < end:
            return True
    return False


def every_day(*spans: str) -> Hours:
    return {d: list(spans) for d in DAYS}


def _minutes(span: str) -> tuple[int, int]:
    if not _SPAN.match(span):
        raise ValueError(f"{span!r} is not an HH:MM-HH:MM span")
    a, b = span.split("-")
    return int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])
