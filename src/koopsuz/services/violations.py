"""Average-speed violations: review by an officer, the evidence's hashes, the notice, statistics.

Every ``speed_violation`` event (made by ``RoadWatch``) is also a row in ``violations``, written by
the event writer's projection in the event's own transaction, so no violation escapes review. The
projection takes the evidence's fingerprint then, while the pictures are fresh from the camera:

* ``payload_sha256``: sha256 of the event payload's canonical JSON (keys sorted, no spaces, UTF-8);
* ``media_sha256``: sha256 of each picture file (``entry_plate``, ``exit_snapshot``...; None when
  the file was already missing);
* ``evidence_sha256``: sha256 of the canonical JSON ``{"event", "payload", "media", "media_sha256"}``
  (``media`` is the references, clips' intervals included), the one number printed on the notice.

Reading a violation re-hashes payload and files and names what differs, so an edited payload or a
swapped picture shows as ``altered`` and such a violation cannot be confirmed or noticed.

Workflow: ``pending`` -> ``confirmed`` (an officer holding ``violations.review``) or ``rejected``
(with a reason). A confirmation needs intact evidence and camera clocks not known to be wrong:
``clock_trusted`` is False when the event says a camera's clock was untrusted (no confirmation),
None while the system has no clock-offset data (allowed, and the notice says the clocks were not
checked), True only when the event carries a positive check for both cameras. Every review, every
refusal and every notice is audited.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from koopsuz.domain.events import Event
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Conflict, Forbidden, Invalid, NotFound
from koopsuz.services.legal_basis import utc
from koopsuz.services.plate_reads import read_json
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo
from koopsuz.store.tables import (
    CameraRow,
    PlateReadRow,
    SectionPassageRow,
    SpeedSectionRow,
    UserRow,
    ViolationRow,
)
from koopsuz.video.media import MediaError, MediaStore

log = logging.getLogger(__name__)
STATUSES = ("pending", "confirmed", "rejected")
MAX_RANGE = timedelta(days=366)
DEFAULT_RANGE = timedelta(days=30)
LIST_LIMIT = 500
TOP_SECTIONS = 5


def canonical(obj: Any) -> bytes:
    """The one byte form a JSON value is hashed in: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_picture(name: str) -> bool:
    """Media entries that are files; clips are intervals of recorded footage, named by text."""
    return name != "clip" and not name.endswith("_clip")


def evidence_hash(event_id: str, payload: dict[str, Any], media: dict[str, Any], hashes: dict[str, Any]) -> str:
    return sha256(canonical({"event": event_id, "payload": payload, "media": media, "media_sha256": hashes}))


def side_of(payload: dict[str, Any], side: str) -> dict[str, Any]:
    """The payload's ``entry`` or ``exit`` read; empty when missing or malformed."""
    value = payload.get(side)
    return value if isinstance(value, dict) else {}


def clock_trust(payload: dict[str, Any]) -> bool | None:
    """False when the event says either camera's clock was untrusted, True only when both were
    checked and trusted, else None: no clock-offset data, and no measure is invented for it."""
    sides = [side_of(payload, side).get("clock_trusted") for side in ("entry", "exit")]
    overall = payload.get("clock_trusted")
    if overall is False or False in sides:
        return False
    if overall is True or all(s is True for s in sides):
        return True
    return None


