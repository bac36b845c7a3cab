"""road cameras' lanes, and the lane of each plate read

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26 04:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("lanes", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("plate_reads") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plate_reads") as batch:
        batch.drop_column("lane")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("lanes")
