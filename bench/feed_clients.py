"""Operator browsers as the benchmarks see them: WebSocket clients of the live feed, one per region or national.

Shared by bench/command.py (alert fan-out) and bench/scale.py (the event path of a country): each
client signs in with a bearer token, notes the arrival of every event its run tagged (``payload.bench``
= the run, ``seq``, ``t0`` = creation time on this machine's clock) and counts any event of another
region (a scope breach) and the server closing it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

REGIONS = ("KG-GB", "KG-GO", "KG-B", "KG-J", "KG-N", "KG-O", "KG-T", "KG-C", "KG-Y")


class Client:
    def __init__(self, name: str, region: str | None, token: str) -> None:
        self.name, self.region, self.token = name, region, token
        self.got: dict[int, tuple[float, float]] = {}  # seq -> (t0, arrival - t0 in s)
        self.foreign = 0  # events of another region (scope breach)
        self.closed: int | None = None  # close code, if the server closed us
        self.frames = 0  # WebSocket frames received (several messages share one when the feed is busy)

    def latency(self, seq: int) -> float | None:
        got = self.got.get(seq)
        return None if got is None else got[1]

    def latencies(self) -> list[float]:
        return [lat for _t0, lat in self.got.values()]


def events_of(raw: str | bytes) -> list[dict[str, Any]]:
    """A frame is a JSON array of messages (one object from a server before 2026-11-26), events in either,
    wrapped (``{"type": "event", "event": ...}``) or bare."""
    msg = json.loads(raw)
    out = []
    for item in msg if isinstance(msg, list) else [msg]:
        if isinstance(item, dict) and item.get("type") == "event" and isinstance(item.get("event"), dict):
            out.append(item["event"])
        elif isinstance(item, dict) and "kind" in item and "region" in item:  # a bare event
            out.append(item)
    return out


async def listen(c: Client, url: str, run: str, stop_at: asyncio.Event, ready: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    headers = {"Authorization": f"Bearer {c.token}"}
    async with connect(url, additional_headers=headers, max_queue=None, ping_interval=None, max_size=None) as ws:
        ready.set()
        try:
            while not stop_at.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                c.frames += 1
                for ev in events_of(raw):
                    p = ev.get("payload") or {}
                    if p.get("bench") != run:
                        continue
                    if c.region is not None and ev["region"] != c.region:
                        c.foreign += 1
                    c.got[p["seq"]] = (p["t0"], now - p["t0"])
        except ConnectionClosed as exc:
            c.closed = exc.rcvd.code if exc.rcvd else -1


async def open_clients(
    port: int, tokens: dict[str | None, str], national: int, per_region: int, run: str, pause_s: float = 0.02
) -> tuple[list[Client], asyncio.Event, list[asyncio.Task[None]]]:
    """``national`` national clients and ``per_region`` per region, connected one after another."""
    url = f"ws://127.0.0.1:{port}/api/ws/events"
    clients = [Client(f"nat-{i}", None, tokens[None]) for i in range(national)]
    clients += [Client(f"{r}-{i}", r, tokens[r]) for r in REGIONS for i in range(per_region)]
    stop_at = asyncio.Event()
    readies = [asyncio.Event() for _ in clients]
    tasks = []
    for c, rd in zip(clients, readies, strict=True):
        tasks.append(asyncio.create_task(listen(c, url, run, stop_at, rd)))
        await asyncio.sleep(pause_s)
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    return clients, stop_at, tasks


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]
