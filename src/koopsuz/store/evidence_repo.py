"""Evidence export packages and their cameras: rows in, rows out, scope as a query filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from koopsuz.security.principal import Scope
from koopsuz.store.tables import EvidenceExportItemRow, EvidenceExportRow


class EvidenceRepo:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, row: EvidenceExportRow, items: Sequence[EvidenceExportItemRow]) -> None:
        self.s.add(row)
        self.s.flush()
        self.s.add_all(items)

    def get(self, export_id: str) -> EvidenceExportRow | None:
        return self.s.get(EvidenceExportRow, export_id)

    def items(self, export_ids: Sequence[str]) -> dict[str, list[EvidenceExportItemRow]]:
        out: dict[str, list[EvidenceExportItemRow]] = {i: [] for i in export_ids}
        if not export_ids:
            return out
        q = (
            select(EvidenceExportItemRow)
            .where(EvidenceExportItemRow.export_id.in_(list(export_ids)))
            .order_by(EvidenceExportItemRow.id)
        )
        for r in self.s.execute(q).scalars():
            out[r.export_id].append(r)
        return out

    def list(self, scope: Scope, limit: int = 200) -> Sequence[EvidenceExportRow]:
        """Newest first; with a regional scope, only exports none of whose cameras lie outside it."""
        q = select(EvidenceExportRow).order_by(EvidenceExportRow.created_at.desc(), EvidenceExportRow.id.desc())
        if scope.regions is not None:
            outside = select(EvidenceExportItemRow.export_id).where(
                EvidenceExportItemRow.region.not_in(sorted(scope.regions))
            )
            q = q.where(EvidenceExportRow.id.not_in(outside))
        return self.s.execute(q.limit(limit)).scalars().all()

    def building(self) -> Sequence[str]:
        q = select(EvidenceExportRow.id).where(EvidenceExportRow.status == "building")
        return self.s.execute(q).scalars().all()

    def finish(self, export_id: str, **values: Any) -> bool:
        """Set the outcome, only while the export is still building (never overwrite a finished one)."""
        q = (
            update(EvidenceExportRow)
            .where(EvidenceExportRow.id == export_id, EvidenceExportRow.status == "building")
            .values(**values)
        )
        return bool(self.s.execute(q).rowcount)  # type: ignore[attr-defined]

    def update_item(self, item_id: int, **values: Any) -> None:
        self.s.execute(update(EvidenceExportItemRow).where(EvidenceExportItemRow.id == item_id).values(**values))
