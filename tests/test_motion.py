import numpy as np
import pytest

from koopsuz.vision.motion import MotionConfig, MotionDetector


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 120, (360, 640), dtype=np.uint8)


def _warm(d: MotionDetector, frame: np.ndarray, n: int = 10) -> None:
    for _ in range(n):
        assert not d.update(frame).moving


def test_static_scene_is_quiet_and_a_moving_block_is_found_where_it_is() -> None:
    bg = _scene()
    d = MotionDetector(MotionConfig())
    _warm(d, bg)
    f = bg.copy()
    f[100:200, 300:340] = 230  # a bright 40x100 object at x=300..340, y=100..200
    r = d.update(f)
    assert r.moving
    x, y, w, h = r.boxes[0]
    assert x == pytest.approx(300 / 640, abs=0.05) and y == pytest.approx(100 / 360, abs=0.05)
    assert x + w == pytest.approx(340 / 640, abs=0.05) and y + h == pytest.approx(200 / 360, abs=0.05)


def test_sensor_noise_alone_is_not_motion() -> None:
    bg = _scene().astype(np.int16)
    d = MotionDetector(MotionConfig())
    rng = np.random.default_rng(1)
    for _ in range(30):
        noisy = np.clip(bg + rng.normal(0, 4, bg.shape), 0, 255).astype(np.uint8)
        assert not d.update(noisy).moving


def test_lights_switched_on_resets_background_instead_of_alerting() -> None:
    bg = _scene()
    d = MotionDetector(MotionConfig())
    _warm(d, bg)
    r = d.update(np.clip(bg.astype(np.int16) + 100, 0, 255).astype(np.uint8))
    assert r.reset and not r.moving


def test_masked_area_is_ignored_but_the_rest_is_not() -> None:
    bg = _scene()
    d = MotionDetector(MotionConfig(masks=[[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]))
    _warm(d, bg)
    f = bg.copy()
    f[100:200, 50:120] = 230  # inside the masked left half
    assert not d.update(f).moving
    d2 = MotionDetector(MotionConfig(masks=[[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]))
    _warm(d2, bg)
    g = bg.copy()
    g[100:200, 450:520] = 230  # the right half is watched
    assert d2.update(g).moving


def test_tiny_changes_below_min_area_are_ignored() -> None:
    bg = _scene()
    d = MotionDetector(MotionConfig(min_area=0.01))
    _warm(d, bg)
    f = bg.copy()
    f[10:16, 10:16] = 255
    assert not d.update(f).moving


def test_works_on_a_strided_view_of_a_padded_plane() -> None:
    padded = np.zeros((360, 704), np.uint8)
    padded[:, :640] = _scene()
    view = padded[:, :640]
    d = MotionDetector(MotionConfig())
    _warm(d, view)
    padded[150:250, 400:460] = 250
    assert d.update(view).moving


def test_an_object_that_stops_joins_the_background() -> None:
    bg = _scene()
    d = MotionDetector(MotionConfig())
    _warm(d, bg)
    parked = bg.copy()
    parked[150:250, 200:330] = 200  # a car pulls up and stays
    results = [d.update(parked).moving for _ in range(200)]  # 25 s at 8 analysed frames per second
    assert results[0]
    quiet_from = next(i for i, m in enumerate(results) if not m)
    assert quiet_from < 120 and not any(results[quiet_from:])
