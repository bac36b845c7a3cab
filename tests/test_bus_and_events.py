from datetime import UTC, datetime

import pytest

from koopsuz.bus.memory import MemoryBus
from koopsuz.domain.events import Event, subject_matches
from koopsuz.security.principal import Scope
from koopsuz.services.event_writer import EventWriter
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo


@pytest.mark.parametrize(
    ("pattern", "subject", "match"),
    [
        ("koopsuz.>", "koopsuz.motion.KG-Y.cam-1", True),
        ("koopsuz.*.KG-Y.>", "koopsuz.motion.KG-Y.cam-1", True),
        ("koopsuz.*.KG-Y.>", "koopsuz.motion.KG-C.cam-1", False),
        ("koopsuz.*.KG-Y.>", "koopsuz.motion.KG-Y", False),
        ("koopsuz.motion.*.*", "koopsuz.motion.KG-Y.cam-1", True),
        ("koopsuz.motion.*", "koopsuz.motion.KG-Y.cam-1", False),
    ],
)
def test_subject_wildcards_follow_nats(pattern: str, subject: str, match: bool) -> None:
    assert subject_matches(pattern, subject) is match


def _event(region: str = "KG-Y", camera: str = "cam-1") -> Event:
    return Event(kind="motion", region=region, camera=camera, ts=datetime.now(UTC))


def test_event_subject_and_naive_time_is_refused() -> None:
    assert _event().subject == "koopsuz.motion.KG-Y.cam-1"
    with pytest.raises(ValueError, match="timezone"):
        Event(kind="motion", region="KG-Y", ts=datetime.now())


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = MemoryBus()
    got: list[str] = []

    def broken(_s: str, _e: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe("koopsuz.>", broken)
    bus.subscribe("koopsuz.*.KG-Y.>", lambda s, e: got.append(s))
    bus.subscribe("koopsuz.*.KG-C.>", lambda s, e: got.append("wrong region"))
    bus.publish(_event())
    assert got == ["koopsuz.motion.KG-Y.cam-1"]


def test_writer_stores_before_publishing_and_replays_the_outbox_after_a_crash(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.migrate()
    seen_in_store: list[bool] = []
    bus = MemoryBus()

    def check(_s: str, e: Event) -> None:
        with db.session() as s:
            seen_in_store.append(EventRepo(s).get(e.id) is not None)

    bus.subscribe("koopsuz.>", check)
    w = EventWriter(db, bus)
    w.start()
    w.submit(_event())
    w.stop()
    assert seen_in_store == [True]

    # a crash between commit and publish: rows and outbox committed, nothing published
    lost = _event(camera="cam-2")
    with db.transaction() as s:
        EventRepo(s).add_with_outbox([lost])
    replayed: list[str] = []
    bus2 = MemoryBus()
    bus2.subscribe("koopsuz.>", lambda s, e: replayed.append(e.id))
    w2 = EventWriter(db, bus2)
    w2.start()
    w2.stop()
    assert replayed == [lost.id]
    with db.session() as s:
        assert EventRepo(s).pending_outbox() == []
        assert {e.id for e in EventRepo(s).search(Scope.national())} >= {lost.id}
        assert EventRepo(s).search(Scope.of("KG-C")) == []
