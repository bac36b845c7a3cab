"""`koopsuz plate read`: one JSON object per image and line, errors on their own line, exit code at the end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from koopsuz.cli import app
from tests.plates.photos import street_photo

runner = CliRunner()


def test_one_line_per_image_errors_in_place(tmp_path: Path) -> None:
    photo = tmp_path / "street.jpg"
    texts = street_photo(photo)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    missing = tmp_path / "missing.jpg"
    r = runner.invoke(app, ["plate", "read", str(notes), str(photo), str(missing), str(blank)])
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert [ln["file"] for ln in lines] == [str(notes), str(photo), str(missing), str(blank)]
    assert set(lines[0]) == {"file", "error"} and "notes.jpg" in lines[0]["error"]
    assert set(lines[2]) == {"file", "error"} and "missing.jpg" in lines[2]["error"]
    plates = lines[1]["plates"]
    assert [p["text"] for p in plates[:2]] == texts
    first = plates[0]
    assert first["format"] == "private" and first["region"] == "KG-GB" and first["foreign"] is False
    assert 0.8 < first["confidence"] <= 1.0 and len(first["box"]) == 4
    assert lines[3] == {"file": str(blank), "plates": []}
    assert r.exit_code == 1  # an unreadable file fails the run, after every other file was read

    r = runner.invoke(app, ["plate", "read", "--kg-only", str(photo)])
    assert r.exit_code == 0
    (line,) = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert [p["text"] for p in line["plates"]] == texts  # the free-text camera label is left out


def test_help() -> None:
    r = runner.invoke(app, ["plate", "read", "--help"])
    assert r.exit_code == 0 and "one JSON line per image" in r.stdout
    r = runner.invoke(app, ["plate", "--help"])
    assert r.exit_code == 0 and "read" in r.stdout
