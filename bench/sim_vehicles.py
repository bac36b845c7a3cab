"""Does the shipped COCO detector see the simulator's side-on vehicles as vehicles?

The simulator's cars are drawn, not photographed; a detector trained on photographs (COCO) only
finds them when the drawing carries the cues it learned (a shaded body, glass, tyres, a shadow).
This script measures that, so drawing changes can be kept or dropped on numbers:

* vehicles (car, bus, truck; the car in every colour of ``draw.CAR_COLOURS``, several styles of
  bus and truck) drawn side-on by the simulator's own ``draw_actor`` on the simulator's own
  street and road backgrounds, at several lengths on the 640x360 sub stream, by day, dusk and
  night (the scene's own light and glow), travelling left and right;
* each frame resized to the sub stream as the renderer does (no H.264 round trip: the tests
  score the encoded clips), then the packaged SSD-MobileNet-v2 run as the product runs it:
  ``gated``, on the crop ``vision.regions.plan_regions`` cuts around the vehicle's box (what the
  motion stage hands it), and ``whole``, on the whole sub frame;
* a hit is a detection of the vehicle group (car, bus, truck) with IoU >= 0.3 against the truth
  box; ``wrong`` is the share of frames where the network's best raw box on the vehicle (any of
  its 90 labels, IoU >= 0.3) is not a vehicle label (an "airplane", a "train", a "boat"...).

Render cost is the drawing alone (``draw_actor`` on a 720p frame), per vehicle, in ms.

    .venv/bin/python bench/sim_vehicles.py            # full table, ~2-4 min on 2 busy cores
    .venv/bin/python bench/sim_vehicles.py --quick    # a third of the frames
    .venv/bin/python bench/sim_vehicles.py --json out.json --render   # raw counts; renderer frames/s
    .venv/bin/python bench/sim_vehicles.py --compare before.json after.json   # the docs/accuracy.md table

The "before" numbers in docs/accuracy.md are this script run against the drawing of commit
3f107c1 (a copy of ``src/`` with that ``sim/draw.py`` first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from koopsuz.sim.actors import SIZES, SUB_H, SUB_W, Actor  # noqa: E402
from koopsuz.sim.draw import CAR_COLOURS, draw_actor, palette  # noqa: E402
from koopsuz.sim.scene import GEOMETRY, W, build_stage  # noqa: E402
from koopsuz.vision.detections import CLASS_GROUP, box_iou  # noqa: E402
from koopsuz.vision.detectors.ssd_mobilenet import SsdMobileNetDetector  # noqa: E402
from koopsuz.vision.regions import plan_regions  # noqa: E402

LENGTHS = (40, 60, 90, 130, 200)  # vehicle length in sub-stream pixels
LIGHTS = ("day", "dusk", "night")
SCENES = {"street": (0.56, 0.66), "road": (0.5, 0.62, 0.75)}  # foot rows (0..1) on the carriageway
TF_VEHICLE = {3, 6, 8}  # car, bus, truck in the TF 90-id COCO map


def styles() -> list[tuple[str, str, int]]:
    """(kind, colour label, style seed): one car per body colour, three buses and trucks."""
    out: list[tuple[str, str, int]] = []
    want = {c: None for c in CAR_COLOURS}
    s = 0
    while any(v is None for v in want.values()):
        body = palette(s, "car")["body"]
        if want[body] is None:
            want[body] = s
        s += 1
    names = ("white", "silver", "black", "grey", "red", "blue")
    out += [("car", names[i], want[c]) for i, c in enumerate(CAR_COLOURS)]  # type: ignore[misc]
    out += [("bus", f"bus{i}", 11 + i) for i in range(2)]
    out += [("truck", f"truck{i}", 21 + i) for i in range(3)]
    return out


def size_bin(length: int) -> str:
    return "40-60" if length <= 60 else ("90-130" if length <= 130 else "200")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a third of the positions (faster, noisier)")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-frame pass (faster, for drawing work)")
    ap.add_argument("--kinds", default="car,bus,truck", help="comma-separated kinds to draw (default all three)")
    ap.add_argument("--lengths", default=",".join(map(str, LENGTHS)), help="comma-separated lengths in sub px")
    ap.add_argument("--render", action="store_true", help="also time the renderer on a busy street loop (frames/s)")
    ap.add_argument("--json", type=Path, help="also write the raw counts to this file")
    ap.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="print a before/after markdown table from two --json files and exit (no drawing, no model)",
    )
    ap.add_argument("--save", type=Path, help="write a few sample crops (PNG) into this folder, to look at")
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    cv2.setNumThreads(2)
    det = SsdMobileNetDetector(min_confidence=0.25)
    stages = {(sc, lt): build_stage(sc, lt, np.random.default_rng(7), "BENCH") for sc in SCENES for lt in LIGHTS}
    rng = np.random.default_rng(4)
    hits: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # gated, whole, wrong, n
    draw_s, draws = 0.0, 0
    pick = np.random.default_rng(9)
    for kind, colour, style in [s for s in styles() if s[0] in args.kinds.split(",")]:
        for length in [int(n) for n in args.lengths.split(",")]:
            for (scene, light), stage in stages.items():
                for foot_y in SCENES[scene]:
                    if pick.random() > (1 / 3 if args.quick else 1.0):
                        continue
                    view = "right" if rng.random() < 0.5 else "left"
                    geo = GEOMETRY[scene]
                    scale = 2 * length / (SIZES[kind][1] * geo.ppm(foot_y))
                    half = length / SUB_W
                    fx = float(rng.uniform(0.08 + half, 0.92 - half))
                    actor = Actor("v", kind, geo, 0, [(fx, foot_y)], [view], scale=scale, style=style)
                    frame = stage.image.copy()
                    t0 = time.perf_counter()
                    draw_actor(frame, actor, 0, stage, 15, {})
                    draw_s += time.perf_counter() - t0
                    draws += 1
                    sub = cv2.resize(frame, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
                    x, y, w, h = actor.box(0)  # type: ignore[misc]
                    truth = np.array([[x, y, x + w, y + h]], np.float32) * (SUB_W / W)
                    region = plan_regions([tuple(truth[0])], (SUB_W, SUB_H), 1.0)[0]
                    crop = np.ascontiguousarray(sub[region[1] : region[3], region[0] : region[2]])
                    gated = det.detect(crop).shifted(region[0], region[1])
                    whole = None if args.no_whole else det.detect(sub)
                    row = hits[kind, colour, size_bin(length), light]
                    row[0] += _hit(gated, truth)
                    row[1] += 0 if whole is None else _hit(whole, truth)
                    row[2] += _wrong(det, crop, truth - np.array([region[:2] * 2], np.float32))
                    row[3] += 1
                    if args.save and rng.random() < 0.15:
                        args.save.mkdir(parents=True, exist_ok=True)
                        name = f"{kind}-{colour}-{length}-{light}-{scene}-{_hit(gated, truth)}.png"
                        cv2.imwrite(str(args.save / name), crop)
    if hits:
        report(hits, draw_s / max(1, draws) * 1000)
    if args.render:
        render_fps()
    if args.json:
        args.json.write_text(json.dumps({"|".join(k): v for k, v in hits.items()}, indent=1))


RENDER_SCENARIO = """
seed: 77
fps: 15
loop_seconds: 10
cameras:
  - {id: busy, scene: street, light: dusk, people: 2, vehicles: 12}
