"""legal bases and face watchlists (entries, photos with embeddings)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 17:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "legal_bases",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("document_ref", sa.String(length=200), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_until", TS, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoke_reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_legal_bases_case_number", "legal_bases", ["case_number"])
    op.create_table(
        "watchlists",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watchlists_region", "watchlists", ["region"])
    op.create_table(
        "watchlist_entries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("watchlist_id", sa.String(length=26), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("legal_basis_id", sa.String(length=26), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["watchlist_id"], ["watchlists.id"]),
        sa.ForeignKeyConstraint(["legal_basis_id"], ["legal_bases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watchlist_entries_watchlist_id", "watchlist_entries", ["watchlist_id"])
    op.create_index("ix_watchlist_entries_region", "watchlist_entries", ["region"])
    op.create_index("ix_watchlist_entries_legal_basis_id", "watchlist_entries", ["legal_basis_id"])
    op.create_table(
        "watchlist_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=26), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["watchlist_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watchlist_photos_entry_id", "watchlist_photos", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_watchlist_photos_entry_id", table_name="watchlist_photos")
    op.drop_table("watchlist_photos")
    for ix in ("legal_basis_id", "region", "watchlist_id"):
        op.drop_index(f"ix_watchlist_entries_{ix}", table_name="watchlist_entries")
    op.drop_table("watchlist_entries")
    op.drop_index("ix_watchlists_region", table_name="watchlists")
    op.drop_table("watchlists")
    op.drop_index("ix_legal_bases_case_number", table_name="legal_bases")
    op.drop_table("legal_bases")
