"""Rules a camera gets from its site's type until an operator draws its own.

Why defaults: most cameras at schools, kindergartens, beaches and roads need the same one rule,
and a camera that watches nothing until someone draws on it is a gap nobody notices. Defaults
cover the whole frame (no drawing needed); saving any rule set for a camera replaces them.

* school / kindergarten: a person anywhere in view while the site is closed (its opening_hours);
* tourist_area (beach): a person in view after dark. "Dark" is a fixed local 21:00-06:00: at
  Issyk-Kul sunset runs from about 17:30 (December) to 20:45 (June); the fixed hour suits the
  summer season when beaches are used, and an operator can set ``hours`` per camera;
* road: a vehicle stopped for a minute where stopping is not allowed.
"""

from __future__ import annotations

from koopsuz.domain.registry import SiteType
from koopsuz.domain.rules import Rule, RuleKind
from koopsuz.domain.schedule import every_day

WHOLE_FRAME = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
VEHICLES = ("car", "motorcycle", "bus", "truck")
BEACH_DAYLIGHT = every_day("06:00-21:00")


def default_rules(site_type: str | None) -> list[Rule]:
    if site_type in (SiteType.SCHOOL, SiteType.KINDERGARTEN):
        return [
            Rule(
                id="after-hours",
                name="Person on the premises after hours",
                kind=RuleKind.AFTER_HOURS,
                zone=WHOLE_FRAME,
                classes=("person",),
                min_height=0.04,
                severity="high",
            )
        ]
    if site_type == SiteType.TOURIST_AREA:
        return [
            Rule(
                id="after-dark",
                name="Person on the beach after dark",
                kind=RuleKind.AFTER_HOURS,
                zone=WHOLE_FRAME,
                classes=("person",),
                min_height=0.04,
                hours=BEACH_DAYLIGHT,
                severity="medium",
            )
        ]
    if site_type == SiteType.ROAD:
        return [
            Rule(
                id="stopped-vehicle",
                name="Vehicle stopped where stopping is forbidden",
                kind=RuleKind.STOPPED_VEHICLE,
                zone=WHOLE_FRAME,
                classes=VEHICLES,
                seconds=60.0,
                severity="medium",
            )
        ]
    return []
