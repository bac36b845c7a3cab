"""Alert webhooks (issue 7): subscriptions and their delivery logs (``cameras.write``, region scope, audited).

The secret is taken at creation and never returned; a regional caller would see and change its own
region's subscriptions only (today only admins, who are national, hold ``cameras.write``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from koopsuz.api.deps import SystemDep, client_ip, require
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.webhook_probe import WebhookProbe

router = APIRouter(prefix="/api/webhooks", tags=["notifications"])
Admin = Annotated[Principal, Depends(require(Permission.CAMERAS_WRITE))]


@router.get("")
def list_webhooks(who: Admin, system: SystemDep) -> list[dict[str, Any]]:
    return system.webhooks.list(who)


@router.post("", status_code=201)
def create_webhook(
    who: Admin,
    system: SystemDep,
    body: Annotated[
        dict[str, Any],
        Body(description='{"name", "url", "secret" (16+ chars), "region": null|"KG-Y", "kinds": ["alert"], '
                         '"rule_kinds": [], "min_severity": "high", "enabled": true}'),
    ],
) -> dict[str, Any]:
    """Register a subscription; deliveries are signed ``X-Koopsuz-Signature: sha256=HMAC(secret, body)``."""
    return system.webhooks.create(who, body)


@router.patch("/{webhook_id}")
def update_webhook(
    webhook_id: str,
    who: Admin,
    system: SystemDep,
    body: Annotated[dict[str, Any], Body(description='{"enabled": true|false}')],
) -> dict[str, Any]:
    return system.webhooks.set_enabled(who, webhook_id, body)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, who: Admin, system: SystemDep) -> Response:
    system.webhooks.remove(who, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
def webhook_deliveries(
    webhook_id: str, who: Admin, system: SystemDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The latest deliveries, newest first: status (pending, delivered, failed), attempts, last answer or error."""
    return system.webhooks.deliveries(who, webhook_id, limit)


@router.post("/{webhook_id}/test")
def test_webhook(webhook_id: str, who: Admin, system: SystemDep, request: Request) -> dict[str, Any]:
    """Send one signed test body (``"kind": "test"``) now and answer what the receiver said: ``ok``,
    ``response_code``, ``error``, ``ms``. No retries and no delivery-log row; audited as ``webhook.test``."""
    probe = WebhookProbe(system.db, system.audit, timeout_s=system.settings.webhook_timeout_s)
    return probe.fire(who, webhook_id, ip=client_ip(request))
