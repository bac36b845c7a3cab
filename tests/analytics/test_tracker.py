"""Tracker: ids that persist through crossings, gaps and missed detections; births and deaths."""

from __future__ import annotations

import numpy as np
import pytest

from koopsuz.vision.detections import CLASS_INDEX, Detections
from koopsuz.vision.tracker import Tracker, TrackerConfig

FPS = 8.0
SIZE = (640, 360)


def box(cx: float, cy: float, w: float = 40, h: float = 100) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(*items: tuple[list[float], float, str]) -> Detections:
    boxes, conf, names = zip(*items, strict=True)
    return Detections.from_arrays(list(boxes), conf, [CLASS_INDEX[n] for n in names])


def run(tracker: Tracker, frames: list[Detections]):
    started, ended, ids = [], [], []
    for i, d in enumerate(frames):
        up = tracker.update(d, i / FPS, i, SIZE)
        started += up.started
        ended += up.ended
        ids.append({tr.id: tr for tr in up.tracks if tr.seen_at(i / FPS)})
    return started, ended, ids


def test_one_walker_is_one_track_with_speed_path_and_best_view() -> None:
    tracker = Tracker()
    frames = [dets((box(100 + 15 * i, 200), 0.8, "person")) for i in range(30)]  # 120 px/s
    frames += [Detections.empty()] * 30
    started, ended, _ = run(tracker, frames)
    assert len(started) == 1 and len(ended) == 1
    tr = ended[0]
    assert tr.class_name == "person" and tr.hits == 30
    assert tr.speed == pytest.approx(120, rel=0.05)
    assert tr.mean_speed == pytest.approx(120, rel=0.05)
    assert tr.duration == pytest.approx(29 / FPS)
    assert tr.path[0][1:] == pytest.approx((100, 250)) and tr.path[-1][1:] == pytest.approx((100 + 15 * 29, 250))
    assert tr.best is not None and 0 <= tr.best.frame < 30


def test_confirmation_needs_two_hits_and_a_lone_detection_is_no_track() -> None:
    tracker = Tracker()
    started, ended, _ = run(tracker, [dets((box(300, 200), 0.9, "person"))] + [Detections.empty()] * 10)
    assert started == [] and ended == []
    started, _, _ = run(Tracker(TrackerConfig(min_hits=1)), [dets((box(300, 200), 0.9, "person"))])
    assert len(started) == 1


def test_weak_detections_extend_but_never_start_tracks() -> None:
    weak = [dets((box(300, 200), 0.3, "person")) for _ in range(10)]
    assert run(Tracker(), weak)[0] == []
    frames = [dets((box(100 + 10 * i, 200), 0.9 if i < 3 else 0.3, "person")) for i in range(20)]
    started, _, ids = run(Tracker(), frames)
    assert len(started) == 1
    assert all(list(f) == [started[0].id] for f in ids[1:])  # the weak ones kept it going


def test_crossing_people_keep_their_ids() -> None:
    """Two people walk towards each other on the same line, overlap, and walk on."""
    frames = []
    for i in range(40):
        a = box(100 + 12 * i, 200)
        b = box(580 - 12 * i, 205)
        frames.append(dets((a, 0.8, "person"), (b, 0.7, "person")))
    started, _, ids = run(Tracker(), frames)
    assert len(started) == 2
    left_to_right = {tid for tid, tr in ids[2].items() if tr.velocity[0] > 0}
    for frame in ids[2:]:
        for tid, tr in frame.items():
            assert (tr.velocity[0] > 0) == (tid in left_to_right), "an id switched direction: the tracks swapped"
    assert len({tid for f in ids for tid in f}) == 2


def test_occlusion_gap_keeps_the_id() -> None:
    """Hidden behind a pillar for 1.5 s (under max_age) while walking on: same id after."""
    frames = []
    for i in range(50):
        hidden = 15 <= i < 27
        frames.append(Detections.empty() if hidden else dets((box(60 + 10 * i, 200), 0.8, "person")))
    started, ended, ids = run(Tracker(), frames)
    assert len(started) == 1 and ended == []
    assert ids[27] and next(iter(ids[27])) == started[0].id


def test_a_long_gap_ends_the_track_and_a_new_one_starts() -> None:
    frames = [dets((box(300, 200), 0.8, "person")) for _ in range(10)]
    frames += [Detections.empty()] * 30  # 3.75 s > max_age
    frames += [dets((box(300, 200), 0.8, "person")) for _ in range(5)]
    started, ended, _ = run(Tracker(), frames)
    assert len(started) == 2 and len(ended) == 1 and started[0].id != started[1].id


def test_leaving_the_picture_ends_the_track_early() -> None:
    frames = [dets((box(400 + 40 * i, 200), 0.8, "person")) for i in range(6)]  # 320 px/s to the right
    frames += [Detections.empty()] * 20
    tracker = Tracker()
    ended_at = None
    for i, d in enumerate(frames):
        if tracker.update(d, i / FPS, i, SIZE).ended:
            ended_at = i
            break
    assert ended_at is not None and ended_at < 6 + 2.5 * FPS  # well before max_age
    assert (ended_at - 5) / FPS < 1.2


