"""Plates in an export's viewing copy: the involved car's stays readable, the other car's is blurred.

Real pictures and the real reader: the simulator renders two cars with 2016 Kyrgyz plates coming
down a road side by side; 11 frames of its main stream (where the reader can read both) are encoded
into a clip, scanned and redacted the way an export does it (video/redact.py + the watermark's
re-encode) with "01 234 BSZ" named as involved. The plate reader then reads the redacted copy on
frames the scan did NOT read (it reads every third): the other plate must be gone there too.
Whole-frame plate reads cost about a second each here, so the clip is short.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from koopsuz.domain.plates import parse_read
from koopsuz.sim.render import render_scenario
from koopsuz.sim.scenario import Scenario
from koopsuz.video.redact import PLATE_EVERY, Painter, redaction_plan, scan
from koopsuz.video.watermark import Stamp, burn_watermark, piecewise_clock
from koopsuz.vision.faces import FaceEngine
from koopsuz.vision.plates import PlateReader

FIRST, LAST = 70, 80  # frames of the loop where both plates are big enough to read
CHECK = (72, 78)  # not read by the scan (clip index 2 and 8: the scan reads 0, 3, 6, 9)


def scenario() -> Scenario:
    def car(plate: str, path: list[list[float]]) -> dict[str, Any]:
        return {"id": plate.replace(" ", "").lower(), "at": 0.5, "kind": "car", "path": path, "duration": 5.0,
                "plate": plate, "scale": 1.3}

    return Scenario.model_validate(
        {
            "seed": 6108,
            "fps": 15,
            "loop_seconds": 6,
            "gop_seconds": 1.0,
            "cameras": [{"id": "rd-2", "scene": "road", "schedule": [
                car("01 234 BSZ", [[0.47, 0.36], [0.22, 1.25]]), car("09 508 KGD", [[0.55, 0.36], [0.8, 1.25]])]}],
        }
    )


def clip(tmp: Path) -> Path:
    """Frames FIRST..LAST of the rendered main stream as an ordinary MP4 (as an export's original is)."""
    rendered = render_scenario(scenario(), tmp / "cache", tmp / "no-faces", workers=1, progress=False)["rd-2"]
    dest = tmp / "original.mp4"
    codec = av.CodecContext.create("h264", "r")
    with av.open(str(dest), "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=15)
        st.width, st.height, st.pix_fmt = rendered.main.width, rendered.main.height, "yuv420p"
        st.options = {"crf": "16", "preset": "veryfast"}
        n = 0
        for unit in rendered.main.units[: LAST + 4]:  # the decoder holds a frame back
            for pkt in codec.parse(unit):
                for frame in codec.decode(pkt):
                    if FIRST <= n <= LAST:
                        new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                        new.pts, new.time_base = n - FIRST, Fraction(1, 15)
                        for p in st.encode(new):
                            out.mux(p)
                    n += 1
        for p in st.encode():
            out.mux(p)
    return dest


def frame_at(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as inp:
        for i, f in enumerate(inp.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="bgr24")
    raise AssertionError(f"{path.name} has no frame {index}")


def texts(reader: PlateReader, img: np.ndarray) -> set[str]:
    return {"".join(r.text.split()) for r in reader.read(img)}


def test_only_the_involved_plate_stays_readable(tmp_path: Path) -> None:
    original = clip(tmp_path)
    reader = PlateReader(parse_read, threads=1, det_side=640)  # as System builds it
    found = scan(original, FaceEngine(), None, plates=reader)
    assert len(found.pts) == LAST - FIRST + 1
    assert {s.text for f in found.plates for s in f} >= {"01 234 BSZ", "09 508 KGD"}
    plan = redaction_plan(found, subject=False, involved=["01 234 bsz"])
    assert plan.plates_kept >= 1 and plan.plates_blurred >= 1 and plan.faces_blurred == 0
    viewing = tmp_path / "viewing.mp4"
    stamp = Stamp(case="UD-9/2026", operator="test", exported_at=datetime.now(UTC), camera="rd-2")
    burn_watermark(original, viewing, stamp, piecewise_clock([(0.0, datetime.now(UTC))]), before=Painter(found, plan))
    kept = 0
    for absolute in CHECK:
        i = absolute - FIRST
        assert i % PLATE_EVERY != 0  # a frame the scan did not read
        before, after = texts(reader, frame_at(original, i)), texts(reader, frame_at(viewing, i))
        assert "09508KGD" in before, (absolute, before)  # readable in the original...
        assert "09508KGD" not in after, (absolute, after)  # ...and not in the viewing copy
        kept += "01234BSZ" in after
    assert kept >= 1  # the involved car's plate is still read
