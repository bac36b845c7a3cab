"""Snapshots on local disk, addressed by a relative reference stored in the event's media."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


class MediaError(OSError):
    pass


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def save_snapshot(self, camera: str, event_id: str, ts: datetime, jpeg: bytes) -> str:
        rel = f"snapshots/{camera}/{ts:%Y-%m-%d}/{event_id}.jpg"
        path = self.root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(jpeg)
            os.replace(tmp, path)  # never leave half a file behind if the disk fills up
        except OSError as exc:
            raise MediaError(f"cannot store snapshot {rel}: {exc.strerror}; check free space in {self.root}") from exc
        return rel

    def path(self, ref: str) -> Path:
        """Resolve a stored reference; refuses anything that escapes the media root."""
        p = (self.root / ref).resolve()
        if not p.is_relative_to(self.root):
            raise MediaError(f"invalid media reference {ref!r}")
        return p
