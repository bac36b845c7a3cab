"""Serving over real RTSP: sizes, real-time pace, pictures that match the truth, cut and restore.

A real GStreamer RTSP server and real PyAV clients over TCP; nothing is mocked. The module
renders two 6 s cameras once (about a second) and shares one server between its tests.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gi")
av = pytest.importorskip("av")

from koopsuz.sim.render import RenderedCamera, render_scenario  # noqa: E402
from koopsuz.sim.rtsp import SimServer  # noqa: E402

from .conftest import tiny_scenario  # noqa: E402

pytestmark = pytest.mark.timeout(60)
OPTS = {"rtsp_transport": "tcp", "analyzeduration": "500000", "probesize": "65536"}


@dataclass
class Reader:
    """Reads one RTSP URL in a thread, keeping (receive time, grey frame) and how it ended."""

    url: str
    seconds: float
    read_timeout: float = 3.0
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    size: tuple[int, int] | None = None
    error: str | None = None
    ended_at: float | None = None

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.time() + self.seconds
        try:
            with av.open(self.url, options=OPTS, timeout=(5.0, self.read_timeout)) as c:
                for frame in c.decode(video=0):
                    self.size = (frame.width, frame.height)
                    self.frames.append((time.time(), frame.to_ndarray(format="gray")))
                    if time.time() > deadline:
                        break
        except Exception as exc:  # the stream ending is what some tests wait for
            self.error = repr(exc)
        self.ended_at = time.time()

    def wait_frames(self, n: int, timeout: float = 8.0) -> None:
        deadline = time.time() + timeout
        while len(self.frames) < n and time.time() < deadline and self.ended_at is None:
            time.sleep(0.05)
        assert len(self.frames) >= n, f"{self.url}: {len(self.frames)} frames, error {self.error}"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimServer, dict[str, RenderedCamera], Path]]:
    base = tmp_path_factory.mktemp("sim")
    rendered = render_scenario(tiny_scenario(), base / "cache", base / "no-faces", workers=1, progress=False)
    server = SimServer(rendered, port=0, truth_path=base / "truth.jsonl", control_port=0)
    server.start()
    try:
        yield server, rendered, base / "truth.jsonl"
    finally:
        server.stop()


def _http(server: SimServer, path: str, method: str = "GET") -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{server.control_port}{path}", method=method, data=None)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_main_and_sub_in_real_time_and_pictures_match_truth(sim: tuple[SimServer, Any, Path]) -> None:
    server, rendered, _ = sim
    main = Reader(server.url("t-2", "main"), seconds=3)
    sub = Reader(server.url("t-1", "sub"), seconds=8.5)
    main.thread.join(15)
    sub.thread.join(15)
    assert main.size == (1280, 720) and sub.size == (640, 360), (main.error, sub.error)
    # Pace: after the start-up burst (frames buffered while the client probed), 15 frames a second.
    t_first = sub.frames[0][0]
    steady = [t for t, _ in sub.frames if t > t_first + 1.5]
    fps = (len(steady) - 1) / (steady[-1] - steady[0])
    assert 13.5 < fps < 16.5, fps

    # Every frame received while the truth says the person is in view differs from the empty
    # street there, and only around the person's box; frames outside any visit are unchanged.
    events = [e for e in server.truth_since(0) if e.get("camera") == "t-1" and e.get("actor") == "p1"]
    visits = []
    for e in events:
        if e["event"] == "enter":
            visits.append([e["ts"], None, e["frame"]])
        elif visits and visits[-1][1] is None:
            visits[-1][1] = e["ts"]
    truth = {b[0]: b[1:] for b in rendered["t-1"].truth["actors"][0]["boxes_sub"]}

    def in_view(t: float, margin: float) -> bool | None:
        for start, end, _ in visits:
            if start + margin <= t <= (end or 1e18) - margin:
                return True
            if start - margin <= t <= (end or 1e18) + margin:
                return None  # too close to an edge of the visit to say
        return False

    live = [(t, f) for t, f in sub.frames if t > t_first + 1.5]  # receive time = send time from here on
    quiet = [f.astype(np.int16) for t, f in live if in_view(t, 0.3) is False]
    busy = [(t, f.astype(np.int16)) for t, f in live if in_view(t, 0.3)]
    assert len(quiet) > 10 and len(busy) > 10, (len(quiet), len(busy), visits)
    empty = np.median(np.stack(quiet[:15]), axis=0)
    for f in quiet:
        assert (np.abs(f - empty) > 25).mean() < 0.002
    for t, f in busy:
        changed = np.abs(f - empty) > 25
        assert changed.mean() > 0.002
        start, _, first = next(v for v in visits if v[0] <= t and (v[1] is None or t <= v[1]))
        idx = first + round((t - start) * 15)
        x, y, w, h = truth.get(idx, truth[min(truth, key=lambda k: abs(k - idx))])
        ys, xs = np.nonzero(changed)
        inside = (xs >= x - 12) & (xs <= x + w + 12) & (ys >= y - 8) & (ys <= y + h + 8)
        assert inside.mean() > 0.95, (t, idx, (x, y, w, h), inside.mean())


def test_control_api(sim: tuple[SimServer, Any, Path]) -> None:
    server, _, truth_path = sim
    status, health = _http(server, "/health")
    assert status == 200 and [c["id"] for c in health["cameras"]] == ["t-1", "t-2"]
    assert health["cameras"][0]["sub_url"].endswith("/t-1/sub") and health["cameras"][0]["online"] is True
    time.sleep(1.5)  # t-2's car enters at 0.5 s into each loop; t-1's person at 1 s
    status, lines = _http(server, "/truth?since=0")
    assert status == 200 and lines and all(lines[i]["ts"] <= lines[i + 1]["ts"] for i in range(len(lines) - 1))
    enter = next(x for x in lines if x["event"] == "enter")
    assert set(enter) >= {"ts", "camera", "event", "actor", "kind", "box_sub", "plate", "face", "loop"}
    assert _http(server, f"/truth?since={lines[-1]['ts']}")[1] == []
    on_disk = [json.loads(x) for x in truth_path.read_text().splitlines()]
    assert on_disk[: len(lines)] == lines
    assert _http(server, "/truth?since=yesterday")[0] == 400
    assert _http(server, "/cameras/nope/cut", "POST")[0] == 404
    assert _http(server, "/cameras/t-1/explode", "POST")[0] == 404
    assert _http(server, "/cameras/t-1/cut?mode=gently", "POST")[0] == 400
    assert _http(server, "/nothing")[0] == 404


def test_cut_drops_clients_refuses_new_ones_and_restore_brings_it_back(sim: tuple[SimServer, Any, Path]) -> None:
    server, _, _ = sim
    reader = Reader(server.url("t-2", "sub"), seconds=30)
    reader.wait_frames(5)
    cut_at = time.time()
    status, cam = _http(server, "/cameras/t-2/cut", "POST")
    assert status == 200 and cam["online"] is False
    reader.thread.join(5)
    assert reader.ended_at is not None and reader.ended_at - cut_at < 2.0
    assert not [t for t, _ in reader.frames if t > cut_at + 0.5]
    refused = Reader(server.url("t-2", "sub"), seconds=3)
    refused.thread.join(10)
    assert refused.error and not refused.frames
    assert _http(server, "/cameras/t-2/restore", "POST")[1]["online"] is True
    back = Reader(server.url("t-2", "sub"), seconds=1.5)
    back.wait_frames(5)
    back.thread.join(10)
    assert back.size == (640, 360)
    kinds = [(e["event"], e["camera"]) for e in server.truth_since(cut_at - 0.01) if e["event"] in ("cut", "restore")]
    assert kinds == [("cut", "t-2"), ("restore", "t-2")]


def test_stall_keeps_the_connection_but_sends_nothing(sim: tuple[SimServer, Any, Path]) -> None:
    server, _, _ = sim
    reader = Reader(server.url("t-1", "main"), seconds=30, read_timeout=2.0)
    reader.wait_frames(5)
    cut_at = time.time()
    server.cut("t-1", mode="stall")
    time.sleep(1.5)
    assert not [t for t, _ in reader.frames if t > cut_at + 0.3]
    assert _http(server, "/health")[1]["cameras"][0]["cut"] == "stall"
    reader.thread.join(5)  # the client's own read timeout ends it, as it would in the field
    assert reader.ended_at is not None and reader.error
    server.restore("t-1")
    back = Reader(server.url("t-1", "main"), seconds=1.0)
    back.wait_frames(3)
    back.thread.join(10)
