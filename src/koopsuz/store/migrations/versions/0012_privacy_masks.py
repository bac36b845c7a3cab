"""privacy masks per camera, and unmask grants (request, second officer's approval, expiry)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("privacy_masks", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "unmask_grants",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("legal_basis_id", sa.String(length=26), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoke_reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["legal_basis_id"], ["legal_bases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for col in ("camera", "region", "requested_by"):
        op.create_index(f"ix_unmask_grants_{col}", "unmask_grants", [col])


def downgrade() -> None:
    for col in ("camera", "region", "requested_by"):
        op.drop_index(f"ix_unmask_grants_{col}", table_name="unmask_grants")
    op.drop_table("unmask_grants")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("privacy_masks")
