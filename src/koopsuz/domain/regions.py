"""The nine first-level regions of Kyrgyzstan.

Region codes are ISO 3166-2:KG. Plate codes are the two-digit prefixes of the June 2016 plates;
``legacy_plate_letters`` are the first letters of pre-2016 plates. Every scope check in the system
is expressed in ISO codes, so this table is the single source of truth for what a region is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    plate_code: str
    name_en: str
    name_ru: str
    name_ky: str
    centre: tuple[float, float]
    legacy_plate_letters: tuple[str, ...]


REGIONS: tuple[Region, ...] = (
    Region("KG-GB", "01", "Bishkek", "Бишкек", "Бишкек", (42.8746, 74.5698), ("B", "E")),
    Region("KG-GO", "02", "Osh city", "город Ош", "Ош шаары", (40.5283, 72.7985), ("Z",)),
    Region("KG-B", "03", "Batken", "Баткенская область", "Баткен облусу", (39.9, 70.9), ("A",)),
    Region("KG-J", "04", "Jalal-Abad", "Джалал-Абадская область", "Жалал-Абад облусу", (41.4, 72.6), ("D",)),
    Region("KG-N", "05", "Naryn", "Нарынская область", "Нарын облусу", (41.4, 75.5), ("N",)),
    Region("KG-O", "06", "Osh region", "Ошская область", "Ош облусу", (39.9, 73.3), ("O",)),
    Region("KG-T", "07", "Talas", "Таласская область", "Талас облусу", (42.4, 72.3), ("T",)),
    Region("KG-C", "08", "Chuy", "Чуйская область", "Чүй облусу", (42.6, 74.8), ("C", "S")),
    Region("KG-Y", "09", "Issyk-Kul", "Иссык-Кульская область", "Ысык-Көл облусу", (42.2, 77.6), ("I",)),
)

_BY_CODE = {r.code: r for r in REGIONS}
_BY_PLATE = {r.plate_code: r for r in REGIONS}


class UnknownRegion(ValueError):
    pass


def region(code: str) -> Region:
    try:
        return _BY_CODE[code]
    except KeyError:
        raise UnknownRegion(f"unknown region {code!r}; expected one of {', '.join(sorted(_BY_CODE))}") from None


def region_by_plate_code(plate_code: str) -> Region:
    try:
        return _BY_PLATE[plate_code]
    except KeyError:
        raise UnknownRegion(f"unknown plate region code {plate_code!r}") from None


def region_codes() -> frozenset[str]:
    return frozenset(_BY_CODE)
