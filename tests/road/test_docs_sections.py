"""bench/face_accuracy.py --write replaces only the face section of docs/accuracy.md.

It used to write the whole file, losing the plate reading accuracy section that bench/plates.py --accuracy
keeps between its own markers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def face_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("face_accuracy_bench", ROOT / "bench" / "face_accuracy.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_writing_the_face_section_keeps_the_plate_section() -> None:
    fb = face_bench()
    doc = (ROOT / "docs" / "accuracy.md").read_text()
    plates = doc[doc.index("## Plate reading accuracy") :]
    assert "<!-- plate-accuracy:end -->" in plates
    faces = "# Face verification accuracy\n\nNEW FACE TABLE\n\n## The threshold\n\nkept.\n"
    once = fb.merged(doc, faces)
    assert "NEW FACE TABLE" in once and once.endswith(plates) and "Closest strangers" not in once
    twice = fb.merged(once, faces.replace("NEW", "NEWER"))
    assert "NEWER FACE TABLE" in twice and "NEW FACE TABLE" not in twice and twice.endswith(plates)
    assert twice.count(fb.FACE_START) == 1 and twice.count("<!-- plate-accuracy:start -->") == 1
    assert fb.merged("", faces).startswith(fb.FACE_START)  # no document yet: the face section alone
