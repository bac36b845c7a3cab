"""Join recorded fMP4 segments into one ordinary MP4, without re-encoding a single frame.

A recording session is its init segment followed by its media segments, byte for byte a valid
fragmented MP4; ``ChainedFile`` presents those files as one seekable stream to libavformat (PyAV),
whose packets are copied into the output with their timestamps shifted so that the sessions play
one after the other. Gaps between sessions or segments are closed up (the caller lists them next
to the file): a player shows recorded time, not minutes of a frozen picture. Being libavformat,
this is exactly ``ffmpeg -c copy``, minus the command-line limits on how many files one call may
name, and with control over the timestamps at each session boundary.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av


class ExportError(ValueError):
    """The footage cannot be joined into one file; the message says why."""


class ChainedFile(io.RawIOBase):
    """Several files read as one, seekable (libavformat's mp4 reader seeks)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = list(paths)
        self._sizes = [p.stat().st_size for p in self._paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._total = sum(self._sizes)
        self._pos = 0
        self._open: tuple[int, io.BufferedReader] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, min(self._total, base + offset))
        return self._pos

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._total:
            return 0
        i = max(j for j, s in enumerate(self._starts) if s <= self._pos)
        while self._sizes[i] == 0:
            i += 1
        if self._open is None or self._open[0] != i:
            self._close_file()
            self._open = (i, self._paths[i].open("rb"))
        f = self._open[1]
        f.seek(self._pos - self._starts[i])
        view = memoryview(buf)  # a slice of a bytearray would be a copy, and the bytes lost
        n = f.readinto(view[: min(len(view), self._starts[i] + self._sizes[i] - self._pos)])
        self._pos += n or 0
        return n or 0

    def _close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def close(self) -> None:
        self._close_file()
        super().close()


@dataclass(frozen=True, slots=True)
class Run:
    """Contiguous footage of one session: its init segment and media segments in order."""

    init: Path
    segments: list[Path]


def export_mp4(runs: Sequence[Run], dest: Path) -> float:
    """Write the runs one after the other into ``dest`` (MP4, moov first); returns its duration in s."""
    if not runs:
        raise ExportError("nothing to export")
    out = av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"})
    ostream = None
    signature = None
    offset = Fraction(0)
    try:
        for run in runs:
            with ChainedFile([run.init, *run.segments]) as raw, av.open(raw, "r", format="mp4") as inp:  # type: ignore[arg-type]
                if not inp.streams.video:
                    raise ExportError(f"{run.init} has no video track")
                ist = inp.streams.video[0]
                sig = (ist.codec_context.name, ist.codec_context.width, ist.codec_context.height)
                if ostream is None:
                    ostream, signature = out.add_stream_from_template(ist), sig
                elif sig != signature:
                    raise ExportError(
                        f"the camera's video format changed ({signature} -> {sig}); export the parts separately"
                    )
                offset = _copy(inp, ist, out, ostream, offset)
    except av.error.FFmpegError as exc:
        raise ExportError(f"cannot join the recorded segments: {exc}") from None
    finally:
        out.close()
    return float(offset)


def _copy(
    inp: av.container.InputContainer,
    ist: av.VideoStream,
    out: av.container.OutputContainer,
    ostream: av.VideoStream,
    offset: Fraction,
) -> Fraction:
    """Copy every packet of ``ist``, moved so the run starts at ``offset`` s; returns the run's end."""
    tb = ist.time_base
    assert tb is not None
    shift: int | None = None
    end = offset
    for pkt in inp.demux(ist):
        if pkt.dts is None:
            continue  # the demuxer's end-of-stream flush packet
        if shift is None:
            shift = int(offset / tb) - pkt.dts
        pkt.dts += shift
        pkt.pts = (pkt.pts if pkt.pts is not None else pkt.dts - shift) + shift
        end = max(end, (pkt.dts + (pkt.duration or 0)) * tb)
        pkt.stream = ostream
        out.mux(pkt)
    return end
