"""Plate reads: stored with their event, searched by plate, pattern or near miss, drawn as a route.

Every ``plate_read`` event is also a row in ``plate_reads``, written by the event writer's
projection in the same transaction, so the search table and the event feed never disagree.
Searches are region-scoped and audited (``plates.search``: who, what, which range, why); a range
reaching further back than ``short_window`` needs a legal basis allowing ``plate_search`` in every
region searched, because a plate's reads over weeks are a person's movements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from koopsuz.domain.events import Event
from koopsuz.domain.legal import Purpose
from koopsuz.domain.plates import edit_distance, parse_plate, plate_pattern, search_key
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid
from koopsuz.services.legal_basis import LegalBasisService, utc
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, PlateReadRow

MAX_RANGE = timedelta(days=92)
SCAN_LIMIT = 500_000  # rows looked at for a pattern or near-miss search
RESULT_LIMIT = 1000


def project_plate_reads(session: Session, events: Sequence[Event]) -> None:
    """The event writer's projection: one row per ``plate_read`` event, same id, same transaction."""
    for e in events:
        if e.kind != "plate_read" or not e.camera:
            continue
        p = e.payload
        session.add(
            PlateReadRow(
                id=e.id,
                camera=e.camera,
                region=e.region,
                ts=e.ts,
                text=str(p.get("text", ""))[:24],
                compact=str(p.get("compact") or search_key(str(p.get("text", ""))))[:24],
                format=str(p.get("format", ""))[:16],
                plate_region=p.get("plate_region"),
                confidence=float(p.get("confidence") or 0.0),
                vehicle=p.get("vehicle"),
                colour=p.get("colour"),
                direction=p.get("direction"),
                track=p.get("track"),
                lane=str(p["lane"])[:16] if p.get("lane") else None,
            )
        )


def read_json(r: PlateReadRow, cam: CameraRow | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "camera": r.camera,
        "region": r.region,
        "ts": utc(r.ts).isoformat(),
        "text": r.text,
        "format": r.format,
        "plate_region": r.plate_region,
        "confidence": round(r.confidence, 3),
        "vehicle": r.vehicle,
        "colour": r.colour,
        "direction": r.direction,
        "lane": r.lane,
        "snapshot": f"/api/events/{r.id}/snapshot.jpg",
        "plate_image": f"/api/events/{r.id}/plate.jpg",
    }
    if cam is not None:
        out |= {"camera_name": cam.name, "lat": cam.lat, "lon": cam.lon}
    return out


class PlateSearchService:
    def __init__(
        self, db: Database, audit: AuditLog, legal: LegalBasisService, *, short_window: timedelta = timedelta(hours=24)
    ) -> None:
        self._db = db
        self._audit = audit
        self._legal = legal
        self.short_window = short_window

    def search(
        self,
        who: Principal,
        *,
        plate: str | None = None,
        pattern: str | None = None,
        near: str | None = None,
        max_distance: int = 1,
        start: datetime | None = None,
        end: datetime | None = None,
        legal_basis_id: str | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Reads of a plate (exact), a pattern (``01 ??? A*``) or a near miss (edit distance)."""
        if not who.can(Permission.PLATES_SEARCH):
            raise Forbidden(f"role {who.role} may not search plate reads")
        given = [x for x in (plate, pattern, near) if x]
        if len(given) != 1:
            raise Invalid("give exactly one of plate, pattern or near")
        if not 0 <= max_distance <= 3:
            raise Invalid("max_distance is 0..3")
        now = datetime.now(UTC)
        end = utc(end) if end else now
        start = utc(start) if start else end - self.short_window
        if end <= start or end - start > MAX_RANGE:
            raise Invalid("to must be after from, and at most 92 days later")
        basis = None
        if start < now - self.short_window:
            for region in sorted(who.scope.regions) if who.scope.regions else [None]:
                basis = self._legal.require(who, legal_basis_id, Purpose.PLATE_SEARCH, region)
        q = select(PlateReadRow).where(PlateReadRow.ts >= start, PlateReadRow.ts < end)
        if not who.scope.is_national:
            q = q.where(PlateReadRow.region.in_(who.scope.regions or ()))
        how: dict[str, Any]
        if plate:
            key = _key(plate)
            q = q.where(PlateReadRow.compact == key).limit(RESULT_LIMIT)
            how = {"plate": key}
            test = None
        elif pattern:
            try:
                rx = plate_pattern(pattern)
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            q = q.limit(SCAN_LIMIT)
            how = {"pattern": pattern}

            def test(c: str) -> bool:
                return rx.fullmatch(c) is not None
        else:
            key = _key(near or "")
            q = q.limit(SCAN_LIMIT)
            how = {"near": key, "max_distance": max_distance}

            def test(c: str) -> bool:
                return edit_distance(key, c, limit=max_distance) <= max_distance
        with self._db.session() as s:
            found = s.execute(q.order_by(PlateReadRow.ts.desc())).scalars()
            rows = [r for r in found if test is None or test(r.compact)][:RESULT_LIMIT]
            cam_q = select(CameraRow).where(CameraRow.id.in_({r.camera for r in rows}))
            cams = {c.id: c for c in s.execute(cam_q).scalars()}
        self._audit.record(
            who,
            "plates.search",
            target_type="plate",
            target_id=how.get("plate") or how.get("near") or how.get("pattern"),
            region=who.region,
            detail=how
            | {"from": start.isoformat(), "to": end.isoformat(), "results": len(rows), "reason": reason[:500]}
            | {"legal_basis": basis.id if basis else None},
        )
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "legal_basis_id": basis.id if basis else None,
            "reads": [read_json(r, cams.get(r.camera)) for r in rows],
        }

    def route(self, who: Principal, plate: str, **kw: Any) -> dict[str, Any]:
        """One plate's reads oldest first with the cameras' positions: its route on the map."""
        found = self.search(who, plate=plate, **kw)
        found["reads"].reverse()
        found["route"] = [[r["lat"], r["lon"]] for r in found["reads"] if r.get("lat") is not None]
        return found


def _key(text: str) -> str:
    p = parse_plate(text, free_text=True)
    key = p.compact if p else search_key(text)
    if len(key) < 4:
        raise Invalid(f"{text!r} is too short to be a plate")
    return key
