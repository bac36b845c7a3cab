"""The live feed: events and camera health over one WebSocket, filtered by the caller's scope.

The scope is applied twice: the bus subscription is on the caller's region subjects only
(``koopsuz.*.<region>.>``), and every message is checked again before it is sent. A client too slow
to keep up is disconnected rather than allowed to grow an unbounded queue; it reconnects and
reloads the list from the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from koopsuz.api.deps import client_ip, principal_of
from koopsuz.api.routers.events import event_json
from koopsuz.domain.events import Event
from koopsuz.security.principal import Permission
from koopsuz.services.registry import CONFIG_KIND
from koopsuz.system import System

router = APIRouter(tags=["live"])
MAX_QUEUE = 1000


@router.websocket("/api/ws/events")
async def events_feed(ws: WebSocket) -> None:
    who = principal_of(ws)
    if who is None:
        await ws.close(code=4401, reason="sign in first")
        return
    if not who.can(Permission.EVENTS_READ):
        await ws.close(code=4403, reason=f"role {who.role} may not read events")
        return
    system: System = ws.app.state.system
    await ws.accept()
    system.audit.record(who, "live.feed", target_type="feed", region=who.region, ip=client_ip(ws))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def on_event(_subject: str, e: Event) -> None:
        if e.kind == CONFIG_KIND or not who.scope.allows(e.region):
            return
        msg = {"type": "event", "event": event_json(e)}
        loop.call_soon_threadsafe(_offer, queue, msg)

    patterns = ["koopsuz.>"] if who.scope.is_national else [f"koopsuz.*.{r}.>" for r in sorted(who.scope.regions or ())]
    subs = [system.bus.subscribe(p, on_event) for p in patterns]
    health_task = asyncio.create_task(_health_loop(system, who, queue))
    # the client's side of the socket is read too, so a disconnect (or the server shutting down)
    # ends this handler at once instead of at the next message it would have sent
    closed = asyncio.create_task(_until_closed(ws))
    try:
        while True:
            getter = asyncio.create_task(queue.get())
            done, _pending = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                getter.cancel()
                return
            msg = getter.result()
            if msg is None:
                await ws.close(code=4408, reason="client too slow; reconnect")
                return
            await ws.send_text(json.dumps(msg, ensure_ascii=False))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for s in subs:
            s.close()
        for task in (health_task, closed):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _until_closed(ws: WebSocket) -> None:
    """Returns when the client goes away; anything it sends is ignored (the feed is one-way)."""
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return


def _offer(queue: asyncio.Queue[dict[str, Any] | None], msg: dict[str, Any]) -> None:
    if queue.qsize() >= MAX_QUEUE:
        queue.put_nowait(None)
    else:
        queue.put_nowait(msg)


async def _health_loop(system: System, who, queue: asyncio.Queue[dict[str, Any] | None]) -> None:  # type: ignore[no-untyped-def]
    last: dict[str, dict[str, Any]] = {}
    while True:
        cams = await asyncio.to_thread(system.registry.cameras, who)
        for row, _site in cams:
            h = system.ingest.health(row.id)
            key = {k: h[k] for k in ("state", "since", "reconnects", "error")}
            prev = last.get(row.id)
            if prev is None or prev["key"] != key or prev["fps"] != h["fps"]:
                last[row.id] = {"key": key, "fps": h["fps"]}
                _offer(queue, {"type": "health", "camera": row.id, "health": h})
        await asyncio.sleep(1.0)
