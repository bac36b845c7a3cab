"""Evidence exports redact by default: in viewing/ only the subject's face is left, original/ is intact.

Real everything: the simulator renders two people walking towards camera rd-1 with real face photos
(obama.jpg on the left of the picture, biden.jpg on the right, from the face_recognition sdist),
serves it over RTSP and the system records it. An investigator exports the recording naming the
subject by another photo of the same man (obama2.jpg). The viewing copy is then checked with the
face detector the way anyone would: every fourth frame, and every frame around the moments the
other man's face appears and disappears in the original, must show no face but the subject's;
the original must show both faces, and the package must verify. Lifting redaction needs the
exporter's own approved unmask grant (403 and audited without); with one, the viewing copy keeps
both faces and the original is byte-identical to the redacted export's.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import numpy as np
import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("gi")

from koopsuz.api.app import create_app
from koopsuz.cli import app as cli
from koopsuz.config import Settings
from koopsuz.domain.watchlists import EntryIn, WatchlistIn
from koopsuz.security.principal import Permission, Scope
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.sim.scenario import Scenario
from koopsuz.store.recording_repo import RecordingRepo, utc
from koopsuz.system import System
from koopsuz.vision.faces import FaceEngine, Refusal, read_image, similarity
from tests.conftest import PASSWORD, ROLE_USERS, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.faces.photos import SDIST_DIR, portraits
from tests.legal_helpers import register_basis, register_basis_for
from tests.recording.conftest import segments_of, wait_until
from tests.recording.evidence_helpers import wait_ready

pytestmark = pytest.mark.timeout(300)
PHOTOS = portraits()
LOOP = 10


def scenario() -> Scenario:
    def walker(pid: str, face: str, x: float, at: float) -> dict[str, Any]:
        return {"id": pid, "at": at, "kind": "person", "path": [[x, 0.55], [x + 0.05, 1.1]], "duration": 7.0,
                "face": face, "face_photo": f"{face}.jpg", "scale": 2.2}

    return Scenario.model_validate(
        {
            "seed": 8080,
            "fps": 15,
            "loop_seconds": LOOP,
            "gop_seconds": 1.0,
            "cameras": [{"id": "rd-1", "scene": "street",
                         "schedule": [walker("p1", "obama", 0.3, 0.5), walker("p2", "biden", 0.65, 1.0)]}],
        }
    )


@dataclass
class Rec:
    system: System
    app: Any
    start: datetime
    end: datetime

    def client(self, who: str) -> TestClient:
        c = TestClient(self.app)
        r = c.post("/api/auth/login", json={"username": ROLE_USERS[who][0], "password": PASSWORD})
        assert r.status_code == 200, r.text
        if r.json().get("csrf"):
            c.headers["X-CSRF-Token"] = r.json()["csrf"]  # cookie sessions echo it, like the pages
        return c


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rec]:
    if not {"obama", "obama2", "biden"} <= PHOTOS.keys():
        pytest.fail("face photos missing; run `.venv/bin/python tests/faces/photos.py` online")
    base = tmp_path_factory.mktemp("redaction")
    rendered = render_scenario(scenario(), base / "cache", SDIST_DIR, workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    sim.start()
    site = {"id": "yk-street", "name": "Toktogul St", "type": "street", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    cam = {"id": "rd-1", "name": "rd-1", "site": "yk-street", "lat": 42.49, "lon": 78.39, "profile": "faces",
           "main_url": f"rtsp://127.0.0.1:{sim.port}/rd-1/main", "sub_url": f"rtsp://127.0.0.1:{sim.port}/rd-1/sub"}
    (base / "deployment.yaml").write_text(yaml.safe_dump({"name": "redaction", "sites": [site], "cameras": [cam]}))
    system = System(Settings(data_dir=base / "var", secret_key="redaction-test", recording_segment_s=2.0))
    system.load_deployment(base / "deployment.yaml")
    for role, (username, region) in ROLE_USERS.items():
        system.users.create("test", username, PASSWORD, role, region)
    app = create_app(system, start_system=False)
    system.start(ingest=False)
    try:
        # a whole loop and a bit: both men walk the whole way at least once
        wait_until(lambda: segments_of(system, "rd-1") >= 6, 40, "six recorded segments of rd-1")
        system.recording.flush()
        with system.db.session() as s:
            segs = RecordingRepo(s).segments("rd-1", datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC))
        yield Rec(system, app, utc(segs[0].start), utc(segs[-1].end))
    finally:
        system.stop()
        sim.stop()


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="module")
def refs(engine: FaceEngine) -> dict[str, np.ndarray]:
    out = {}
    for name in ("obama2", "biden"):
        img = read_image(PHOTOS[name])
        face = engine.usable(img)
        assert not isinstance(face, Refusal), face
        out[name] = engine.embed(img, face)
    return out


def span(rec: Rec, c: TestClient) -> dict[str, Any]:
    """The export request's common part, naming a registered basis allowing export in KG-Y."""
    return {"cameras": ["rd-1"], "start": rec.start.isoformat(), "end": rec.end.isoformat(),
            "case_number": "UD-88/2026", "legal_basis_id": register_basis(c, "UD-88/2026", regions=("KG-Y",)),
            "legal_basis": "Art. 183 CPC KR"}


