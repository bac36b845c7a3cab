"""Fixtures: one face engine per session, and the real photos from registry packages (tests/faces/photos.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from koopsuz.vision.faces import Face, FaceEngine, read_image
from tests.faces import photos


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="session")
def portraits() -> dict[str, Path]:
    got = photos.portraits()
    missing = [n for n in (*(Path(f).stem for f in photos.SDIST_FILES), "tom_hanks") if n not in got]
    if missing:  # a fresh machine fetches them in `make setup`; fail loudly rather than test nothing
        pytest.fail(f"real face photos missing: {missing}; run `.venv/bin/python tests/faces/photos.py` online")
    return got


@pytest.fixture(scope="session")
def group(engine: FaceEngine) -> tuple[np.ndarray, list[Face]]:
    """t1.jpg and its faces left to right."""
    path = photos.group_photo()
    if path is None:
        pytest.fail("insightface's t1.jpg is missing; run `.venv/bin/python tests/faces/photos.py` online")
    img = read_image(path)
    return img, sorted(engine.faces(img), key=lambda f: f.box[0])
