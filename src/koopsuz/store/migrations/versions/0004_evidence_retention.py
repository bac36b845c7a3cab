"""evidence locks, signed export packages and retention runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_locks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=False),
        sa.Column("locked_at", TS, nullable=False),
        sa.Column("unlocked_by", sa.String(length=64), nullable=True),
        sa.Column("unlocked_at", TS, nullable=True),
        sa.Column("unlock_reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_locks_case_number", "evidence_locks", ["case_number"])
    op.create_index("ix_evidence_locks_region", "evidence_locks", ["region"])
    op.create_index("ix_evidence_locks_camera_start", "evidence_locks", ["camera", "start"])
    op.create_table(
        "evidence_exports",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_exports_case_number", "evidence_exports", ["case_number"])
    op.create_table(
        "evidence_export_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("export_id", sa.String(length=26), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("file", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["evidence_exports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_export_items_export_id", "evidence_export_items", ["export_id"])
    op.create_index("ix_evidence_export_items_region", "evidence_export_items", ["region"])
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("volume", sa.String(length=300), nullable=False),
        sa.Column("deleted_segments", sa.Integer(), nullable=False),
        sa.Column("deleted_bytes", sa.Integer(), nullable=False),
        sa.Column("deleted_files", sa.Integer(), nullable=False),
        sa.Column("spared_locked", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
    op.drop_index("ix_evidence_export_items_region", table_name="evidence_export_items")
    op.drop_index("ix_evidence_export_items_export_id", table_name="evidence_export_items")
    op.drop_table("evidence_export_items")
    op.drop_index("ix_evidence_exports_case_number", table_name="evidence_exports")
    op.drop_table("evidence_exports")
    op.drop_index("ix_evidence_locks_camera_start", table_name="evidence_locks")
    op.drop_index("ix_evidence_locks_region", table_name="evidence_locks")
    op.drop_index("ix_evidence_locks_case_number", table_name="evidence_locks")
    op.drop_table("evidence_locks")