def export(rec: Rec, c: TestClient, **extra: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    body = span(rec, c) | extra
    r = c.post("/api/evidence/exports", json=body)
    assert r.status_code == 202, r.text
    done = wait_ready(rec, c, r.json()["id"], timeout=150)  # type: ignore[arg-type]
    assert done["status"] == "ready", done
    z = c.get(done["download"]).content
    with zipfile.ZipFile(io.BytesIO(z)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["_zip"] = z
    return done, files


def frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as inp:
        return [f.to_ndarray(format="bgr24") for f in inp.decode(video=0)]


def faces_on(engine: FaceEngine, img: np.ndarray, refs: dict[str, np.ndarray]) -> list[tuple[float, float, float]]:
    """(centre x, similarity to the subject, to the other man) of every face the detector finds."""
    found = engine.faces(img)
    if not found:
        return []
    vectors = engine.embed_many(img, found)
    return [
        (f.box[0] + f.box[2] / 2, similarity(v, refs["obama2"]), similarity(v, refs["biden"]))
        for f, v in zip(found, vectors, strict=True)
    ]


@pytest.fixture(scope="module")
def redacted(rec: Rec) -> tuple[dict[str, Any], dict[str, bytes], list[Any]]:
    c = rec.client("investigator")
    photo = base64.b64encode(PHOTOS["obama2"].read_bytes()).decode()
    done, files = export(rec, c, subject_photo=photo)
    return done, files, done["_progress_seen"]


def test_viewing_copy_shows_no_face_but_the_subjects(
    rec: Rec, redacted: tuple[dict[str, Any], dict[str, bytes], list[Any]], engine: FaceEngine,
    refs: dict[str, np.ndarray], tmp_path: Path,
) -> None:
    _, files, progress = redacted
    original, viewing = frames(files["original/rd-1.mp4"]), frames(files["viewing/rd-1.mp4"])
    assert len(original) == len(viewing) > 100
    width = original[0].shape[1]
    thr = engine.threshold
    # the original: both men, recognisable (every fourth frame)
    other_seen, subject_seen = [], 0
    for i in range(0, len(original), 4):
        for x, s_subject, s_other in faces_on(engine, original[i], refs):
            if x > width / 2 and s_other >= thr:
                other_seen.append(i)
            subject_seen += x < width / 2 and s_subject >= thr
    assert len(other_seen) >= 8 and subject_seen >= 8, (other_seen, subject_seen)
    # the viewing copy: every fourth frame, and every frame around where the other man comes and goes
    breaks = [(a, b) for a, b in itertools.pairwise(other_seen) if b - a > 4]
    edges = {other_seen[0], other_seen[-1]} | {a for a, _ in breaks} | {b for _, b in breaks}
    look = set(range(0, len(viewing), 4)) | {f for e in edges for f in range(e - 7, e + 8) if 0 <= f < len(viewing)}
    leaks, kept = [], 0
    for i in sorted(look):
        for x, s_subject, s_other in faces_on(engine, viewing[i], refs):
            if x > width / 2 or s_other >= thr or s_subject < thr * 0.5:
                leaks.append((i, round(x), round(s_subject, 2), round(s_other, 2)))
            kept += s_subject >= thr
    assert leaks == [], f"faces other than the subject's in the viewing copy: {leaks}"
    assert kept >= 5  # the subject was not blurred away with everyone else
    # what the manifest says was done, signed with the rest
    manifest = json.loads(files["manifest.json"])
    cam = manifest["cameras"][0]["redaction"]
    assert cam["faces_blurred"] >= 1 and cam["faces_kept"] >= 1 and cam["frames"] == len(viewing)
    assert manifest["redaction"]["redact"] is True and manifest["redaction"]["subject"]["kind"] == "photo"
    assert any(p and p["phase"].startswith("redaction") for p in progress)
    key = tmp_path / "key.pem"
    key.write_bytes(rec.system.signing_key.public().pem)
    pkg = tmp_path / "p.zip"
    pkg.write_bytes(files["_zip"])
    r = CliRunner().invoke(cli, ["evidence", "verify", str(pkg), "--key", str(key)])
    assert r.exit_code == 0 and "VERIFIED" in r.output, r.output


def test_lifting_redaction_needs_an_approved_grant_and_is_audited(
    rec: Rec, redacted: tuple[dict[str, Any], dict[str, bytes], list[Any]], engine: FaceEngine,
    refs: dict[str, np.ndarray],
) -> None:
    inv, head = rec.client("investigator"), rec.client("regional_head")
    body = span(rec, inv) | {"redact": False}
    r = inv.post("/api/evidence/exports", json=body)
    assert r.status_code == 403 and "unmask grant" in r.json()["detail"], r.text
    denied = rec.system.audit.search(Scope.national(), action="evidence.unredacted")
    assert denied and denied[0].outcome == "denied" and denied[0].actor == "yk.investigator"
    r = inv.post("/api/evidence/exports", json=body | {"subject_photo": "eA=="})
    assert r.status_code == 422  # a subject only makes sense when redacting
    r = inv.post("/api/evidence/exports", json=body | {"redact": True, "subject_photo": "not base64!"})
    assert r.status_code == 422 and "base64" in r.json()["detail"]
    # the grant: a legal basis allowing unmask, requested by the investigator, approved by the head
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    b = inv.post("/api/legal-bases", json={"case_number": "UD-88/2026", "kind": "court_order", "authority": "court",
                                           "document_ref": "order 88", "purposes": ["unmask", "export"],
                                           "regions": ["KG-Y"], "valid_until": until})
    assert b.status_code == 201, b.text
    g = inv.post("/api/cameras/rd-1/unmask", json={"legal_basis_id": b.json()["id"], "reason": "court wants all"})
    assert g.status_code in (200, 201), g.text
    assert head.post(f"/api/unmask/{g.json()['id']}/approve", json={}).status_code == 200
    _, files = export(rec, inv, redact=False)
    manifest = json.loads(files["manifest.json"])
    assert manifest["redaction"]["redact"] is False
    assert manifest["redaction"]["unmask_grants"] == {"rd-1": g.json()["id"]}
    allowed = rec.system.audit.search(Scope.national(), action="evidence.unredacted")
    assert any(e.outcome != "denied" and e.detail["grants"] == {"rd-1": g.json()["id"]} for e in allowed)
    # the sealed original does not depend on redaction: byte for byte the redacted export's
    assert files["original/rd-1.mp4"] == redacted[1]["original/rd-1.mp4"]
    # and this viewing copy does show the other man
    viewing = frames(files["viewing/rd-1.mp4"])
    width = viewing[0].shape[1]
    other = sum(
        1 for i in range(0, len(viewing), 6) for x, _, s in faces_on(engine, viewing[i], refs)
        if x > width / 2 and s >= engine.threshold
    )
    assert other >= 3
    r = inv.post(f"/api/unmask/{g.json()['id']}/revoke", json={"reason": "package made"})
    assert r.status_code == 200, r.text


def test_subject_from_a_watchlist_entry_and_refused_subjects(rec: Rec, refs: dict[str, np.ndarray]) -> None:
    """The subject named by a watchlist entry: its enrolled vectors; a photo with no face is refused."""
    system = rec.system
    inv = system.users.authenticate(ROLE_USERS["investigator"][0], PASSWORD)
    head = system.users.authenticate(ROLE_USERS["regional_head"][0], PASSWORD)
    until = datetime.now(UTC) + timedelta(days=3)
    basis = system.legal.register(inv, {"case_number": "MP-88", "kind": "missing_person", "authority": "police",
                                        "document_ref": "No. 88", "purposes": ["watchlist"],
                                        "valid_until": until.isoformat()})
    wl = system.watchlists.create_list(head, WatchlistIn(name="Missing", kind="missing", region="KG-Y").model_dump())
    body = EntryIn(full_name="Subject", legal_basis_id=basis["id"], expires_at=until).model_dump(mode="json")
    entry = system.watchlists.add_entry(inv, wl["id"], body)
    system.watchlists.add_photo(inv, entry["id"], PHOTOS["obama2"].read_bytes())
    cam = system.registry.camera(inv, "rd-1", Permission.EVIDENCE_EXPORT)
    got = system.evidence.redaction.check(inv, [cam], subject_entry=entry["id"], involved_plates=["01 234 abc"])
    assert got.subject == {"kind": "watchlist_entry", "id": entry["id"], "photos": 1}
    assert got.reference is not None and got.reference.shape == (1, 128)
    assert similarity(got.reference[0], refs["obama2"]) > 0.99 and got.involved == ("01234ABC",)
    c = rec.client("investigator")
    body = span(rec, c)
    r = c.post("/api/evidence/exports", json=body | {"subject_entry": "01NOSUCHENTRY"})
    assert r.status_code == 404
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank, format="PNG")
    r = c.post("/api/evidence/exports", json=body | {"subject_photo": base64.b64encode(blank.getvalue()).decode()})
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    r = c.post("/api/evidence/exports", json=body | {"involved_plates": ["01 234 ABC 0123456789"]})
    assert r.status_code == 422 and "involved_plates" in r.json()["detail"]


def test_cli_export_refuses_no_redact_without_a_grant(rec: Rec) -> None:
    """``koopsuz evidence export --no-redact`` follows the API's rule (the grant was revoked above)."""
    inv = rec.system.users.authenticate(ROLE_USERS["investigator"][0], PASSWORD)
    basis_id = register_basis_for(rec.system, inv, "UD-88/2026")
    args = ["evidence", "export", "--camera", "rd-1", "--case", "UD-88/2026", "--basis-id", basis_id,
            "--start", rec.start.isoformat(), "--end", rec.end.isoformat(), "--user", ROLE_USERS["investigator"][0],
            "--data-dir", str(rec.system.settings.data_dir), "--no-redact"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and "unmask grant" in r.output, r.output


@pytest.mark.browser
def test_export_form_redacts_by_default_and_sends_the_subject(rec: Rec, tmp_path: Path) -> None:
    """Runs last, after the grant test revoked its grant, and does not wait for the build (the
    plates named are looked for, at about a second a frame): the fixture's stop cancels it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(rec.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    base = f"http://127.0.0.1:{port}"
    a, b = rec.start + timedelta(seconds=2), rec.start + timedelta(seconds=3)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB").new_page()
            page.set_default_timeout(20000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/login")
            page.get_by_test_id("login-username").fill("yk.investigator")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/lang/en?next=/")
            page.goto(f"{base}/cameras/rd-1/playback?start={quote(a.isoformat())}&end={quote(b.isoformat())}")
            redact = page.get_by_test_id("evidence-redact")
            assert redact.is_checked()  # the default
            page.get_by_test_id("evidence-case").fill("UD-88/2026")
            basis = page.get_by_test_id("evidence-basis-id")  # the bases registered above that allow export
            page.wait_for_selector('[data-testid="evidence-basis-id"] option[value]:not([disabled])', state="attached")
            assert basis.input_value()
            page.get_by_test_id("evidence-basis").fill("Art. 183 CPC KR")
            redact.uncheck()
            assert page.get_by_test_id("evidence-subject-photo").is_disabled()
            page.get_by_test_id("evidence-submit").click()  # no unmask grant: refused, and said why
            wait_until(lambda: "unmask grant" in page.locator("#toast").inner_text(), 10, "the refusal shown")
            redact.check()
            page.get_by_test_id("evidence-subject-photo").set_input_files(str(PHOTOS["obama2"]))
            page.get_by_test_id("evidence-involved-plates").fill("01 234 bsz, 09 508 KGD")
            page.get_by_test_id("evidence-submit").click()
            export_id = page.get_by_test_id("evidence-link").get_attribute("data-export-id")
            page.screenshot(path=str(tmp_path / "export-form.png"))
            browser.close()
        assert not errors, errors
    finally:
        server.should_exit = True
        thread.join(10)
    exports = rec.system.audit.search(Scope.national(), action="evidence.export")
    entry = next(e for e in exports if e.target_id == export_id)
    got = entry.detail["redaction"]
    assert got["redact"] is True and got["involved_plates"] == ["01234BSZ", "09508KGD"]
    assert got["subject"] == {"kind": "photo", "sha256": hashlib.sha256(PHOTOS["obama2"].read_bytes()).hexdigest()}
