"""HLS playlists: reading the one ffmpeg keeps while recording, writing VOD playlists for playback.

ffmpeg rewrites its playlist (atomically, ``hls_flags temp_file``) each time it closes a segment,
so "listed in the playlist" means "complete on disk": the recorder only needs the file names.
Playback playlists are built from the store's index, never from ffmpeg's file: any time range,
across recording sessions (a new init segment) and gaps, each piece marked with
``EXT-X-DISCONTINUITY`` and every segment stamped with its wall-clock ``EXT-X-PROGRAM-DATE-TIME``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def listed_segments(playlist: Path) -> list[str]:
    """File names of the segments in an ffmpeg playlist (empty if it does not exist yet)."""
    try:
        text = playlist.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    uri: str
    init_uri: str
    start: datetime
    duration_s: float
    discontinuity: bool  # a new session or a hole before this segment


def _pdt(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def vod_playlist(items: list[PlaylistItem], start_offset_s: float | None = None) -> str:
    """An HLS v7 VOD playlist; ``start_offset_s`` asks the player to start that far in."""
    target = max((math.ceil(i.duration_s) for i in items), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if start_offset_s and start_offset_s > 0:
        lines.append(f"#EXT-X-START:TIME-OFFSET={start_offset_s:.3f},PRECISE=YES")
    init = None
    for n, it in enumerate(items):
        if it.discontinuity and n > 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if it.init_uri != init:
            lines.append(f'#EXT-X-MAP:URI="{it.init_uri}"')
            init = it.init_uri
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(it.start)}")
        lines.append(f"#EXTINF:{it.duration_s:.6f},")
        lines.append(it.uri)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
