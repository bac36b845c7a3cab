"""The Issyk-Kul pilot deployment file, and how the deployment parser reports mistakes in such files."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from koopsuz.domain.deployment import DeploymentError, parse_deployment
from koopsuz.domain.regions import region
from koopsuz.domain.registry import PROFILES, Deployment, SiteType

PILOT = Path(__file__).resolve().parents[1] / "deploy" / "issyk-kul.yaml"
REGION = "KG-Y"
EXPECTED_PROFILE = {
    SiteType.SCHOOL: "faces",
    SiteType.KINDERGARTEN: "faces",
    SiteType.PUBLIC_PLACE: "faces",
    SiteType.ROAD: "plates",
    SiteType.TOURIST_AREA: "people",
    SiteType.STREET: "motion",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def open_minutes(spans: list[str]) -> int:
    total = 0
    for span in spans:
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in span.split("-"))
        total += end - start
    return total


def _inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@pytest.fixture(scope="module")
def pilot() -> Deployment:
    return parse_deployment(PILOT.read_text(encoding="utf-8"), str(PILOT))


@pytest.fixture(scope="module")
def issyk_kul_outline() -> list[list[list[float]]]:
    data = json.loads((resources.files("koopsuz") / "data" / "kg_admin1.geojson").read_text(encoding="utf-8"))
    (feature,) = [f for f in data["features"] if f["properties"]["iso_3166_2"] == REGION]
    assert feature["geometry"]["type"] == "Polygon"
    return feature["geometry"]["coordinates"]


# ---- the pilot file ------------------------------------------------------------------------------


def test_pilot_file_parses(pilot: Deployment) -> None:
    assert pilot.timezone == "Asia/Bishkek"
    assert pilot.districts and pilot.cities and pilot.sites and pilot.cameras


def test_pilot_has_sixteen_cameras(pilot: Deployment) -> None:
    assert len(pilot.cameras) == 16


def test_everything_is_in_issyk_kul(pilot: Deployment) -> None:
    assert region(REGION).plate_code == "09"
    for record in [*pilot.districts, *pilot.cities, *pilot.sites]:
        assert record.region == REGION, record.id
    sites = {s.id: s for s in pilot.sites}
    assert all(sites[c.site].region == REGION for c in pilot.cameras)


def test_every_point_lies_inside_the_oblast_outline(pilot: Deployment, issyk_kul_outline) -> None:
    outer, *holes = issyk_kul_outline
    for record in [*pilot.cities, *pilot.sites, *pilot.cameras]:
        inside = _inside(record.lon, record.lat, outer) and not any(_inside(record.lon, record.lat, h) for h in holes)
        assert inside, f"{record.id} at {record.lat}, {record.lon} is outside {REGION}"


def test_the_five_districts_are_declared(pilot: Deployment) -> None:
    assert {d.id for d in pilot.districts} == {"ak-suu", "jeti-oguz", "issyk-kul", "ton", "tyup"}


def test_named_towns_are_present(pilot: Deployment) -> None:
    cities = {c.id: c for c in pilot.cities}
    for town_id, name in [
        ("karakol", "Каракол"),
        ("cholpon-ata", "Чолпон-Ата"),
        ("balykchy", "Балыкчы"),
        ("bosteri", "Бостери"),
    ]:
        assert town_id in cities, town_id
        assert cities[town_id].name == name
    assert {"tamga", "kaji-say"} <= cities.keys()
    # Karakol is the oblast centre: ~42.49 N 78.39 E.
    assert distance_m(cities["karakol"].lat, cities["karakol"].lon, 42.49, 78.39) < 2_000


def test_every_site_type_is_present(pilot: Deployment) -> None:
    assert {s.type for s in pilot.sites} == set(SiteType)


def test_every_site_has_a_camera(pilot: Deployment) -> None:
    watched = {c.site for c in pilot.cameras}
    assert [s.id for s in pilot.sites if s.id not in watched] == []


def test_cameras_stand_within_2_km_of_their_site(pilot: Deployment) -> None:
    sites = {s.id: s for s in pilot.sites}
    for cam in pilot.cameras:
        site = sites[cam.site]
        assert distance_m(cam.lat, cam.lon, site.lat, site.lon) <= 2_000, cam.id


def test_sites_are_within_their_town(pilot: Deployment) -> None:
    cities = {c.id: c for c in pilot.cities}
    for site in pilot.sites:
        if site.city:
            city = cities[site.city]
            assert distance_m(site.lat, site.lon, city.lat, city.lon) <= 5_000, site.id


def test_schools_and_kindergartens_have_opening_hours(pilot: Deployment) -> None:
    places = [s for s in pilot.sites if s.type in (SiteType.SCHOOL, SiteType.KINDERGARTEN)]
    assert places
    for site in places:
        hours = site.opening_hours
        assert hours, site.id
        assert all(hours.get(day) for day in WEEKDAYS), site.id
        assert not hours.get("sun"), site.id
        if site.type is SiteType.SCHOOL:
            assert hours.get("sat"), site.id
            assert 0 < open_minutes(hours["sat"]) < open_minutes(hours["mon"]), site.id


def test_camera_ids_are_unique(pilot: Deployment) -> None:
    counts = Counter(c.id for c in pilot.cameras)
    assert [cid for cid, n in counts.items() if n > 1] == []
    assert all(c.id.startswith("yk-") for c in pilot.cameras)


def test_camera_urls_point_at_the_local_simulator(pilot: Deployment) -> None:
    for cam in pilot.cameras:
        assert cam.main_url == f"rtsp://127.0.0.1:8554/{cam.id}/main"
        assert cam.sub_url == f"rtsp://127.0.0.1:8554/{cam.id}/sub"


def test_camera_profiles_follow_the_site_type(pilot: Deployment) -> None:
    sites = {s.id: s for s in pilot.sites}
    for cam in pilot.cameras:
        assert cam.profile in PROFILES, cam.id
        assert cam.profile == EXPECTED_PROFILE[sites[cam.site].type], cam.id


def test_ptz_cameras_zoom_28x(pilot: Deployment) -> None:
    ptz = [c for c in pilot.cameras if c.ptz]
    assert len(ptz) >= 2
    assert all(c.zoom_max == 28 for c in ptz)


def test_required_places_are_covered(pilot: Deployment) -> None:
    sites = {s.id: s for s in pilot.sites}
    by_city: dict[str | None, set[SiteType]] = {}
    for site in pilot.sites:
        by_city.setdefault(site.city, set()).add(site.type)
    for town in ("karakol", "cholpon-ata", "balykchy"):
        assert {SiteType.SCHOOL, SiteType.KINDERGARTEN} <= by_city[town], town
        assert {SiteType.STREET, SiteType.PUBLIC_PLACE} & by_city[town], town
    beaches = [s for s in pilot.sites if s.type is SiteType.TOURIST_AREA and "пляж" in s.name.lower()]
    assert {b.city for b in beaches} >= {"cholpon-ata", "bosteri"}
    assert sites["karakol-bus-station"].city == "karakol"
    assert sites["cholpon-ata-petroglyphs"].type is SiteType.TOURIST_AREA


def test_a363_has_an_average_speed_section_between_cholpon_ata_and_bosteri(pilot: Deployment) -> None:
    roads = [s for s in pilot.sites if s.type is SiteType.ROAD]
    assert len(roads) >= 2
    assert all("А363" in s.name for s in roads)
    cities = {c.id: c for c in pilot.cities}
    west, east = cities["cholpon-ata"].lon, cities["bosteri"].lon
    between = sorted((s for s in roads if west < s.lon < east), key=lambda s: s.lon)
    assert len(between) == 2, [s.id for s in between]
    length = distance_m(between[0].lat, between[0].lon, between[1].lat, between[1].lon)
    assert 2_000 <= length <= 8_000
    plate_cams = [c for c in pilot.cameras if c.site in {s.id for s in between}]
    assert len(plate_cams) == 2 and all(c.profile == "plates" for c in plate_cams)
    # Same direction of view at both ends, so a plate seen at one end is matched at the other.
    assert plate_cams[0].heading == plate_cams[1].heading


def test_some_cameras_mask_out_motion(pilot: Deployment) -> None:
    assert 1 <= sum(1 for c in pilot.cameras if c.motion_masks) <= 3


# ---- how the parser reports mistakes ------------------------------------------------------------

SITE = "sites:\n  - {id: s1, name: Site, type: street, region: KG-Y, lat: 42.49, lon: 78.39}\n"


def camera_yaml(cam_id: str, site: str = "s1", **extra: str) -> str:
    lines = [
        f"  - id: {cam_id}",
        "    name: Camera",
        f"    site: {site}",
        f"    main_url: rtsp://127.0.0.1:8554/{cam_id}/main",
        f"    sub_url: rtsp://127.0.0.1:8554/{cam_id}/sub",
        "    lat: 42.49",
        "    lon: 78.39",
        *(f"    {key}: {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return hits[occurrence - 1]


def problems_of(text: str) -> DeploymentError:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "inline.yaml")
    return info.value


def test_inline_helpers_build_a_valid_file() -> None:
    d = parse_deployment("name: t\n" + SITE + "cameras:\n" + camera_yaml("cam-1"), "inline.yaml")
    assert [c.id for c in d.cameras] == ["cam-1"]


def test_wrong_type_names_the_line_and_the_field() -> None:
    text = "name: t\n" + SITE + "cameras:\n" + camera_yaml("cam-1", heading="north", fov="60")
    err = problems_of(text)
    (problem,) = err.problems
    assert problem.field == "cameras[0].heading"
    assert problem.line == line_of(text, "heading: north") == 12
    assert "valid number" in problem.message
    assert f"inline.yaml: line {problem.line}: cameras[0].heading:" in str(err)


def test_wrong_type_in_opening_hours_points_into_the_mapping() -> None:
    text = (
        "name: t\nsites:\n  - id: s1\n    name: School\n    type: school\n    region: KG-Y\n"
        '    lat: 42.49\n    lon: 78.39\n    opening_hours:\n      mon: ["07:30-18:30"]\n'
        '      tue: "07:30-18:30"\n'
    )
    (problem,) = problems_of(text).problems
    assert problem.field == "sites[0].opening_hours.tue"
    assert problem.line == line_of(text, "tue:")


def test_unknown_site_reference_is_reported_with_its_line() -> None:
    text = "name: t\n" + SITE + "cameras:\n" + camera_yaml("cam-1") + camera_yaml("cam-2", site="s9")
    err = problems_of(text)
    (problem,) = err.problems
    assert problem.field == "cameras[1].site"
    assert problem.line == line_of(text, "site: s9")
    assert "unknown site 's9'" in problem.message
    assert f"line {problem.line}: cameras[1].site: unknown site 's9'" in str(err)


def test_duplicate_camera_id_is_reported_at_the_second_declaration() -> None:
    text = "name: t\n" + SITE + "cameras:\n" + camera_yaml("cam-1") + camera_yaml("cam-1")
    (problem,) = problems_of(text).problems
    assert problem.field == "cameras[1].id"
    assert problem.line == line_of(text, "- id: cam-1", occurrence=2)
    assert "duplicate id 'cam-1'" in problem.message


def test_malformed_yaml_reports_its_line() -> None:
    text = "name: t\nsites:\n  - id: s1\n     name: badly indented\n    type: street\n"
    err = problems_of(text)
    (problem,) = err.problems
    assert problem.field == "yaml"
    assert problem.line == 4
    assert "mapping values are not allowed" in problem.message
    assert "inline.yaml: line 4: yaml:" in str(err)


def test_unclosed_bracket_is_reported_near_its_line() -> None:
    text = "name: t\n" + SITE + "cameras:\n  - id: cam-1\n    name: [Camera\n  - id: cam-2\n"
    (problem,) = problems_of(text).problems
    assert problem.field == "yaml"
    assert problem.line in (line_of(text, "[Camera"), line_of(text, "- id: cam-2"))


def test_every_problem_in_a_file_is_listed() -> None:
    text = (
        "name: t\nsites:\n"
        "  - {id: s1, name: Site, type: stadium, region: KG-Y, lat: 42.49, lon: 78.39}\n"
        "  - {id: s2, name: Site, type: street, region: KG-Z, lat: 42.49, lon: 78.39}\n"
        "  - {id: s3, name: Site, type: street, region: KG-Y, lat: 44.9, lon: 78.39}\n"
    )
    err = problems_of(text)
    got = {(p.line, p.field) for p in err.problems}
    assert got == {(3, "sites[0].type"), (4, "sites[1].region"), (5, "sites[2].lat")}
    assert re.search(r"^3 problem\(s\)", str(err))


def test_missing_field_points_at_its_record() -> None:
    text = "name: t\n" + SITE + "cameras:\n  - id: cam-1\n    site: s1\n    lat: 42.49\n    lon: 78.39\n"
    err = problems_of(text)
    fields = {p.field: p.line for p in err.problems}
    start = line_of(text, "- id: cam-1")
    assert fields == {"cameras[0].name": start, "cameras[0].main_url": start, "cameras[0].sub_url": start}
