"""National hotlists carried from the capital to every regional node (issue 9, regions).

A plate put on a national list (stolen, wanted) must make every region's cameras alert, also a
region whose line to the capital is down when the change is made: it must get the change when the
line returns, without anyone sending it again. The capital's process runs
:class:`NationalHotlistPublisher`: it reads the national lists (``region`` null) and their entries
from the national store and puts each one's current state, as JSON, under its own key in the hub's
``KOOPSUZ_NATIONAL`` stream (bus/federation.py ``NationalState``: last value per key; a regional
leaf's stream sources it). A regional process runs :class:`NationalHotlistFollower`: when its copy of
the stream moves, it reads every value and writes them into the regional store, then tells the road
watch (``HotlistService.listeners``) to reload. Regional operators see the national lists read-only,
as they do today (a national list is changed by national officers only).

Why state and not a log of commands: replaying "add"/"remove" in order across cuts, restarts and a
region added later is what JetStream's last-value-per-key stream gives for free; each entry's key
holds what it is now (removed entries included: removal keeps the row), so applying is idempotent.

Entry ids: the regional store numbers its own lists' entries; a national entry is stored there
under the negated national id (``-id``), a range autoincrement never reaches, so the two never
collide and a change to a national entry finds its regional row without a new column.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from koopsuz.bus.federation import NationalState
from koopsuz.services.legal_basis import utc
from koopsuz.services.state_follower import StateFollower
from koopsuz.store.db import Database
from koopsuz.store.tables import HotlistEntryRow, HotlistRow

log = logging.getLogger(__name__)
PREFIX = "hotlist"
_LIST_FIELDS = ("name", "kind", "priority", "description", "created_by")
_ENTRY_FIELDS = ("text", "compact", "reason", "legal_basis", "created_by", "removed_by")
_ENTRY_TIMES = ("expires_at", "created_at", "removed_at")


def national_state(db: Database) -> dict[str, bytes]:
    """Key -> JSON of every national list and every entry on one, as the national store has them now."""
    out: dict[str, bytes] = {}
    with db.session() as s:
        lists = list(s.execute(select(HotlistRow).where(HotlistRow.region.is_(None))).scalars())
        ids = [r.id for r in lists]
        entries = list(s.execute(select(HotlistEntryRow).where(HotlistEntryRow.hotlist_id.in_(ids))).scalars())
    for r in lists:
        body = {k: getattr(r, k) for k in _LIST_FIELDS} | {"id": r.id, "created_at": _iso(r.created_at)}
        out[f"{PREFIX}.{r.id}"] = json.dumps(body, sort_keys=True).encode()
    for e in entries:
        body = {k: getattr(e, k) for k in _ENTRY_FIELDS} | {k: _iso(getattr(e, k)) for k in _ENTRY_TIMES}
        body |= {"id": e.id, "hotlist_id": e.hotlist_id}
        out[f"{PREFIX}.{e.hotlist_id}.{e.id}"] = json.dumps(body, sort_keys=True).encode()
    return out


def apply_national(db: Database, values: dict[str, bytes]) -> int:
    """Write the national lists and entries into a regional store; returns how many rows changed."""
    lists, entries = [], []
    for key, raw in values.items():
        parts = key.split(".")
        if parts[0] != PREFIX or len(parts) not in (2, 3):
            continue
        try:
            (lists if len(parts) == 2 else entries).append(json.loads(raw))
        except ValueError:
            log.warning("national hotlists: key %s holds no JSON; skipped", key)
    changed = 0
    with db.transaction() as s:
        for body in lists:
            row = s.get(HotlistRow, body["id"])
            if row is not None and row.region is not None:
                log.error("national hotlists: %s is a regional list here; not overwritten", body["id"])
                continue
            fields = {k: body[k] for k in _LIST_FIELDS}
            if row is None:
                s.add(HotlistRow(id=body["id"], region=None, created_at=_time(body["created_at"]), **fields))
                changed += 1
            elif any(getattr(row, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(row, k, v)
                changed += 1
        s.flush()  # the lists exist before their entries point at them
        for body in entries:
            parent = s.get(HotlistRow, body["hotlist_id"])
            if parent is None or parent.region is not None:
                continue  # its list's value has not arrived yet (the next pass has it), or not a national list
            fields = {k: body[k] for k in _ENTRY_FIELDS} | {k: _time(body[k]) for k in _ENTRY_TIMES}
            row = s.get(HotlistEntryRow, -int(body["id"]))
            if row is None:
                s.add(HotlistEntryRow(id=-int(body["id"]), hotlist_id=body["hotlist_id"], **fields))
                changed += 1
            elif any(_same(getattr(row, k)) != _same(v) for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(row, k, v)
                changed += 1
    return changed


class NationalHotlistPublisher:
    """In the capital: keep the hub's national state equal to the national store's lists (polled, so a
    change made by any API process is carried; a key is put again only when its value changed)."""

    def __init__(self, db: Database, state: NationalState, *, interval_s: float = 1.0) -> None:
        self._db, self._state, self._interval = db, state, interval_s
        self._sent: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="national-hotlists-out", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._state.ensure_hub()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def publish_changes(self) -> int:
        now = national_state(self._db)
        changed = {k: v for k, v in now.items() if self._sent.get(k) != v}
        self._state.put_many(changed)  # raises if the hub did not take them: they stay unsent
        self._sent.update(changed)
        return len(changed)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_changes()
            except Exception as exc:
                self.failures += 1
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("national hotlists: could not publish (%r); retrying", exc)
            self._stop.wait(self._interval)


class NationalHotlistFollower(StateFollower):
    """In a region: when the sourced copy moves, write the national lists into this node's store and
    tell ``on_change`` (the road watch reloads its plate index)."""

    def __init__(
        self,
        db: Database,
        state: NationalState,
        hub_domain: str,
        on_change: Callable[[], None] = lambda: None,
        *,
        interval_s: float = 1.0,
    ) -> None:
        super().__init__("national-hotlists-in", "national hotlists: the capital's lists", interval_s)
        self._db, self._state, self._hub = db, state, hub_domain
        self._on_change = on_change
        self.revision = -1  # of the regional copy last applied
        self.applied = 0

    def _link(self) -> None:
        self._state.ensure_region(self._hub)  # the leaf's JetStream may start after us

    def sync(self) -> bool:
        """Apply the regional copy if it moved since the last time; True if the store changed."""
        rev = self._state.revision()
        if rev == self.revision:
            return False
        n = apply_national(self._db, self._state.read(PREFIX))
        self.revision = rev
        self.applied += n
        if n:
            self._on_change()
        return n > 0


def _iso(t: datetime | None) -> str | None:
    return None if t is None else utc(t).isoformat()


def _time(v: Any) -> datetime | None:
    return None if v is None else utc(datetime.fromisoformat(v))


def _same(v: Any) -> Any:
    return utc(v) if isinstance(v, datetime) else v