"""


def render_fps() -> None:
    """The renderer's own loop (draw, resize, two H.264 encodes) on a busy street, CPU time of this process."""
    import tempfile

    from koopsuz.sim.render import render_camera
    from koopsuz.sim.scenario import parse_scenario

    scenario = parse_scenario(RENDER_SCENARIO, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        render_camera(scenario, scenario.cameras[0], Path(tmp) / "busy", Path(tmp) / "no-faces")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = scenario.frames
    print(f"render: {n} frames, street, 12 vehicles (side views): {n / cpu:.1f} frames/s of CPU ({n / wall:.1f} wall)")


def _hit(dets, truth: np.ndarray) -> int:
    if not len(dets):
        return 0
    ok = (box_iou(truth, dets.xyxy)[0] >= 0.3) & (CLASS_GROUP[dets.class_id] == 2)
    return int(ok.any())


def _wrong(det: SsdMobileNetDetector, crop: np.ndarray, truth: np.ndarray) -> int:
    """1 when the network's most confident box on the vehicle carries a non-vehicle label."""
    blob = cv2.dnn.blobFromImages([crop], size=det.input_size, swapRB=True)
    rows = det._forward(blob).reshape(-1, 7)
    rows = rows[rows[:, 2] >= det.min_confidence]
    if not len(rows):
        return 0
    ch, cw = crop.shape[:2]
    boxes = rows[:, 3:7].clip(0, 1) * np.array([cw, ch, cw, ch], np.float32)
    on = box_iou(truth, boxes.astype(np.float32))[0] >= 0.3
    if not on.any():
        return 0
    best = rows[on][np.argmax(rows[on, 2])]
    return int(int(best[1]) not in TF_VEHICLE)


def _load(path: Path) -> dict[tuple[str, ...], list[int]]:
    return {tuple(k.split("|")): v for k, v in json.loads(path.read_text()).items()}


def compare(before_path: Path, after_path: Path) -> None:
    """One markdown table: per kind, colour, length and light, before -> after (gated, whole, wrong)."""
    before, after = _load(before_path), _load(after_path)

    def agg(hits: dict[tuple[str, ...], list[int]], key: int | None) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for k, v in hits.items():
            a = out["all" if key is None else k[key]]
            for i in range(4):
                a[i] += v[i]
        return out

    print("| group | frames | gated recall | whole-frame recall | wrong class |")
    print("|---|---:|---:|---:|---:|")
    for title, key in (("all", None), ("kind", 0), ("colour", 1), ("length (sub px)", 2), ("light", 3)):
        b, a = agg(before, key), agg(after, key)
        for name in a:
            gb, wb, xb, nb = b[name]
            ga, wa, xa, na = a[name]
            label = "**all**" if key is None else f"{title}: {name}"
            print(
                f"| {label} | {na} | {gb / nb:.2f} → **{ga / na:.2f}** | {wb / nb:.2f} → **{wa / na:.2f}** "
                f"| {xb / nb:.2f} → **{xa / na:.2f}** |"
            )


def report(hits: dict[tuple[str, ...], list[int]], draw_ms: float) -> None:
    def table(title: str, key: int) -> None:
        agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for k, v in hits.items():
            a = agg[k[key]]
            for i in range(4):
                a[i] += v[i]
        print(f"\n| {title} | frames | gated recall | whole-frame recall | wrong class |")
        print("|---|---:|---:|---:|---:|")
        for name, (g, wh, wr, n) in agg.items():
            print(f"| {name} | {n} | {g / n:.2f} | {wh / n:.2f} | {wr / n:.2f} |")

    table("kind", 0)
    table("colour", 1)
    table("length (sub px)", 2)
    table("light", 3)
    tot = [sum(v[i] for v in hits.values()) for i in range(4)]
    print(
        f"\nall: {tot[3]} frames, gated recall {tot[0] / tot[3]:.2f}, whole {tot[1] / tot[3]:.2f}, "
        f"wrong class {tot[2] / tot[3]:.2f}; drawing {draw_ms:.2f} ms per vehicle (720p)"
    )


if __name__ == "__main__":
    main()
