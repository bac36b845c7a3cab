"""Counting at a line, scored against the simulator's ground truth (issue 4: counts within a stated tolerance).

Twelve people cross a street camera's middle line in a 36 s loop, six each way, at different
distances and speeds, often two in view at once. The count is what the rule stage observes
(``track_crossed`` events, which the event writer tallies into ``line_counts``).

Tolerance, stated from measurement (shipped SSD-MobileNet on the simulator's cartoon people, which
it detects on about half the frames): at every analysed frame 8 of 12 counted (4 each way); rationed
to 4 looks a second 9 of 12, to 2 looks a second 9 of 12. Never a crossing that did not happen,
never one in the wrong direction. So a count here is a lower bound within a third of the truth;
the test asserts at least 2 of 3 each way, and no overcount.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import av

from koopsuz.sim.render import render_scenario
from koopsuz.sim.scenario import parse_scenario

from .conftest import CACHE, ROOT, Clip
from .test_rule_stage import MIDDLE, run_clip, truth_hits

FOOTFALL = """
seed: 777
fps: 15
loop_seconds: 36
gop_seconds: 1.0
cameras:
  - id: count-1
    scene: street
    light: day
    schedule:
      - {id: p1, at: 0.5, kind: person, path: [[-0.06, 0.97], [1.06, 0.97]], duration: 5.0}
      - {id: p2, at: 2.0, kind: person, path: [[1.06, 0.90], [-0.06, 0.90]], duration: 6.0}
      - {id: p3, at: 5.5, kind: person, path: [[-0.06, 0.93], [1.06, 0.93]], duration: 4.5}
      - {id: p4, at: 7.0, kind: person, path: [[-0.06, 0.98], [1.06, 0.98]], duration: 5.5}
      - {id: p5, at: 9.5, kind: person, path: [[1.06, 0.96], [-0.06, 0.96]], duration: 5.0}
      - {id: p6, at: 12.5, kind: person, path: [[1.06, 0.88], [-0.06, 0.88]], duration: 6.5}
      - {id: p7, at: 15.0, kind: person, path: [[-0.06, 0.95], [1.06, 0.95]], duration: 4.0}
      - {id: p8, at: 18.0, kind: person, path: [[1.06, 0.97], [-0.06, 0.97]], duration: 5.0}
      - {id: p9, at: 20.5, kind: person, path: [[-0.06, 0.91], [1.06, 0.91]], duration: 6.0}
      - {id: p10, at: 24.0, kind: person, path: [[1.06, 0.94], [-0.06, 0.94]], duration: 4.5}
      - {id: p11, at: 26.5, kind: person, path: [[-0.06, 0.97], [1.06, 0.97]], duration: 5.5}
      - {id: p12, at: 29.0, kind: person, path: [[1.06, 0.92], [-0.06, 0.92]], duration: 5.0}
"""


def test_counts_at_a_line_are_within_a_third_of_the_truth_and_never_over(ssd: Any) -> None:
    sc = parse_scenario(FOOTFALL, "footfall scenario")
    (rc,) = render_scenario(sc, CACHE, ROOT / "var" / "no-faces", workers=1, progress=False).values()
    codec = av.CodecContext.create("h264", "r")
    clip = Clip("count-1", rc.fps, [f for u in rc.sub.units for f in codec.decode(av.Packet(u))], rc.truth)
    truth = Counter(truth_hits(clip, MIDDLE))
    assert truth == {("person", "left_to_right"): 6, ("person", "right_to_left"): 6}  # the scenario says so
    events = run_clip(clip, ssd, [MIDDLE])
    counted = Counter((e.payload["class"], e.payload["direction"]) for e in events if e.kind == "track_crossed")
    assert set(counted) <= set(truth), counted  # no class or direction that did not cross
    for key, n in truth.items():
        assert 2 * n / 3 <= counted[key] <= n, (key, counted[key], n)
