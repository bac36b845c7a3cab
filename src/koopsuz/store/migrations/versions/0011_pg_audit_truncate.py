"""PostgreSQL: the audit log refuses TRUNCATE too

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 17:30:00

Row triggers (0001) refuse UPDATE and DELETE, but PostgreSQL's TRUNCATE fires no row trigger: one
statement would empty the log. A statement-level trigger closes that. SQLite has no TRUNCATE (its
``DELETE FROM`` without WHERE fires the row trigger), so nothing changes there.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
