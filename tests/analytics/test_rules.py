"""Zone entry and line crossing: geometry, direction, jitter, de-duplication, counting, and the
same rules on the simulator's ground truth and on the tracker's paths of the same clips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from koopsuz.domain.rules import Rule, RuleEngine, point_in_polygon, segments_intersect

from .conftest import Clip, Run

VERTICAL = Rule(id="door", name="door", kind="line_crossing", line=((0.5, 0.2), (0.5, 1.0)))
SQUARE = ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6))
NEAR = ((0.0, 0.7), (1.0, 0.7), (1.0, 1.0), (0.0, 1.0))


def walk(engine: RuleEngine, track: str, points: list[tuple[float, float]], cls: str = "person", h: float = 0.3):
    hits = []
    for i, p in enumerate(points):
        hits += engine.observe(track, cls, p, h, 1000.0 + i / 8)
    return hits


def test_geometry() -> None:
    assert point_in_polygon((0.4, 0.4), SQUARE) and not point_in_polygon((0.7, 0.4), SQUARE)
    concave = ((0, 0), (1, 0), (1, 1), (0.5, 0.3), (0, 1))
    assert point_in_polygon((0.2, 0.5), concave) and not point_in_polygon((0.5, 0.6), concave)
    assert segments_intersect((0, 0), (1, 1), (0, 1), (1, 0))
    assert not segments_intersect((0, 0), (1, 0), (0, 1), (1, 1))
    assert segments_intersect((0, 0), (2, 0), (1, 0), (3, 0)) and not segments_intersect((0, 0), (1, 0), (2, 0), (3, 0))


def test_rules_are_validated() -> None:
    with pytest.raises(ValidationError, match="needs a zone"):
        Rule(id="z1", name="z", kind="zone_entry")
    with pytest.raises(ValidationError, match="needs a line"):
        Rule(id="l1", name="l", kind="line_crossing")
    with pytest.raises(ValidationError, match=r"outside 0\.\.1"):
        Rule(id="l1", name="l", kind="line_crossing", line=((0, 0), (1.5, 1)))
    with pytest.raises(ValidationError, match="coincide"):
        Rule(id="l1", name="l", kind="line_crossing", line=((0.3, 0.3), (0.3, 0.3)))
    with pytest.raises(ValidationError, match="no area"):
        Rule(id="z1", name="z", kind="zone_entry", zone=((0, 0), (0.5, 0.5), (1, 1)))
    with pytest.raises(ValidationError, match="classes"):
        Rule(id="z1", name="z", kind="zone_entry", zone=SQUARE, classes=("dog",))


def test_crossing_direction_both_ways_and_counts_per_hour() -> None:
    engine = RuleEngine([VERTICAL])
    # drawn top to bottom: standing at the top looking down, +x is on your left
    east = walk(engine, "t1", [(0.3 + 0.05 * i, 0.7) for i in range(9)])
    west = walk(engine, "t2", [(0.7 - 0.05 * i, 0.7) for i in range(9)])
    assert [h.direction for h in east] == ["right_to_left"] and [h.direction for h in west] == ["left_to_right"]
    assert engine.count("door") == 2 and engine.count("door", "left_to_right") == 1
    assert engine.count("door", class_name="car") == 0
    hours = {hour for (_, _, _, hour) in engine.counts}
    assert hours == {3600 * (1000 // 3600)}


def test_direction_filter_still_counts_the_other_way() -> None:
    one_way = Rule(id="in", name="in", kind="line_crossing", line=VERTICAL.line, direction="left_to_right")
    engine = RuleEngine([one_way])
    assert walk(engine, "t1", [(0.3 + 0.05 * i, 0.7) for i in range(9)]) == []  # wrong way: no alert
    assert engine.count("in", "right_to_left") == 1  # but counted


def test_jitter_on_the_line_is_one_crossing_and_alerts_once_per_track() -> None:
    engine = RuleEngine([VERTICAL])
    wobble = [(0.45, 0.7)] + [(0.5 + (0.004 if i % 2 else -0.004), 0.7) for i in range(20)] + [(0.56, 0.7)]
    hits = walk(engine, "t1", wobble)
    assert len(hits) == 1
    back_and_forth = walk(engine, "t1", [(0.44, 0.7), (0.57, 0.7), (0.44, 0.7)])
    assert len(back_and_forth) == 3 and not any(h.alert for h in back_and_forth)  # counted, alerted once
    assert engine.count("door") == 4


def test_passing_round_the_end_of_a_line_is_no_crossing() -> None:
    engine = RuleEngine([VERTICAL])  # the line starts at y = 0.2
    assert walk(engine, "t1", [(0.3, 0.1), (0.7, 0.1)]) == []


def test_zone_entry_once_per_track_classes_and_size() -> None:
    zone = Rule(id="yard", name="yard", kind="zone_entry", zone=SQUARE, classes=("person",), min_height=0.1)
    engine = RuleEngine([zone])
    hits = walk(engine, "t1", [(0.1, 0.4), (0.3, 0.4), (0.7, 0.4), (0.3, 0.4)])
    assert [h.alert for h in hits] == [True, False] and hits[0].from_outside
    assert walk(engine, "car", [(0.1, 0.4), (0.3, 0.4)], cls="car") == []
    assert walk(engine, "far", [(0.1, 0.4), (0.3, 0.4)], h=0.05) == []  # too small to trust
    first_inside = walk(engine, "t9", [(0.4, 0.4)])
    assert len(first_inside) == 1 and not first_inside[0].from_outside
    engine.end("t1")
    assert len(walk(engine, "t1", [(0.1, 0.4), (0.3, 0.4)])) == 1  # a new track under an old id


def truth_path(clip: Clip, actor: int = 0) -> list[tuple[float, float]]:
    return [((x + w / 2) / 640, (y + h) / 360) for _, x, y, w, h in clip.truth["actors"][actor]["boxes_sub"]]


def track_path(run: Run) -> list[tuple[float, float]]:
    """The person's track (truth actor 0 on these clips); d-2's car, now detected too, has its own."""
    (left,) = [e for e in run.events if e.kind == "track_left" and e.payload["class"] == "person"]
    return [(x, y) for _, x, y in left.payload["path"]]


@pytest.mark.parametrize(
    ("camera", "rule", "expected"),
    [
        ("w-1", VERTICAL, [("door", "right_to_left")]),  # walks left to right across the middle
        (
            "d-2",  # walks towards the school camera, across a line on the path
            Rule(id="gate", name="gate", kind="line_crossing", line=((0.2, 0.75), (0.8, 0.75))),
            [("gate", "left_to_right")],  # drawn eastwards: downwards in the picture is its right
        ),
        (
            "d-2",
            Rule(id="near", name="near", kind="zone_entry", zone=((0, 0.7), (1, 0.7), (1, 1), (0, 1))),
            [("near", None)],
        ),
    ],
)
def test_rules_on_tracks_agree_with_ground_truth(
    runs: dict[tuple[str, bool], Run], camera: str, rule: Rule, expected: list[tuple[str, str | None]]
) -> None:
    run = runs[camera, True]
    from_truth = walk(RuleEngine([rule]), "truth", truth_path(run.clip))
    from_track = walk(RuleEngine([rule]), "track", track_path(run))
    assert [(h.rule.id, h.direction) for h in from_truth] == expected
    assert [(h.rule.id, h.direction) for h in from_track] == expected
