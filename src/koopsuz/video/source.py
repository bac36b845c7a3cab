"""Open and decode one stream with PyAV, never hanging on a dead camera.

RTSP runs over TCP (no lost UDP packets behind NAT or firewalls). Both the socket timeout and
PyAV's interrupt-based timeouts are set, so a camera that stops answering raises within the read
timeout instead of blocking its thread forever. Decoding is single-threaded per stream: many
cameras already keep every core busy, and frame threading would add frames of latency.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.error


class SourceError(RuntimeError):
    """The stream could not be opened or stopped delivering; the message says why."""


@dataclass(frozen=True, slots=True)
class SourceOptions:
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    # decode only keyframes (an IDR frame decodes on its own): a full-resolution picture once per
    # GOP for the cost of demuxing, e.g. main-stream faces beside a sub-stream pipeline
    keyframes_only: bool = False


def _options(url: str, opts: SourceOptions) -> dict[str, str]:
    o = {"fflags": "nobuffer", "flags": "low_delay", "analyzeduration": "500000", "probesize": "500000"}
    if url.startswith(("rtsp://", "rtsps://")):
        o |= {
            "rtsp_transport": "tcp",
            "timeout": str(int(opts.read_timeout_s * 1_000_000)),
            "max_delay": "300000",
            "reorder_queue_size": "0",
        }
    return o


class StreamSource:
    """One connection to one stream. ``frames()`` yields decoded frames until the stream ends."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        self.url = url
        self.options = options
        self.decode_errors = 0
        self._container: av.container.InputContainer | None = None

    def open(self) -> None:
        try:
            self._container = av.open(
                self.url,
                options=_options(self.url, self.options),
                timeout=(self.options.open_timeout_s, self.options.read_timeout_s),
            )
        except av.error.FFmpegError as exc:
            raise SourceError(f"cannot open stream: {_describe(exc)}") from None
        if not self._container.streams.video:
            self.close()
            raise SourceError("stream has no video track")
        stream = self._container.streams.video[0]
        stream.thread_type = "SLICE"
        stream.thread_count = 1

    def frames(self) -> Iterator[av.VideoFrame]:
        if self._container is None:
            raise SourceError("source is not open")
        stream = self._container.streams.video[0]
        try:
            keyframes_only = self.options.keyframes_only
            for packet in self._container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue
                if keyframes_only and not packet.is_keyframe:
                    continue
                try:
                    yield from packet.decode()
                except (av.error.InvalidDataError, av.error.PatchWelcomeError, ValueError):
                    self.decode_errors += 1  # a corrupt packet costs one frame, not the stream
        except av.error.FFmpegError as exc:
            raise SourceError(f"stream broke: {_describe(exc)}") from None
        raise SourceError("stream ended")

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # closing a broken connection must never raise
                self._container.close()
            self._container = None


def _describe(exc: av.error.FFmpegError) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, av.error.ExitError) or "Immediate exit" in text:
        return "timed out (camera not answering)"
    if "Connection refused" in text:
        return "connection refused (is the camera on and the port right?)"
    if "404" in text or "Not Found" in text:
        return "stream path not found on the camera (check the URL path)"
    if "401" in text or "Unauthorized" in text:
        return "camera refused the credentials"
    return text
