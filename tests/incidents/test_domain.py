"""The pure rules: incident states, the checklist order, unit suggestions, geography, percentiles."""

from __future__ import annotations

import itertools

import pytest

from koopsuz.domain.geo import great_circle_m, region_at
from koopsuz.domain.incidents import (
    TRANSITIONS,
    IncidentState,
    InvalidTransition,
    StepRefused,
    UnitPosition,
    UnitStatus,
    check_step,
    check_transition,
    eta_s,
    percentile,
    suggest_units,
    summary,
    unit_status_for,
)
from koopsuz.domain.sop import PROCEDURES, Category, all_steps
from koopsuz.services.incidents import admin1_features, region_of_place

from .conftest import BALYKCHY, BOSTERI, CHOLPON_ATA, KARAKOL, TOKMOK

S = IncidentState


def test_the_happy_path_and_every_refusal_has_a_reason() -> None:
    path = [S.NEW, S.DISPATCHED, S.ON_SCENE, S.RESOLVED, S.CLOSED]
    for a, b in itertools.pairwise(path):
        assert check_transition(a, b) == b
    assert check_transition(S.NEW, S.RESOLVED) == S.RESOLVED  # a false alarm needs no unit
    allowed = {(a, b) for a, bs in TRANSITIONS.items() for b in bs}
    for a in S:
        for b in S:
            if (a, b) in allowed:
                continue
            with pytest.raises(InvalidTransition) as exc:
                check_transition(a, b)
            assert str(exc.value)  # a sentence for the operator
    with pytest.raises(InvalidTransition, match="already closed"):
        check_transition(S.CLOSED, S.CLOSED)
    with pytest.raises(InvalidTransition, match="dispatch one first"):
        check_transition(S.NEW, S.ON_SCENE)
    with pytest.raises(InvalidTransition, match="cannot go back"):
        check_transition(S.DISPATCHED, S.NEW)
    with pytest.raises(ValueError):
        check_transition(S.NEW, "teleported")


def test_units_follow_their_incident() -> None:
    assert unit_status_for(S.DISPATCHED) == UnitStatus.EN_ROUTE
    assert unit_status_for(S.ON_SCENE) == UnitStatus.ON_SCENE
    assert unit_status_for(S.RESOLVED) == UnitStatus.AVAILABLE
    assert unit_status_for(S.NEW) is None


def test_checklist_steps_go_in_order() -> None:
    steps = PROCEDURES[Category.THEFT]
    assert check_step(steps, [], steps[0]) == 0
    with pytest.raises(StepRefused, match=f"tick '{steps[0]}' first"):
        check_step(steps, [], steps[2])
    with pytest.raises(StepRefused, match="already ticked"):
        check_step(steps, [steps[0]], steps[0])
    with pytest.raises(StepRefused, match="not in this incident's procedure"):
        check_step(steps, [], "call_fire_service")
    assert check_step(steps, steps[:3], steps[3]) == 3
    assert all(PROCEDURES[c] for c in Category) and len(all_steps()) >= len(Category)


def test_suggestions_rank_available_units_by_great_circle_distance() -> None:
    units = [
        UnitPosition("k", "Karakol-1", UnitStatus.AVAILABLE, *KARAKOL),
        UnitPosition("c", "Cholpon-1", UnitStatus.AVAILABLE, *CHOLPON_ATA),
        UnitPosition("b", "Balykchy-1", UnitStatus.AVAILABLE, *BALYKCHY),
        UnitPosition("busy", "Bosteri-2", UnitStatus.EN_ROUTE, *BOSTERI),
        UnitPosition("off", "Bosteri-1", UnitStatus.OFF_DUTY, *BOSTERI),
        UnitPosition("nogps", "Nowhere-1", UnitStatus.AVAILABLE, None, None),
    ]
    out = suggest_units(*BOSTERI, units)
    assert [s.unit.id for s in out] == ["c", "b", "k"]
    assert out[0].eta_s == pytest.approx(out[0].distance_m / (40 / 3.6))
    assert len(suggest_units(*BOSTERI, units, limit=1)) == 1
    # a degree of a meridian on the mean-radius sphere is pi * R / 180 = 111.195 km, anywhere
    assert great_circle_m(42.0, 77.0, 43.0, 77.0) == pytest.approx(111_195, abs=1)
    assert great_circle_m(0.0, 10.0, 0.0, 11.0) == pytest.approx(111_195, abs=1)
    assert great_circle_m(*KARAKOL, *BALYKCHY) == pytest.approx(great_circle_m(*BALYKCHY, *KARAKOL))
    assert eta_s(40_000) == pytest.approx(3600)


def test_a_place_falls_in_its_region_or_outside_the_country() -> None:
    assert len(admin1_features()) == 8
    assert region_of_place(*KARAKOL) == "KG-Y"
    assert region_of_place(*BOSTERI) == "KG-Y"
    assert region_of_place(*TOKMOK) == "KG-C"
    assert region_of_place(42.8746, 74.5698) == "KG-GB"  # Bishkek, inside Chuy's outline
    assert region_of_place(40.5283, 72.7985) == "KG-GO"  # Osh city: no polygon, the disc around its centre
    assert region_of_place(40.0, 73.3) == "KG-O"
    assert region_of_place(41.43, 75.99) == "KG-N"  # Naryn town
    assert region_of_place(43.2389, 76.8897) is None  # Almaty, Kazakhstan
    assert region_of_place(39.65, 66.96) is None  # Samarkand
    square = [
        {
            "properties": {"iso_3166_2": "X"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]],
            },
        }
    ]
    assert region_at(1, 1, square) == "X" and region_at(5, 5, square) is None  # the hole is outside


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([], 50) is None
    assert percentile([60, 300], 50) == 180
    assert percentile([60, 300], 90) == pytest.approx(276)
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    s = summary([10, None, 20, 30])
    assert s == {"n": 3, "median_s": 20, "p90_s": pytest.approx(28), "mean_s": 20, "max_s": 30}
