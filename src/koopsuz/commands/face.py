"""``koopsuz face``: check the face recogniser on your own photos (no database, no server).

``compare`` prints exactly one JSON object on stdout:
``{"similarity": 0.66, "threshold": 0.363, "same_person": true}``; a photo without exactly one
usable face (or a file that is not an image) is refused with ``{"error": ..., "reason": ...,
"file": ...}`` and exit code 1. Exit code 2: the face models are not installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    help="Face recognition on photos: compare two faces, list the faces in a photo.", no_args_is_help=True
)

ImagePath = Annotated[Path, typer.Argument(help="a JPEG or PNG photo", show_default=False)]


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _refuse(file: Path, reason: str, message: str, code: int = 1, **extra: object) -> NoReturn:
    _emit({"error": f"{file}: {message}", "reason": reason, "file": str(file), **extra})
    raise typer.Exit(code)


def _engine(threshold: float | None):  # type: ignore[no-untyped-def]
    import cv2

    from koopsuz.vision.faces import SFACE_THRESHOLD, FaceEngine, ModelError

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV 5's "targets" notice on stderr
    try:
        return FaceEngine(threshold=SFACE_THRESHOLD if threshold is None else threshold)
    except ModelError as exc:
        _emit({"error": str(exc), "reason": "models_missing"})
        raise typer.Exit(2) from None


def _image(path: Path):  # type: ignore[no-untyped-def]
    from koopsuz.vision.faces import ImageError, read_image

    try:
        return read_image(path)
    except ImageError as exc:
        reason = "too_large" if "too large" in str(exc) or "larger than" in str(exc) else "not_an_image"
        _refuse(path, reason, str(exc).removeprefix(f"{path}: "))


@app.command("compare")
def compare(
    a: ImagePath,
    b: ImagePath,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=-1.0, max=1.0, help="cosine similarity for 'same person' [default: 0.363]"),
    ] = None,
) -> None:
    """Compare the one face in each photo: prints {"similarity", "threshold", "same_person"} as JSON."""
    from koopsuz.vision.faces import Refusal

    engine = _engine(threshold)
    vectors = []
    for path in (a, b):
        img = _image(path)
        face = engine.usable(img)
        if isinstance(face, Refusal):
            _refuse(path, face.reason, face.message, faces=face.faces)
        vectors.append(engine.embed(img, face))
    sim, same = engine.same_person(vectors[0], vectors[1])
    _emit({"similarity": round(sim, 4), "threshold": engine.threshold, "same_person": same})


@app.command("detect")
def detect(image: ImagePath) -> None:
    """List the faces in a photo with box, landmarks, score and quality (size, sharpness, pose), as JSON."""
    from koopsuz.vision.faces import Refusal

    engine = _engine(None)
    img = _image(image)
    faces = engine.faces(img)
    verdict = engine.usable(img)
    _emit(
        {
            "file": str(image),
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "faces": [{**f.to_json(), "quality": engine.quality(img, f).to_json()} for f in faces],
            "usable": not isinstance(verdict, Refusal),
            "refusal": verdict.to_json() if isinstance(verdict, Refusal) else None,
        }
    )
