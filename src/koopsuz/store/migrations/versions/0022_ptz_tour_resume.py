"""PTZ leases: which process runs a tour, its step, when it is next due and its failures in a row

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26 04:00:00

So that a tour whose API process died is resumed by another one at the step after the last one done,
a stale runner of the same tour stops, and a tour on a failing camera backs off (store/ptz_leases.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ptz_leases") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due", sa.Float(), nullable=True))
        batch.add_column(sa.Column("fails", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ptz_leases") as batch:
        for column in ("fails", "due", "step", "runner"):
            batch.drop_column(column)
