"""Camera rule sets, alert feedback and line counts, region-scoped like everything else."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from koopsuz.store.tables import AlertFeedbackRow, CameraRulesRow, LineCountRow


class RuleRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- rule sets --------------------------------------------------------------------------
    def rules(self, camera: str) -> CameraRulesRow | None:
        return self.s.get(CameraRulesRow, camera)

    def all_rules(self) -> dict[str, list[Any]]:
        return {r.camera: list(r.rules or []) for r in self.s.execute(select(CameraRulesRow)).scalars()}

    def save_rules(self, camera: str, region: str, rules: list[dict[str, Any]], actor: str) -> CameraRulesRow:
        row = self.s.get(CameraRulesRow, camera)
        if row is None:
            row = CameraRulesRow(camera=camera)
            self.s.add(row)
        row.region, row.rules, row.updated_at, row.updated_by = region, rules, datetime.now(UTC), actor
        return row

    # -- feedback ---------------------------------------------------------------------------
    def save_feedback(self, row: AlertFeedbackRow) -> AlertFeedbackRow:
        return self.s.merge(row)

    def feedback_for(self, event_ids: Sequence[str]) -> dict[str, AlertFeedbackRow]:
        if not event_ids:
            return {}
        q = select(AlertFeedbackRow).where(AlertFeedbackRow.event_id.in_(list(event_ids)))
        return {r.event_id: r for r in self.s.execute(q).scalars()}

    def verdicts(self, scope: Scope, camera: str | None = None) -> list[tuple[str | None, str | None, str, int]]:
        """(camera, rule, verdict, n) within scope."""
        f = AlertFeedbackRow
        q = select(f.camera, f.rule, f.verdict, func.count()).group_by(f.camera, f.rule, f.verdict)
        if not scope.is_national:
            q = q.where(f.region.in_(scope.regions or ()))
        if camera:
            q = q.where(f.camera == camera)
        return [(c, r, v, int(n)) for c, r, v, n in self.s.execute(q).all()]

    # -- counts -----------------------------------------------------------------------------
    def add_crossings(self, events: Sequence[Event]) -> None:
        """Count the batch's ``track_crossed`` events into ``line_counts`` (one writer: no upsert race)."""
        batch: Counter[tuple[str, str, str, str, datetime, str]] = Counter()
        for e in events:
            if e.kind == "track_crossed" and e.camera:
                p = e.payload
                hour = datetime.fromtimestamp(int(e.ts.timestamp() // 3600) * 3600, UTC)
                key = (e.camera, str(p.get("rule")), str(p.get("class")), str(p.get("direction")), hour, e.region)
                batch[key] += 1
        for (camera, rule, cls, direction, hour, region), n in batch.items():
            row = self.s.get(LineCountRow, (camera, rule, hour, cls, direction))
            if row is None:
                row = LineCountRow(camera=camera, rule=rule, hour=hour, cls=cls, direction=direction, region=region)
                row.count = 0
                self.s.add(row)
            row.count += n

    def line_counts(self, camera: str, start: datetime, end: datetime) -> Counter[tuple[str, int, str, str]]:
        """(rule, hour epoch, class, direction) -> crossings in the hours that start in [start, end)."""
        first = datetime.fromtimestamp(int(start.timestamp() // 3600) * 3600, UTC)
        q = select(LineCountRow).where(
            LineCountRow.camera == camera, LineCountRow.hour >= first, LineCountRow.hour < end
        )
        out: Counter[tuple[str, int, str, str]] = Counter()
        for r in self.s.execute(q).scalars():
            hour = r.hour if r.hour.tzinfo else r.hour.replace(tzinfo=UTC)
            out[r.rule, int(hour.timestamp()), r.cls, r.direction] += r.count
        return out
