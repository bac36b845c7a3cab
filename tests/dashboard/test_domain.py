"""The dashboard's figures on crafted rows: every number checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from koopsuz.domain.dashboard import (
    BadPeriod,
    CameraFact,
    CameraTime,
    HealthChange,
    IncidentFact,
    SiteFact,
    Verdict,
    coverage,
    covered_s,
    figures,
    histogram,
    merge,
    nearest_district,
    outages,
    period,
    rank,
    ranking_row,
    response_summary,
    rule_key,
    uptime,
)

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 06:00 in Bishkek
DAY = timedelta(days=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_median_and_p90_of_response_times() -> None:
    # ten dispatch times 60..600 s: median 330, p90 by linear interpolation 546
    s = response_summary([60.0 * k for k in range(1, 11)] + [None])
    assert s["n"] == 10 and s["median_s"] == 330.0 and s["p90_s"] == pytest.approx(546.0)
    assert s["max_s"] == 600.0 and s["mean_s"] == 330.0
    assert response_summary([]) == {"n": 0, "median_s": None, "p90_s": None, "mean_s": None, "max_s": None}
    assert histogram([30, 60, 61, 299, 4000, None]) == [2, 1, 1, 0, 0, 0, 0, 1]


def test_incidents_by_category_hour_and_response() -> None:
    incidents = [
        IncidentFact("KG-Y", "d1", "theft", at(0), at(2), at(10)),  # 06:00 Bishkek
        IncidentFact("KG-Y", "d1", "theft", at(60), at(65), None),  # 07:00
        IncidentFact("KG-Y", None, "fire", at(18 * 60 + 30), None, None),  # 00:30 next day in Bishkek
    ]
    f = figures(incidents, [], [], [], {}, T0, T0 + DAY)
    assert f["incidents"] == 3 and f["by_category"] == {"fire": 1, "theft": 2}
    assert f["by_hour"][6] == 1 and f["by_hour"][7] == 1 and f["by_hour"][0] == 1 and sum(f["by_hour"]) == 3
    assert f["time_to_dispatch"]["n"] == 2 and f["time_to_dispatch"]["median_s"] == 210.0  # (120 + 300) / 2
    assert f["time_to_dispatch"]["p90_s"] == pytest.approx(282.0)  # 120 + 0.9 * 180
    assert f["time_to_on_scene"]["n"] == 1 and f["time_to_on_scene"]["median_s"] == 600.0


def test_precision_per_rule_and_camera_keeps_names_of_people_out() -> None:
    v = [
        Verdict("KG-Y", "cam-a", "zone-1", "zone", "Gate zone", "confirmed"),
        Verdict("KG-Y", "cam-a", "zone-1", "zone", "Gate zone", "confirmed"),
        Verdict("KG-Y", "cam-a", "zone-1", "zone", "Gate zone", "dismissed"),
        Verdict("KG-Y", "cam-a", "face:E1", "face_match", "Wanted: Secret Person", "confirmed"),
        Verdict("KG-Y", "cam-b", "hotlist:7", None, "Stolen: 01 123 ABC", "dismissed"),
        Verdict("KG-Y", "cam-b", "line-1", "line", "Road line", "dismissed"),
    ]
    f = figures([], v, [], [], {}, T0, T0 + DAY)
    assert f["alerts_reviewed"] == 6 and f["alerts_confirmed"] == 3 and f["precision"] == 0.5
    rules = {r["key"]: r for r in f["precision_by_rule"]}
    assert rules["cam-a/zone-1"]["precision"] == 0.6667 and rules["cam-a/zone-1"]["label"] == "Gate zone"
    assert rules["cam-a/face_match"]["label"] == "face_match" and rules["cam-a/face_match"]["precision"] == 1.0
    assert rules["cam-b/hotlist_hit"]["precision"] == 0.0
    assert "Secret" not in repr(f) and "01 123" not in repr(f)
    cams = {c["camera"]: c for c in f["precision_by_camera"]}
    assert cams["cam-a"]["precision"] == 0.75 and cams["cam-b"]["precision"] == 0.0
    assert rule_key(Verdict("KG-Y", None, None, None, None, "confirmed"))[0] == "-/rule"


def test_uptime_with_overlapping_outages_and_state_before_the_period() -> None:
    start, end = T0, T0 + timedelta(hours=10)
    # offline 1h-3h, a duplicate offline report at 2h (same outage), online 3h; offline 9h to the end
    changes = [
        HealthChange("c", at(60), False),
        HealthChange("c", at(120), False),
        HealthChange("c", at(180), True),
        HealthChange("c", at(180), True),
        HealthChange("c", at(540), False),
        HealthChange("c", at(700), True),  # after the period: ignored
    ]
    outs, online_at_end = outages(changes, True, start, end)
    assert outs == [(at(60), at(180)), (at(540), at(600))] and not online_at_end
    assert uptime(outs, start, end) == 0.7  # 3 h of 10 offline
    # offline since before the period, back at 30 min
    outs, online_at_end = outages([HealthChange("c", at(30), True)], False, start, end)
    assert outs == [(start, at(30))] and online_at_end and uptime(outs, start, end) == 0.95
    # overlapping intervals from two sources are counted once
    assert merge([(at(0), at(60)), (at(30), at(90)), (at(90), at(100))], start, end) == [(at(0), at(100))]
    assert covered_s([(at(-60), at(10)), (at(5), at(20))], start, end) == 20 * 60
    assert uptime([], start, start) is None


def test_recording_coverage_from_recorded_spans() -> None:
    start, end = T0, T0 + timedelta(hours=1)
    # a session running since before the period (its part inside counts), one overlapping it (a
    # second recorded twice counts once) and one running past the end (cut at the end)
    spans = [
        (start - timedelta(hours=1), start + timedelta(minutes=20)),
        (start + timedelta(minutes=10), start + timedelta(minutes=30)),
        (end - timedelta(minutes=6), end + timedelta(hours=1)),
    ]
    assert covered_s(spans, start, end) == 36 * 60
    assert coverage(covered_s(spans, start, end), start, end) == 0.6
    cams = [CameraFact("a", "A", "KG-Y", "s1", "d1"), CameraFact("b", "B", "KG-Y", "s2", "d1", enabled=False)]
    f = figures([], [], cams, [], {"a": CameraTime([], True, 1800.0)}, start, end)
    assert f["coverage"] == 0.5 and f["uptime"] == 1.0 and f["cameras_enabled"] == 1 and f["cameras_working"] == 1
    by = {c["camera"]: c for c in f["camera_uptime"]}
    assert by["b"]["uptime"] is None and not by["b"]["working"] and by["b"]["coverage"] == 0.0


def test_schools_and_kindergartens_with_no_working_camera() -> None:
    sites = [
        SiteFact("school-ok", "School 1", "school", "KG-Y", "d1"),
        SiteFact("school-down", "School 2", "school", "KG-Y", "d1"),
        SiteFact("kg-none", "Kindergarten 3", "kindergarten", "KG-Y", "d2"),
        SiteFact("kg-disabled", "Kindergarten 4", "kindergarten", "KG-Y", "d2"),
        SiteFact("square", "Square", "public_place", "KG-Y", "d1"),
    ]
    cams = [
        CameraFact("c1", "C1", "KG-Y", "school-ok", "d1"),
        CameraFact("c2", "C2", "KG-Y", "school-down", "d1"),
        CameraFact("c3", "C3", "KG-Y", "kg-disabled", "d2", enabled=False),
    ]
    times = {"c2": CameraTime([(T0, T0 + DAY)], False, 0.0)}
    f = figures([], [], cams, sites, times, T0, T0 + DAY)
    assert f["protected_sites"] == 4
    assert [(s["site"], s["cameras"]) for s in f["unprotected_sites"]] == [
        ("school-down", 1), ("kg-none", 0), ("kg-disabled", 1)  # by district, then name
    ]
    assert {c["camera"]: c["uptime"] for c in f["camera_uptime"]} == {"c1": 1.0, "c2": 0.0, "c3": None}


def test_empty_period_has_no_figures_but_no_errors() -> None:
    f = figures([], [], [], [], {}, T0, T0 + DAY)
    assert f["incidents"] == 0 and f["by_hour"] == [0] * 24 and f["precision"] is None
    assert f["uptime"] is None and f["coverage"] is None and f["unprotected_sites"] == []
    assert f["time_to_dispatch"]["median_s"] is None


def test_ranking_of_regions() -> None:
    def row(median: float | None, precision: float | None, up: float | None) -> dict[str, object]:
        fig = figures([], [], [], [], {}, T0, T0 + DAY)
        r = ranking_row(fig)
        return r | {"median_dispatch_s": median, "precision": precision, "uptime": up}

    ranked = rank({"KG-Y": row(100, 0.9, 0.99), "KG-C": row(300, 0.9, 0.95), "KG-N": row(None, None, None)})
    assert [(r["region"], r["rank"]) for r in ranked] == [("KG-Y", 1), ("KG-C", 2), ("KG-N", None)]
    y = ranked[0]
    assert y["ranks"] == {"median_dispatch_s": 1, "precision": 1, "uptime": 1}  # ties share the better rank
    assert ranked[1]["ranks"] == {"median_dispatch_s": 2, "precision": 1, "uptime": 2}
    assert ranked[1]["score"] == pytest.approx(5 / 3, abs=1e-3)


def test_district_of_a_place_and_the_period() -> None:
    places = [(42.49, 78.39, "karakol-d"), (42.65, 77.08, "cholpon-d")]
    assert nearest_district(42.50, 78.40, places, 15_000) == "karakol-d"
    assert nearest_district(41.0, 75.0, places, 15_000) is None
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    start, end = period("2026-11-01", "2026-11-30", now)
    assert start == datetime(2026, 10, 31, 18, tzinfo=UTC) and end == datetime(2026, 11, 30, 18, tzinfo=UTC)
    assert period(None, None, now) == (now - timedelta(days=7), now)
    assert period("2026-11-20T09:00:00+06:00", "2026-11-20T10:00:00Z", now)[0] == datetime(2026, 11, 20, 3, tzinfo=UTC)
    bad_periods = (
        ("2026-11-30", "2026-11-01"),
        ("yesterday", None),
        ("2026-11-20T09:00", None),  # no offset
        ("2024-01-01", "2026-01-01"),  # too long
        ("0001-01-01", None),
    )
    for bad in bad_periods:
        with pytest.raises(BadPeriod):
            period(bad[0], bad[1], now)
