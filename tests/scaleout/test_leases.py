"""Camera leases in JetStream KV with a real nats-server: a fair share each, a dead worker's cameras
taken over within seconds, a new worker given its share without restarting anyone."""

from __future__ import annotations

import time

from koopsuz.bus import make_bus
from koopsuz.bus.leases import CameraLeases
from koopsuz.domain.leases import fair_share, plan
from tests.scaleout.servers import NatsServer, wait_for

CAMERAS = [f"cam-{i}" for i in range(6)]


def test_plan_keeps_a_fair_share_and_hands_back_the_rest() -> None:
    assert fair_share(6, 3) == 2 and fair_share(7, 3) == 3 and fair_share(0, 2) == 0
    p = plan("w1", CAMERAS, held={"cam-0", "cam-1", "cam-2"}, taken={"cam-3"}, workers=3)
    assert len(p.keep) == 2 and len(p.release) == 1 and p.claim == []
    p = plan("w1", CAMERAS, held={"cam-0", "gone"}, taken={"cam-1", "cam-2"}, workers=2)
    assert p.keep == ["cam-0"] and p.release == ["gone"] and len(p.claim) == 2
    assert set(p.claim) <= {"cam-3", "cam-4", "cam-5"}


def _disjoint_cover(workers: list[CameraLeases], n: int) -> bool:
    shares = [w.held() for w in workers]
    union = set().union(*shares)
    return union == set(CAMERAS) and sum(len(s) for s in shares) == len(CAMERAS) and all(len(s) == n for s in shares)


def test_dead_worker_cameras_move_and_a_new_worker_takes_its_share(nats_server: NatsServer) -> None:
    buses = [make_bus(nats_server.url) for _ in range(4)]
    kicks = {f"w{i}": 0 for i in range(4)}

    def worker(i: int) -> CameraLeases:
        def kick() -> None:
            kicks[f"w{i}"] += 1

        return CameraLeases(buses[i], lambda: CAMERAS, worker_id=f"w{i}", lease_s=3.0, on_change=kick)  # type: ignore[arg-type]

    ws = [worker(i) for i in range(3)]
    try:
        for w in ws:
            w.start()
        assert wait_for(lambda: _disjoint_cover(ws, 2), 10), [w.held() for w in ws]
        assert all(kicks[f"w{i}"] >= 1 for i in range(3))

        dead = ws.pop(0)
        orphaned = dead.held()
        t0 = time.monotonic()
        dead.stop(release=False)  # killed: no hand-back, its leases must expire
        buses[0].close()
        assert wait_for(lambda: _disjoint_cover(ws, 3), 10), [w.held() for w in ws]
        took = time.monotonic() - t0
        assert took < 10, f"cameras moved after {took:.1f}s"
        assert orphaned <= ws[0].held() | ws[1].held()
        print(f"takeover after a worker died: {took:.1f}s (lease 3 s)")

        late = CameraLeases(buses[3], lambda: CAMERAS, worker_id="w9", lease_s=30.0)  # type: ignore[arg-type]
        buses[3]._call(late._open(), timeout=5)
        assert late.lease_s == 3.0  # the bucket's lease life wins over a misconfigured worker

        newcomer = worker(3)
        newcomer.start()
        ws.append(newcomer)
        assert wait_for(lambda: _disjoint_cover(ws, 2), 10), [w.held() for w in ws]
    finally:
        for w in ws:
            w.stop()
        for b in buses[1:]:
            b.close()
