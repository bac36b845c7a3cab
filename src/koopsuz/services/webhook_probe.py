"""Test-fire a webhook: one signed POST now, its answer returned to the administrator who asked.

Why: an administrator who adds a subscription for the ministry's dispatch or an SMS gateway needs to
know at once that the address, the network path and the receiver's signature check work, without
waiting for a real alert. The probe sends a ``kind: "test"`` body signed like every delivery
(``X-Koopsuz-Signature``), once, with no retries and nothing written to the delivery log (which is the
record of real alerts); the act is audited (``webhook.test``) with the answer.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from koopsuz.domain.events import new_id
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, NotFound
from koopsuz.services.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from koopsuz.store.db import Database
from koopsuz.store.webhook_tables import WebhookRow


class WebhookProbe:
    def __init__(self, db: Database, audit: AuditLog, timeout_s: float = 5.0) -> None:
        self._db = db
        self._audit = audit
        self.timeout_s = timeout_s

    def fire(self, who: Principal, webhook_id: str, ip: str | None = None) -> dict[str, Any]:
        """POST a signed test body to the subscription; ``ok``, the HTTP code or the error, and the time."""
        if not who.can(Permission.CAMERAS_WRITE):
            raise Forbidden(f"role {who.role} may not configure webhooks (cameras.write: system configuration)")
        with self._db.session() as s:
            row = s.get(WebhookRow, webhook_id)
            if row is None:
                raise NotFound(f"no webhook {webhook_id!r}")
            if not (who.scope.is_national or (row.region is not None and who.scope.allows(row.region))):
                self._audit.record(who, "webhook.access", target_type="webhook", target_id=webhook_id,
                                   region=row.region, outcome="denied", ip=ip)
                raise Forbidden("this webhook belongs to another region")
            url, secret, region = row.url, row.secret, row.region
        delivery = new_id()
        body = json.dumps(
            {"delivery": delivery, "subscription": webhook_id, "kind": "test", "test": True,
             "sent_at": datetime.now(UTC).isoformat(), "by": who.username},
            ensure_ascii=False, separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            DELIVERY_HEADER: delivery,
            "X-Koopsuz-Event": "test",
            "User-Agent": "koopsuz-webhooks",
        }
        code: int | None = None
        error: str | None = None
        t0 = time.monotonic()
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                r = client.post(url, content=body, headers=headers)
            code = r.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {r.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        ms = round((time.monotonic() - t0) * 1000)
        out = {"ok": error is None, "response_code": code, "error": error, "ms": ms, "delivery": delivery}
        self._audit.record(who, "webhook.test", target_type="webhook", target_id=webhook_id, region=region,
                           outcome="ok" if error is None else "error", detail={"response_code": code, "error": error},
                           ip=ip)
        return out
