"""The real face photos that ship in registry packages, fetched once with pip (never at run time).

* ``face_recognition==1.3.0`` sdist, ``tests/test_images/``: ``obama.jpg``, ``obama2.jpg``,
  ``obama3.jpg`` (three photos of one person) and ``biden.jpg`` (another), fetched by the
  simulator's own :func:`koopsuz.sim.faces.ensure_face_assets` into ``var/sim/faces``.
* ``insightface==2.1`` wheel, ``insightface/data/images/``: ``t1.jpg`` (a group photo of six
  people) and ``Tom_Hanks_54745.png`` (one 112x112 aligned face), into ``var/faces/insightface``.

Used by tests/faces, bench/face_accuracy.py and bench/faces.py, and by anyone who needs real
faces for watchlist tests. Returns what it could get; callers skip when photos are missing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from koopsuz.sim.faces import SDIST, ensure_face_assets

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SDIST_DIR = ROOT / "var" / "sim" / "faces"
WHEEL = "insightface==2.1"
WHEEL_DIR = ROOT / "var" / "faces" / "insightface"
WHEEL_FILES = ("t1.jpg", "Tom_Hanks_54745.png")
SDIST_FILES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
PROVENANCE = f"""These photos come from the PyPI wheel {WHEEL} (insightface/data/images/), fetched with
`pip download {WHEEL} --no-deps --only-binary :all:` by tests/faces/photos.py. insightface's code is
MIT-licensed; the images are its sample data. Used only to test and measure face recognition.
"""


def fetch_wheel_photos(directory: Path = WHEEL_DIR, timeout: float = 180.0) -> list[Path]:
    """t1.jpg and Tom_Hanks_54745.png from the insightface wheel (downloaded once, then cached)."""
    have = [directory / n for n in WHEEL_FILES if (directory / n).is_file()]
    if len(have) == len(WHEEL_FILES):
        return have
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="koopsuz-faces-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary", ":all:", "-d", tmp]
        cmd += ["--retries", "1", "--timeout", "15", "--disable-pip-version-check"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
            wheel = next(Path(tmp).glob("insightface-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                for name in WHEEL_FILES:
                    (directory / name).write_bytes(zf.read(f"insightface/data/images/{name}"))
            (directory / "PROVENANCE.txt").write_text(PROVENANCE)
        except (OSError, subprocess.SubprocessError, StopIteration, KeyError, zipfile.BadZipFile) as exc:
            log.warning("could not fetch %s photos: %s", WHEEL, exc)
    return [directory / n for n in WHEEL_FILES if (directory / n).is_file()]


def portraits() -> dict[str, Path]:
    """The single-person photos by file stem: obama, obama2, obama3, biden (and tom_hanks if fetched)."""
    ensure_face_assets(SDIST_DIR)
    out = {Path(n).stem: SDIST_DIR / n for n in SDIST_FILES if (SDIST_DIR / n).is_file()}
    fetch_wheel_photos()
    hanks = WHEEL_DIR / "Tom_Hanks_54745.png"
    if hanks.is_file():
        out["tom_hanks"] = hanks
    return out


def group_photo() -> Path | None:
    """insightface's six-person t1.jpg, or None when it could not be fetched."""
    fetch_wheel_photos()
    p = WHEEL_DIR / "t1.jpg"
    return p if p.is_file() else None


def identity(stem: str) -> str:
    """obama2 -> obama; t1_face3 -> t1_face3 (each face of the group photo is its own person)."""
    return stem.rstrip("0123456789") if not stem.startswith("t1_") else stem


if __name__ == "__main__":  # `python tests/faces/photos.py`: fetch at set-up time
    logging.basicConfig(level=logging.INFO)
    got, group = portraits(), group_photo()
    print({k: str(v) for k, v in got.items()}, group, f"(from {SDIST} and {WHEEL})")
    sys.exit(0 if len(got) == len(SDIST_FILES) + 1 and group else 1)
