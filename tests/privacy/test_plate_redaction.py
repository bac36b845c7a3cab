"""Plates in an export's viewing copy: the involved car's stays readable, the other car's is blurred.

Real pictures and the real reader: the simulator renders two cars with 2016 Kyrgyz plates coming
down a road side by side; 11 frames of its main stream (where the reader can read both) are encoded
into a clip, scanned and redacted the way an export does it (video/redact.py + the watermark's
re-encode) with "01 234 BSZ" named as involved. The plate reader then reads the redacted copy on
frames the scan did NOT read (it reads every third): the other plate must be gone there too.
Whole-frame plate reads cost about a second each here, so the clip is short.

The second test does the same through the export service on a *street* camera (profile
``motion``, no plate profile): two cars coming towards it and one passing side-on, which the
object detector finds. Its plates are searched in vehicle boxes and moving areas, not whole frames.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np

from koopsuz.domain.plates import parse_read
from koopsuz.services.export_redaction import ExportRedaction, Redaction
from koopsuz.sim.render import render_scenario
from koopsuz.sim.scenario import Scenario
from koopsuz.video.redact import PLATE_EVERY, SEARCH_EVERY, Painter, redaction_plan, scan
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


def street() -> Scenario:
    """Two cars coming towards a street camera, one involved, and a third passing side-on (no plate in view)."""

    def car(plate: str, path: list[list[float]], at: float, duration: float = 5.0) -> dict[str, Any]:
        return {"id": plate.replace(" ", "").lower(), "at": at, "kind": "car", "path": path, "duration": duration,
                "plate": plate, "scale": 1.3}

    schedule = [car("01 234 BSZ", [[0.40, 0.50], [0.25, 1.2]], 0.5),
                car("09 508 KGD", [[0.62, 0.50], [0.78, 1.2]], 1.0),
                car("01 777 AAA", [[-0.1, 0.62], [1.1, 0.62]], 0.2, 6.0)]
    return Scenario.model_validate({"seed": 6109, "fps": 15, "loop_seconds": 8, "gop_seconds": 1.0,
                                    "cameras": [{"id": "st-1", "scene": "street", "schedule": schedule}]})


def clip(tmp: Path, world: Scenario | None = None, first: int = FIRST, last: int = LAST) -> Path:
    """Frames first..last of the rendered main stream as an ordinary MP4 (as an export's original is)."""
    world = world or scenario()
    cam = world.cameras[0].id
    rendered = render_scenario(world, tmp / "cache", tmp / "no-faces", workers=1, progress=False)[cam]
    dest = tmp / "original.mp4"
    codec = av.CodecContext.create("h264", "r")
    with av.open(str(dest), "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=15)
        st.width, st.height, st.pix_fmt = rendered.main.width, rendered.main.height, "yuv420p"
        st.options = {"crf": "16", "preset": "veryfast"}
        n = 0
        for unit in rendered.main.units[: last + 4]:  # the decoder holds a frame back
            for pkt in codec.parse(unit):
                for frame in codec.decode(pkt):
                    if first <= n <= last:
                        new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                        new.pts, new.time_base = n - first, Fraction(1, 15)
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


S_FIRST, S_LAST = 36, 66  # the street loop's frames where the reader reads both oncoming plates
S_CHECK = (41, 44, 53, 58, 64)  # not read by the scan (clip index 5, 8, 17, 22, 28; it reads every 6th)


def test_a_street_camera_export_blurs_uninvolved_plates_found_on_vehicles(tmp_path: Path) -> None:
    """No plate profile, no whole-frame search after the first look: plates are read where vehicles
    are and where the picture moved, the uninvolved one is gone from the viewing copy, the involved
    one stays, and the side-on car the detector found has the lower part of its box blurred."""
    original = clip(tmp_path, street(), S_FIRST, S_LAST)
    reader = PlateReader(parse_read, threads=1, det_side=640)  # as System builds it
    service = ExportRedaction(None, None, FaceEngine, lambda: reader, None, None)  # type: ignore[arg-type]
    camera = SimpleNamespace(id="st-1", profile="motion")
    applied = service.apply(original, Redaction(involved=("01234BSZ",)), camera)  # type: ignore[arg-type]
    got = applied.summary
    assert got["plates_checked"] is True and got["plate_search"] == "vehicles", got
    assert got["plate_whole_frames"] == 1 and got["plate_crops"] >= got["plate_looks"] - 1, got
    assert got["plates_kept"] >= 1 and got["plates_blurred"] >= 1, got
    assert got["vehicles_seen"] >= 1 and got["vehicles_kept"] == 0 and got["vehicle_bands"] >= 5, got
    viewing = tmp_path / "viewing.mp4"
    stamp = Stamp(case="UD-9/2026", operator="test", exported_at=datetime.now(UTC), camera="st-1")
    burn_watermark(original, viewing, stamp, piecewise_clock([(0.0, datetime.now(UTC))]), before=applied.painter)
    kept = readable = 0
    for absolute in S_CHECK:
        i = absolute - S_FIRST
        assert i % SEARCH_EVERY != 0  # a frame the scan did not read
        before, after = texts(reader, frame_at(original, i)), texts(reader, frame_at(viewing, i))
        readable += "09508KGD" in before  # readable in the original...
        assert after <= {"01234BSZ"}, (absolute, after)  # ...and nothing but the involved plate in the copy
        kept += "01234BSZ" in after
    assert readable >= 4 and kept >= 3  # the check has teeth, and the involved car's plate is still read


class _Read:
    def __init__(self, text: str, box: tuple[int, int, int, int]) -> None:
        self.text, self.box, self.confidence = text, box, 0.9


class _Reader:
    """Reads its one plate in the whole image, and in crops that hold it and are at most ``tallest`` px
    high (a real reader loses a plate in a tall crop holding two cars: its top 30 % is ignored)."""

    det_side = 640

    def __init__(self, box: tuple[int, int, int, int], tallest: float = 10_000) -> None:
        self.box, self.tallest, self.calls = box, tallest, 0

    def read(self, image: np.ndarray, vehicle: Any = None) -> list[_Read]:
        self.calls += 1
        x0, y0, x1, y1 = vehicle if vehicle is not None else (0, 0, image.shape[1], image.shape[0])
        inside = x0 <= self.box[0] and y0 <= self.box[1] and x1 >= self.box[2] and y1 >= self.box[3]
        tall = vehicle is not None and y1 - y0 > self.tallest
        return [_Read("09 508 KGD", self.box)] if inside and not tall else []


class _NoVehicles:
    def detect(self, image: np.ndarray) -> Any:
        return SimpleNamespace(xyxy=np.zeros((0, 4), np.float32), class_name=[])


def test_plate_search_holds_a_still_plate_and_follows_one_lost_in_a_larger_crop() -> None:
    """``_PlateSearch`` on synthetic frames: the first look reads the whole frame; a plate where nothing
    moved is held without a read; where a car moves over it, the moving area is read, and when that
    crop loses the plate, a window where it was finds it again."""
    from koopsuz.video.redact import Scan, _PlateSearch

    img = np.zeros((720, 1280, 3), np.uint8)
    still = np.full((540, 960), 90, np.uint8)
    reader = _Reader((300, 600, 360, 615), tallest=300)
    out = Scan()
    search = _PlateSearch(reader, _NoVehicles(), out)
    k = 1280 / 960
    first, _ = search.look(0, img, img, still, k, [])
    assert [s.text for s in first] == ["09 508 KGD"] and out.whole_reads == 1
    held, _ = search.look(6, img, img, still.copy(), k, first)
    assert [s.text for s in held] == ["09 508 KGD"] and out.plates_held == 1 and reader.calls == 1  # no read
    moving = still.copy()
    moving[150:480, 150:330] = 200  # a car-sized change over the plate (scan pixels): one tall moving area
    followed, _ = search.look(12, img, img, moving, k, held)
    assert [s.text for s in followed] == ["09 508 KGD"] and out.plates_followed == 1
    assert out.plate_crops >= 2 and reader.calls >= 3  # the moving area, then the window around the plate
