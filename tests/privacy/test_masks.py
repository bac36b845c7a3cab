"""Mask drawing, exactly: which pixels are filled, that inputs stay untouched, YUV and JPEG forms."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from koopsuz.domain.deployment import parse_deployment
from koopsuz.domain.registry import Camera
from koopsuz.vision.privacy import YuvMasker, mask_bitmap, mask_jpeg, masked_copy

SQUARE = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]


def test_masked_copy_fills_exactly_the_polygon_and_leaves_the_input() -> None:
    img = np.full((101, 201, 3), 200, np.uint8)
    before = img.copy()
    out = masked_copy(img, [SQUARE])
    assert np.array_equal(img, before), "the shared frame must never be drawn on"
    # 0.5 of 201 px -> column 100, of 101 px -> row 50: corners inclusive
    assert (out[:51, :101] == 0).all()
    assert (out[51:, :] == 200).all() and (out[:, 101:] == 200).all()
    assert masked_copy(img, []) is img  # nothing to hide: no copy


def test_triangle_and_full_frame() -> None:
    tri = mask_bitmap(100, 100, [[(0, 0), (1, 0), (0, 1)]])
    assert tri[0, 0] and tri[0, 99] and tri[99, 0] and not tri[99, 99]
    assert abs(tri.mean() - 0.5) < 0.02
    assert mask_bitmap(64, 48, [[(0, 0), (1, 0), (1, 1), (0, 1)]]).all()


def test_yuv_masker_fills_luma_and_chroma() -> None:
    w, h = 64, 48
    arr = np.full((h * 3 // 2, w), 180, np.uint8)
    YuvMasker(w, h, [SQUARE]).paint(arr)
    y = arr[:h]
    assert (y[:24, :32] == 16).all() and (y[25:, :] == 180).all() and (y[:, 33:] == 180).all()
    u = arr[h : h + h // 4].reshape(h // 2, w // 2)
    v = arr[h + h // 4 :].reshape(h // 2, w // 2)
    for plane in (u, v):
        assert (plane[:12, :16] == 128).all() and (plane[13:, :] == 180).all()


def test_mask_jpeg_round_trip_and_refusal() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(60, 250, (120, 160, 3), np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    out = cv2.imdecode(np.frombuffer(mask_jpeg(buf.tobytes(), [SQUARE]), np.uint8), cv2.IMREAD_COLOR)
    inner = out[:56, :76].astype(int)
    assert inner.max() <= 8 and inner.std() < 1.5  # solid black, give or take JPEG ringing near the edge
    assert out[70:, 90:].mean() > 100
    with pytest.raises(ValueError, match="could not be masked"):
        mask_jpeg(b"not a jpeg", [SQUARE])


def test_camera_model_and_deployment_accept_privacy_masks() -> None:
    base = dict(id="c-1", name="c", site="s", main_url="rtsp://x/a", sub_url="rtsp://x/b", lat=42.5, lon=78.0)
    cam = Camera.model_validate(base | {"privacy_masks": [SQUARE]})
    assert cam.privacy_masks == [SQUARE]
    with pytest.raises(ValidationError, match=r"outside 0\.\.1"):
        Camera.model_validate(base | {"privacy_masks": [[(0, 0), (1.2, 0), (0, 1)]]})
    with pytest.raises(ValidationError, match="at least 3 points"):
        Camera.model_validate(base | {"privacy_masks": [[(0, 0), (1, 0)]]})
    text = """
name: t
sites: [{id: s-1, name: S, type: school, region: KG-Y, lat: 42.5, lon: 78.0}]
cameras:
  - id: c-1
    name: c
    site: s-1
    main_url: rtsp://x/a
    sub_url: rtsp://x/b
    lat: 42.5
    lon: 78.0
    privacy_masks: [[[0, 0], [0.5, 0], [0.5, 0.5]]]
"""
    assert parse_deployment(text).cameras[0].privacy_masks == [[(0, 0), (0.5, 0), (0.5, 0.5)]]
