"""regions: sites and cameras copied from a regional centre name their owner (read-only in the capital)

Revision ID: 0021
Revises: 0018
Create Date: 2026-11-26 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"  # 0019 and 0020 were reserved for work that needed no migration
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("sites", "cameras"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_domain", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("cameras", "sites"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("owner_domain")
