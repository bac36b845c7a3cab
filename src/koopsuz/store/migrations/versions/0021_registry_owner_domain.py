"""regions: sites and cameras copied from a regional centre name their owner (read-only in the capital)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26 04:00:00
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0021"
# 0019 and 0020 were handed to other work landing at the same time as this one: follow the newest that
# is present, so the chain stays whole whichever lands first (a fresh store runs them all in order).
_here = Path(__file__).parent
down_revision = next(r for r in ("0020", "0019", "0018") if any(_here.glob(f"{r}_*.py")))
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
