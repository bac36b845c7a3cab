"""rules: per-camera rule sets and operator feedback on alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_rules",
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("camera"),
    )
    op.create_index("ix_camera_rules_region", "camera_rules", ["region"], unique=False)
    op.create_table(
        "alert_feedback",
        sa.Column("event_id", sa.String(length=26), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_alert_feedback_region", "alert_feedback", ["region"], unique=False)
    op.create_index("ix_alert_feedback_camera_rule", "alert_feedback", ["camera", "rule"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_feedback_camera_rule", table_name="alert_feedback")
    op.drop_index("ix_alert_feedback_region", table_name="alert_feedback")
    op.drop_table("alert_feedback")
    op.drop_index("ix_camera_rules_region", table_name="camera_rules")
    op.drop_table("camera_rules")
