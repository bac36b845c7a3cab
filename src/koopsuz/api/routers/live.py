"""Live view of a camera's sub stream: MJPEG for an <img>, or the newest frame as one JPEG.

MJPEG needs no player and adds no buffering: each part is the newest decoded frame, so the
picture is as fresh as ingest is. Every live view is audited (who watched which camera, when).
A camera's privacy masks are filled for every viewer without an approved unmask grant; the masked
JPEG, like the plain one, is encoded once per frame however many viewers share it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from koopsuz.api.deps import PrincipalDep, SystemDep, client_ip
from koopsuz.domain.events import new_id
from koopsuz.security.principal import Permission
from koopsuz.store.tables import CameraRow
from koopsuz.video.worker import CameraWorker

router = APIRouter(prefix="/api/cameras", tags=["live"])
BOUNDARY = "koopsuzframe"


def _worker(system, who, camera_id: str, request: Request, action: str) -> tuple[CameraWorker, CameraRow]:  # type: ignore[no-untyped-def]
    row = system.registry.camera(who, camera_id, Permission.LIVE_VIEW)
    system.audit.record(
        who, action, target_type="camera", target_id=camera_id, region=row.region, ip=client_ip(request)
    )
    worker = system.ingest.worker(camera_id)
    if worker is None:
        raise HTTPException(409, f"camera {camera_id!r} is disabled or not ingested on this node")
    return worker, row


@router.get("/{camera_id}/frame.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def frame(camera_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> Response:
    worker, row = _worker(system, who, camera_id, request, "live.frame")
    # privacy masks: filled for everyone without an approved unmask grant (services/unmask.py)
    masks = system.unmask.masks_for(who, row, "live.frame", client_ip(request))
    latest = worker.latest() or worker.wait_frame(0, 3.0)
    if latest is None:
        raise HTTPException(503, f"no frame from camera {camera_id!r} yet: it is {worker.health.state}")
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Seq": str(latest.seq),
        "X-Captured-At": latest.captured_at.isoformat(),
    }
    if row.privacy_masks:
        headers["X-Privacy-Masked"] = "1" if masks else "0"
    return Response(worker.masked_jpeg(latest, masks), media_type="image/jpeg", headers=headers)


@router.get("/{camera_id}/live.mjpeg")
def live(camera_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> StreamingResponse:
    worker, row = _worker(system, who, camera_id, request, "live.view")
    interval = 1.0 / system.settings.live_fps
    session, ip = f"live.view:{new_id()}", client_ip(request)

    def parts() -> Iterator[bytes]:
        seq = 0
        next_t = 0.0
        masks, checked = row.privacy_masks, 0.0
        while worker.alive:
            if row.privacy_masks and time.monotonic() - checked >= 1.0:  # a grant expires or is revoked mid-stream
                masks, checked = system.unmask.masks_for(who, row, session, ip), time.monotonic()
            f = worker.wait_frame(seq, 2.0)
            if f is None:
                continue
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
                f = worker.latest() or f
            next_t = time.monotonic() + interval
            seq = f.seq
            jpeg = worker.masked_jpeg(f, masks)
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                f"X-Frame-Seq: {f.seq}\r\nX-Captured-At: {f.captured_at.isoformat()}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )

    return StreamingResponse(
        parts(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )
