"""One signed package of the shared recorded run, built once through the API and reused by the
evidence tests (API, CLI, browser): rec-1 over the moment its recorder was SIGKILLed, so the
range holds a gap; about ten seconds, so the watermarked copy re-encodes in a second or two."""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from koopsuz.store.recording_repo import RecordingRepo, utc
from tests.legal_helpers import register_basis

from .conftest import Run

CASE = "УД-12/2026"  # Cyrillic on purpose: the watermark transliterates, the manifest keeps it
BASIS = "Art. 183 CPC KR, investigator's order of 25.11.2026"  # the officer's note beside the registered basis


@dataclass
class Built:
    export: dict[str, Any]
    zip_bytes: bytes
    path: Path  # the zip, saved under a tmp dir
    start: float
    end: float
    basis_id: str  # the registered legal basis the export named

    def members(self) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(self.zip_bytes)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}


_cache: dict[int, Built] = {}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def wait_ready(run: Run, c: Any, export_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while time.monotonic() < deadline:
        got = c.get(f"/api/evidence/exports/{export_id}").json()
        seen.append(got["progress"])
        if got["status"] != "building":
            got["_progress_seen"] = seen
            return got
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} still building after {timeout} s")


def built_package(run: Run, tmp: Path) -> Built:
    if id(run) in _cache:
        return _cache[id(run)]
    m = run.marks
    with run.system.db.session() as s:  # the crash gap's real end: the restart takes longer under load
        gaps = RecordingRepo(s).gaps("rec-1", datetime.fromtimestamp(m["kill"] - 5, UTC), datetime.now(UTC))
    crash = next(g for g in gaps if g.cause == "recorder_crashed" and g.end is not None)
    start, end = m["kill"] - 4.0, utc(crash.end).timestamp() + 4.0
    c = run.client("investigator")
    basis_id = register_basis(c, CASE, regions=("KG-Y",))
    t0 = time.monotonic()
    r = c.post(
        "/api/evidence/exports",
        json={
            "cameras": ["rec-1"],
            "start": iso(start),
            "end": iso(end),
            "case_number": CASE,
            "legal_basis_id": basis_id,
            "legal_basis": BASIS,
            "reason": "robbery near the Karakol stop",
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "building" and r.json()["progress"]["done"] < 1
    export = wait_ready(run, c, r.json()["id"])
    export["_elapsed_s"] = time.monotonic() - t0
    print(f"evidence export of {end - start:.0f} s of rec-1: ready in {export['_elapsed_s']:.2f} s")
    assert export["status"] == "ready", export
    pkg = c.get(export["download"])
    assert pkg.status_code == 200 and pkg.headers["content-type"] == "application/zip"
    path = tmp / "package.zip"
    path.write_bytes(pkg.content)
    _cache[id(run)] = Built(export, pkg.content, path, start, end, basis_id)
    return _cache[id(run)]


def rezip(members: dict[str, bytes], dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dest
