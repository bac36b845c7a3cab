"""Scoring against the simulator: cars drive towards and away from a road camera, day, dusk and night.

Each frame's vehicle is cut from the 720p main stream by its ground-truth box, its plate read, and
the reads of one car voted into one plate; the vote must equal the plate the simulator drew.
What this does not cover (so the numbers are an upper bound for real roads): the sim draws every
plate flat, facing the camera, lit at 60 % or more even at night (as a working plate lamp would),
without motion blur, dirt or glare; the only damage is perspective shrinkage and H.264 at QP 26.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from koopsuz.domain.plates import char_accuracy, vote
from koopsuz.sim.plates import PLATE_H, PLATE_W
from tests.plates.conftest import LIGHTS, PLATES, road_clip

# The plate is drawn 0.52/1.8 of a car's width wide (sim/draw.py); its height follows the master image.
PLATE_H_PER_CAR_W = 0.52 / 1.8 * PLATE_H / PLATE_W
FRAME_H = 720
# Floors, set below what was measured (10/10 cars in each light; see docs/benchmarks.md) so that
# a real regression fails, not a one-character wobble.
MIN_EXACT_CARS = {"day": 9, "dusk": 9, "night": 8}
MIN_CHAR_ACCURACY = {"day": 0.98, "dusk": 0.97, "night": 0.95}
MIN_FRAME_EXACT_10PX = 0.9  # single-frame exact reads, plates 10 px high or more


@dataclass
class Score:
    light: str
    cars: dict[str, str | None] = field(default_factory=dict)  # truth -> voted text
    confidence: dict[str, float] = field(default_factory=dict)
    frames: list[tuple[float, bool]] = field(default_factory=list)  # (plate height px, exact)

    @property
    def exact(self) -> int:
        return sum(t == r for t, r in self.cars.items())

    @property
    def char_accuracy(self) -> float:
        return sum(char_accuracy(t, r or "") for t, r in self.cars.items()) / len(self.cars)

    def frame_exact(self, min_h: float) -> float:
        hits = [ok for h, ok in self.frames if h >= min_h]
        return sum(hits) / max(1, len(hits))


_scores: dict[str, Score] = {}


def score(light: str, reader) -> Score:  # type: ignore[no-untyped-def]
    if light in _scores:
        return _scores[light]
    clip = road_clip(light)
    s = Score(light)
    for actor in clip.truth["actors"]:
        assert actor["plate_visible"], actor["id"]
        reads = []
        for f, x, y, w, h in actor["boxes_main"]:
            if light != "day" and f % 2:
                continue  # every frame by day (for the per-frame rates), every other one at dusk and night
            found = reader.read(clip.frames[f], (x, y, x + w, y + h))
            best = found[0] if found else None
            if best is not None:
                reads.append((best.plate, best.confidence))
            if y + h < FRAME_H - 1:  # a car cut by the bottom edge has its plate out of view
                s.frames.append((w * PLATE_H_PER_CAR_W, best is not None and best.text == actor["plate"]))
        v = vote(reads)
        s.cars[actor["plate"]] = v.plate.text if v else None
        s.confidence[actor["plate"]] = v.confidence if v else 0.0
    _scores[light] = s
    print(
        f"\n{light}: {s.exact}/{len(s.cars)} cars exact, chars {s.char_accuracy:.3f}, "
        f"frames >=10px {s.frame_exact(10):.2f} >=15px {s.frame_exact(15):.2f}, misses "
        f"{ {t: r for t, r in s.cars.items() if t != r} }, vote confidence {min(s.confidence.values()):.2f}"
        f"-{max(s.confidence.values()):.2f}"
    )
    return s


@pytest.mark.parametrize("light", LIGHTS)
def test_every_car_is_read_by_vote(light: str, reader) -> None:  # type: ignore[no-untyped-def]
    s = score(light, reader)
    assert set(s.cars) == set(PLATES)
    assert s.exact >= MIN_EXACT_CARS[light], s.cars
    assert s.char_accuracy >= MIN_CHAR_ACCURACY[light], s.cars
    # A right vote is confident, and nothing voted wrong claims to be sure.
    for truth, read in s.cars.items():
        if read == truth:
            assert s.confidence[truth] >= 0.2, (truth, s.confidence[truth])
        elif read is not None:
            assert s.confidence[truth] < 0.8, (truth, read, s.confidence[truth])


def test_single_frames_of_readable_plates(reader) -> None:  # type: ignore[no-untyped-def]
    s = score("day", reader)
    assert s.frame_exact(10) >= MIN_FRAME_EXACT_10PX, sorted(s.frames)
    assert s.frame_exact(5) < s.frame_exact(10)  # tiny plates are not read: the floor is where it should be
