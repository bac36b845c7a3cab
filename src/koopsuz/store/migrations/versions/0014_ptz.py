"""PTZ: the ONVIF address of a PTZ camera, and patrol tours (presets with dwell times)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("onvif_url", sa.String(length=500), nullable=True))
    op.create_table(
        "ptz_tours",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ptz_tours_camera", "ptz_tours", ["camera"])


def downgrade() -> None:
    op.drop_index("ix_ptz_tours_camera", table_name="ptz_tours")
    op.drop_table("ptz_tours")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("onvif_url")
