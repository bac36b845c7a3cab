"""plate reads, hotlists and their entries, average-speed sections

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 18:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plate_reads",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("text", sa.String(length=24), nullable=False),
        sa.Column("compact", sa.String(length=24), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("plate_region", sa.String(length=8), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("vehicle", sa.String(length=16), nullable=True),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("track", sa.String(length=26), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plate_reads_region", "plate_reads", ["region"])
    op.create_index("ix_plate_reads_compact", "plate_reads", ["compact"])
    op.create_index("ix_plate_reads_camera_ts", "plate_reads", ["camera", "ts"])
    op.create_index("ix_plate_reads_ts", "plate_reads", ["ts"])
    op.create_table(
        "hotlists",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hotlists_region", "hotlists", ["region"])
    op.create_table(
        "hotlist_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hotlist_id", sa.String(length=26), nullable=False),
        sa.Column("text", sa.String(length=24), nullable=False),
        sa.Column("compact", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_by", sa.String(length=64), nullable=True),
        sa.Column("removed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["hotlist_id"], ["hotlists.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hotlist_entries_hotlist_id", "hotlist_entries", ["hotlist_id"])
    op.create_index("ix_hotlist_entries_compact", "hotlist_entries", ["compact"])
    op.create_table(
        "speed_sections",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("entry_camera", sa.String(length=64), nullable=False),
        sa.Column("exit_camera", sa.String(length=64), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("limit_kmh", sa.Float(), nullable=False),
        sa.Column("tolerance_kmh", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_speed_sections_region", "speed_sections", ["region"])


def downgrade() -> None:
    op.drop_index("ix_speed_sections_region", table_name="speed_sections")
    op.drop_table("speed_sections")
    op.drop_index("ix_hotlist_entries_compact", table_name="hotlist_entries")
    op.drop_index("ix_hotlist_entries_hotlist_id", table_name="hotlist_entries")
    op.drop_table("hotlist_entries")
    op.drop_index("ix_hotlists_region", table_name="hotlists")
    op.drop_table("hotlists")
    for ix in ("ts", "camera_ts", "compact", "region"):
        op.drop_index(f"ix_plate_reads_{ix}", table_name="plate_reads")
    op.drop_table("plate_reads")
