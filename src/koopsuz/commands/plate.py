"""``koopsuz plate``: read licence plates on photos (no database, no server), for investigators and scoring.

``read`` prints one JSON object per image and line, in the order given:
``{"file": ..., "plates": [{"text": "01 123 ABC", "format": "private", "region": "KG-GB", ...}]}``,
best plate first, ``[]`` where none is found. A file that is missing or not an image gets
``{"file": ..., "error": ...}`` on its line; the other files are still read and the exit code is 1
at the end. Exit code 2: the plate models are not installed (one error line, nothing read).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Licence plates on photos: read Kyrgyz (and foreign) plates.", no_args_is_help=True)


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # one line per image as it is done: a long batch can be piped and followed


@app.command("read")
def read(
    images: Annotated[list[Path], typer.Argument(help="JPEG, PNG, WEBP, BMP or TIFF files", show_default=False)],
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", min=0.0, max=1.0, help="drop reads the recogniser doubts")
    ] = 0.5,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64, help="ONNX Runtime threads")] = 2,
    kg_only: Annotated[
        bool, typer.Option("--kg-only", help="leave out text that fits no plate format (free text, foreign)")
    ] = False,
) -> None:
    """Read the plates on each image: one JSON line per image, best plate first."""
    from koopsuz.domain.plates import parse_read
    from koopsuz.vision.faces import ImageError, read_image
    from koopsuz.vision.plates import ModelError, PlateReader

    try:
        reader = PlateReader(parse_read, threads=threads, min_confidence=min_confidence)
    except ModelError as exc:
        _emit({"error": str(exc), "reason": "models_missing"})
        raise typer.Exit(2) from None
    failed = 0
    for path in images:
        try:
            img = read_image(path)
        except ImageError as exc:
            failed += 1
            _emit({"file": str(path), "error": str(exc)})
            continue
        reads = reader.read(img)
        if kg_only:
            reads = [r for r in reads if not r.plate.foreign]
        _emit({"file": str(path), "plates": [r.to_json() for r in reads]})
    if failed:
        raise typer.Exit(1)
