"""Incident categories and their standard operating procedures (checklists), defined in code.

A procedure is an ordered list of step ids; the operator ticks them in order (a step out of order
is refused, so the checklist records what was actually done first). Step texts are translated in
the web catalogues as ``sop.<step>`` (a step reads the same in every category), categories as
``category.<category>``, so a procedure reads the same in Russian, Kyrgyz and English. Changing a
procedure changes only new incidents: an incident keeps the checklist it was opened with.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    THEFT = "theft"
    ASSAULT = "assault"
    TRAFFIC_ACCIDENT = "traffic_accident"
    PUBLIC_DISORDER = "public_disorder"
    MISSING_PERSON = "missing_person"
    SUSPICIOUS = "suspicious"
    FIRE = "fire"
    OTHER = "other"


PROCEDURES: dict[Category, tuple[str, ...]] = {
    Category.THEFT: ("verify_location", "review_cameras", "dispatch_unit", "secure_footage", "take_statement"),
    Category.ASSAULT: ("verify_location", "call_ambulance", "dispatch_unit", "review_cameras", "secure_footage"),
    Category.TRAFFIC_ACCIDENT: ("verify_location", "call_ambulance", "dispatch_unit", "notify_traffic_police"),
    Category.PUBLIC_DISORDER: ("verify_location", "review_cameras", "dispatch_unit", "notify_duty_officer"),
    Category.MISSING_PERSON: ("take_description", "notify_duty_officer", "review_cameras", "dispatch_unit"),
    Category.SUSPICIOUS: ("review_cameras", "verify_location", "dispatch_unit"),
    Category.FIRE: ("call_fire_service", "verify_location", "dispatch_unit", "call_ambulance"),
    Category.OTHER: ("verify_location", "dispatch_unit"),
}


def procedure(category: Category | str) -> tuple[str, ...]:
    return PROCEDURES[Category(category)]


def all_steps() -> frozenset[tuple[str, str]]:
    """(category, step) pairs: what the catalogues must translate."""
    return frozenset((str(c), s) for c, steps in PROCEDURES.items() for s in steps)