class ViolationService:
    def __init__(self, db: Database, audit: AuditLog, media: MediaStore) -> None:
        self._db = db
        self._audit = audit
        self._media = media

    # -- written by the event writer and the road watch --------------------------------------------
    def project(self, session: Session, events: Sequence[Event]) -> None:
        """The event writer's projection: a pending row per ``speed_violation``, same transaction."""
        for e in events:
            if e.kind != "speed_violation":
                continue
            p = json.loads(canonical(e.payload))  # the payload as it will read back from the store
            entry, exit_ = side_of(p, "entry"), side_of(p, "exit")
            hashes = {k: self._file_hash(v) for k, v in sorted(e.media.items()) if is_picture(k)}
            try:
                entry_ts = utc(datetime.fromisoformat(str(entry.get("ts"))))
            except ValueError:  # a malformed event must not fail the writer's batch: shown as is, for review
                entry_ts = e.ts
            session.add(
                ViolationRow(
                    id=e.id,
                    region=e.region,
                    section=str(p.get("section", ""))[:64],
                    plate=str(p.get("plate") or "")[:24],
                    ts=e.ts,
                    entry_ts=entry_ts,
                    entry_camera=str(entry.get("camera") or "")[:64],
                    exit_camera=str(exit_.get("camera") or e.camera or "")[:64],
                    speed_kmh=_num(p.get("speed_kmh")),
                    limit_kmh=_num(p.get("limit_kmh")),
                    tolerance_kmh=_num(p.get("tolerance_kmh")),
                    over_kmh=_num(p.get("over_kmh")),
                    length_m=_num(p.get("length_m")),
                    clock_trusted=clock_trust(p),
                    status="pending",
                    payload_sha256=sha256(canonical(p)),
                    media_sha256=hashes,
                    evidence_sha256=evidence_hash(e.id, p, dict(e.media), hashes),
                    created_at=datetime.now(UTC),
                )
            )

    def count_passage(self, section: str, region: str, ts: datetime) -> None:
        """One vehicle through a section (any speed): the speeding share's denominator, per hour.

        Called by the road watch's one thread, so the read-then-add cannot race another writer.
        """
        hour = datetime.fromtimestamp(int(ts.timestamp() // 3600) * 3600, UTC)
        try:
            with self._db.transaction() as s:
                row = s.get(SectionPassageRow, (section, hour))
                if row is None:
                    row = SectionPassageRow(section=section, hour=hour, region=region, passages=0)
                    s.add(row)
                row.passages += 1
        except Exception:
            log.exception("could not count a passage of section %s", section)

    # -- reading ---------------------------------------------------------------------------------
    def list(
        self, who: Principal, *, status: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        if not who.can(Permission.EVENTS_READ):
            raise Forbidden(f"role {who.role} may not see violations")
        if status is not None and status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}")
        start, end = _range(start, end, DEFAULT_RANGE)
        q = select(ViolationRow).where(ViolationRow.ts >= start, ViolationRow.ts < end)
        if status:
            q = q.where(ViolationRow.status == status)
        if not who.scope.is_national:
            q = q.where(ViolationRow.region.in_(who.scope.regions or ()))
        with self._db.session() as s:
            rows = list(s.execute(q.order_by(ViolationRow.ts.desc()).limit(LIST_LIMIT)).scalars())
            names = _section_names(s, {r.section for r in rows})
        return {"from": start.isoformat(), "to": end.isoformat(),
                "violations": [violation_json(r, names.get(r.section)) for r in rows]}

    def get(self, who: Principal, violation_id: str) -> dict[str, Any]:
        """One violation with its evidence: both reads, pictures, clips and the hashes re-checked."""
        if not who.can(Permission.EVENTS_READ):
            raise Forbidden(f"role {who.role} may not see violations")
        with self._db.session() as s:
            row = self._scoped(s, who, violation_id)
            event = EventRepo(s).get(row.id)
            p = event.payload if event else {}
            read_ids = [side_of(p, side).get("read") for side in ("entry", "exit")]
            read_ids = [i if isinstance(i, str) else None for i in read_ids]
            reads = {r.id: r for r in s.execute(select(PlateReadRow).where(PlateReadRow.id.in_(
                [i for i in read_ids if i]))).scalars()}
            cams = {c.id: c for c in s.execute(select(CameraRow).where(CameraRow.id.in_(
                [row.entry_camera, row.exit_camera]))).scalars()}
            names = _section_names(s, {row.section})
        out = violation_json(row, names.get(row.section))
        out["evidence"] = self.check(row, event)
        out["reads"] = {
            side: read_json(reads[i], cams.get(reads[i].camera)) if i in reads else None
            for side, i in zip(("entry", "exit"), read_ids, strict=True)
        }
        out["pictures"] = {k: f"/api/events/{row.id}/{k}.jpg" for k in (event.media if event else {}) if is_picture(k)}
        out["clips"] = {
            "entry": _clip(row.entry_camera, side_of(p, "entry").get("clip"), row.entry_ts),
            "exit": _clip(row.exit_camera, event.media.get("clip") if event else None, row.ts),
        }
        out["vehicle"], out["colour"] = p.get("vehicle"), p.get("colour")
        out["seconds"] = p.get("seconds")
        # how it was measured (section / spot, spot being the weaker evidence) and which limit applied
        out |= {k: p.get(k) for k in ("method", "evidential_weight", "limit_class", "section_limit_kmh")}
        return out

    def check(self, row: ViolationRow, event: Event | None) -> dict[str, Any]:
        """Re-hash the payload and every picture; ``intact`` only when all match the projection's."""
        problems: list[str] = []
        if event is None:
            return {"intact": False, "problems": ["the violation's event is no longer stored"],
                    "evidence_sha256": row.evidence_sha256, "payload_sha256": row.payload_sha256, "files": {}}
        payload = json.loads(canonical(event.payload))
        if sha256(canonical(payload)) != row.payload_sha256:
            problems.append("payload: altered since the violation was recorded")
        files: dict[str, Any] = {}
        now_hashes: dict[str, Any] = {}
        for name in sorted(set(row.media_sha256) | {k for k in event.media if is_picture(k)}):
            expected = row.media_sha256.get(name)
            now = now_hashes[name] = self._file_hash(event.media.get(name))
            if now == expected:
                state = "ok" if now is not None else "missing_at_capture"
            elif now is None:
                state = "missing"
                problems.append(f"{name}: the file is gone")
            else:
                state = "altered"
                problems.append(f"{name}: the file differs from the one recorded")
            files[name] = {"sha256": expected, "now": now, "state": state}
        if not problems and evidence_hash(row.id, payload, dict(event.media), now_hashes) != row.evidence_sha256:
            problems.append("media references: altered since the violation was recorded")
        return {"intact": not problems, "problems": problems, "evidence_sha256": row.evidence_sha256,
                "payload_sha256": row.payload_sha256, "files": files}

    # -- review ------------------------------------------------------------------------------------
    def confirm(self, who: Principal, violation_id: str) -> dict[str, Any]:
        self._may_review(who, "confirm")
        with self._db.session() as s:
            row = self._scoped(s, who, violation_id)
            event = EventRepo(s).get(row.id)
        refusal = None
        if row.status != "pending":
            refusal = f"violation {violation_id!r} is already {row.status}"
        elif row.clock_trusted is False:
            refusal = "a camera's clock was not trusted at the time: this violation cannot be confirmed; reject it"
        else:
            evidence = self.check(row, event)
            if not evidence["intact"]:
                refusal = "the evidence does not match its hashes (" + "; ".join(evidence["problems"]) + "): reject it"
        if refusal is None and not self._decide(row.id, who, "confirmed", None):
            refusal = f"violation {violation_id!r} was reviewed by someone else meanwhile"
        if refusal is not None:
            self._audit.record(who, "violation.confirm", target_type="violation", target_id=row.id,
                               region=row.region, outcome="refused", detail={"why": refusal})
            raise Conflict(refusal)
        self._audit.record(
            who, "violation.confirm", target_type="violation", target_id=row.id, region=row.region,
            detail={"plate": row.plate, "section": row.section, "speed_kmh": row.speed_kmh,
                    "evidence_sha256": row.evidence_sha256, "clock_trusted": row.clock_trusted},
        )
        return self.get(who, violation_id)

    def reject(self, who: Principal, violation_id: str, reason: Any) -> dict[str, Any]:
        self._may_review(who, "reject")
        with self._db.session() as s:
            row = self._scoped(s, who, violation_id)
        if not isinstance(reason, str) or len(reason.strip()) < 3:
            raise Invalid("give the reason for rejecting (at least 3 characters), e.g. 'plate misread at exit'")
        reason = reason.strip()[:1000]
        if row.status != "pending" or not self._decide(row.id, who, "rejected", reason):
            raise Conflict(f"violation {violation_id!r} is already reviewed")
        self._audit.record(who, "violation.reject", target_type="violation", target_id=row.id, region=row.region,
                           detail={"plate": row.plate, "section": row.section, "reason": reason})
        return self.get(who, violation_id)

    def notice(self, who: Principal, violation_id: str) -> tuple[str, bytes]:
        """The notice of a confirmed violation as a PDF (file name, bytes); audited."""
        from koopsuz.services.violation_notice import render_notice

        self._may_review(who, "print the notice of")
        detail = self.get(who, violation_id)
        if detail["status"] != "confirmed":
            raise Conflict(f"violation {violation_id!r} is {detail['status']}: only a confirmed one has a notice")
        if not detail["evidence"]["intact"]:
            raise Conflict("the evidence no longer matches its hashes: " + "; ".join(detail["evidence"]["problems"]))
        with self._db.session() as s:
            reviewer = s.execute(select(UserRow).where(UserRow.username == detail["reviewed_by"])).scalar()
            cams = {c.id: c.name for c in s.execute(select(CameraRow).where(
                CameraRow.id.in_([detail["entry"]["camera"], detail["exit"]["camera"]]))).scalars()}
        crops: dict[str, Path | None] = {}
        with self._db.session() as s:
            event = EventRepo(s).get(violation_id)
        for side in ("entry", "exit"):
            ref = event.media.get(f"{side}_plate") if event else None
            crops[side] = self._path(ref)
        pdf = render_notice(detail, reviewer_name=reviewer.full_name if reviewer else "", cameras=cams, crops=crops)
        self._audit.record(who, "violation.notice", target_type="violation", target_id=violation_id,
                           region=detail["region"], detail={"plate": detail["plate"],
                                                            "evidence_sha256": detail["evidence_sha256"]})
        return f"notice-{violation_id}.pdf", pdf

    # -- statistics ------------------------------------------------------------------------------
    def stats(self, who: Principal, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        """Per section in scope: passages, violations by status, the speeding share, flow per hour."""
        if not (who.can(Permission.EVENTS_READ) or who.can(Permission.STATS_READ)):
            raise Forbidden(f"role {who.role} may not see road statistics")
        start, end = _range(start, end, timedelta(days=7))
        first_hour = datetime.fromtimestamp(int(start.timestamp() // 3600) * 3600, UTC)
        regions = None if who.scope.is_national else (who.scope.regions or frozenset())
        with self._db.session() as s:
            pq = select(SectionPassageRow).where(SectionPassageRow.hour >= first_hour, SectionPassageRow.hour < end)
            vq = select(ViolationRow.section, ViolationRow.status, func.count()).where(
                ViolationRow.ts >= start, ViolationRow.ts < end).group_by(ViolationRow.section, ViolationRow.status)
            sq = select(SpeedSectionRow)
            if regions is not None:
                pq = pq.where(SectionPassageRow.region.in_(regions))
                vq = vq.where(ViolationRow.region.in_(regions))
                sq = sq.where(SpeedSectionRow.region.in_(regions))
            secs = {r.id: r for r in s.execute(sq).scalars()}
            flow: dict[str, list[list[Any]]] = defaultdict(list)
            passages: dict[str, int] = defaultdict(int)
            for r in s.execute(pq.order_by(SectionPassageRow.hour)).scalars():
                flow[r.section].append([utc(r.hour).isoformat(), r.passages])
                passages[r.section] += r.passages
            counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
            for section, status, n in s.execute(vq):
                counts[section][status] = int(n)
        out = []
        for sid in sorted(set(secs) | set(passages) | set(counts)):
            c = counts[sid]
            speeding = c["pending"] + c["confirmed"]  # a rejected one was not shown to be speeding
            n = passages.get(sid, 0)
            sec = secs.get(sid)
            out.append({
                "section": sid, "name": sec.name if sec else sid, "region": sec.region if sec else None,
                "limit_kmh": sec.limit_kmh if sec else None, "passages": n,
                "violations": sum(c.values()), "pending": c["pending"], "confirmed": c["confirmed"],
                "rejected": c["rejected"], "speeding_share": round(speeding / n, 4) if n else None,
                "per_hour": flow.get(sid, []),
            })
        top = sorted((x for x in out if x["passages"]), key=lambda x: (-x["speeding_share"], -x["violations"]))
        return {"from": start.isoformat(), "to": end.isoformat(), "sections": out,
                "top_sections": [x["section"] for x in top[:TOP_SECTIONS]]}

    # -- internals -------------------------------------------------------------------------------
    def _may_review(self, who: Principal, what: str) -> None:
        if not who.can(Permission.VIOLATIONS_REVIEW):
            raise Forbidden(f"role {who.role} may not {what} violations (needs violations.review)")

    def _scoped(self, s: Session, who: Principal, violation_id: str) -> ViolationRow:
        row = s.get(ViolationRow, violation_id)
        if row is None:
            raise NotFound(f"no violation {violation_id!r}")
        if not who.scope.allows(row.region):
            self._audit.record(who, "access.denied", target_type="violation", target_id=violation_id,
                               region=row.region, outcome="denied")
            raise Forbidden(f"violation {violation_id!r} is outside your region scope")
        s.expunge(row)
        return row

    def _decide(self, violation_id: str, who: Principal, status: str, reason: str | None) -> bool:
        """Pending -> status, only if still pending: two officers at once cannot both decide."""
        with self._db.transaction() as s:
            done = s.execute(
                update(ViolationRow)
                .where(ViolationRow.id == violation_id, ViolationRow.status == "pending")
                .values(status=status, reviewed_by=who.username, reviewed_at=datetime.now(UTC), reason=reason)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def _path(self, ref: Any) -> Path | None:
        if not isinstance(ref, str) or not ref:
            return None
        try:
            p = self._media.path(ref)
        except MediaError:
            return None
        return p if p.is_file() else None

    def _file_hash(self, ref: Any) -> str | None:
        p = self._path(ref)
        if p is None:
            return None
        try:
            return sha256(p.read_bytes())
        except OSError:
            return None


def violation_json(r: ViolationRow, section_name: str | None = None) -> dict[str, Any]:
    return {
        "id": r.id,
        "region": r.region,
        "section": r.section,
        "section_name": section_name or r.section,
        "plate": r.plate,
        "entry": {"camera": r.entry_camera, "ts": utc(r.entry_ts).isoformat()},
        "exit": {"camera": r.exit_camera, "ts": utc(r.ts).isoformat()},
        "speed_kmh": r.speed_kmh,
        "limit_kmh": r.limit_kmh,
        "tolerance_kmh": r.tolerance_kmh,
        "over_kmh": r.over_kmh,
        "length_m": r.length_m,
        "clock_trusted": r.clock_trusted,
        "status": r.status,
        "reviewed_by": r.reviewed_by,
        "reviewed_at": utc(r.reviewed_at).isoformat() if r.reviewed_at else None,
        "reason": r.reason,
        "evidence_sha256": r.evidence_sha256,
        "notice": f"/api/violations/{r.id}/notice.pdf" if r.status == "confirmed" else None,
    }


def _num(value: Any) -> float:
    """A payload number; 0 for anything else, so one malformed event cannot fail the writer's batch."""
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _section_names(s: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {r.id: r.name for r in s.execute(select(SpeedSectionRow).where(SpeedSectionRow.id.in_(ids))).scalars()}


def _clip(camera: str, interval: Any, at: datetime) -> dict[str, Any] | None:
    if not isinstance(interval, str) or "/" not in interval:
        return None
    from urllib.parse import urlencode

    start, end = interval.split("/", 1)
    return {"camera": camera, "start": start, "end": end,
            "page": f"/cameras/{camera}/playback?{urlencode({'start': start, 'end': end, 't': utc(at).isoformat()})}"}


def _range(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    end = utc(end) if end else datetime.now(UTC)
    try:
        start = utc(start) if start else end - default
    except OverflowError:  # 'to' in year 1: the default period would start before the calendar
        raise Invalid("'to' is out of range; use a date between the years 1970 and 2100") from None
    if end <= start or end - start > MAX_RANGE:
        raise Invalid("'to' must be after 'from', and at most 366 days later")
    return start, end
