"""Recordings on an S3 API (issue 9): recorded locally, moved to a bucket, played by any API node.

A real S3 HTTP API (moto's server, started here on a free port; its state lives in this process, so
stopping and starting it again is an outage that keeps the bucket), a real simulator camera over
RTSP and real ffmpeg. One recorder System records into the bucket; the bucket goes away twice: once
while the recorder keeps running (its disk buffers, the uploader retries with backoff) and once
with the recorder stopped mid-outage (the files left on disk are picked up by the next start).
Then a second System, an ``api`` node with its own empty data directory and the same store, serves
the playlist, the segments and an MP4 export from the bucket alone; retention deletes from it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

pytest.importorskip("gi")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from koopsuz.api.app import create_app  # noqa: E402
from koopsuz.config import Settings  # noqa: E402
from koopsuz.services.retention import RetentionService  # noqa: E402
from koopsuz.sim.render import render_scenario  # noqa: E402
from koopsuz.sim.rtsp import SimServer  # noqa: E402
from koopsuz.store.recording_repo import RecordingRepo  # noqa: E402
from koopsuz.system import System  # noqa: E402
from tests.conftest import PASSWORD  # noqa: E402
from tests.legal_helpers import register_basis  # noqa: E402
from tests.sim.conftest import tiny_scenario  # noqa: E402

BUCKET, PREFIX = "koopsuz-rec", "kg/issyk-kul"
SEGMENT_S = 2.0
SECRET = "moto-secret-3f9a"  # moto takes any key; it must never show in what the API answers


class S3:
    """moto's S3 server on a fixed port, stoppable and restartable (an outage of the bucket)."""

    def __init__(self) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._srv: Any = None

    def start(self) -> None:
        self._srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._srv.start()

    def stop(self) -> None:
        if self._srv is not None:
            self._srv.stop()
            self._srv = None

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key=SECRET
        )

    def objects(self) -> dict[str, tuple[int, str]]:
        """rel path -> (size, sha256 of the bytes in the bucket)."""
        c = self.client()
        out = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/"):
            for o in page.get("Contents", []):
                body = c.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                out[o["Key"][len(PREFIX) + 1 :]] = (o["Size"], hashlib.sha256(body).hexdigest())
        return out


def wait_until(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def s3() -> Iterator[S3]:
    server = S3()
    server.start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


def settings_for(data_dir: Path, s3: S3, db_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=db_url,
        secret_key="s3-recordings-test",
        recording_segment_s=SEGMENT_S,
        recording_backoff_initial_s=0.3,
        recording_backoff_max_s=1.0,
        recording_min_free_mb=0,
        retention=False,
        recordings_url=f"s3://{BUCKET}/{PREFIX}",
        s3_endpoint_url=s3.url,
        s3_access_key_id="k",
        s3_secret_access_key=SECRET,  # type: ignore[arg-type]
        metrics_token="scrape-token",
    )


def indexed(system: System) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
    """(segment rel -> (size, sha256), init rel -> sha256) of everything in the index."""
    with system.db.session() as s:
        repo = RecordingRepo(s)
        segs = repo.segments("s3-cam", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1))
        sessions = repo.sessions([r.session for r in segs])
        return {r.path: (r.size, r.sha256) for r in segs}, {x.init_path: x.init_sha256 for x in sessions.values()}


def segments_of(system: System) -> int:
    rec = system.recording.recorder("s3-cam")
    return rec.health.segments if rec else 0


