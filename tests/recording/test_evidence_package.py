"""Signed evidence packages on the shared recorded run: built through the API, verified offline.

The package covers rec-1 across its SIGKILLed recorder, so its manifest must list that gap with
the recorder's cause; its original must be the recorded packets byte for byte; and every kind of
tampering (a video byte, a manifest byte, a file removed or added, another installation's key)
must fail verification naming exactly the file concerned.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from koopsuz.cli import app as cli
from koopsuz.domain.evidence_manifest import canonical_bytes
from koopsuz.security.evidence_package import check, read_package
from koopsuz.security.principal import Scope
from koopsuz.store.recording_repo import RecordingRepo
from koopsuz.video.export import ChainedFile
from tests.legal_helpers import register_basis, register_basis_for

from .conftest import Run
from .evidence_helpers import BASIS, CASE, Built, built_package, iso, rezip, wait_ready


@pytest.fixture
def built(recorded: Run, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built_package(recorded, tmp_path_factory.mktemp("evidence"))


def installation_pem(run: Run) -> bytes:
    return run.system.signing_key.public().pem


def t(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def test_package_verifies_and_its_manifest_lists_the_gap(recorded: Run, built: Built) -> None:
    files = built.members()
    assert set(files) == {
        "manifest.json",
        "manifest.sig",
        "public_key.pem",
        "README.txt",
        "original/rec-1.mp4",
        "viewing/rec-1.mp4",
    }
    manifest = json.loads(files["manifest.json"])
    assert canonical_bytes(manifest) == files["manifest.json"]  # canonical: re-derivable byte for byte
    case = manifest["case"]
    assert case["number"] == CASE and case["reason"] == "robbery near the Karakol stop"
    # the registered basis (authority, document, id) and the officer's note beside it
    assert case["legal_basis"].startswith(f"{CASE}: Karakol city court, Order {CASE} [{built.basis_id}]")
    assert case["legal_basis"].endswith(f"; {BASIS}")
    assert manifest["exporter"]["username"] == "yk.investigator" and manifest["exporter"]["role"] == "investigator"
    assert manifest["signing"]["key_id"] == recorded.system.signing_key.public().key_id == built.export["key_id"]
    cam = manifest["cameras"][0]
    assert cam["id"] == "rec-1" and cam["region"] == "KG-Y" and cam["site"]["name"] == "Karakol"
    assert cam["coordinates"] == {"lat": 42.5, "lon": 78.0}
    req = cam["requested"]
    assert t(req["start_utc"]) == pytest.approx(built.start, abs=0.001)
    assert req["start_local"].endswith("+06:00")
    assert datetime.fromisoformat(req["start_local"]) == datetime.fromisoformat(req["start_utc"].replace("Z", "+00:00"))
    # the recorder was killed inside the range: exactly one gap, with the recorder's cause
    gaps = cam["gaps"]
    assert [g["cause"] for g in gaps] == ["recorder_crashed"], gaps
    g = gaps[0]
    kill = recorded.marks["kill"]
    assert built.start < t(g["start_utc"]) <= kill + 0.5 and kill < t(g["end_utc"]) < built.end
    pieces = cam["recorded"]["pieces"]
    assert len(pieces) == 2 and t(pieces[0]["end_utc"]) == pytest.approx(t(g["start_utc"]), abs=0.3)
    # every file's size and hash is in the manifest and matches
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    for path, f in listed.items():
        assert f["size"] == len(files[path]) and f["sha256"] == hashlib.sha256(files[path]).hexdigest()
    report = check(read_package(built.path), installation_pem(recorded), "given")
    assert report.ok and report.verification.files_checked == 4 and report.verification.problems == []
    # the export row says the same
    item = built.export["cameras"][0]
    assert item["sha256"] == listed["original/rec-1.mp4"]["sha256"] and item["gaps"][0]["cause"] == "recorder_crashed"
    assert built.export["manifest_sha256"] == hashlib.sha256(files["manifest.json"]).hexdigest()
    seen = [p["done"] for p in built.export["_progress_seen"] if p]  # polled while building: only forward
    assert all(0 <= d <= 1 for d in seen) and seen == sorted(seen)


def test_original_is_the_recorded_packets_and_viewing_copy_is_watermarked(recorded: Run, built: Built) -> None:
    files = built.members()
    manifest = json.loads(files["manifest.json"])
    cam = manifest["cameras"][0]
    with recorded.system.db.session() as s:
        repo = RecordingRepo(s)
        rows = [r for r in repo.segments("rec-1", *(datetime.fromtimestamp(x, UTC) for x in (built.start, built.end)))]
        sessions = repo.sessions([r.session for r in rows])
    assert [x["sha256"] for x in cam["source_segments"]] == [r.sha256 for r in rows]
    recorded_packets: list[bytes] = []
    for sid in dict.fromkeys(r.session for r in rows):
        paths = [recorded.system.playback.path(sessions[sid].init_path)]
        paths += [recorded.system.playback.path(r.path) for r in rows if r.session == sid]
        with ChainedFile(paths) as raw, av.open(raw, "r", format="mp4") as c:  # type: ignore[arg-type]
            recorded_packets += [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(io.BytesIO(files["original/rec-1.mp4"])) as c:
        exported = [bytes(p) for p in c.demux(video=0) if p.size]
        duration = c.duration / 1e6
    assert exported == recorded_packets  # not one bit re-encoded
    assert duration == pytest.approx(cam["recorded"]["duration_s"], abs=0.1)
    assert duration == pytest.approx(sum(p["duration_s"] for p in cam["recorded"]["pieces"]), abs=0.1)
    assert abs(len(exported) - duration * 15) <= 2
    with av.open(io.BytesIO(files["viewing/rec-1.mp4"])) as c:
        frames = list(c.decode(video=0))
        assert abs(c.duration / 1e6 - duration) < 0.2
    assert len(frames) == len(exported)
    y = frames[len(frames) // 2].to_ndarray(format="gray")
    # the bands: darkened, with bright text; the picture between them untouched in brightness
    top, bottom = y[:60], y[-60:]
    assert (top > 200).mean() > 0.01 and (bottom > 200).mean() > 0.005
    assert (top < 90).mean() > 0.5


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_one_flipped_byte_of_video_fails_and_names_the_file(recorded: Run, built: Built, tmp_path: Path) -> None:
    # flip a byte inside the stored video *in the zip itself*, as a careless or hostile edit would
    raw = bytearray(built.zip_bytes)
    with zipfile.ZipFile(io.BytesIO(built.zip_bytes)) as zf:
        info = zf.getinfo("original/rec-1.mp4")
    assert info.compress_type == zipfile.ZIP_STORED
    name_len, extra_len = (
        int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little"),
        int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little"),
    )
    at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    raw[at] ^= 0x01
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(bytes(raw))
    report = check(read_package(bad), installation_pem(recorded), "given")
    assert not report.ok and report.verification.signature_valid  # the manifest is fine, the video is not
    assert report.verification.altered == ["original/rec-1.mp4"]
    assert report.verification.problems[0].kind == "file_altered"
    # unpacked to a folder, the same
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(built.zip_bytes)) as zf:
        zf.extractall(folder)
    v = folder / "viewing" / "rec-1.mp4"
    v.write_bytes(flip(v.read_bytes(), 1000))
    report = check(read_package(folder), installation_pem(recorded), "given")
    assert report.verification.altered == ["viewing/rec-1.mp4"]


def test_one_flipped_byte_of_the_manifest_breaks_the_signature(recorded: Run, built: Built, tmp_path: Path) -> None:
    files = built.members()
    manifest = files["manifest.json"]
    at = manifest.index(b'"duration_s"') + 20  # inside a number: still valid JSON, different content
    files["manifest.json"] = flip(manifest, at)
    report = check(read_package(rezip(files, tmp_path / "m.zip")), installation_pem(recorded), "given")
    v = report.verification
    assert not report.ok and not v.signature_valid
    assert v.problems[0].kind == "signature_invalid" and v.problems[0].path == "manifest.json"
    assert v.altered == ["manifest.json"]


def test_missing_and_extra_files_are_named(recorded: Run, built: Built, tmp_path: Path) -> None:
    files = built.members()
    del files["viewing/rec-1.mp4"]
    files["original/rec-1-edited.mp4"] = b"not evidence"
    v = check(read_package(rezip(files, tmp_path / "x.zip")), installation_pem(recorded), "given").verification
    assert v.signature_valid
    assert {(p.kind, p.path) for p in v.problems} == {
        ("file_missing", "viewing/rec-1.mp4"),
        ("unexpected_file", "original/rec-1-edited.mp4"),
    }


def test_another_key_fails(recorded: Run, built: Built) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    v = check(read_package(built.path), pem, "given").verification
    assert not v.ok and not v.signature_valid
    assert [p.kind for p in v.problems] == ["signature_invalid", "key_mismatch"]


def test_cli_verify_exit_codes_and_json(recorded: Run, built: Built, tmp_path: Path) -> None:
    runner = CliRunner()
    key = tmp_path / "published.pem"
    key.write_bytes(installation_pem(recorded))
    empty = tmp_path / "no-installation"
    r = runner.invoke(cli, ["evidence", "verify", str(built.path), "--key", str(key), "--data-dir", str(empty)])
    assert r.exit_code == 0, r.output
    assert "VERIFIED" in r.output and CASE in r.output
    r = runner.invoke(cli, ["evidence", "verify", str(built.path), "--json", "--data-dir", str(empty)])
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["ok"] and out["trust"] == "package" and "INSIDE" in out["warning"]
    assert out["trusted_key_id"] == recorded.system.signing_key.public().key_id
    files = built.members()
    files["original/rec-1.mp4"] = flip(files["original/rec-1.mp4"], 5000)
    bad = rezip(files, tmp_path / "bad.zip")
    r = runner.invoke(cli, ["evidence", "verify", str(bad), "--key", str(key), "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["altered"] == ["original/rec-1.mp4"]
    r = runner.invoke(cli, ["evidence", "verify", str(bad), "--key", str(key)])
    assert r.exit_code == 1 and "original/rec-1.mp4" in r.output and "NOT VERIFIED" in r.output
    # the installation's own key is trusted when there is one and no --key
    r = runner.invoke(
        cli, ["evidence", "verify", str(built.path), "--data-dir", str(recorded.system.settings.data_dir)]
    )
    assert r.exit_code == 0 and "this installation's key" in r.output
    r = runner.invoke(cli, ["evidence", "verify", str(key), "--key", str(key)])
    assert r.exit_code == 2 and "neither a zip" in r.output
    r = runner.invoke(cli, ["evidence", "key", "--data-dir", str(recorded.system.settings.data_dir)])
    assert r.exit_code == 0 and recorded.system.signing_key.public().key_id in r.output
    assert "BEGIN PUBLIC KEY" in r.output


def test_export_is_audited_locked_and_downloads_audited(recorded: Run, built: Built) -> None:
    audit = recorded.system.audit
    entry = audit.search(Scope.national(), action="evidence.export", target_id=built.export["id"])[0]
    assert entry.actor == "yk.investigator" and entry.region == "KG-Y"
    d = entry.detail
    assert d["cameras"] == ["rec-1"] and d["case_number"] == CASE and d["legal_basis_id"] == built.basis_id
    assert built.basis_id in d["legal_basis"] and d["legal_basis"].endswith(BASIS)
    assert d["reason"] == "robbery near the Karakol stop" and d["start"].startswith(iso(built.start)[:19])
    downloads = audit.search(Scope.national(), action="evidence.download", target_id=built.export["id"])
    assert downloads and downloads[0].actor == "yk.investigator"
    locks = audit.search(Scope.national(), action="evidence.lock", target_id="rec-1")
    assert any(x.detail.get("case_number") == CASE for x in locks), [x.detail for x in locks]


def test_scope_roles_and_bad_requests(recorded: Run, built: Built) -> None:
    system = recorded.system
    if not any(u.username == "ch.investigator" for u in system.users.list()):
        system.users.create("test", "ch.investigator", "correct-horse-battery", "investigator", "KG-C")
    ch = recorded.client("ch.investigator")
    eid = built.export["id"]
    assert ch.get(f"/api/evidence/exports/{eid}").status_code == 403
    assert ch.get(f"/api/evidence/exports/{eid}/package").status_code == 403
    assert eid not in [e["id"] for e in ch.get("/api/evidence/exports").json()]
    denied = system.audit.search(Scope.national(), action="access.denied", target_id=eid)
    assert {d.actor for d in denied} == {"ch.investigator"} and len(denied) == 2
    assert ch.get("/api/evidence/exports/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    m = recorded.marks
    inv = recorded.client("investigator")
    body = {
        "cameras": ["rec-1"],
        "start": iso(m["start"] + 2),
        "end": iso(m["start"] + 4),
        "case_number": "C-1",
        "legal_basis_id": register_basis(inv, "C-1", regions=("KG-Y",)),
        "legal_basis": "court order 5",
    }
    r = ch.post("/api/evidence/exports", json=body)
    assert r.status_code == 403 and "region" in r.json()["detail"]
    assert (
        system.audit.search(Scope.national(), action="access.denied", target_id="rec-1")[0].actor == "ch.investigator"
    )
    # roles: an operator may watch but not export evidence; an auditor neither
    assert recorded.client("yk.operator").post("/api/evidence/exports", json=body).status_code == 403
    assert recorded.client("auditor").get("/api/evidence/exports").status_code == 403
    r = inv.post("/api/evidence/exports", json=body | {"start": iso(m["start"] - 7200), "end": iso(m["start"] - 7000)})
    assert r.status_code == 404 and "recorded nothing" in r.json()["detail"]
    # a registered legal basis is mandatory: a free-text reason alone is refused, saying what to supply
    for missing in ({"legal_basis_id": None}, {"legal_basis_id": ""}):
        r = inv.post("/api/evidence/exports", json=body | missing)
        assert r.status_code == 422 and "legal_basis_id" in r.json()["detail"] and "KG-Y" in r.json()["detail"]
        assert "register one" in r.json()["detail"]
    r = inv.post("/api/evidence/exports", json=body | {"legal_basis": "x" * 501})
    assert r.status_code == 422
    r = inv.post("/api/evidence/exports", json=body | {"cameras": [f"c{i}" for i in range(17)]})
    assert r.status_code == 422
    r = inv.post("/api/evidence/exports", json=body | {"start": body["end"], "end": body["start"]})
    assert r.status_code == 422 and "before" in r.json()["detail"]
    assert inv.post("/api/evidence/exports", json=body | {"cameras": ["nope"]}).status_code == 404


def test_two_regions_in_one_package_are_seen_only_nationally(recorded: Run) -> None:
    m = recorded.marks
    admin = recorded.client("admin")
    body = {
        "cameras": ["rec-1", "rec-2"],
        "start": iso(m["restore"] + 4),
        "end": iso(m["restore"] + 6),
        "case_number": "C-2/2026",
        "legal_basis_id": register_basis(admin, "C-2/2026"),  # the whole country: both regions
        "legal_basis": "prosecutor's request 77",
    }
    r = admin.post("/api/evidence/exports", json=body)
    assert r.status_code == 202, r.text
    got = wait_ready(recorded, admin, r.json()["id"])
    assert got["status"] == "ready", got
    assert {c["id"]: c["region"] for c in got["cameras"]} == {"rec-1": "KG-Y", "rec-2": "KG-C"}
    inv = recorded.client("investigator")
    assert got["id"] not in [e["id"] for e in inv.get("/api/evidence/exports").json()]
    assert inv.get(f"/api/evidence/exports/{got['id']}").status_code == 403
    pkg = admin.get(got["download"]).content
    with zipfile.ZipFile(io.BytesIO(pkg)) as zf:
        names = set(zf.namelist())
    assert {"original/rec-1.mp4", "original/rec-2.mp4", "viewing/rec-1.mp4", "viewing/rec-2.mp4"} <= names


def test_verify_endpoint_names_the_altered_file(recorded: Run, built: Built, tmp_path: Path) -> None:
    c = recorded.client("auditor")  # any signed-in user may check a package handed to them
    r = c.post("/api/evidence/verify", files={"package": ("p.zip", built.zip_bytes, "application/zip")})
    assert r.status_code == 200 and r.json()["ok"] and r.json()["trust"] == "installation"
    files = built.members()
    files["viewing/rec-1.mp4"] = flip(files["viewing/rec-1.mp4"], 777)
    bad = rezip(files, tmp_path / "bad.zip").read_bytes()
    r = c.post("/api/evidence/verify", files={"package": ("bad.zip", bad, "application/zip")})
    assert r.status_code == 200 and not r.json()["ok"] and r.json()["altered"] == ["viewing/rec-1.mp4"]
    r = c.post("/api/evidence/verify", files={"package": ("x.zip", b"hello", "application/zip")})
    assert r.status_code == 422 and "zip" in r.json()["detail"]
    assert recorded.client().post("/api/evidence/verify", files={"package": ("p.zip", b"x")}).status_code == 401
    checks = recorded.system.audit.search(Scope.national(), action="evidence.verify")
    assert [x.detail["ok"] for x in checks[:2]] == [False, True]


def test_readme_recipe_verifies_with_openssl(recorded: Run, built: Built, tmp_path: Path) -> None:
    """The README tells a court's expert how to check the package without Koopsuz: it must work."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    with zipfile.ZipFile(io.BytesIO(built.zip_bytes)) as zf:
        zf.extractall(tmp_path)
    readme = (tmp_path / "README.txt").read_text()
    assert built.export["key_id"] in readme and CASE in readme
    (tmp_path / "manifest.sig.bin").write_bytes(
        __import__("base64").b64decode((tmp_path / "manifest.sig").read_bytes())
    )
    cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin"]
    ok = subprocess.run(
        [*cmd, "-in", "manifest.json", "-sigfile", "manifest.sig.bin"], cwd=tmp_path, capture_output=True
    )
    assert ok.returncode == 0 and b"Verified Successfully" in ok.stdout
    (tmp_path / "manifest.json").write_bytes((tmp_path / "manifest.json").read_bytes().replace(b"rec-1", b"rec-7"))
    bad = subprocess.run(
        [*cmd, "-in", "manifest.json", "-sigfile", "manifest.sig.bin"], cwd=tmp_path, capture_output=True
    )
    assert bad.returncode != 0


