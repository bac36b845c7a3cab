"""Seals the audit chain's head with the installation key every ``interval_s`` (and at stop).

A seal costs one signature and one row, so sealing often is cheap; what it buys is that entries
cut off the end of the log (which the hash chain alone cannot show) contradict a signed seal.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from koopsuz.domain.evidence_manifest import public_key_from_pem
from koopsuz.security.audit import AuditLog, ChainCheck, Cut
from koopsuz.security.signing import InstallationKey
from koopsuz.store.tables import AuditSealRow

log = logging.getLogger(__name__)


class AuditSealer:
    def __init__(self, audit: AuditLog, key: InstallationKey, *, interval_s: float = 60.0) -> None:
        self._audit = audit
        self._key = key
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.seal()

    def seal(self) -> AuditSealRow | None:
        try:
            return self._audit.seal(self._key.sign, self._key.public().key_id)
        except Exception:
            log.exception("could not seal the audit log")
            return None

    def public_key(self) -> Ed25519PublicKey | None:
        """The key seals are checked with; None on an installation that never made one."""
        return public_key_from_pem(self._key.public().pem) if self._key.exists() else None

    def verify(self) -> ChainCheck:
        return self._audit.verify(self.public_key())

    def cut(self, before: datetime) -> Cut | None:
        """What ``truncate(before)`` would remove (a dry retention run): it seals the head first."""
        return self._audit.cut(before, head_sealed=True)

    def truncate(self, before: datetime) -> Cut | None:
        """Retention of the audit log: entries older than ``before`` go, up to a sealed batch boundary,
        behind an anchor signed with the installation key; the act itself is the next entry.

        The head is sealed first, so the newest old entries are not left waiting for the next seal.
        Raises ``ChainBroken`` (nothing removed) when the part to remove does not verify.
        """
        self.seal()
        cut = self._audit.truncate(before, self._key.sign, self._key.public().key_id)
        if cut is not None:
            log.info(
                "audit retention: entries %d..%d removed (%d), older than %s",
                cut.first,
                cut.upto,
                cut.entries,
                before.isoformat(),
            )
            self._audit.record(
                "retention",
                "audit.truncated",
                target_type="audit",
                target_id=str(cut.upto),
                detail=cut.to_json() | {"before": before.isoformat()},
            )
        return cut

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.seal()
