"""The retention policy and the pure planner: days per site type and class, budget, locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from koopsuz.domain.retention import (
    DataClass,
    DiskBudget,
    LockSpan,
    PolicyError,
    Reason,
    RetentionPolicy,
    SegmentInfo,
    parse_policy,
    plan,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MB = 1_000_000


def segs(
    camera: str,
    site_type: str | None,
    first: datetime,
    n: int,
    *,
    step_s: float = 3600,
    size: int = MB,
    start_id: int = 1,
    clip: set[int] | None = None,
) -> list[SegmentInfo]:
    """``n`` back-to-back segments of ``step_s`` from ``first``; ids from ``start_id``."""
    out = []
    for i in range(n):
        a = first + timedelta(seconds=i * step_s)
        out.append(
            SegmentInfo(
                start_id + i,
                camera,
                site_type,
                a,
                a + timedelta(seconds=step_s),
                size,
                in_clip=bool(clip and i in clip),
            )
        )
    return out


def test_builtin_days_schools_keep_plain_video_shorter_and_clips_longer() -> None:
    p = RetentionPolicy()
    assert p.days("street", DataClass.VIDEO) == 30
    assert p.days("school", DataClass.VIDEO) == 14
    assert p.days("kindergarten", DataClass.VIDEO) == 14
    assert p.days("school", DataClass.EVENT_CLIP) == 90
    assert p.days("street", DataClass.SNAPSHOT) == 30
    assert p.days("no-such-type", DataClass.VIDEO) == 30  # unknown site type: the defaults
    assert p.days(None, DataClass.EVENT_CLIP) == 90
    table = p.table()
    assert set(table) == {"street", "road", "tourist_area", "school", "kindergarten", "public_place"}
    assert all(v["event_clip"] >= v["video"] for v in table.values())


def test_policy_file_overrides_and_errors_name_the_field() -> None:
    p = parse_policy(
        "default: {video: 20, snapshot: 10}\nsite_types:\n  road: {video: 7, event_clip: 60}\n"
        "event_clips: {min_severity: high, kinds: [alert, plate_hit]}\n"
    )
    assert p.days("street", DataClass.VIDEO) == 20
    assert p.days("road", DataClass.VIDEO) == 7 and p.days("road", DataClass.EVENT_CLIP) == 60
    assert p.days("road", DataClass.SNAPSHOT) == 10  # not named for roads: the file's default
    assert p.days("school", DataClass.VIDEO) == 14  # the built-in school rule stands
    assert p.event_clips.counts("plate_hit", "info") and p.event_clips.counts("motion", "critical")
    assert not p.event_clips.counts("motion", "medium")
    with pytest.raises(PolicyError) as e:
        parse_policy("default: {video: 0, vidoe: 3}\nsite_types: {mall: {video: 3}}\n", "policy.yaml")
    msg = str(e.value)
    assert "policy.yaml: default.video" in msg and "default.vidoe" in msg and "site_types.mall" in msg
    with pytest.raises(PolicyError, match=r"event_clip .* shorter than video .* make event_clip >= video"):
        parse_policy("site_types: {street: {video: 120}}")
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("default: [", "bad.yaml")
    with pytest.raises(PolicyError, match="expected a mapping"):
        parse_policy("- 1\n- 2\n")


def test_expired_by_site_type_and_clips_outlive_video() -> None:
    p = RetentionPolicy()
    school = segs("sch", "school", NOW - timedelta(days=40), 3, step_s=86400, clip={1})  # days 40, 39, 38 ago
    street = segs("str", "street", NOW - timedelta(days=20), 2, step_s=86400, start_id=100)  # 20, 19 days ago
    result = plan(school + street, [], p, NOW)
    gone = {d.segment.id: d for d in result.delete}
    assert set(gone) == {1, 3}  # school plain video past 14 days; the clip (id 2) is kept for 90
    assert all(d.reason == Reason.EXPIRED for d in result.delete)
    old_clip = segs("sch", "school", NOW - timedelta(days=91), 1, step_s=3600, start_id=7, clip={0})
    assert [d.segment.id for d in plan(old_clip, [], p, NOW).delete] == [7]
    rep = result.report()
    assert rep["deleted"]["sch"]["video:expired"]["segments"] == 2
    assert "str" not in rep["deleted"]


def test_locked_ranges_are_spared_and_reported() -> None:
    p = RetentionPolicy()
    old = segs("c1", "street", NOW - timedelta(days=35), 4)  # hours 0..3 of a day 35 days ago
    lock = LockSpan(9, "c1", old[1].start + timedelta(minutes=30), old[2].start + timedelta(minutes=1), "CASE-1")
    other_camera_lock = LockSpan(10, "c2", old[0].start, old[3].end)
    result = plan(old, [lock, other_camera_lock], p, NOW)
    assert sorted(d.segment.id for d in result.delete) == [1, 4]
    assert sorted(s.segment.id for s in result.spared) == [2, 3]  # touched at all: kept whole
    assert all(s.locks == (9,) for s in result.spared)
    rep = result.report()
    assert rep["spared"]["c1"]["locks"] == [9] and rep["spared"]["c1"]["segments"] == 2


def test_budget_sheds_oldest_unlocked_first_across_cameras() -> None:
    p = RetentionPolicy()
    a = segs("a", "street", NOW - timedelta(hours=10), 5, start_id=1)  # 10..5 h ago
    b = segs("b", "street", NOW - timedelta(hours=9, minutes=30), 5, start_id=10)  # 9.5..4.5 h ago
    lock = LockSpan(1, "a", a[0].start, a[0].end)
    budget = DiskBudget("/media", budget_bytes=7 * MB, warn_fraction=0.9, shed_margin=0.0)
    result = plan(a + b, [lock], p, NOW, budget, used_bytes=10 * MB, free_bytes=None)
    order = [d.segment.id for d in result.delete]
    assert order == [10, 2, 11]  # a1 is locked; then b1 (9.5 h), a2 (9 h), b2 (8.5 h): 3 MB
    assert all(d.reason == Reason.BUDGET for d in result.delete)
    assert [s.segment.id for s in result.spared] == [1]
    assert result.warn and result.need_bytes == 3 * MB and result.shed_bytes == 3 * MB and not result.unmet_bytes
    margin = DiskBudget("/media", budget_bytes=7 * MB, shed_margin=0.1)  # shed to 6.3 MB: 4 segments
    assert len(plan(a + b, [], p, NOW, margin, used_bytes=10 * MB).delete) == 4


def test_budget_warns_before_it_sheds_and_floor_counts() -> None:
    p = RetentionPolicy()
    s = segs("a", "street", NOW - timedelta(hours=5), 5)
    budget = DiskBudget("/media", budget_bytes=10 * MB, warn_fraction=0.8, min_free_bytes=2 * MB)
    quiet = plan(s, [], p, NOW, budget, used_bytes=7 * MB, free_bytes=100 * MB)
    assert not quiet.warn and not quiet.delete
    warned = plan(s, [], p, NOW, budget, used_bytes=9 * MB, free_bytes=100 * MB)
    assert warned.warn and not warned.delete  # past 80 %: warn, nothing shed yet
    floor = plan(s, [], p, NOW, budget, used_bytes=5 * MB, free_bytes=int(0.5 * MB))
    assert [d.segment.id for d in floor.delete] == [1, 2]  # 1.5 MB under the floor: two oldest
    need = plan(s, [], p, NOW, None, used_bytes=5 * MB, need_bytes=3 * MB + 1)
    assert len(need.delete) == 4


def test_expired_deletions_count_towards_the_budget_and_unmet_is_reported() -> None:
    p = RetentionPolicy()
    old = segs("a", "street", NOW - timedelta(days=31), 2, start_id=1)  # expired: 2 MB
    new = segs("a", "street", NOW - timedelta(hours=3), 3, start_id=10)
    budget = DiskBudget("/media", budget_bytes=4 * MB, shed_margin=0.0)
    result = plan(old + new, [], p, NOW, budget, used_bytes=5 * MB)
    assert [d.segment.id for d in result.delete] == [1, 2]  # expiry alone brought it to 3 MB
    all_locked = [LockSpan(1, "a", NOW - timedelta(days=40), NOW)]
    stuck = plan(new, all_locked, p, NOW, budget, used_bytes=10 * MB)
    assert not stuck.delete and stuck.unmet_bytes == 6 * MB and len(stuck.spared) == 3


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="budget_bytes"):
        DiskBudget("/m", budget_bytes=0)
    with pytest.raises(ValueError, match="warn_fraction"):
        DiskBudget("/m", budget_bytes=1, warn_fraction=1.5)


def test_little_free_space_warns_too() -> None:
    b = DiskBudget("/media", budget_bytes=None, min_free_bytes=2 * MB)
    assert not b.warns(10**12, 5 * MB) and b.warns(0, 3 * MB)
    assert not DiskBudget("/media", budget_bytes=None).warns(10**12, 0)  # no floor, no budget
