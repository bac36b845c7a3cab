"""line counts: crossings per line rule, hour, class and direction (backfilled from events)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:20:00
"""

import json
from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "line_counts",
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cls", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("camera", "rule", "hour", "cls", "direction"),
    )
    op.create_index("ix_line_counts_region", "line_counts", ["region"])
    rows = op.get_bind().execute(
        sa.text("SELECT camera, region, ts, payload FROM events WHERE kind = 'track_crossed'")
    )
    counts: Counter[tuple[str, str, str, str, str, datetime]] = Counter()
    for camera, region, ts, payload in rows:
        p = json.loads(payload) if isinstance(payload, str) else payload
        ts = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        hour = datetime.fromtimestamp(int(ts.timestamp() // 3600) * 3600, UTC)
        counts[camera, region, str(p.get("rule")), str(p.get("class")), str(p.get("direction")), hour] += 1
    if counts:
        op.bulk_insert(
            table,
            [
                {"camera": c, "region": r, "rule": rule, "cls": cls, "direction": d, "hour": h, "count": n}
                for (c, r, rule, cls, d, h), n in counts.items()
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_line_counts_region", table_name="line_counts")
    op.drop_table("line_counts")
