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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=2, help="runs of each implementation, alternating")
    ap.add_argument("--old", default="5fac517", help="git revision of the old video/redact.py")
    ap.add_argument("--check-old", action="store_true", help="search the old viewing copy for leaks too")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    ap.add_argument("--only", choices=("old", "new"), default=None, help="run one implementation only")
    ap.add_argument("--keep", type=Path, default=None, help="keep the clip and viewing copies in this folder")
    args = ap.parse_args()
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
