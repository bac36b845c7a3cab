"""speed violations under review (status, reviewer, evidence hashes); passages per section and hour

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("section", sa.String(length=64), nullable=False),
        sa.Column("plate", sa.String(length=24), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("entry_ts", TS, nullable=False),
        sa.Column("entry_camera", sa.String(length=64), nullable=False),
        sa.Column("exit_camera", sa.String(length=64), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column("limit_kmh", sa.Float(), nullable=False),
        sa.Column("tolerance_kmh", sa.Float(), nullable=False),
        sa.Column("over_kmh", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("clock_trusted", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("media_sha256", sa.JSON(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for col in ("region", "section", "ts", "status"):
        op.create_index(f"ix_violations_{col}", "violations", [col])
    op.create_table(
        "section_passages",
        sa.Column("section", sa.String(length=64), nullable=False),
        sa.Column("hour", TS, nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("passages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("section", "hour"),
    )
    op.create_index("ix_section_passages_region", "section_passages", ["region"])


def downgrade() -> None:
    op.drop_index("ix_section_passages_region", table_name="section_passages")
    op.drop_table("section_passages")
    for col in ("region", "section", "ts", "status"):
        op.drop_index(f"ix_violations_{col}", table_name="violations")
    op.drop_table("violations")
