"""face observations (policy-limited) and investigators' face searches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "face_observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("track", sa.String(length=26), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("thumb", sa.String(length=300), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_face_observations_region", "face_observations", ["region"])
    op.create_index("ix_face_observations_expires_at", "face_observations", ["expires_at"])
    op.create_index("ix_face_observations_ts", "face_observations", ["ts"])
    op.create_table(
        "face_searches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("legal_basis_id", sa.String(length=26), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("probe_sha256", sa.String(length=64), nullable=False),
        sa.Column("probe_path", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["legal_basis_id"], ["legal_bases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_face_searches_created_by", "face_searches", ["created_by"])


def downgrade() -> None:
    op.drop_index("ix_face_searches_created_by", table_name="face_searches")
    op.drop_table("face_searches")
    for ix in ("ts", "expires_at", "region"):
        op.drop_index(f"ix_face_observations_{ix}", table_name="face_observations")
    op.drop_table("face_observations")
