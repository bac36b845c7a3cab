"""Privacy masks: polygons of a camera's picture that nobody sees without an approved unmask grant.

Pure drawing, no I/O. Polygons are in 0..1 frame coordinates (as stored on the camera), so one
set of masks fits the sub stream, the main stream and a snapshot alike. A mask is filled solid, not
blurred or pixelated: a blur of a window still shows who stands in it, a solid fill shows nothing.
Frames handed around the system are shared (the live view's BGR array is the pipeline's too), so
``masked_copy`` never writes into its input; ``YuvMasker`` paints in place on a frame the caller
owns (a decoded frame being re-encoded).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Polygon = Sequence[Sequence[float]]  # [(x, y), ...] in 0..1 frame coordinates
FILL_BGR = (0, 0, 0)  # black: what viewers expect a privacy mask to look like
FILL_YUV = (16, 128, 128)  # the same black in limited-range YUV (what H.264 frames carry)


def masks_key(polygons: Sequence[Polygon]) -> tuple[tuple[tuple[float, float], ...], ...]:
    """A hashable form of a mask set (cache keys: one masked JPEG per frame and mask set)."""
    return tuple(tuple((float(x), float(y)) for x, y in poly) for poly in polygons)


def mask_bitmap(width: int, height: int, polygons: Sequence[Polygon]) -> np.ndarray:
    """A ``height x width`` bool array, True inside any polygon (edges included)."""
    bitmap = np.zeros((height, width), np.uint8)
    pts = [_pixels(poly, width, height) for poly in polygons if len(poly) >= 3]
    if pts:
        cv2.fillPoly(bitmap, pts, 1)
    return bitmap.astype(bool)


def masked_copy(bgr: np.ndarray, polygons: Sequence[Polygon], fill: tuple[int, int, int] = FILL_BGR) -> np.ndarray:
    """A copy of a BGR (or grey) image with every polygon filled solid; the input is untouched.

    Without polygons the input itself is returned (nothing to hide, nothing to copy).
    """
    if not polygons:
        return bgr
    out = bgr.copy()
    h, w = out.shape[:2]
    pts = [_pixels(poly, w, h) for poly in polygons if len(poly) >= 3]
    colour = fill if out.ndim == 3 else fill[0]
    cv2.fillPoly(out, pts, colour)
    return out


def mask_jpeg(jpeg: bytes, polygons: Sequence[Polygon], quality: int = 85) -> bytes:
    """A JPEG re-encoded with its masks filled (event snapshots, which stages hand over encoded).

    Raises ValueError for bytes that are not an image: a snapshot that cannot be masked must not
    be stored unmasked.
    """
    if not polygons:
        return jpeg
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("snapshot is not a decodable image; not stored, since it could not be masked")
    ok, buf = cv2.imencode(".jpg", masked_copy(img, polygons), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("masked snapshot could not be encoded")
    return buf.tobytes()


class YuvMasker:
    """Fills the masks on yuv420p frame arrays (PyAV's layout: Y rows, then U, then V), in place.

    The bitmaps are computed once for the frame size; painting is then two boolean assignments per
    plane, cheap next to the re-encode. Chroma is subsampled 2x2: a chroma sample is masked when
    any of its four luma pixels is, so no colour bleeds past the mask's edge.
    """

    def __init__(self, width: int, height: int, polygons: Sequence[Polygon], fill: tuple[int, int, int] = FILL_YUV):
        self.w, self.h = width, height
        self.fill = fill
        self.luma = mask_bitmap(width, height, polygons)
        ch, cw = height // 2, width // 2
        quads = self.luma[: ch * 2, : cw * 2].reshape(ch, 2, cw, 2)
        self.chroma = quads.any(axis=(1, 3))

    def paint(self, arr: np.ndarray) -> None:
        h, w = self.h, self.w
        y = arr[:h]
        y[self.luma] = self.fill[0]
        # PyAV lays U then V out as rows of width ``w`` holding two chroma rows each
        ch, cw = h // 2, w // 2
        for i, value in enumerate(self.fill[1:]):
            plane = arr[h + i * h // 4 : h + (i + 1) * h // 4].reshape(-1)[: ch * cw].reshape(ch, cw)
            plane[self.chroma] = value


def _pixels(poly: Polygon, width: int, height: int) -> np.ndarray:
    """0..1 corners to pixel corners: 1.0 maps to the last pixel, so a full-frame mask covers it all."""
    return np.array(
        [(round(float(x) * (width - 1)), round(float(y) * (height - 1))) for x, y in poly], np.int32
    ).reshape(-1, 1, 2)
