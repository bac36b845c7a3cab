"""Redaction speed of an export's viewing copy: scan + plan + painted re-encode, old code against new.

One 720p 15 fps clip with real faces: the simulator renders two men walking towards a street camera
(obama.jpg on the left, biden.jpg on the right, from the face_recognition sdist, as in
tests/privacy/test_export_redaction.py) in a 20 s loop, looped to ``--seconds``. Each implementation
of ``video/redact.py`` (this tree's, and the one at ``--old``, loaded from git) scans the clip naming
obama2.jpg as the subject, plans, and paints during the watermark's re-encode, exactly as an export
does; the runs alternate (old, new, old, new...) so the shared machine's load falls on both alike.
Then every frame of the new viewing copy (``--check-old``: the old one's too) is searched with the
face detector at the recogniser's threshold: a face that is not the subject's is a leak.

    .venv/bin/python bench/redaction.py [--seconds 60] [--runs 2] [--old 5fac517] [--check-old]

``--plates --people``: the same scans on the faces clip above (two people walking, no vehicle): what
the plate search costs where there is nothing to find.

``--plates``: plates on a street camera (profile ``motion``, no plate profile) instead. A 20 s loop
of the simulator's street with cars coming towards the camera and going away (plates in view, one of
them named as involved) and cars passing side-on (no plate in view; SSD-MobileNet finds those),
looped to ``--seconds``. Three scans of the same clip, alternating: ``faces`` (what a street
camera's export did before: no plate search), ``vehicles`` (this tree: plates read in vehicle
boxes and moving areas) and, with ``--whole``, ``whole`` (a whole-frame read every third frame,
what plate cameras got before). Then the leak check: the plate reader reads the whole frame of the
original and of the ``vehicles`` viewing copy on every ``--check-every``-th frame (off the scan's
own frames): an uninvolved plate read within one character in the copy is a leak; any other text it
reads there is counted as a fragment. And the blurred area, per frame, with and without the
vehicle bands.

    .venv/bin/python bench/redaction.py --plates [--seconds 60] [--runs 1] [--whole] [--check-every 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import imageio_ffmpeg
import numpy as np

from koopsuz.sim.render import render_scenario
from koopsuz.sim.scenario import Scenario
from koopsuz.vision.faces import FaceEngine, Refusal, read_image, similarity

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "var" / "sim" / "faces"
FF = imageio_ffmpeg.get_ffmpeg_exe()
LOOP = 20


def scenario() -> Scenario:
    def walker(pid: str, face: str, x: float, at: float) -> dict[str, Any]:
        return {"id": pid, "at": at, "kind": "person", "path": [[x, 0.55], [x + 0.05, 1.1]], "duration": 7.0,
                "face": face, "face_photo": f"{face}.jpg", "scale": 2.2}

    walks = [walker("p1", "obama", 0.3, 0.5), walker("p2", "biden", 0.65, 1.0),
             walker("p3", "obama", 0.3, 10.5), walker("p4", "biden", 0.62, 12.0)]
    return Scenario.model_validate({"seed": 8081, "fps": 15, "loop_seconds": LOOP, "gop_seconds": 1.0,
                                    "cameras": [{"id": "rd-b", "scene": "street", "schedule": walks}]})


def clip(work: Path, seconds: int) -> Path:
    rendered = render_scenario(scenario(), ROOT / "var" / "sim" / "cache", FACES, workers=1, progress=False)
    units = b"".join(rendered["rd-b"].main.units)
    looped = work / "src.h264"
    looped.write_bytes(units * max(1, seconds // LOOP))  # each loop starts on an IDR
    out = work / "src.mp4"
    cmd = [FF, "-v", "error", "-framerate", "15", "-f", "h264", "-i", str(looped), "-c", "copy", "-y", str(out)]
    subprocess.run(cmd, check=True)
    return out


def old_module(rev: str, work: Path) -> ModuleType:
    text = subprocess.run(["git", "show", f"{rev}:src/koopsuz/video/redact.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    path = work / "redact_old.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("redact_old", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["redact_old"] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


def redact(mod: ModuleType, src: Path, dest: Path, engine: FaceEngine, ref: np.ndarray) -> dict[str, Any]:
    from koopsuz.video.watermark import Stamp, burn_watermark, piecewise_clock

    t0 = time.perf_counter()
    found = mod.scan(src, engine, ref)
    t1 = time.perf_counter()
    plan = mod.redaction_plan(found, subject=True)
    stamp = Stamp(case="BENCH-1", operator="bench", exported_at=datetime.now(UTC), camera="rd-b")
    burn_watermark(src, dest, stamp, piecewise_clock([(0.0, datetime.now(UTC))]), before=mod.Painter(found, plan))
    t2 = time.perf_counter()
    looked = getattr(found, "looked", len(found.pts)) - found.looked_still
    return {"frames": len(found.pts), "looked_at": looked, "scan_s": round(t1 - t0, 2),
            "paint_encode_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2), **plan.summary()}


def leaks(path: Path, engine: FaceEngine, subject: np.ndarray, other: np.ndarray) -> dict[str, int]:
    """Every frame: faces that are not the subject's (on the right half, like the other man, or not
    matching the subject), and frames where the subject is recognisable."""
    bad: list[list[Any]] = []
    kept = frames = 0
    with av.open(str(path)) as inp:
        for i, f in enumerate(inp.decode(video=0)):
            img = f.to_ndarray(format="bgr24")
            frames += 1
            found = engine.faces(img)
            if not found:
                continue
            for face, v in zip(found, engine.embed_many(img, found), strict=True):
                s_subject, s_other = similarity(v, subject), similarity(v, other)
                centre = face.box[0] + face.box[2] / 2
                if centre > img.shape[1] / 2 or s_other >= engine.threshold or s_subject < engine.threshold * 0.5:
                    bad.append([i, round(centre), round(face.box[3]), round(s_subject, 2), round(s_other, 2)])
                kept += s_subject >= engine.threshold
    if bad:  # frame, centre x, height, similarity to the subject, to the other man
        print(f"leaks in {path.name}: {bad}", flush=True)
    return {"frames_checked": frames, "leaks": len(bad), "subject_recognisable": kept}


INVOLVED = "01 234 BSZ"


def street_scenario() -> Scenario:
    def car(plate: str, at: float, path: list[list[float]], duration: float = 5.0, kind: str = "car") -> dict[str, Any]:
        return {"id": plate.replace(" ", "").lower(), "at": at, "kind": kind, "path": path, "duration": duration,
                "plate": plate, "scale": 1.3}

    coming_l, coming_r = [[0.40, 0.50], [0.25, 1.2]], [[0.62, 0.50], [0.78, 1.2]]
    going_l, going_r = [[0.28, 1.2], [0.42, 0.50]], [[0.75, 1.2], [0.6, 0.50]]
    cars = [car(INVOLVED, 0.5, coming_l), car("09 508 KGD", 1.0, coming_r),
            car("01 777 AAA", 2.5, [[-0.1, 0.62], [1.1, 0.62]], 6.0), car("09 771 NRS", 5.0, going_r),
            car("09 112 ABK", 8.0, coming_l), car("08 443 KTT", 9.0, going_l),
            car("09 300 TTA", 11.0, [[1.1, 0.6], [-0.1, 0.6]], 6.0, "truck"), car("01 606 SSA", 14.0, coming_r)]
    return Scenario.model_validate({"seed": 8082, "fps": 15, "loop_seconds": LOOP, "gop_seconds": 1.0,
                                    "cameras": [{"id": "st-b", "scene": "street", "schedule": cars}]})


def street_clip(work: Path, seconds: int) -> tuple[Path, list[str]]:
    world = street_scenario()
    rendered = render_scenario(world, ROOT / "var" / "sim" / "cache", FACES, workers=1, progress=False)["st-b"]
    looped = work / "street.h264"
    looped.write_bytes(b"".join(rendered.main.units) * max(1, seconds // LOOP))
    out = work / "street.mp4"
    cmd = [FF, "-v", "error", "-framerate", "15", "-f", "h264", "-i", str(looped), "-c", "copy", "-y", str(out)]
    subprocess.run(cmd, check=True)
    return out, [a.plate for a in world.cameras[0].schedule if a.plate]


def painted_share(found: Any, plan: Any) -> float:
    """Mean share of the frame painted by ``plan`` (overlaps counted once), on a quarter-size mask."""
    w, h = found.width // 4, found.height // 4
    total = 0.0
    for i in range(len(found.pts)):
        boxes = plan.at(i)
        if not boxes:
            continue
        mask = np.zeros((h, w), np.uint8)
        for x, y, bw, bh in boxes:
            x0, y0 = max(0, int(x / 4)), max(0, int(y / 4))
            x1, y1 = min(w, int((x + bw) / 4) + 1), min(h, int((y + bh) / 4) + 1)
            mask[y0:y1, x0:x1] = 1
        total += float(mask.mean())
    return total / max(1, len(found.pts))


def plates_main(args: argparse.Namespace) -> None:
    from koopsuz.domain.plates import edit_distance, parse_read
    from koopsuz.video import redact as new
    from koopsuz.video.watermark import Stamp, burn_watermark, piecewise_clock
    from koopsuz.vision.detectors import create_detector
    from koopsuz.vision.plates import PlateReader

    engine = FaceEngine()
    reader = PlateReader(parse_read, threads=1, det_side=args.det_side)  # 640: as System builds it
    vehicles = create_detector("ssd_mobilenet", min_confidence=0.3)  # as services/export_redaction.py does
    modes = (["faces"] if not args.no_faces else []) + ["vehicles"] + (["whole"] if args.whole else [])
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        src, plates = (clip(work, args.seconds), []) if args.people else street_clip(work, args.seconds)
        with av.open(str(src)) as inp:
            duration = float(inp.duration / 1e6)
        kept_copy: Path | None = None
        for run in range(args.runs):
            for mode in modes:
                kw: dict[str, Any] = {"faces": {}, "vehicles": {"plates": reader, "vehicles": vehicles,
                                                                "plate_every": args.plate_every,
                                                                "read_vehicles": not args.no_involved},
                                      "whole": {"plates": reader}}[mode]
                t0 = time.perf_counter()
                found = new.scan(src, engine, None, **kw)
                t1 = time.perf_counter()
                plan = new.redaction_plan(found, subject=False, involved=[] if args.no_involved else [INVOLVED])
                dest = work / f"{mode}-{run}.mp4"
                stamp = Stamp(case="BENCH-2", operator="bench", exported_at=datetime.now(UTC), camera="st-b")
                burn_watermark(src, dest, stamp, piecewise_clock([(0.0, datetime.now(UTC))]),
                               before=new.Painter(found, plan))
                t2 = time.perf_counter()
                r = {"frames": len(found.pts), "scan_s": round(t1 - t0, 2), "plate_s": round(found.plate_s, 2),
                     "paint_encode_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
                     "realtime": round(duration / (t2 - t0), 2), "plate_looks": found.plate_looks,
                     "plate_crops": found.plate_crops, "whole_reads": found.whole_reads,
                     "plates_held": found.plates_held, **plan.summary()}
                if mode == "vehicles":
                    no_bands = new.plan(found.faces, len(found.pts), subject=False, plates=found.plates,
                                        involved=[] if args.no_involved else [INVOLVED],
                                        plate_policy=new.plate_policy(found.plate_every))
                    r["painted_share"] = round(painted_share(found, plan), 4)
                    r["painted_share_without_bands"] = round(painted_share(found, no_bands), 4)
                    kept_copy = dest
                print(f"{mode} run {run + 1}: {json.dumps(r)}", flush=True)
                results[mode].append(r)
        assert kept_copy is not None
        skip = args.no_check or args.people
        check = {} if skip else plate_leaks(src, kept_copy, reader, plates, args.check_every, edit_distance)
        print(f"check: {json.dumps(check)}", flush=True)
    summary = {"clip_s": round(duration, 2), "plates": plates, "involved": INVOLVED,
               **{f"{m}_realtime": [r["realtime"] for r in results[m]] for m in modes}, "check": check,
               "runs": results}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


def plate_leaks(original: Path, viewing: Path, reader: Any, plates: list[str], every: int,
                distance: Any) -> dict[str, Any]:
    """Whole-frame reads of both copies on every ``every``-th frame (offset 1: not a scanned frame)."""
    def key(t: str) -> str:
        return "".join(ch for ch in t.upper() if ch.isalnum())

    uninvolved = [key(p) for p in plates if key(p) != key(INVOLVED)]
    out: dict[str, Any] = {"frames_checked": 0, "uninvolved_in_original": 0, "uninvolved_in_copy": 0,
                           "involved_in_original": 0, "involved_in_copy": 0, "fragments_in_copy": 0, "leaks": []}
    with av.open(str(original)) as a, av.open(str(viewing)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0), strict=False)):
            if i % every != 1:
                continue
            out["frames_checked"] += 1
            before = {key(r.text) for r in reader.read(fa.to_ndarray(format="bgr24"))}
            after = {key(r.text) for r in reader.read(fb.to_ndarray(format="bgr24"))}
            near = [t for t in after for p in uninvolved if distance(t, p, limit=1) <= 1]
            out["uninvolved_in_original"] += sum(1 for t in before for p in uninvolved if distance(t, p, limit=1) <= 1)
            out["uninvolved_in_copy"] += len(near)
            out["involved_in_original"] += key(INVOLVED) in before
            out["involved_in_copy"] += key(INVOLVED) in after
            frags = [t for t in after if t != key(INVOLVED) and t not in near]
            out["fragments_in_copy"] += len(frags)
            if near or frags:  # frame, [text read in the copy, the nearest plate of the clip, distance]
                texts = near + frags
                nearest = [min(((p, distance(t, p)) for p in map(key, plates)), key=lambda pd: pd[1]) for t in texts]
                out["leaks"].append([i, [[t, p, d] for t, (p, d) in zip(texts, nearest, strict=True)]])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=2, help="runs of each implementation, alternating")
    ap.add_argument("--old", default="5fac517", help="git revision of the old video/redact.py")
    ap.add_argument("--check-old", action="store_true", help="search the old viewing copy for leaks too")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    ap.add_argument("--only", choices=("old", "new"), default=None, help="run one implementation only")
    ap.add_argument("--keep", type=Path, default=None, help="keep the clip and viewing copies in this folder")
    ap.add_argument("--plates", action="store_true", help="plates on a street camera with cars (see above)")
    ap.add_argument("--whole", action="store_true", help="with --plates: also scan with whole-frame reads")
    ap.add_argument("--check-every", type=int, default=4, help="with --plates: leak-check every n-th frame")
    ap.add_argument("--det-side", type=int, default=640, help="with --plates: the plate reader's det_side")
    ap.add_argument("--plate-every", type=int, default=6, help="with --plates: vehicle/plate look every n frames")
    ap.add_argument("--no-faces", action="store_true", help="with --plates: skip the faces-only scan")
    ap.add_argument("--no-check", action="store_true", help="with --plates: skip the leak check")
    ap.add_argument("--no-involved", action="store_true", help="with --plates: name no involved plate")
    ap.add_argument("--people", action="store_true", help="with --plates: the faces clip (people, no cars) instead")
    args = ap.parse_args()
    if args.plates:
        plates_main(args)
        return
    engine = FaceEngine()
    refs = {}
    for name in ("obama2", "biden"):
        img = read_image(FACES / f"{name}.jpg")
        face = engine.usable(img)
        if isinstance(face, Refusal):
            sys.exit(f"{name}.jpg: {face}")
        refs[name] = engine.embed(img, face)
    import koopsuz.video.redact as new

    results: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        src = clip(work, args.seconds)
        old = old_module(args.old, work)
        with av.open(str(src)) as inp:
            duration = float(inp.duration / 1e6)
        for run in range(args.runs):
            for label, mod in (("old", old), ("new", new)):
                if args.only and label != args.only:
                    continue
                dest = work / f"{label}-{run}.mp4"
                r = redact(mod, src, dest, engine, refs["obama2"])
                r["realtime"] = round(duration / r["total_s"], 2)
                print(f"{label} run {run + 1}: {json.dumps(r)}", flush=True)
                if run == 0 and (label == "new" or args.check_old):
                    r |= leaks(dest, engine, refs["obama2"], refs["biden"])
                    print(f"{label} check: {json.dumps(r)}", flush=True)
                results[label].append(r)
    summary = {
        "clip_s": round(duration, 2),
        "old_rev": args.old,
        "old_realtime": [r["realtime"] for r in results["old"]],
        "new_realtime": [r["realtime"] for r in results["new"]],
        "speedup": [
            round(o["total_s"] / n["total_s"], 2) for o, n in zip(results["old"], results["new"], strict=False)
        ],
        "runs": results,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
