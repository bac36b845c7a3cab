"""The live feed: events and camera health over one WebSocket, filtered by the caller's scope.

Every frame is a JSON array of one or more messages (``{"type": "event", ...}``,
``{"type": "health", ...}``): whatever waited in the socket's queue goes out as one frame, so a
busy centre gets few large frames instead of thousands of small ones. The fan-out itself (one bus
subscription per region for the whole process, each event encoded once, sockets indexed by region)
is ``api/feed_hub.py``; scope is applied there twice (region subjects, and the event's region
against the key it came under). A client too slow to keep up is disconnected (close 4408) rather
than allowed to grow an unbounded queue; it reconnects and reloads the list from the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from koopsuz.api.deps import client_ip, principal_of
from koopsuz.api.feed_hub import FeedClient, FeedHub, encode_message
from koopsuz.api.routers.events import event_json
from koopsuz.domain.events import Event
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.registry import CONFIG_KIND
from koopsuz.system import System

router = APIRouter(tags=["live"])
MAX_QUEUE = 1000  # messages waiting for one socket before it counts as too slow
MAX_FRAME = 500  # messages in one frame at most (keeps a browser's parse of one frame short)


def _encode_event(e: Event) -> str:
    return encode_message({"type": "event", "event": event_json(e)})


def _skip(e: Event) -> bool:
    return e.kind == CONFIG_KIND  # the ingest supervisor's messages, not the operators'


def feed_hub(app: FastAPI, system: System) -> FeedHub:
    """The app's hub for the running event loop (a test client may run the app on a new loop)."""
    loop = asyncio.get_running_loop()
    hub: FeedHub | None = getattr(app.state, "feed_hub", None)
    if hub is None or hub.loop is not loop:
        if hub is not None:
            hub.close()
        hub = FeedHub(system.bus, loop, _encode_event, _skip)
        app.state.feed_hub = hub
    return hub


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
    hub = feed_hub(ws.app, system)
    client = FeedClient(who.scope, MAX_QUEUE)
    try:
        await hub.attach(client)
    except Exception as exc:  # the bus (JetStream) refused the subscription: say so; the page retries
        await hub.detach(client)
        await ws.close(code=1011, reason=f"live feed unavailable ({type(exc).__name__}); retrying")
        return
    health_task = asyncio.create_task(_health_loop(system, who, client))
    # the client's side of the socket is read too, so a disconnect (or the server shutting down)
    # ends this handler at once instead of at the next message it would have sent
    closed = asyncio.create_task(_until_closed(ws))
    closed.add_done_callback(lambda _t: client.close())
    try:
        while True:
            frame = await client.next_frame(MAX_FRAME)
            if frame is None:
                if client.too_slow:
                    await ws.close(code=4408, reason="client too slow; reconnect")
                return
            await ws.send_text(frame)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await hub.detach(client)
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


async def _health_loop(system: System, who: Principal, client: FeedClient) -> None:
    last: dict[str, dict[str, Any]] = {}
    while True:
        cams = await asyncio.to_thread(system.registry.cameras, who)
        for row, _site in cams:
            # a region's camera copied to the capital: the health its region last reported, not this
            # node's ingest's ("disabled": it never pulls that stream); map pins follow these messages
            h = (
                system.remote_health.health(row.id, row.owner_domain)
                if row.owner_domain
                else system.ingest.health(row.id)
            )
            key = {k: h.get(k) for k in ("state", "since", "reconnects", "error", "stale")}
            prev = last.get(row.id)
            if prev is None or prev["key"] != key or prev["fps"] != h["fps"]:
                last[row.id] = {"key": key, "fps": h["fps"]}
                client.offer(encode_message({"type": "health", "camera": row.id, "health": h}))
        await asyncio.sleep(1.0)
