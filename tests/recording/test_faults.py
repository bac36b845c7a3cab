"""Bad input and faults around the recorder: cut-short files, a full disk, garbage, clock jumps."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imageio_ffmpeg
import pytest

from koopsuz.store.recording_repo import RecordingRepo
from koopsuz.video.fmp4 import Fmp4Error, complete_prefix, parse_init, parse_segment
from koopsuz.video.recorder import Recorder, RecorderConfig, Segment, Session, SessionEnd
from koopsuz.video.recorder_causes import Cause, classify
from koopsuz.video.streamclock import StreamClock
from koopsuz.video.worker import Backoff

from .conftest import Run


class Collect:
    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.ends: list[SessionEnd] = []

    def session_started(self, camera: str, session: Session) -> None:
        pass

    def segment(self, camera: str, segment: Segment) -> None:
        self.segments.append(segment)

    def session_ended(self, camera: str, end: SessionEnd) -> None:
        self.ends.append(end)


def config(**kw: object) -> RecorderConfig:
    return RecorderConfig(ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), backoff=Backoff(0.2, 0.5), **kw)  # type: ignore[arg-type]


def a_session(run: Run) -> tuple[Path, Path, list[Path]]:
    """(init, folder, segment files) of one recorded session of the shared run."""
    with run.system.db.session() as s:
        seg = RecordingRepo(s).segments("rec-2", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))[0]
        sess = RecordingRepo(s).session(seg.session)
    assert sess is not None
    folder = run.system.playback.path(sess.dir)
    return folder / "init.mp4", folder, sorted(folder.glob("seg-*.m4s"))


def _strip_header(segment: bytes) -> bytes:
    """A media segment's moof+mdat without its styp/sidx, to glue fragments together."""
    return segment[segment.index(b"moof") - 4 :]


