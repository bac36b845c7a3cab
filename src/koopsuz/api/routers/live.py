"""Live view of a camera's sub stream: MJPEG for an <img>, or the newest frame as one JPEG.

MJPEG needs no player and adds no buffering: each part is the newest decoded frame, so the
picture is as fresh as ingest is. Every live view is audited (who watched which camera, when).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from koopsuz.api.deps import PrincipalDep, SystemDep, client_ip
from koopsuz.security.principal import Permission
from koopsuz.video.worker import CameraWorker

router = APIRouter(prefix="/api/cameras", tags=["live"])
BOUNDARY = "koopsuzframe"


def _worker(system, who, camera_id: str, request: Request, action: str) -> CameraWorker:  # type: ignore[no-untyped-def]
    row = system.registry.camera(who, camera_id, Permission.LIVE_VIEW)
    system.audit.record(
        who, action, target_type="camera", target_id=camera_id, region=row.region, ip=client_ip(request)
    )
    worker = system.ingest.worker(camera_id)
    if worker is None:
        raise HTTPException(409, f"camera {camera_id!r} is disabled or not ingested on this node")
    return worker


@router.get("/{camera_id}/frame.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def frame(camera_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> Response:
    worker = _worker(system, who, camera_id, request, "live.frame")
    latest = worker.latest() or worker.wait_frame(0, 3.0)
    if latest is None:
        raise HTTPException(503, f"no frame from camera {camera_id!r} yet: it is {worker.health.state}")
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Seq": str(latest.seq),
        "X-Captured-At": latest.captured_at.isoformat(),
    }
    return Response(worker.jpeg(latest), media_type="image/jpeg", headers=headers)


@router.get("/{camera_id}/live.mjpeg")
def live(camera_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> StreamingResponse:
    worker = _worker(system, who, camera_id, request, "live.view")
    interval = 1.0 / system.settings.live_fps

    def parts() -> Iterator[bytes]:
        seq = 0
        next_t = 0.0
        while worker.alive:
            f = worker.wait_frame(seq, 2.0)
            if f is None:
                continue
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
                f = worker.latest() or f
            next_t = time.monotonic() + interval
            seq = f.seq
            jpeg = worker.jpeg(f)
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