def test_recordings_go_to_s3_survive_its_outages_and_play_from_another_node(tmp_path: Path, s3: S3) -> None:
    t0 = time.monotonic()
    rendered = render_scenario(tiny_scenario(), tmp_path / "cache", tmp_path / "no-faces", workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    sim.start()
    site = {"id": "s3-site", "name": "Karakol", "type": "street", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    cam = {
        "id": "s3-cam",
        "name": "s3-cam",
        "site": "s3-site",
        "lat": 42.5,
        "lon": 78.0,
        "main_url": f"rtsp://127.0.0.1:{sim.port}/t-1/main",
        "sub_url": f"rtsp://127.0.0.1:{sim.port}/t-1/sub",
    }
    dep = tmp_path / "deployment.yaml"
    dep.write_text(yaml.safe_dump({"name": "s3 test", "sites": [site], "cameras": [cam]}))
    rec_dir = tmp_path / "recorder"
    recorder = System(settings_for(rec_dir, s3))
    db_url = recorder.settings.db_url  # the store every node shares (SQLite here, PostgreSQL in a deployment)
    recorder.load_deployment(dep)
    recorder.users.create("test", "yk.investigator", PASSWORD, "investigator", "KG-Y")
    media = rec_dir / "media"
    try:
        recorder.start(ingest=False)
        up = recorder.recording.uploader
        assert up is not None
        wait_until(lambda: segments_of(recorder) >= 3, 25, "three segments")
        recorder.recording.flush()
        assert up.wait_idle(10), up.stats()
        segs, inits = indexed(recorder)
        in_bucket = s3.objects()
        for rel, (size, sha) in segs.items():  # every indexed segment is in the bucket, byte for byte
            assert in_bucket.get(rel) == (size, sha), rel
        assert all(in_bucket[rel][1] == sha for rel, sha in inits.items())
        assert not (media / next(iter(segs))).exists()  # moved, not copied: the disk is only a buffer

        # 1. the bucket goes away while the camera keeps recording: the disk buffers, nothing is lost
        s3.stop()
        n = segments_of(recorder)
        wait_until(lambda: segments_of(recorder) >= n + 3, 20, "segments recorded during the outage")
        stats = up.stats()
        assert stats["pending"] >= 2 and stats["failures"] >= 1 and stats["last_error"], stats
        waiting = list((media / "recordings" / "s3-cam").rglob("seg-*.m4s"))
        assert len(waiting) >= 2  # on local disk, waiting
        with TestClient(create_app(recorder, start_system=False)) as c:
            body = c.get("/api/system/ready").text
            ready = json.loads(body)["checks"]["recordings_upload"]
            assert ready["ok"] and ready["pending"] >= 2 and ready["last_error"]
            assert SECRET not in body  # the outage is explained without the credentials
            metrics = c.get("/metrics", headers={"Authorization": "Bearer scrape-token"}).text
            pending = next(ln for ln in metrics.splitlines() if ln.startswith("koopsuz_recording_upload_pending "))
            assert float(pending.split()[1]) >= 2
        s3.start()
        recorder.recording.flush()
        assert up.wait_idle(40), up.stats()  # backoff is at most 30 s
        assert up.stats()["last_error"] is None

        # 2. the bucket away again, and the recorder stopped meanwhile: the next start uploads the rest
        s3.stop()
        n = segments_of(recorder)
        wait_until(lambda: segments_of(recorder) >= n + 2, 20, "segments recorded during the second outage")
    finally:
        recorder.stop()
    left = list((media / "recordings" / "s3-cam").rglob("seg-*.m4s"))
    assert len(left) >= 2, "the stopped recorder's pending files stay on its disk"
    s3.start()
    again = System(settings_for(rec_dir, s3))
    try:
        again.start(ingest=False)  # queues what the last run left on disk, and records on
        assert again.recording.uploader is not None
        wait_until(lambda: not any(p.exists() for p in left), 20, "the files left on disk uploaded")
    finally:
        again.stop()  # its own last segments are uploaded on the way out

    segs, inits = indexed(again)
    in_bucket = s3.objects()
    missing = [rel for rel, v in segs.items() if in_bucket.get(rel) != v]
    assert not missing, f"{len(missing)} of {len(segs)} segments not in the bucket as indexed: {missing[:3]}"
    assert len(segs) >= 9 and up.stats()["lost"] == 0
    # nothing left behind on the recorder but a segment cut too short to keep (stopped within its first
    # fragment), which stays in quarantine/ for diagnosis and is never indexed or uploaded
    behind = [p for p in (media / "recordings").rglob("*.m4s") if "quarantine" not in p.parts]
    assert not behind, behind

    # 3. an API node: its own empty data dir, the same store, reads footage from the bucket alone
    api = System(settings_for(tmp_path / "api", s3, db_url))
    try:
        assert not (tmp_path / "api" / "media" / "recordings").exists()
        with TestClient(create_app(api, start_system=False)) as c:
            r = c.post("/api/auth/login", json={"username": "yk.investigator", "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf"]
            with api.db.session() as s:
                rows = RecordingRepo(s).segments("s3-cam", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
            a, b = rows[1].start, rows[-2].end
            rng = {"start": a.isoformat(), "end": b.isoformat(), "reason": "case 12/2026"}
            r = c.get("/api/cameras/s3-cam/playback.m3u8", params=rng)
            assert r.status_code == 200, r.text
            uris = [ln for ln in r.text.splitlines() if ln.startswith("segments/")]
            assert len(uris) == len(rows) - 2
            for uri, row in zip(uris, rows[1:-1], strict=True):
                body = c.get(f"/api/cameras/s3-cam/{uri}")
                assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == row.sha256
            init_uri = next(ln.split('URI="')[1].split('"')[0] for ln in r.text.splitlines() if "EXT-X-MAP" in ln)
            assert c.get(f"/api/cameras/s3-cam/{init_uri}").status_code == 200
            assert "recordings_upload" not in c.get("/api/system/ready").json()["checks"]  # it uploads nothing
            basis = register_basis(c, case="S3-12/2026")  # a clip download needs a registered basis
            exp = c.get("/api/cameras/s3-cam/export.mp4", params=rng | {"legal_basis_id": basis})
            assert exp.status_code == 200, exp.text
            assert exp.content[4:8] == b"ftyp" and float(exp.headers["X-Recording-Duration"]) > 4

            # the bucket away: a clear 503, not a 500 and not "damaged"
            s3.stop()
            try:
                r = c.get("/api/cameras/s3-cam/playback.m3u8", params=rng)
                assert r.status_code == 503 and "try again" in r.json()["detail"], r.text
            finally:
                s3.start()

        # 4. retention deletes from the bucket too (a clock 100 days on: all of it has expired, event clips too)
        later = datetime.now(UTC) + timedelta(days=100)
        remote = api.segments.remote  # type: ignore[union-attr]
        ret = RetentionService(api.settings, api.db, api.writer, api.evidence_locks, clock=lambda: later, remote=remote)
        result = ret.run("test")
        assert result.deleted_files >= len(segs)
        left_in_bucket = s3.objects()
        assert not [k for k in left_in_bucket if k.endswith(".m4s")], list(left_in_bucket)[:3]
        assert indexed(api)[0] == {}
    finally:
        api.stop()
        sim.stop()
    assert time.monotonic() - t0 < 90
