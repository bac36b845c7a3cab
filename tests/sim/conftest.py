"""Small scenarios for simulator tests: short loops so rendering takes a second, not minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from koopsuz.sim.faces import list_photos
from koopsuz.sim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "var" / "sim" / "faces"


def tiny_scenario(seed: int = 5) -> Scenario:
    """Two cameras, 6 s loops: a person crossing t-1 in 1..4 s, a car coming down t-2's road."""
    return Scenario.model_validate(
        {
            "seed": seed,
            "fps": 15,
            "loop_seconds": 6,
            "gop_seconds": 1.0,
            "cameras": [
                {
                    "id": "t-1",
                    "scene": "street",
                    "schedule": [
                        {
                            "id": "p1",
                            "at": 1.0,
                            "kind": "person",
                            "path": [[-0.06, 0.95], [1.06, 0.95]],
                            "duration": 3.0,
                        }
                    ],
                },
                {
                    "id": "t-2",
                    "scene": "road",
                    "light": "night",
                    "schedule": [
                        {
                            "at": 0.5,
                            "kind": "car",
                            "path": [[0.47, 0.37], [0.2, 1.3]],
                            "duration": 4.0,
                            "plate": "09 123 ABC",
                        }
                    ],
                },
            ],
        }
    )


@pytest.fixture
def faces_dir(tmp_path: Path) -> Path:
    """The face photos if this machine has fetched them (``koopsuz sim`` does), else an empty folder."""
    return FACES if list_photos(FACES) else tmp_path / "no-faces"
