"""Just enough ISO-BMFF (fragmented MP4) reading to trust a recorded segment before serving it.

The recorder writes HLS fMP4: one init segment (``ftyp`` + ``moov``) per recording session and
media segments of ``moof`` + ``mdat`` fragments. A segment is indexed only if every box fits in
the file and every fragment's ``mdat`` holds all the bytes its ``trun`` promises, so a file cut
short by a killed recorder or a full disk is caught here (and repaired or moved aside) rather than
handed to a player. The segment's own ``tfdt`` and sample durations give its exact position on the
session's media timeline, which is what the recorder turns into wall-clock start and end times.

Plain ``struct`` parsing of a few box types: no decode, microseconds per segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf"}


class Fmp4Error(ValueError):
    """The bytes are not a complete, well-formed fMP4 init or media segment; the message says why."""


@dataclass(frozen=True, slots=True)
class InitInfo:
    timescale: int
    codec: str  # sample entry type: avc1, avc3, hvc1, hev1, ...
    width: int
    height: int
    track_id: int
    default_duration: int = 0  # trex defaults, used when tfhd/trun carry none
    default_size: int = 0
    lead_s: float = 0.0  # an empty edit: media time 0 is presented this late in ffmpeg's output clock


@dataclass(frozen=True, slots=True)
class Fragment:
    start: int  # tfdt, in timescale units
    duration: int
    samples: int
    keyframe_first: bool
    end_offset: int  # file offset just past this fragment's mdat


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    start: int  # in timescale units (first fragment's tfdt)
    duration: int
    samples: int
    keyframe_first: bool
    fragments: int
    timescale: int

    @property
    def start_s(self) -> float:
        return self.start / self.timescale

    @property
    def duration_s(self) -> float:
        return self.duration / self.timescale


def _boxes(data: bytes | memoryview, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box offset, payload offset, box end) for each box in data[start:end]; raises if cut short."""
    off = start
    while off < end:
        if end - off < 8:
            raise Fmp4Error(f"truncated box header at byte {off}")
        size, typ = struct.unpack_from(">I4s", data, off)
        hdr = 8
        if size == 1:
            if end - off < 16:
                raise Fmp4Error(f"truncated box header at byte {off}")
            size = struct.unpack_from(">Q", data, off + 8)[0]
            hdr = 16
        elif size == 0:  # runs to the end of the file
            size = end - off
        if size < hdr:
            raise Fmp4Error(f"box {typ!r} at byte {off} has impossible size {size}")
        if off + size > end:
            raise Fmp4Error(f"box {typ.decode('latin-1')} at byte {off} needs {size} bytes, {end - off} left")
        yield typ, off, off + hdr, off + size
        off += size


def _find(data: bytes | memoryview, start: int, end: int, path: list[bytes]) -> tuple[int, int] | None:
    """Payload range of the first box along ``path`` (e.g. [moov, trak, mdia, mdhd])."""
    for typ, _o, p, e in _boxes(data, start, end):
        if typ == path[0]:
            if len(path) == 1:
                return p, e
            found = _find(data, p, e, path[1:])
            if found:
                return found
    return None


def parse_init(data: bytes) -> InitInfo:
    """Timescale, codec and size of the (first) video track of an init segment."""
    moov = _find(data, 0, len(data), [b"moov"])
    if moov is None:
        raise Fmp4Error("no moov box: not an init segment")
    for typ, _o, p, e in _boxes(data, *moov):
        if typ != b"trak":
            continue
        hdlr = _find(data, p, e, [b"mdia", b"hdlr"])
        if hdlr is None or bytes(data[hdlr[0] + 8 : hdlr[0] + 12]) != b"vide":
            continue
        tkhd = _find(data, p, e, [b"tkhd"])
        mdhd = _find(data, p, e, [b"mdia", b"mdhd"])
        stsd = _find(data, p, e, [b"mdia", b"minf", b"stbl", b"stsd"])
        if tkhd is None or mdhd is None or stsd is None:
            raise Fmp4Error("video track lacks tkhd, mdhd or stsd")
        v = data[tkhd[0]]
        track_id = struct.unpack_from(">I", data, tkhd[0] + (20 if v == 1 else 12))[0]
        v = data[mdhd[0]]
        timescale = struct.unpack_from(">I", data, mdhd[0] + (20 if v == 1 else 12))[0]
        entry = stsd[0] + 8  # version/flags + entry count
        codec = bytes(data[entry + 4 : entry + 8]).decode("latin-1")
        width, height = struct.unpack_from(">HH", data, entry + 8 + 24)
        dur = size = 0
        mvex = _find(data, *moov, [b"mvex"])
        if mvex:
            for t2, _o2, p2, _e2 in _boxes(data, *mvex):
                if t2 == b"trex" and struct.unpack_from(">I", data, p2 + 4)[0] == track_id:
                    dur, size = struct.unpack_from(">II", data, p2 + 12)
        if timescale <= 0:
            raise Fmp4Error("video track has timescale 0")
        return InitInfo(timescale, codec, width, height, track_id, dur, size, _lead(data, moov, p, e))
    raise Fmp4Error("init segment has no video track")


