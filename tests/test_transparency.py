"""The public transparency report: right counts for the region and month, no personal data, page and PDF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event
from koopsuz.store.tables import AlertFeedbackRow


def test_report_counts_only_and_is_public(system) -> None:
    now = datetime.now(UTC)
    month = (now + timedelta(hours=6)).strftime("%Y-%m")
    alerts = [
        Event(kind="alert", region="KG-Y", camera="yk-cam-1", ts=now, payload={"rule_kind": "face_match",
              "full_name": "Secret Person", "plate": None}),
        Event(kind="alert", region="KG-Y", camera="yk-cam-1", ts=now, payload={"rule_kind": "hotlist_hit",
              "plate": "01 123 ABC"}),
        Event(kind="alert", region="KG-Y", camera="yk-cam-1", ts=now, payload={"rule_kind": "line_crossing"}),
        Event(kind="alert", region="KG-C", camera="ch-cam-1", ts=now, payload={"rule_kind": "line_crossing"}),
        Event(kind="speed_violation", region="KG-Y", camera="yk-cam-1", ts=now, payload={"plate": "01 999 ZZZ"}),
    ]
    system.writer.write_now(alerts)
    with system.db.transaction() as s:
        for e, verdict in ((alerts[0], "confirmed"), (alerts[1], "confirmed"), (alerts[2], "dismissed")):
            s.add(AlertFeedbackRow(event_id=e.id, region="KG-Y", camera=e.camera, rule="r", verdict=verdict,
                                   note="", actor="op", ts=now))
    system.audit.record("yk.investigator", "plates.search", region="KG-Y", detail={"plate": "01123ABC"})
    system.audit.record("ch.investigator", "plates.search", region="KG-C", detail={"plate": "01123ABC"})
    with TestClient(create_app(system)) as c:  # nobody signs in
        r = c.get("/api/transparency", params={"region": "KG-Y", "month": month})
        assert r.status_code == 200, r.text
        rep = r.json()
        assert rep["cameras"] == 1 and rep["cameras_by_site_type"] == {"public_place": 1}
        assert rep["alerts_total"] == 3 and rep["alerts"] == {"face_match": 1, "hotlist_hit": 1, "line_crossing": 1}
        assert rep["alerts_confirmed"] == 2 and rep["alerts_dismissed"] == 1 and rep["alert_precision"] == 0.667
        assert rep["plate_searches"] == 1 and rep["speed_violations"] == 1 and rep["incidents"] == 0
        assert "Secret" not in r.text and "01 123" not in r.text and "01123" not in r.text and "yk-cam" not in r.text
        other = c.get("/api/transparency", params={"region": "KG-C", "month": month}).json()
        assert other["alerts_total"] == 1 and other["plate_searches"] == 1
        last_year = c.get("/api/transparency", params={"region": "KG-Y", "month": "2025-01"}).json()
        assert last_year["alerts_total"] == 0
        assert c.get("/api/transparency", params={"region": "KG-Q"}).status_code == 422
        assert c.get("/api/transparency", params={"month": "November"}).status_code == 422
        page = c.get("/transparency", params={"region": "KG-Y", "month": month})
        assert page.status_code == 200 and "Issyk-Kul" in page.text and "data-testid=\"t-alerts_total\">3<" in page.text
        pdf = c.get("/transparency.pdf", params={"region": "KG-Y", "month": month})
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-" and len(pdf.content) > 2000
