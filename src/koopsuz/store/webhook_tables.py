"""Tables of the alert webhooks (migration 0015): kept beside ``tables.py`` on the same metadata.

A subscription's ``region`` is None for a national one (every region) or one region's code: the
dispatcher sends a regional subscription only that region's alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from koopsuz.store.tables import Base


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))  # HMAC key: kept readable, the signature needs it
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)  # event kinds, e.g. ["alert"]
    rule_kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)  # alert kinds; [] = every one
    min_severity: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook", "webhook", "id"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # the delivery id the receiver sees
    webhook: Mapped[str] = mapped_column(String(26))
    event_id: Mapped[str] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
