"""A hotlist hit does not wait for the vehicle's read to be decided.

The plate stage sends a ``plate_provisional`` as soon as a read is sure enough (two reads alike, or one
uncorrected read scored very high); the road watch raises the hit on it at once, timed at that read's
capture. The decided ``plate_read`` of the same vehicle (same ``sighting``) then raises no second alert, or,
when it is another plate, a ``hotlist_unconfirmed`` alert naming the hit it takes back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from koopsuz.analytics.pipeline import FrameContext
from koopsuz.analytics.plate_stage import PlateStage
from koopsuz.api.app import create_app
from koopsuz.domain.events import Event
from koopsuz.domain.plates import parse_plate
from tests.conftest import PASSWORD
from tests.road.test_line_timing import CAM, FPS, PLATE, T0, H, Read, W, frames, plate_box
from tests.road.test_road import alerts

# -- the plate stage -----------------------------------------------------------------------------------


class ScoredReader:
    """Reads the plate in the listed pictures with the given score (and text), nowhere else."""

    def __init__(self, scores: dict[int, tuple[float, Any]]) -> None:
        self.scores = scores  # id(picture) -> (confidence, plate)
        self.truth: dict[int, tuple[int, int, int, int]] = {}

    def __call__(self, image: Any, box: tuple[float, float, float, float]) -> list[Read]:
        got, b = self.scores.get(id(image)), self.truth.get(id(image))
        return [] if got is None or b is None else [Read(got[1], got[0], b)]


def drive(scores: dict[int, tuple[float, Any]], n: int = 19, looks: set[int] | None = None) -> list[Event]:
    """Frames of a car coming towards the camera; the stage looks where it moves at each listed frame (or at
    ``looks``: a frame readable but not looked at is read only if the stage goes back to it)."""
    fs = frames(n)
    reader = ScoredReader({id(fs[i].bgr()): s for i, s in scores.items()})
    for i, f in enumerate(fs):
        reader.truth[id(f.bgr())] = plate_box(i / FPS)
    stage = PlateStage(reader, None)
    out: list[Event] = []
    for i, f in enumerate(fs):
        stage.offer(f)
        motion = None
        if i in (scores if looks is None else looks):
            x0, y0, x1, y1 = plate_box(i / FPS)
            motion = SimpleNamespace(boxes=[((x0 - 40) / W, (y0 - 60) / H, (x1 - x0 + 80) / W, (y1 - y0 + 80) / H)])
        stage.process(FrameContext(CAM, f, {"motion": motion} if motion else {}), out.append)
    stage.close(CAM, out.append)
    return out


def test_two_reads_alike_make_a_provisional_read_timed_at_the_second() -> None:
    out = drive({4: (0.8, PLATE), 7: (0.8, PLATE)})
    kinds = [e.kind for e in out]
    assert kinds == ["plate_provisional", "plate_read"], kinds
    early, decided = out
    assert early.ts == T0 + timedelta(seconds=0.7)  # the capture of the second read's frame
    assert early.payload["basis"] == "agree" and early.payload["text"] == "01 234 BSZ"
    assert early.payload["timing"] == "read" and early.payload["confidence"] == pytest.approx(0.8)
    assert decided.payload["sighting"] == early.payload["sighting"] and decided.payload["provisional"] == "01 234 BSZ"
    assert decided.payload["timing"] == "line"  # the decided read keeps the crossing time average speed needs


def test_a_good_first_read_is_read_again_at_once_in_the_frame_before() -> None:
    """Under load the next look comes a second or more later: a first read good enough to pair (0.8) is read
    again in the buffered frame before it, and the two alike make it sure at the first look's capture."""
    out = drive({3: (0.8, PLATE), 4: (0.8, PLATE)}, looks={4})
    assert [e.kind for e in out] == ["plate_provisional", "plate_read"]
    assert out[0].ts == T0 + timedelta(seconds=0.4) and out[0].payload["basis"] == "agree"
    assert out[1].payload["reads"] == 1  # not in the vote: adjacent frames share a misread as often as a read
    # the frame before cannot be read: nothing sure yet, the decided read still comes
    assert [e.kind for e in drive({4: (0.8, PLATE)}, looks={4})] == ["plate_read"]