def test_fmp4_reader_checks_every_box(recorded: Run) -> None:
    init_path, _folder, segs = a_session(recorded)
    init = parse_init(init_path.read_bytes())
    assert (init.codec, init.width, init.height, init.timescale) == ("avc1", 1280, 720, 90000)
    a, b = segs[1].read_bytes(), segs[2].read_bytes()
    ia, ib = parse_segment(a, init), parse_segment(b, init)
    assert ia.keyframe_first and ib.start == ia.start + ia.duration  # contiguous on the media clock
    for cut in (len(a) - 1, len(a) // 2, 60, 7):
        with pytest.raises(Fmp4Error):
            parse_segment(a[:cut], init)
    two = a + _strip_header(b)  # one segment of two fragments, cut inside the second
    assert parse_segment(two, init).fragments == 2
    length, info = complete_prefix(two[:-500], init)  # type: ignore[misc]
    assert length == len(a) and info.duration == ia.duration
    assert complete_prefix(a[:-500], init) is None
    with pytest.raises(Fmp4Error):
        parse_init(b"\x00\x00\x00\x08free")


def test_leftovers_of_a_dead_recorder_are_recovered_repaired_or_quarantined(recorded: Run, tmp_path: Path) -> None:
    init_path, _folder, segs = a_session(recorded)
    root = tmp_path / "media"
    d = root / "recordings" / "cam" / "2026-01-01" / "S1"
    d.mkdir(parents=True)
    shutil.copy(init_path, d / "init.mp4")
    a, b, c = (p.read_bytes() for p in segs[1:4])
    (d / "seg-000000.m4s").write_bytes(a)  # complete, but ffmpeg died before listing it
    (d / "seg-000001.m4s").write_bytes(b + _strip_header(c)[:-300])  # second fragment cut short
    (d / "seg-000002.m4s").write_bytes(c[:-300])  # nothing whole in it
    (d / "seg-000003.m4s.tmp").write_bytes(b"")  # what a full disk leaves
    listener = Collect()
    rec = Recorder("cam", "rtsp://127.0.0.1:9/x", root, config(), listener)
    session = Session("S1", "cam", d, "recordings/cam/2026-01-01/S1", datetime.now(UTC) - timedelta(minutes=1))
    rec.collect(session, StreamClock(), final=True)
    got = {s.seq: s for s in listener.segments}
    assert set(got) == {0, 1}
    assert got[0].flags == ("recovered",) and got[1].flags == ("recovered", "repaired")
    assert (d / "seg-000001.m4s").stat().st_size == len(b)
    assert got[1].start == got[0].end  # the repaired part is where it was on the timeline
    quarantine = sorted(p.name for p in (root / "recordings" / "cam" / "quarantine").iterdir())
    assert quarantine == ["S1-seg-000001.m4s", "S1-seg-000002.m4s", "S1-seg-000003.m4s.tmp"]
    assert sorted(p.name for p in d.iterdir()) == ["init.mp4", "seg-000000.m4s", "seg-000001.m4s"]
    assert rec.health.repaired == 1 and rec.health.quarantined == 3


def test_a_full_disk_stops_recording_with_a_clear_state(tmp_path: Path) -> None:
    listener = Collect()
    rec = Recorder("cam", "rtsp://127.0.0.1:9/x", tmp_path, config(min_free_bytes=2**62), listener)
    rec.start()
    deadline = time.monotonic() + 5
    while rec.health.state != "retrying" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (rec.health.state, rec.health.cause) == ("retrying", Cause.DISK_FULL)
    rec.stop()
    end = listener.ends[0]
    assert end.cause == Cause.DISK_FULL and "MB free" in end.detail and end.session is None
    assert not (tmp_path / "recordings").exists()  # nothing started, nothing half-written


def test_a_camera_sending_garbage_is_an_invalid_stream(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 400)
    listener = Collect()
    rec = Recorder("cam", f"file://{junk}", tmp_path / "media", config(), listener)
    rec.start()
    deadline = time.monotonic() + 10
    while not listener.ends and time.monotonic() < deadline:
        time.sleep(0.05)
    rec.stop()
    end = listener.ends[0]
    assert end.cause == Cause.INVALID_STREAM, end
    assert listener.segments == [] and end.session is None


def test_ffmpeg_exits_are_classified() -> None:
    assert classify(-9, [], stopped=False) == (Cause.RECORDER_CRASHED, "recorder crashed (killed by signal 9)")
    assert classify(1, ["[hls @ 0x55] No space left on device"], stopped=False)[0] == Cause.DISK_FULL
    cause, detail = classify(8, ["[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found"], stopped=False)
    assert cause == Cause.STREAM_LOST and "not found" in detail
    assert classify(0, [], stopped=False)[0] == Cause.STREAM_LOST
    assert classify(255, [], stopped=True)[0] == Cause.STOPPED
    assert classify(3, ["weird"], stopped=False) == (Cause.RECORDER_CRASHED, "recorder crashed (exit code 3): weird")


def test_stream_clock_keeps_the_best_anchor_and_survives_jumps() -> None:
    c = StreamClock(jump_s=3.0, confirm=3)
    c.observe(1000.5, 0.2)  # first report arrives late
    c.observe(1001.0, 0.9)  # a less delayed one: the anchor improves
    assert c.anchor == pytest.approx(1000.1)
    c.frozen = True
    c.observe(1001.5, 1.45)
    assert c.anchor == pytest.approx(1000.1) and c.jumps == 0  # frozen: segments stay contiguous
    # the camera's timestamps leap an hour ahead: re-anchored at once
    assert c.observe(1002.0, 3601.9)
    assert c.wall(3602.0, 0) == pytest.approx(1002.1) and c.jumps == 1
    # the host clock steps forward 60 s: believed only once it persists
    assert not c.observe(1063.0, 3602.9) and not c.observe(1063.5, 3603.4)
    assert c.observe(1064.0, 3603.9)
    assert c.wall(3604.0, 0) == pytest.approx(1064.1) and c.jumps == 2
    # a single late report (a stall, a busy machine) moves nothing
    assert not c.observe(1080.0, 3605.0) and c.jumps == 2


def test_every_gap_cause_has_a_label_in_every_language() -> None:
    from koopsuz.web import LANGUAGES, catalogue

    for lang in LANGUAGES:
        missing = [c.value for c in Cause if f"gap.cause.{c.value}" not in catalogue(lang)]
        assert not missing, f"{lang}: no label for gap causes {missing}"
