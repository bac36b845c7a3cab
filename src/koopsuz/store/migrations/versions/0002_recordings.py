"""recordings: sessions, segments and gaps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_sessions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dir", sa.String(length=300), nullable=False),
        sa.Column("init_path", sa.String(length=300), nullable=False),
        sa.Column("init_sha256", sa.String(length=64), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("end_cause", sa.String(length=32), nullable=True),
        sa.Column("end_detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_sessions_camera"), ["camera"], unique=False)
        batch_op.create_index(batch_op.f("ix_recording_sessions_region"), ["region"], unique=False)

    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("session", sa.String(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("flags", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["session"], ["recording_sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.create_index("ix_recording_segments_camera_start", ["camera", "start"], unique=False)
        batch_op.create_index("ix_recording_segments_session_seq", ["session", "seq"], unique=True)

    op.create_table(
        "recording_gaps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording_gaps", schema=None) as batch_op:
        batch_op.create_index("ix_recording_gaps_camera_start", ["camera", "start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recording_gaps", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_gaps_camera_start")
    op.drop_table("recording_gaps")
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_segments_session_seq")
        batch_op.drop_index("ix_recording_segments_camera_start")
    op.drop_table("recording_segments")
    with op.batch_alter_table("recording_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_sessions_region"))
        batch_op.drop_index(batch_op.f("ix_recording_sessions_camera"))
    op.drop_table("recording_sessions")