def _lead(data: bytes, moov: tuple[int, int], p: int, e: int) -> float:
    """Length of a leading empty edit (``elst`` entry with media_time -1), in seconds.

    ffmpeg's mp4 muxer stores samples from time 0 and delays their presentation with an empty
    edit when the first packet's timestamp was not 0: progress reports count that delay too.
    """
    mvhd = _find(data, *moov, [b"mvhd"])
    elst = _find(data, p, e, [b"edts", b"elst"])
    if mvhd is None or elst is None:
        return 0.0
    scale = struct.unpack_from(">I", data, mvhd[0] + (20 if data[mvhd[0]] == 1 else 12))[0]
    v1 = data[elst[0]] == 1
    if struct.unpack_from(">I", data, elst[0] + 4)[0] < 1 or scale <= 0:
        return 0.0
    dur, media_time = struct.unpack_from(">Qq" if v1 else ">Ii", data, elst[0] + 8)
    return dur / scale if media_time == -1 else 0.0


def _traf(data: bytes | memoryview, p: int, e: int, init: InitInfo) -> tuple[int, int, int, bool, int]:
    """(tfdt, duration, samples, first is keyframe, bytes of sample data) of one track fragment."""
    base = None
    dur_default, size_default, flags_default = init.default_duration, init.default_size, 0
    duration = samples = data_bytes = 0
    keyframe_first = False
    for typ, _o, bp, _be in _boxes(data, p, e):
        if typ == b"tfhd":
            flags = int.from_bytes(data[bp + 1 : bp + 4], "big")
            q = bp + 8
            if flags & 0x01:
                q += 8
            if flags & 0x02:
                q += 4
            if flags & 0x08:
                dur_default = struct.unpack_from(">I", data, q)[0]
                q += 4
            if flags & 0x10:
                size_default = struct.unpack_from(">I", data, q)[0]
                q += 4
            if flags & 0x20:
                flags_default = struct.unpack_from(">I", data, q)[0]
        elif typ == b"tfdt":
            base = struct.unpack_from(">Q" if data[bp] == 1 else ">I", data, bp + 4)[0]
        elif typ == b"trun":
            flags = int.from_bytes(data[bp + 1 : bp + 4], "big")
            n = struct.unpack_from(">I", data, bp + 4)[0]
            q = bp + 8 + (4 if flags & 0x01 else 0)
            first_flags = None
            if flags & 0x04:
                first_flags = struct.unpack_from(">I", data, q)[0]
                q += 4
            fields = [(0x100, "d"), (0x200, "s"), (0x400, "f"), (0x800, "c")]
            present = [name for bit, name in fields if flags & bit]
            for i in range(n):
                d, s, f = dur_default, size_default, flags_default
                for name in present:
                    val = struct.unpack_from(">I", data, q)[0]
                    q += 4
                    if name == "d":
                        d = val
                    elif name == "s":
                        s = val
                    elif name == "f":
                        f = val
                if i == 0 and samples == 0:
                    f0 = first_flags if first_flags is not None else f
                    keyframe_first = not (f0 & 0x00010000)  # sample_is_non_sync_sample
                duration += d
                data_bytes += s
            samples += n
    if base is None:
        raise Fmp4Error("track fragment without tfdt")
    return base, duration, samples, keyframe_first, data_bytes


def fragments(data: bytes | memoryview, init: InitInfo) -> Iterator[Fragment]:
    """Each complete moof+mdat pair in order; raises Fmp4Error at the first incomplete one."""
    pending: tuple[int, int, int, bool, int] | None = None
    for typ, off, p, end in _boxes(data, 0, len(data)):
        if typ == b"moof":
            if pending is not None:
                raise Fmp4Error(f"moof at byte {off} follows a moof without its mdat")
            parts = [_traf(data, tp, te, init) for t, _o, tp, te in _boxes(data, p, end) if t == b"traf"]
            if not parts:
                raise Fmp4Error(f"moof at byte {off} has no track fragment")
            pending = parts[0]
        elif typ == b"mdat":
            if pending is None:
                continue
            need = pending[4]
            if end - p < need:
                raise Fmp4Error(f"mdat at byte {off} holds {end - p} bytes, its fragment needs {need}")
            yield Fragment(pending[0], pending[1], pending[2], pending[3], end)
            pending = None
    if pending is not None:
        raise Fmp4Error("the last fragment has no mdat (file cut short)")


def parse_segment(data: bytes | memoryview, init: InitInfo) -> SegmentInfo:
    """Position and length of a complete media segment; Fmp4Error if it is cut short or malformed."""
    frags = list(fragments(data, init))
    if not frags:
        raise Fmp4Error("no media fragment in segment")
    return _summary(frags, init)


def complete_prefix(data: bytes | memoryview, init: InitInfo) -> tuple[int, SegmentInfo] | None:
    """For a damaged segment: the length of its leading complete fragments and what they hold.

    A recorder killed in the middle of writing leaves whole fragments followed by a partial one;
    cutting the file after the last whole fragment repairs it. None when not even one is whole.
    """
    frags: list[Fragment] = []
    try:
        for f in fragments(data, init):
            frags.append(f)
    except Fmp4Error:
        pass
    if not frags:
        return None
    return frags[-1].end_offset, _summary(frags, init)


def _summary(frags: list[Fragment], init: InitInfo) -> SegmentInfo:
    return SegmentInfo(
        start=frags[0].start,
        duration=sum(f.duration for f in frags),
        samples=sum(f.samples for f in frags),
        keyframe_first=frags[0].keyframe_first,
        fragments=len(frags),
        timescale=init.timescale,
    )