def test_cli_export_builds_a_package_that_verifies(recorded: Run, tmp_path: Path) -> None:
    runner = CliRunner()
    m = recorded.marks
    data = str(recorded.system.settings.data_dir)
    out = tmp_path / "cli.zip"
    system = recorded.system
    if not any(u.username == "ch.investigator" for u in system.users.list()):  # test_scope_roles... may have
        system.users.create("test", "ch.investigator", "correct-horse-battery", "investigator", "KG-C")
    ch = system.users.authenticate("ch.investigator", "correct-horse-battery")
    args = ["evidence", "export", "--camera", "rec-2", "--case", "CLI-9/2026", "--basis", "order 9", "--data-dir", data]
    when = ["--start", iso(m["start"] + 3), "--end", iso(m["start"] + 6)]
    r = runner.invoke(cli, [*args, *when, "--user", "ch.investigator"])
    assert r.exit_code == 2 and "--basis-id" in r.output  # a registered basis is required here too
    args += ["--basis-id", register_basis_for(system, ch, "CLI-9/2026")]
    r = runner.invoke(cli, [*args, *when, "--user", "ch.investigator", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "ready" in r.output
    r = runner.invoke(cli, ["evidence", "verify", str(out), "--data-dir", data, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["case"]["number"] == "CLI-9/2026"
    # the same scope as the API: an Issyk-Kul investigator cannot export a Chuy camera
    r = runner.invoke(cli, [*args, *when, "--user", "yk.investigator"])
    assert r.exit_code == 1 and "outside your region" in r.output
    r = runner.invoke(cli, [*args, "--start", "yesterday", "--end", iso(m["start"]), "--user", "yk.investigator"])
    assert r.exit_code == 2 and "ISO 8601" in r.output
