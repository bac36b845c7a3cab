"""command centres: alert states (claims, escalation), incidents, evidence, notes, history, units, dispatches

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, TS, nullable=nullable)


def _s(name: str, n: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=n), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_states",
        _s("event_id", 26),
        _s("region", 8),
        _ts("alert_ts", False),
        _s("claimed_by", 64, True),
        _ts("claimed_at"),
        _ts("touched_at"),
        _s("first_claimed_by", 64, True),
        _ts("first_claimed_at"),
        _ts("escalated_at"),
        _s("escalated_by", 64, True),
        _s("incident_id", 26, True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_alert_states_region", "alert_states", ["region"])
    op.create_index("ix_alert_states_incident_id", "alert_states", ["incident_id"])
    op.create_table(
        "incidents",
        _s("id", 26),
        _s("region", 8),
        _s("category", 32),
        _s("state", 16),
        _s("source", 16),
        _s("description", 2000),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        _s("caller_name", 200, True),
        _s("caller_phone", 32, True),
        _s("officer", 64, True),
        sa.Column("sop_steps", sa.JSON(), nullable=False),
        sa.Column("sop_done", sa.JSON(), nullable=False),
        _s("created_by", 64),
        _ts("created_at", False),
        _ts("dispatched_at"),
        _ts("on_scene_at"),
        _ts("resolved_at"),
        _ts("closed_at"),
        _ts("escalated_at"),
        _s("escalated_by", 64, True),
        sa.PrimaryKeyConstraint("id"),
    )
    for col in ("region", "state", "created_at"):
        op.create_index(f"ix_incidents_{col}", "incidents", [col])
    op.create_table(
        "incident_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _s("incident_id", 26),
        _s("kind", 16),
        _s("ref", 300),
        sa.Column("detail", sa.JSON(), nullable=False),
        _s("added_by", 64),
        _ts("added_at", False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_evidence_incident_id", "incident_evidence", ["incident_id"])
    op.create_table(
        "incident_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _s("incident_id", 26),
        _s("text", 4000),
        _s("author", 64),
        _ts("ts", False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_notes_incident_id", "incident_notes", ["incident_id"])
    op.create_table(
        "command_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _s("target_type", 16),
        _s("target_id", 32),
        _s("region", 8),
        _ts("ts", False),
        _s("actor", 64),
        _s("action", 32),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_command_log_target_id", "command_log", ["target_id"])
    op.create_table(
        "units",
        _s("id", 32),
        _s("call_sign", 32),
        _s("region", 8),
        _s("status", 16),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        _ts("position_at"),
        _s("incident_id", 26, True),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_units_region", "units", ["region"])
    op.create_index("ix_units_incident_id", "units", ["incident_id"])
    op.create_table(
        "dispatches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _s("incident_id", 26),
        _s("unit_id", 32),
        _s("region", 8),
        _s("sent_by", 64),
        _ts("sent_at", False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("eta_s", sa.Float(), nullable=True),
        _ts("arrived_at"),
        _ts("cleared_at"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dispatches_incident_id", "dispatches", ["incident_id"])
    op.create_index("ix_dispatches_unit_id", "dispatches", ["unit_id"])


def downgrade() -> None:
    for ix in ("incident_id", "unit_id"):
        op.drop_index(f"ix_dispatches_{ix}", table_name="dispatches")
    op.drop_table("dispatches")
    op.drop_index("ix_units_incident_id", table_name="units")
    op.drop_index("ix_units_region", table_name="units")
    op.drop_table("units")
    op.drop_index("ix_command_log_target_id", table_name="command_log")
    op.drop_table("command_log")
    op.drop_index("ix_incident_notes_incident_id", table_name="incident_notes")
    op.drop_table("incident_notes")
    op.drop_index("ix_incident_evidence_incident_id", table_name="incident_evidence")
    op.drop_table("incident_evidence")
    for col in ("region", "state", "created_at"):
        op.drop_index(f"ix_incidents_{col}", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_alert_states_incident_id", table_name="alert_states")
    op.drop_index("ix_alert_states_region", table_name="alert_states")
    op.drop_table("alert_states")
