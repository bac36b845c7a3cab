"""Plate scoring material: road cameras from the simulator (day, dusk, night) and a reader per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from koopsuz.sim.render import render_scenario
from koopsuz.sim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "var" / "sim" / "cache"  # same keys, same bytes: shared with other runs
LIGHTS = ("day", "dusk", "night")
# Letters and digits chosen to provoke the usual confusions (O/0, I/1, B/8, S/5, Z/2, G/6), in
# private, legal-entity and government plates; even-numbered cars come towards the camera (front
# plate), odd ones drive away (rear plate).
PLATES = (
    "01 234 BSZ",
    "09 508 KGD",
    "08 116 AB",
    "03 920 XYM",
    "09 777 PT",
    "02 045 HEN",
    "05 800 OBS",
    "06 121 IZG",
    "04 361 GO",
    "07 052 ZSB",
)


def road_scenario(light: str) -> Scenario:
    """One road camera per light: ten cars, one at a time per lane, 10 fps, 14 s."""
    schedule = []
    for i, plate in enumerate(PLATES):
        coming = i % 2 == 0
        path = [[0.47, 0.36], [0.22, 1.25]] if coming else [[0.80, 1.25], [0.55, 0.36]]
        at = 0.2 + 2.4 * (i // 2) + (0.0 if coming else 0.5)
        schedule.append({"id": f"v{i}", "at": at, "kind": "car", "path": path, "duration": 3.5, "plate": plate})
    return Scenario.model_validate(
        {
            "seed": 6106,
            "fps": 10,
            "loop_seconds": 14,
            "gop_seconds": 1.0,
            "cameras": [{"id": f"plates-{light}", "scene": "road", "light": light, "schedule": schedule}],
        }
    )


@dataclass
class RoadClip:
    light: str
    frames: list[np.ndarray]  # main stream, BGR 1280x720
    truth: dict[str, Any]


def road_clip(light: str) -> RoadClip:
    rc = render_scenario(road_scenario(light), CACHE, ROOT / "var" / "no-faces", workers=1, progress=False)
    (cam,) = rc.values()
    codec = av.CodecContext.create("h264", "r")
    frames = [f.to_ndarray(format="bgr24") for unit in cam.main.units for f in codec.decode(av.Packet(unit))]
    return RoadClip(light, frames, cam.truth)


@pytest.fixture(scope="session")
def reader():
    from koopsuz.domain.plates import parse_read
    from koopsuz.vision.plates import PlateReader

    return PlateReader(parse_read, threads=1)  # under CPU load, one thread is faster than two fighting
