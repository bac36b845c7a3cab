"""road: vehicle-class limits on sections; cameras calibrated for spot speed

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("speed_sections") as batch:
        batch.add_column(sa.Column("class_limits", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "spot_cameras",
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("image_points", sa.JSON(), nullable=False),
        sa.Column("road_points", sa.JSON(), nullable=False),
        sa.Column("camera_height_m", sa.Float(), nullable=False),
        sa.Column("plate_height_m", sa.Float(), nullable=False),
        sa.Column("limit_kmh", sa.Float(), nullable=False),
        sa.Column("tolerance_kmh", sa.Float(), nullable=False),
        sa.Column("class_limits", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("camera"),
    )
    op.create_index("ix_spot_cameras_region", "spot_cameras", ["region"])


def downgrade() -> None:
    op.drop_index("ix_spot_cameras_region", table_name="spot_cameras")
    op.drop_table("spot_cameras")
    with op.batch_alter_table("speed_sections") as batch:
        batch.drop_column("class_limits")