def test_person_never_continues_a_car_and_vehicle_labels_vote() -> None:
    car = [dets((box(200 + 20 * i, 150, 160, 60), 0.8, "car" if i % 3 else "truck")) for i in range(9)]
    started, _, _ = run(Tracker(), car)
    assert len(started) == 1 and started[0].class_name == "car"  # 6 car votes beat 3 truck votes
    tracker = Tracker()
    frames = [dets((box(300, 200), 0.8, "car")) for _ in range(5)]
    frames += [dets((box(300, 200), 0.8, "person")) for _ in range(5)]
    started, _, _ = run(tracker, frames)
    assert [t.class_name for t in started] == ["car", "person"]


def test_time_may_not_go_backwards() -> None:
    tracker = Tracker()
    tracker.update(Detections.empty(), 5.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(Detections.empty(), 4.0)


def test_finish_ends_confirmed_tracks_only() -> None:
    tracker = Tracker()
    run(tracker, [dets((box(100, 100), 0.9, "person"), (box(400, 100), 0.9, "car")) for _ in range(3)])
    tracker.update(dets((box(250, 300), 0.9, "person")), 3 / FPS + 0.1, 3, SIZE)  # tentative
    assert sorted(t.class_name for t in tracker.finish()) == ["car", "person"]
    assert tracker.live == []


def test_irregular_sampling_gives_the_same_speed() -> None:
    """Frames skipped under load: prediction uses capture time, so speed does not change."""
    tracker = Tracker()
    times = np.cumsum([0, 0.125, 0.125, 0.5, 0.125, 0.75, 0.125, 0.125, 0.25, 0.125])
    for i, t in enumerate(times):
        tracker.update(dets((box(50 + 100 * t, 200), 0.8, "person")), float(t), i, SIZE)
    (tr,) = tracker.active
    assert tr.speed == pytest.approx(100, rel=0.05)


def test_motion_carries_a_sparsely_seen_walker_to_its_next_sighting() -> None:
    """Seen once, then 0.75 s of motion only, then seen again 150 px further: one track."""
    walker = lambda t: box(100 + 200 * t, 200)  # noqa: E731 - 200 px/s
    follow = Tracker()
    follow.update(dets((walker(0.0), 0.8, "person")), 0.0)
    for i in range(1, 7):  # between looks: the walker's own moving area, slightly off its box
        t = i / FPS
        assert follow.follow_motion(np.array([walker(t)]) + np.array([3, 10, 3, 0]), t) == 1
    up = follow.update(dets((walker(0.75), 0.8, "person")), 0.75)
    assert len(up.started) == 1 and up.started[0].hits == 2  # the second sighting confirmed it
    still = Tracker()  # without motion: predicted from a standing start, the second sighting is a stranger
    still.update(dets((walker(0.0), 0.8, "person")), 0.0)
    up = still.update(dets((walker(0.75), 0.8, "person")), 0.75)
    assert up.started == [] and len(still.live) == 1 and still.live[0].hits == 1


def test_motion_that_is_not_a_tracks_own_moves_nobody() -> None:
    tracker = Tracker()
    tracker.update(dets((box(100, 200), 0.8, "person"), (box(150, 200), 0.8, "person")), 0.0)
    before = [tr.box.copy() for tr in tracker.live]
    blob = np.array([[60.0, 140.0, 200.0, 260.0]])  # one area over both: whose is it?
    assert tracker.follow_motion(blob, 0.125) == 0
    assert tracker.follow_motion(np.array([[0.0, 0.0, 640.0, 360.0]]), 0.25) == 0  # a lighting change
    assert tracker.follow_motion(np.array([[400.0, 150.0, 440.0, 250.0]]), 0.375) == 0  # someone else
    assert all(np.allclose(a, tr.box) for a, tr in zip(before, tracker.live, strict=True))


def test_motion_keeps_a_tentative_track_only_so_long() -> None:
    tracker = Tracker()
    tracker.update(dets((box(100, 200), 0.8, "person")), 0.0)
    t = 0.0
    while t < 3.0:  # something keeps moving there, the detector never confirms it
        t += 0.125
        tracker.follow_motion(np.array([box(100, 200)]), t)
        tracker.update(Detections.empty(), t, looked=False)
    assert tracker.live == []  # gone after tentative_motion_max_age_s, no track ever started


def test_tentative_tracks_wait_longer_when_looks_are_sparse() -> None:
    """At 3 looks a second, a person missed on one look is still confirmed on the next but one."""
    tracker = Tracker()
    seen = [True, False, False, True]
    started = []
    for i, hit in enumerate(seen):
        t = i / 3
        d = dets((box(100 + 20 * i, 200), 0.8, "person")) if hit else Detections.empty()
        started += tracker.update(d, t).started
    assert len(started) == 1
    dense = Tracker()  # at 8 looks a second the same 1 s gap is a lost tentative track
    started = []
    for i in range(9):
        t = i / 8
        d = dets((box(100 + 7 * i, 200), 0.8, "person")) if i in (0, 8) else Detections.empty()
        started += dense.update(d, t).started
    assert started == []
