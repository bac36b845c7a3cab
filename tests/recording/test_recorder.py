"""What the recorder did during the shared run: coverage, a crash, a lost stream, wall-clock times."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from koopsuz.store.recording_repo import RecordingRepo, utc
from koopsuz.video.recorder_causes import Cause

from .conftest import SEGMENT_S, Run


def _range(run: Run) -> tuple[datetime, datetime]:
    return datetime.fromtimestamp(run.marks["start"] - 5, UTC), datetime.fromtimestamp(run.marks["end"] + 5, UTC)


def timeline(run: Run, camera: str) -> dict:
    a, b = _range(run)
    return run.system.playback.timeline(camera, a, b)


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_an_undisturbed_camera_is_covered_end_to_end(recorded: Run) -> None:
    tl = timeline(recorded, "rec-2")
    assert len(tl["spans"]) == 1 and tl["gaps"] == [] and tl["unexplained"] == []
    span = tl["spans"][0]
    # from within a few seconds of the start (connect, probe, first keyframe) to the newest segment
    assert ts(span["start"]) - recorded.marks["start"] < 3.0
    assert recorded.marks["end"] - ts(span["end"]) < SEGMENT_S + 2.0
    assert tl["recorded_s"] > recorded.marks["end"] - recorded.marks["start"] - SEGMENT_S - 5.0


def test_every_hole_is_an_explained_gap(recorded: Run) -> None:
    tl = timeline(recorded, "rec-1")
    assert tl["unexplained"] == [], tl
    assert len(tl["spans"]) == 3, tl["spans"]
    causes = [g["cause"] for g in tl["gaps"]]
    assert causes == [Cause.RECORDER_CRASHED, Cause.STREAM_LOST], tl["gaps"]
    assert all(not g["open"] for g in tl["gaps"])


def test_a_killed_recorder_leaves_a_gap_with_its_cause_and_restarts(recorded: Run) -> None:
    gap = timeline(recorded, "rec-1")["gaps"][0]
    assert gap["detail"] == "recorder crashed (killed by signal 9)"
    kill = recorded.marks["kill"]
    # the gap starts where the last complete segment ended (at most one segment before the kill)
    assert kill - SEGMENT_S - 1.5 <= ts(gap["start"]) <= kill + 0.5
    # and ends at the restarted recorder's first segment: backoff + connect + probe + keyframe
    assert kill < ts(gap["end"]) < kill + 5.0
    health = recorded.system.recording.health("rec-1")
    assert health["state"] == "recording" and health["restarts"] >= 2


def test_a_camera_cut_in_the_simulator_is_a_stream_lost_gap(recorded: Run) -> None:
    gap = timeline(recorded, "rec-1")["gaps"][1]
    assert gap["cause"] == Cause.STREAM_LOST and gap["detail"].startswith("stream lost")
    cut, restore = recorded.marks["cut"], recorded.marks["restore"]
    assert cut - SEGMENT_S - 1.0 <= ts(gap["start"]) <= cut + 0.5
    assert restore < ts(gap["end"]) < restore + 5.0
    assert gap["attempts"] >= 2  # reconnect attempts while the camera was away add to the same gap
    assert "not found" in (gap["last"] or "")


def test_a_camera_never_reached_has_one_open_gap(recorded: Run) -> None:
    tl = timeline(recorded, "rec-3")
    assert tl["spans"] == [] and len(tl["gaps"]) == 1
    gap = tl["gaps"][0]
    assert gap["open"] and gap["cause"] == Cause.STREAM_LOST and gap["attempts"] >= 2
    assert recorded.system.recording.health("rec-3")["state"] in ("retrying", "starting")


def test_segments_are_contiguous_within_a_session_and_stamped_with_the_wall_clock(recorded: Run) -> None:
    a, b = _range(recorded)
    root = recorded.system.settings.media_dir.resolve()
    with recorded.system.db.session() as s:
        segs = RecordingRepo(s).segments("rec-2", a, b)
    assert len(segs) >= 8
    for prev, cur in itertools.pairwise(segs):
        assert cur.session == prev.session and cur.seq == prev.seq + 1
        assert utc(cur.start) == utc(prev.end)
    # ffmpeg writes a segment when the next one's first keyframe arrives: the file's mtime is the
    # wall-clock time its media ended, which the index computed independently from the stream clock
    lags = sorted(((root / r.path).stat().st_mtime - utc(r.end).timestamp()) for r in segs[:-1])
    assert -0.3 < lags[len(lags) // 2] < 0.3, lags
    assert all(-0.5 < x < 1.0 for x in lags), lags


def test_segment_rows_carry_region_size_and_hash(recorded: Run) -> None:
    import hashlib

    a, b = _range(recorded)
    root = recorded.system.settings.media_dir.resolve()
    with recorded.system.db.session() as s:
        repo = RecordingRepo(s)
        segs = repo.segments("rec-1", a, b)
        sessions = repo.sessions([r.session for r in segs])
    assert {r.region for r in segs} == {"KG-Y"} and len(sessions) == 3
    for r in segs[:5]:
        data = (root / r.path).read_bytes()
        assert len(data) == r.size and hashlib.sha256(data).hexdigest() == r.sha256
        assert r.path.startswith(f"recordings/rec-1/{utc(sessions[r.session].started_at):%Y-%m-%d}/{r.session}/")
        assert timedelta(seconds=0.5) < utc(r.end) - utc(r.start) < timedelta(seconds=3 * SEGMENT_S)
    for sess in sessions.values():
        init = (root / sess.init_path).read_bytes()
        assert hashlib.sha256(init).hexdigest() == sess.init_sha256
        assert (sess.codec, sess.width, sess.height) == ("avc1", 1280, 720)
