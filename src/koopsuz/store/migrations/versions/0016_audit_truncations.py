"""audit retention: signed truncation anchors; the log may lose its oldest entries only up to one

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 01:30:00

The audit log is append-only (0001, 0011). Retention (issue 8) must still be able to delete entries
older than the policy's ``audit`` days, without leaving a way to delete anything else. So a DELETE
is allowed only on entries at or before the newest row of ``audit_truncations``: the anchor, written
in the same transaction, that records the last removed entry's seq and hash, how many went, and the
installation key's signature over that. Every other UPDATE, DELETE or TRUNCATE is still refused, and
the anchors themselves are append-only. A forged anchor (inserted by hand to unlock a delete) fails
``koopsuz audit verify``: it is not signed by the installation.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
    IF OLD.seq <= (SELECT COALESCE(MAX(upto_seq), 0) FROM audit_truncations) THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only (entries go only up to a signed truncation anchor)';
END $$
"""
_PG_OLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
)


def upgrade() -> None:
    op.create_table(
        "audit_truncations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("upto_seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("oldest_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("newest_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("truncated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("upto_seq"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "WHEN OLD.seq > (SELECT COALESCE(MAX(upto_seq), 0) FROM audit_truncations) "
            "BEGIN SELECT RAISE(ABORT, "
            "'audit_log is append-only (entries go only up to a signed truncation anchor)'); END"
        )
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_truncations_no_{verb.lower()} BEFORE {verb} ON audit_truncations "
                "BEGIN SELECT RAISE(ABORT, 'audit_truncations is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE FUNCTION audit_truncations_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_truncations is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_truncations_append_only BEFORE UPDATE OR DELETE ON audit_truncations "
            "FOR EACH ROW EXECUTE FUNCTION audit_truncations_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_truncations_no_truncate BEFORE TRUNCATE ON audit_truncations "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_truncations_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_truncations_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_truncations_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    elif dialect == "postgresql":
        op.execute(_PG_OLD_FUNCTION)
        op.execute("DROP TRIGGER IF EXISTS audit_truncations_no_truncate ON audit_truncations")
        op.execute("DROP TRIGGER IF EXISTS audit_truncations_append_only ON audit_truncations")
        op.execute("DROP FUNCTION IF EXISTS audit_truncations_append_only()")
    op.drop_table("audit_truncations")
