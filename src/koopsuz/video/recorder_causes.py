"""Why a recording stopped, in a few stable codes an operator (and a court) can read.

The code is what the store keeps and the pages translate; the detail is ffmpeg's own last words,
cleaned up, so the person looking at a gap sees both the category and the evidence for it.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Cause(StrEnum):
    STREAM_LOST = "stream_lost"  # the camera closed, refused or stopped sending
    RECORDER_CRASHED = "recorder_crashed"  # ffmpeg died (killed, or failed on its own)
    DISK_FULL = "disk_full"
    INVALID_STREAM = "invalid_stream"  # the camera sends something that cannot be recorded
    STOPPED = "stopped"  # asked to stop (camera disabled, system shutting down)
    SYSTEM_DOWN = "system_down"  # found at start: nothing ran between the last segment and now
    CAMERA_DISABLED = "camera_disabled"


_STREAM = [
    ("connection refused", "camera refused the connection"),
    ("404", "stream path not found on the camera"),
    ("not found", "stream path not found on the camera"),
    ("401", "camera refused the credentials"),
    ("unauthorized", "camera refused the credentials"),
    ("timed out", "camera stopped answering (timed out)"),
    ("immediate exit", "camera stopped answering (timed out)"),
    ("connection reset", "camera dropped the connection"),
    ("broken pipe", "camera dropped the connection"),
    ("end of file", "camera ended the stream"),
    ("no route to host", "camera unreachable (no route to host)"),
    ("network is unreachable", "camera unreachable (network)"),
    ("server returned 5", "camera reported an internal error"),
]
_INVALID = (
    "invalid data found",
    "could not find codec parameters",
    "does not contain any stream",
    "matches no streams",  # no video track at all
    "could not write header",  # a video track fMP4 cannot hold
    "not currently supported in container",
)
_NOISE = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def _clean(line: str) -> str:
    return _NOISE.sub("", line).strip()[:300]


def classify(rc: int, tail: list[str], *, stopped: bool) -> tuple[Cause, str]:
    """Cause and detail for an ffmpeg exit code and the last lines it wrote to stderr."""
    text = "\n".join(tail).lower()
    last = _clean(tail[-1]) if tail else ""
    if stopped:
        return Cause.STOPPED, "recording stopped"
    if rc < 0:
        return Cause.RECORDER_CRASHED, f"recorder crashed (killed by signal {-rc})"
    if "no space left on device" in text:
        return Cause.DISK_FULL, "disk full: no space left on device"
    if any(k in text for k in _INVALID):
        return Cause.INVALID_STREAM, f"camera sends a stream that cannot be recorded: {last}"
    for key, what in _STREAM:
        if key in text:
            return Cause.STREAM_LOST, f"stream lost: {what}"
    if rc == 0:
        return Cause.STREAM_LOST, "stream lost: camera ended the stream"
    return Cause.RECORDER_CRASHED, f"recorder crashed (exit code {rc})" + (f": {last}" if last else "")
