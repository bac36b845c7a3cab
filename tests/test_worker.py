"""Ingest workers against bad sources: refused, silent, corrupt. Never a crash or a hung thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from koopsuz.video.health import State
from koopsuz.video.source import SourceOptions
from koopsuz.video.worker import Backoff, CameraWorker, DecodedFrame
from tests.conftest import free_port

FAST = SourceOptions(open_timeout_s=1.0, read_timeout_s=1.0)
BACKOFF = Backoff(initial_s=0.2, max_s=0.5)


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def make_h264(path: Path, frames: int = 90, corrupt: bool = False) -> Path:
    with av.open(str(path), "w", format="h264") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        s.options = {"bframes": "0", "g": "15"}
        for i in range(frames):
            img = np.full((180, 320, 3), 40, np.uint8)
            img[60:120, (i * 3) % 280 : (i * 3) % 280 + 40] = 220
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    if corrupt:
        data = bytearray(path.read_bytes())
        rng = np.random.default_rng(3)
        for pos in rng.integers(len(data) // 4, len(data), 40):
            data[pos] ^= 0xFF
        path.write_bytes(bytes(data))
    return path


def test_refused_connection_goes_offline_with_a_reason_and_keeps_retrying() -> None:
    w = CameraWorker("cam", f"rtsp://127.0.0.1:{free_port()}/x", source_options=FAST, backoff=BACKOFF)
    w.start()
    try:
        assert wait_for(lambda: w.health.state == State.OFFLINE, 5)
        assert "refused" in (w.health.error or "")
        assert wait_for(lambda: w.health.reconnects >= 3, 5)
    finally:
        t = time.monotonic()
        w.stop()
        assert time.monotonic() - t < 3 and not w.alive


def test_a_camera_that_accepts_but_never_answers_times_out() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conns.append(srv.accept()[0])  # and say nothing

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    w = CameraWorker("silent", f"rtsp://127.0.0.1:{srv.getsockname()[1]}/x", source_options=FAST, backoff=BACKOFF)
    w.start()
    try:
        assert wait_for(lambda: w.health.state == State.OFFLINE, 8)
        assert w.health.error
    finally:
        t = time.monotonic()
        w.stop()
        stop.set()
        acceptor.join(2)
        assert time.monotonic() - t < 5 and not w.alive
        for c in conns:
            c.close()
        srv.close()


def test_corrupt_packets_cost_frames_not_the_stream(tmp_path: Path) -> None:
    path = make_h264(tmp_path / "corrupt.h264", corrupt=True)
    frames: list[DecodedFrame] = []
    w = CameraWorker("bad", f"file:{path}", on_frame=frames.append, source_options=FAST, backoff=BACKOFF)
    w.start()
    try:
        assert wait_for(lambda: w.health.reconnects >= 1, 10), "the file should end and be reopened"
        assert len(frames) > 10
        assert w.alive
    finally:
        w.stop()


def test_a_failing_frame_handler_does_not_kill_the_worker(tmp_path: Path) -> None:
    path = make_h264(tmp_path / "ok.h264", frames=30)
    calls = []

    def broken(f: DecodedFrame) -> None:
        calls.append(f.seq)
        raise RuntimeError("stage bug")

    w = CameraWorker("c", f"file:{path}", on_frame=broken, source_options=FAST, backoff=BACKOFF)
    w.start()
    try:
        assert wait_for(lambda: len(calls) >= 2, 10)
        assert w.alive
        assert "internal error" in (w.health.error or "") or w.health.state != State.STARTING
    finally:
        w.stop()


@pytest.mark.parametrize("fmt", ["yuv420p"])
def test_live_view_jpeg_is_encoded_once_per_frame(tmp_path: Path, fmt: str) -> None:
    path = make_h264(tmp_path / "v.h264", frames=30)
    w = CameraWorker("v", f"file:{path}", source_options=FAST, backoff=BACKOFF)
    w.start()
    try:
        f = w.wait_frame(0, 5)
        assert f is not None
        a = w.jpeg(f)
        assert a[:2] == b"\xff\xd8" and w.jpeg(f) is a
    finally:
        w.stop()


def test_a_frame_converted_from_many_threads_is_converted_once() -> None:
    """The pipeline (detection) and the live view (JPEG) convert the same frame from different
    threads; libswscale crashed the process when they did so at once. One conversion, shared."""
    from datetime import UTC, datetime

    from koopsuz.video.worker import DecodedFrame

    rgb = np.random.default_rng(3).integers(0, 255, (360, 640, 3), np.uint8)
    for _ in range(20):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        df = DecodedFrame(frame, datetime.now(UTC), 1)
        got: list[object] = []
        start = threading.Barrier(6)

        def convert(df: DecodedFrame = df, got: list[object] = got, start: threading.Barrier = start) -> None:
            start.wait()
            got.append(df.bgr())

        threads = [threading.Thread(target=convert) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 6 and all(g is got[0] for g in got)
        assert got[0].shape == (360, 640, 3)
