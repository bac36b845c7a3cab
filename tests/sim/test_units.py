"""Simulated patrol units without I/O: road geometry, scenario parsing, refused orders (0.1 s).

Driving and reporting over HTTP are tested end to end in tests/incidents/test_end_to_end.py.
"""

from __future__ import annotations

import pytest

from koopsuz.domain.geo import great_circle_m
from koopsuz.sim.scenario import ScenarioError, parse_scenario
from koopsuz.sim.units import Road, UnitError, UnitFleet

# an L: ~90 m east, then ~200 m north (Karakol)
L_ROAD = [(42.4898, 78.3940), (42.4898, 78.3951), (42.4916, 78.3951)]


def test_road_lengths_points_and_nearest_point() -> None:
    road = Road(L_ROAD)
    east, north = great_circle_m(*L_ROAD[0], *L_ROAD[1]), great_circle_m(*L_ROAD[1], *L_ROAD[2])
    assert road.length_m == pytest.approx(east + north) and 85 < east < 95 and 195 < north < 205
    assert road.at(0) == L_ROAD[0] and road.at(1e9) == L_ROAD[2] and road.at(-5) == L_ROAD[0]
    assert road.at(east) == pytest.approx(L_ROAD[1])  # the corner, not a cut across it
    mid = road.at(east + north / 2)
    assert mid[1] == pytest.approx(78.3951) and mid[0] == pytest.approx(42.4907, abs=1e-4)
    assert road.locate(*L_ROAD[2]) == pytest.approx(road.length_m)
    assert road.locate(42.4907, 78.3990) == pytest.approx(east + north / 2, abs=2)  # off the road, east of it
    assert road.locate(42.4800, 78.3900) == 0.0  # beyond the start: the start


def test_scenario_units_parse_and_bad_roads_are_named() -> None:
    text = """
seed: 1
cameras: [{id: cam-1}]
units:
  - {id: yk-near-1, call_sign: Karakol-7, road: [[42.4898, 78.3940], [42.4898, 78.3951]], start: [42.4898, 78.3945]}
"""
    world = parse_scenario(text)
    (unit,) = world.units
    fleet = UnitFleet(world.units)
    state = fleet.unit("yk-near-1")
    assert state["along_m"] == pytest.approx(great_circle_m(42.4898, 78.3940, 42.4898, 78.3945), abs=0.5)
    assert not state["driving"] and state["posts"] == 0 and unit.call_sign == "Karakol-7"
    for road, words in (("[[42.49, 78.39]]", "units[0].road"), ("[[42.49, 78.39], [42.49, 78.39]]", "at least 1 m"),
                        ("[[142.49, 78.39], [42.49, 78.39]]", "units[0].road")):
        with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("]", r"\]")):
            parse_scenario(f"seed: 1\ncameras: [{{id: cam-1}}]\nunits: [{{id: u-1, call_sign: U, road: {road}}}]\n")


def test_drive_orders_are_refused_with_the_field_named() -> None:
    world = parse_scenario("seed: 1\ncameras: [{id: cam-1}]\nunits: [{id: u-1, call_sign: U, road: [[42.49, 78.39], "
                           "[42.50, 78.39]]}]\n")
    fleet = UnitFleet(world.units)  # no --api-url / --api-token given
    with pytest.raises(UnitError, match="api_url"):
        fleet.drive("u-1", {"to": [42.5, 78.39]})
    with pytest.raises(UnitError, match="token"):
        fleet.drive("u-1", {"to": [42.5, 78.39], "api_url": "http://127.0.0.1:9"})
    with pytest.raises(UnitError, match="speed_kmh"):
        fleet.drive("u-1", {"to": [42.5, 78.39], "speed_kmh": 0})
    with pytest.raises(UnitError, match="to"):
        fleet.drive("u-1", {"to": [420, 78.39]})
    with pytest.raises(KeyError):
        fleet.drive("nobody", {"to": [42.5, 78.39]})
    assert fleet.unit("u-1")["driving"] is False
