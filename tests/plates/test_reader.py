"""PlateReader on a still photo and on vehicle crops: reads, boxes, ranking, threads, models, no download."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from koopsuz.domain.plates import parse_read
from koopsuz.vision.faces import read_image
from koopsuz.vision.plates import DET_FILE, ModelError, PlateReader, find_plate_models
from tests.plates.photos import PASTED, street_photo


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[str]]:
    path = tmp_path_factory.mktemp("plates") / "street.jpg"
    texts = street_photo(path)
    return read_image(path), texts


def test_reads_both_plates_in_a_photo_best_first(reader, photo) -> None:  # type: ignore[no-untyped-def]
    img, texts = photo
    reads = reader.read(img)
    kg = [r for r in reads if not r.plate.foreign]
    assert [r.text for r in kg] == texts  # the big clear plate first
    assert [r.plate.format for r in kg] == ["private", "legal"] and kg[0].plate.region == "KG-GB"
    assert kg[0].confidence > 0.8 and kg[0].confidence >= kg[1].confidence
    for r, (_, x, y, w, _tilt) in zip(kg, PASTED, strict=True):
        x0, y0, x1, y1 = r.box
        assert abs(x0 - x) < 0.15 * w and abs(x1 - (x + w)) < 0.15 * w and y0 < y + 0.2 * w < y1
    # The camera's on-screen label "CAM 12" reads as text that fits no plate shape; it is light on
    # the scene, not dark on a plate, so it is not reported as a foreign plate.
    assert reads == kg


def test_vehicle_crop_reads_in_image_coordinates(reader, photo) -> None:  # type: ignore[no-untyped-def]
    img, texts = photo
    (on_car,) = [r for r in reader.read(img, (250, 330, 600, 520)) if not r.plate.foreign]
    assert on_car.text == texts[0]
    _, x, y, w, _ = PASTED[0]  # the box is where the plate is in the whole image, not in the crop
    x0, y0, x1, y1 = on_car.box
    assert abs(x0 - x) < 0.15 * w and abs(x1 - (x + w)) < 0.15 * w and y0 < y + 0.2 * w < y1
    assert reader.read(img, (0, 0, 40, 40)) == []  # too small to carry a readable plate
    assert reader.read(np.full((300, 400, 3), 127, np.uint8)) == []
    with pytest.raises(ValueError, match="BGR uint8"):
        reader.read(np.zeros((10, 10), np.uint8))


def test_one_reader_shared_by_threads(reader, photo) -> None:  # type: ignore[no-untyped-def]
    img, _ = photo
    crop = (250, 330, 600, 520)
    expected = [(r.text, r.box) for r in reader.read(img, crop)]
    got: list[list[tuple[str, tuple[int, int, int, int]]]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(2):
                got.append([(r.text, r.box) for r in reader.read(img, crop)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 6 and all(g == expected for g in got)


def test_models_ship_in_the_wheel_and_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    models = find_plate_models()
    assert models.detector.name == DET_FILE and "site-packages" in str(models.detector)
    assert models.detector.stat().st_size > 1_000_000 and models.recognizer.stat().st_size > 1_000_000

    from rapidocr.utils import download_file

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("rapidocr tried to download a file")

    monkeypatch.setattr(download_file.DownloadFile, "run", classmethod(refuse))
    r = PlateReader(parse_read)
    text, score = r.read_text(_plate_strip("09 777 PT"))
    assert parse_read(text).text == "09 777 PT" and score > 0.8


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=DET_FILE):
        PlateReader(parse_read, model_dir=tmp_path)


def _plate_strip(text: str) -> np.ndarray:
    import cv2

    from koopsuz.sim.plates import plate_image

    return cv2.resize(plate_image(text), (260, 56), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(
    ("text", "yellow", "fmt", "foreign"),
    [
        ("B 1234 AB", False, "pre2016", False),
        ("01 1234 D", True, "foreign", False),  # a Kyrgyz plate of a foreign citizen, black on yellow
        ("123 ABC 02", False, "kz", True),
        ("A 123 BC 77", False, "ru", True),
        ("10 A 123 BC", False, "free", True),  # Uzbek: no Kyrgyz shape, kept as free text
    ],
)
def test_other_formats_on_a_vehicle(reader, text: str, yellow: bool, fmt: str, foreign: bool) -> None:  # type: ignore[no-untyped-def]
    from tests.plates.photos import flat_plate

    img = np.full((400, 700, 3), 110, np.uint8)
    plate = flat_plate(text, yellow=yellow)
    img[200 : 200 + plate.shape[0], 200 : 200 + plate.shape[1]] = plate
    (best, *_) = reader.read(img, (150, 100, 500, 300))
    assert (best.plate.format, best.plate.foreign) == (fmt, foreign)
    assert best.text == (text if fmt != "free" else text.replace(" ", ""))


def test_whole_720p_frame_from_the_road_camera(reader) -> None:  # type: ignore[no-untyped-def]
    from tests.plates.conftest import road_clip
    from tests.plates.test_sim_scoring import PLATE_H_PER_CAR_W

    clip = road_clip("day")
    # Frames where exactly one car is in full view with a plate 12 px high or more.
    by_frame: dict[int, list[str]] = {}
    for actor in clip.truth["actors"]:
        for f, _x, y, w, h in actor["boxes_main"]:
            if w * PLATE_H_PER_CAR_W >= 12 and y + h < 719:
                by_frame.setdefault(f, []).append(actor["plate"])
    picked = [(f, plates[0]) for f, plates in sorted(by_frame.items()) if len(plates) == 1][::3][:5]
    assert len(picked) >= 4
    hits = sum(plate in [r.text for r in reader.read(clip.frames[f])] for f, plate in picked)
    assert hits == len(picked)
