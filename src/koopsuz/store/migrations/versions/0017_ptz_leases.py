"""PTZ control leases in the store, so that they hold across API processes

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 01:10:00

One row per camera: who steers it until when, and the patrol tour they run (store/ptz_leases.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ptz_leases",
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("tour", sa.String(length=26), nullable=True),
        sa.PrimaryKeyConstraint("camera"),
    )


def downgrade() -> None:
    op.drop_table("ptz_leases")
