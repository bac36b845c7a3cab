"""Masks in live view, playback and snapshots; lifting them only with a basis and a second officer."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime, timedelta

import av
import cv2
import numpy as np

from koopsuz.security.principal import SYSTEM, Scope
from tests.legal_helpers import register_basis
from tests.privacy.conftest import Masked
from tests.recording.conftest import wait_until


def picture(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def quarter_is_solid(img: np.ndarray) -> bool:
    """The top-left quarter (inset by a few pixels, JPEG edges) is one flat black."""
    h, w = img.shape[:2]
    q = img[2 : h // 2 - 6, 2 : w // 2 - 6].astype(int)
    return q.max() <= 16 and q.std() < 2.0


def frame(c, cam: str = "pm-1") -> tuple[np.ndarray, str]:  # type: ignore[no-untyped-def]
    r = c.get(f"/api/cameras/{cam}/frame.jpg")
    assert r.status_code == 200, r.text
    return picture(r.content), r.headers.get("X-Privacy-Masked", "")


def basis(c, purposes: list[str], minutes_valid: float = 600, regions: list[str] | None = None) -> str:  # type: ignore[no-untyped-def]
    body = {
        "case_number": f"UD-{time.time_ns() % 10**9}",
        "kind": "court_order",
        "authority": "Karakol city court",
        "document_ref": "order 12/2026",
        "purposes": purposes,
        "regions": regions if regions is not None else ["KG-Y"],
        "valid_until": (datetime.now(UTC) + timedelta(minutes=minutes_valid)).isoformat(),
    }
    r = c.post("/api/legal-bases", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def audit_actions(m: Masked, action: str) -> list:  # type: ignore[type-arg]
    return m.system.audit.search(Scope.national(), action=action)


def test_live_frame_masked_for_everyone_without_a_grant(masked: Masked) -> None:
    op = masked.client("regional_operator")
    img, flag = frame(op)
    assert flag == "1" and quarter_is_solid(img)
    h, w = img.shape[:2]
    assert img[h // 2 + 5 :, w // 2 + 5 :].std() > 5  # the rest of the picture is the picture
    # two viewers of the same frame share one masked JPEG
    worker = masked.system.ingest.worker("pm-1")
    assert worker is not None
    f = worker.latest()
    cam = masked.system.registry.camera(SYSTEM, "pm-1")
    assert worker.masked_jpeg(f, cam.privacy_masks) is worker.masked_jpeg(f, cam.privacy_masks)
    # the MJPEG stream is masked too
    with op.stream("GET", "/api/cameras/pm-1/live.mjpeg") as r:
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            start, end = buf.find(b"\xff\xd8"), buf.find(b"\xff\xd9")
            if start >= 0 and end > start:
                break
    assert quarter_is_solid(picture(buf[start : end + 2]))


def test_request_approval_use_revocation_and_expiry(masked: Masked) -> None:
    inv, head, op = masked.client("investigator"), masked.client("regional_head"), masked.client("regional_operator")
    good = basis(inv, ["unmask"])
    wrong_purpose = basis(inv, ["watchlist"])
    ask = {"legal_basis_id": good, "reason": "burglary reported through this window", "minutes": 30}
    # refusals: no permission, no basis, wrong purpose, another region's officer
    assert op.post("/api/cameras/pm-1/unmask", json=ask).status_code == 403
    r = inv.post("/api/cameras/pm-1/unmask", json={"reason": "x" * 5})
    assert r.status_code == 422 and "legal_basis_id" in r.text
    r = inv.post("/api/cameras/pm-1/unmask", json=ask | {"legal_basis_id": wrong_purpose})
    assert r.status_code == 403 and "unmask" in r.json()["detail"]
    assert inv.post("/api/cameras/pm-1/unmask", json=ask | {"minutes": 24 * 60 + 1}).status_code == 422
    ch = masked.client("ch.investigator")
    assert ch.post("/api/cameras/pm-1/unmask", json=ask).status_code == 403
    denied = [e for e in audit_actions(masked, "access.denied") if e.actor == "ch.investigator"]
    assert any(e.target_id == "pm-1" for e in denied)
    # the request, then the second officer
    r = inv.post("/api/cameras/pm-1/unmask", json=ask)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["state"] == "pending" and grant["requested_by"] == "yk.investigator"
    assert frame(inv)[1] == "1"  # pending is not granted
    r = inv.post(f"/api/unmask/{grant['id']}/approve", json={})
    assert r.status_code == 403  # investigators hold no approve permission at all
    assert op.post(f"/api/unmask/{grant['id']}/approve", json={}).status_code == 403
    r = masked.client("ch.head").post(f"/api/unmask/{grant['id']}/approve", json={})
    assert r.status_code == 403  # another region's head cannot lift this region's mask
    assert any(e.actor == "ch.head" for e in audit_actions(masked, "access.denied"))
    r = head.post(f"/api/unmask/{grant['id']}/approve", json={"note": "checked the order"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active" and r.json()["decided_by"] == "yk.head"
    # the requester sees the picture; everyone else still the mask
    img, flag = frame(inv)
    assert flag == "0" and not quarter_is_solid(img)
    frame(inv)
    assert quarter_is_solid(frame(op)[0]) and quarter_is_solid(frame(head)[0])
    uses = [e for e in audit_actions(masked, "privacy.unmask.use") if e.detail["grant"] == grant["id"]]
    assert len(uses) == 1 and uses[0].actor == "yk.investigator"  # first use per grant and session
    listed = head.get("/api/unmask", params={"state": "active"}).json()
    assert [g["id"] for g in listed] == [grant["id"]]
    assert masked.client("ch.head").get("/api/unmask").json() == []  # scoped
    # the recorded footage is served as recorded to the grant holder
    assert inv.get("/api/cameras/pm-1/timeline").json()["privacy"]["masked"] is False
    assert inv.get("/api/cameras/pm-1/playback.m3u8").status_code == 200
    assert op.get("/api/cameras/pm-1/playback.m3u8").status_code == 403
    # revoked: masked again at once
    r = head.post(f"/api/unmask/{grant['id']}/revoke", json={"reason": "case closed"})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    img, flag = frame(inv)
    assert flag == "1" and quarter_is_solid(img)
    # expiry: a grant cannot outlive its legal basis, which here ends in a few seconds
    short = basis(inv, ["unmask"], minutes_valid=0.1)
    g2 = inv.post("/api/cameras/pm-1/unmask", json=ask | {"legal_basis_id": short}).json()
    assert head.post(f"/api/unmask/{g2['id']}/approve", json={}).status_code == 200
    assert not quarter_is_solid(frame(inv)[0])
    wait_until(lambda: frame(inv)[1] == "1", 10, "the grant to expire with its basis")
    assert quarter_is_solid(frame(inv)[0])
    assert head.get("/api/unmask", params={"camera": "pm-1", "state": "expired"}).json()[0]["id"] == g2["id"]
    actions = {e.action for e in masked.system.audit.search(Scope.national()) if e.action.startswith("privacy.")}
    assert actions >= {
        "privacy.unmask.request",
        "privacy.unmask.approve",
        "privacy.unmask.use",
        "privacy.unmask.revoke",
    }


def test_self_approval_refused_and_rejection(masked: Masked) -> None:
    admin = masked.client("admin")  # admin holds both permissions: still not its own second officer
    b = basis(admin, ["unmask"], regions=[])
    r = admin.post("/api/cameras/pm-2/unmask", json={"legal_basis_id": b, "reason": "suspect at a window"})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    r = admin.post(f"/api/unmask/{gid}/approve", json={})
    assert r.status_code == 403 and "second officer" in r.json()["detail"]
    r = masked.client("ch.head").post(f"/api/unmask/{gid}/reject", json={"note": "not proportionate"})
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert quarter_is_solid(frame(admin, "pm-2")[0])
    assert audit_actions(masked, "privacy.unmask.reject")


def test_playback_refused_raw_and_offered_masked(masked: Masked) -> None:
    op = masked.client("regional_operator")
    tl = op.get("/api/cameras/pm-1/timeline")
    assert tl.status_code == 200 and tl.json()["privacy"]["masked"] is True
    r = op.get("/api/cameras/pm-1/playback.m3u8")
    assert r.status_code == 403 and "masked.mp4" in r.json()["detail"]
    assert op.get("/api/cameras/pm-1/segments/1.m4s").status_code == 403
    end = datetime.now(UTC)
    params = {"start": (end - timedelta(seconds=6)).isoformat(), "end": end.isoformat()}
    assert (
        op.get(
            "/api/cameras/pm-1/masked.mp4",
            params={"start": (end - timedelta(minutes=11)).isoformat(), "end": end.isoformat()},
        ).status_code
        == 422
    )
    r = op.get("/api/cameras/pm-1/masked.mp4", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["X-Privacy-Masked"] == "1"
    frames = 0
    with av.open(io.BytesIO(r.content)) as f:
        for fr in f.decode(video=0):
            y = fr.to_ndarray(format="gray")
            h, w = y.shape
            q = y[2 : h // 2 - 3, 2 : w // 2 - 3].astype(int)
            assert q.max() <= 24 and q.std() < 2.5, (q.max(), q.std())
            assert y[h // 2 + 5 :, w // 2 + 5 :].std() > 5
            frames += 1
    assert frames >= 15
    assert r.headers["content-disposition"].startswith("inline")  # watched in the page, not offered as a file
    views = [e for e in audit_actions(masked, "playback.view") if e.detail.get("masked")]
    assert views and views[0].actor == "yk.operator"
    # taking the masked copy away is an export: the export permission and a basis allowing it
    assert op.get("/api/cameras/pm-1/masked.mp4", params=params | {"download": "true"}).status_code == 403
    inv = masked.client("investigator")
    r = inv.get("/api/cameras/pm-1/masked.mp4", params=params | {"download": "true"})
    assert r.status_code == 422 and "legal_basis_id" in r.text
    unmask_only = basis(inv, ["unmask"])
    r = inv.get("/api/cameras/pm-1/masked.mp4", params=params | {"download": "true", "legal_basis_id": unmask_only})
    assert r.status_code == 403
    allowed = basis(inv, ["export"])
    r = inv.get("/api/cameras/pm-1/masked.mp4", params=params | {"download": "true", "legal_basis_id": allowed})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    taken = [e for e in audit_actions(masked, "playback.export") if e.detail.get("masked")]
    assert [(e.actor, e.detail["legal_basis_id"]) for e in taken] == [("yk.investigator", allowed)]


def test_stored_snapshots_are_masked(masked: Masked) -> None:
    media = masked.system.settings.media_dir.resolve()

    def snapshots() -> list:  # type: ignore[type-arg]
        return sorted((media / "snapshots" / "pm-1").rglob("*.jpg"))

    found = wait_until(snapshots, 20, "a motion snapshot of pm-1")
    img = picture(found[0].read_bytes())
    assert quarter_is_solid(img)


def test_patch_sets_masks_audited(masked: Masked) -> None:
    admin = masked.client("admin")
    new = [[[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]]
    r = admin.patch("/api/cameras/pm-2", json={"privacy_masks": [*new, [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]]})
    assert r.status_code == 200, r.text
    assert r.json()["privacy_masks"][0] == new[0]
    entry = next(e for e in audit_actions(masked, "camera.privacy_masks") if e.actor == "admin")
    assert entry.target_id == "pm-2" and entry.detail["after"][0] == new[0]
    assert entry.detail["before"] == [[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]]
    assert admin.patch("/api/cameras/pm-2", json={"privacy_masks": [[[0, 0], [2, 0], [0, 1]]]}).status_code == 422


def test_evidence_viewing_copy_masked_original_sealed(masked: Masked) -> None:
    inv = masked.client("investigator")  # no unmask grant at this point (earlier ones revoked or expired)
    end = datetime.now(UTC) - timedelta(seconds=1)
    body = {
        "cameras": ["pm-1"],
        "start": (end - timedelta(seconds=5)).isoformat(),
        "end": end.isoformat(),
        "case_number": "UD-7/2026",
        "legal_basis_id": register_basis(inv, "UD-7/2026", regions=("KG-Y",)),
        "legal_basis": "court order 7/2026",
        "reason": "window of a flat on the square",
    }
    r = inv.post("/api/evidence/exports", json=body)
    assert r.status_code == 202, r.text
    got = wait_until(
        lambda: (x := inv.get(f"/api/evidence/exports/{r.json()['id']}").json())["status"] != "building" and x,
        60,
        "the evidence package",
    )
    assert got["status"] == "ready", got
    members = zipfile.ZipFile(io.BytesIO(inv.get(got["download"]).content))
    names = members.namelist()

    def top_left(name: str) -> list[tuple[int, float]]:
        out = []
        with av.open(io.BytesIO(members.read(name))) as f:
            for i, fr in enumerate(f.decode(video=0)):
                if i % 10 == 5:
                    y = fr.to_ndarray(format="gray")
                    h, w = y.shape
                    q = y[h // 8 : h // 2 - 6, 2 : w // 2 - 6].astype(int)  # below the watermark band
                    out.append((int(q.max()), float(q.std())))
        return out

    viewing = top_left(next(n for n in names if n.startswith("viewing/")))
    original = top_left(next(n for n in names if n.startswith("original/")))
    assert viewing and all(mx <= 24 and sd < 2.5 for mx, sd in viewing), viewing
    assert all(sd > 5 for _, sd in original), original  # the sealed original is what was recorded