def test_one_read_is_enough_only_when_uncorrected_and_scored_very_high() -> None:
    early = drive({4: (0.98, PLATE)})
    assert [e.kind for e in early] == ["plate_provisional", "plate_read"]
    assert early[0].ts == T0 + timedelta(seconds=0.4) and early[0].payload["basis"] == "single"
    # a good score is not enough: the read cannot alone be acted on, the decided read still comes
    assert [e.kind for e in drive({4: (0.9, PLATE)})] == ["plate_read"]
    corrected = parse_plate("O1 234 BSZ")  # the grammar had to fix a character
    assert corrected is not None and corrected.corrections > 0
    assert [e.kind for e in drive({4: (0.99, corrected)})] == ["plate_read"]
    # two reads alike, but scored low: never matched as certain
    out = drive({4: (0.5, PLATE), 7: (0.5, PLATE)})
    assert [e.kind for e in out] == ["plate_read"] and out[0].payload["provisional"] is None


# -- the road watch --------------------------------------------------------------------------------------


@pytest.fixture
def watched(system) -> Any:
    admin = system.users.authenticate("admin", PASSWORD)
    stolen = system.hotlists.create_list(admin, {"name": "Stolen", "kind": "stolen", "priority": 1})
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    for plate in ("01 123 ABC", "09 555 KGA"):
        system.hotlists.add_entry(
            admin, stolen["id"], {"plate": plate, "reason": "stolen", "legal_basis": "report 9", "expires_at": until}
        )
    with TestClient(create_app(system)):
        yield system


def plate_event(system, kind: str, text: str, sighting: str, ts: datetime) -> Event:
    e = Event(
        kind=kind,
        region="KG-Y",
        camera="yk-cam-1",
        ts=ts,
        payload={"text": text, "compact": text.replace(" ", ""), "format": "private", "confidence": 0.9,
                 "vehicle": "car", "timing": "read" if kind == "plate_provisional" else "line",
                 "sighting": sighting},
    )  # fmt: skip
    system.writer.write_now([e])
    return e


def hits(system) -> list[Event]:
    return sorted(
        (a for a in alerts(system) if str(a.payload.get("rule_kind", "")).startswith("hotlist")), key=lambda a: a.id
    )


def test_a_provisional_hit_is_raised_at_once_and_confirmed_without_a_second_alert(watched) -> None:
    system = watched
    now = datetime.now(UTC)
    early = plate_event(system, "plate_provisional", "01 123 ABC", "s-1", now)
    (hit,) = hits(system)
    assert hit.payload["rule_kind"] == "hotlist_hit" and hit.payload["provisional"] is True
    assert hit.ts == early.ts and hit.payload["read"] == early.id and hit.severity == "critical"
    plate_event(system, "plate_read", "01 123 ABC", "s-1", now - timedelta(seconds=0.2))
    assert [a.id for a in hits(system)] == [hit.id]  # the decided read confirms it: no second alert
    st = system.road_watch.stats()
    assert st["early_hits"] == 1 and st["confirmed"] == 1 and st["unconfirmed"] == 0


def test_a_decided_read_of_another_plate_takes_the_hit_back(watched) -> None:
    system = watched
    now = datetime.now(UTC)
    plate_event(system, "plate_provisional", "01 123 ABC", "s-2", now)
    (hit,) = hits(system)
    # the decided read is another plate, and a listed one: the first hit is taken back, the second raised
    decided = plate_event(system, "plate_read", "09 555 KGA", "s-2", now)
    got = hits(system)
    back = [a for a in got if a.payload["rule_kind"] == "hotlist_unconfirmed"]
    new = [a for a in got if a.payload["rule_kind"] == "hotlist_hit" and a.id != hit.id]
    assert len(got) == 3 and len(back) == 1 and len(new) == 1, [a.payload for a in got]
    assert back[0].payload["retracts"] == hit.id and back[0].payload["listed_plate"] == "01 123 ABC"
    assert back[0].payload["plate"] == "09 555 KGA" and back[0].payload["read"] == decided.id
    assert back[0].severity == hit.severity  # said as loudly as the hit was
    assert new[0].payload["plate"] == "09 555 KGA" and new[0].payload["provisional"] is False
    assert system.road_watch.stats()["unconfirmed"] == 1


def test_a_provisional_read_after_its_decided_one_is_ignored(watched) -> None:
    system = watched
    now = datetime.now(UTC)
    plate_event(system, "plate_read", "01 123 ABC", "s-3", now)  # no provisional came first: the usual hit
    plate_event(system, "plate_provisional", "01 123 ABC", "s-3", now)  # late (another bus subject)
    (hit,) = hits(system)
    assert hit.payload["provisional"] is False
