"""The simulated PTZ head's mechanics (no I/O): moves take time, pan wraps round, continuous moves
end at their timeout or a stop, presets store and recall, the view window follows and narrows."""

from __future__ import annotations

import pytest

from koopsuz.sim.ptz import PtzHead, magnification, window


def test_absolute_move_takes_time_and_pan_takes_the_short_way_round() -> None:
    head = PtzHead(_t=0.0)
    head.absolute(0.9, 0.0, None, now=0.0)
    head.absolute(-0.9, 0.0, None, now=0.9)  # from 0.9 to -0.9: 0.2 across the seam, not 1.8 back
    assert head.moving(now=0.95) == (True, False)
    assert abs(head.position(now=1.0)[0]) == pytest.approx(1.0)  # at the seam (1 and -1 are one direction)
    assert head.position(now=1.2)[0] == pytest.approx(-0.9)
    assert head.moving(now=1.2) == (False, False)


def test_continuous_move_ends_at_its_timeout_or_at_stop() -> None:
    head = PtzHead(_t=0.0)
    head.continuous(1.0, 0.0, 0.0, timeout_s=0.5, now=0.0)
    assert head.position(now=2.0)[0] == pytest.approx(0.5)  # ran for 0.5 s at 1 unit/s, then stopped
    head.continuous(0.0, -1.0, 1.0, timeout_s=10, now=2.0)
    head.stop(pan_tilt=True, zoom=False, now=2.2)
    _p, tilt, zoom = head.position(now=3.0)
    assert tilt == pytest.approx(-0.2) and zoom == pytest.approx(0.5)  # zoom kept going (Stop named pan/tilt)
    head.stop(now=3.0)
    assert head.moving(now=3.0) == (False, False)


def test_presets_store_recall_and_refuse_unknown_tokens() -> None:
    head = PtzHead(max_presets=2)
    head.absolute(0.3, -0.2, 0.5)
    head.absolute(0.3, -0.2, 0.5)
    t0 = head.set_preset("gate")
    head.goto_preset(t0)
    with pytest.raises(KeyError):
        head.goto_preset("nope")
    head.set_preset("two")
    with pytest.raises(ValueError, match="presets are in use"):
        head.set_preset("three")
    head.remove_preset(t0)
    assert list(head.presets) == ["preset-2"]


def test_the_window_pans_round_and_narrows_with_zoom() -> None:
    assert magnification(0.0) == 1.0 and magnification(1.0) == 28.0
    cx0, cy0, w1, h1 = window(5120, 720, 0.0, 0.0, 0.0)
    cx1, _cy, w28, _h = window(5120, 720, 0.5, 0.0, 1.0)
    assert (cx0, cy0) == (640, 360) and cx1 == 1920  # home: the first stage (the rendered loop); +0.5: 90 deg on
    assert w1 == 1280 and h1 == 720 and w28 == pytest.approx(w1 / 28)  # at 1x the window is exactly that stage
    assert window(5120, 720, -1.0, 0.0, 0.0)[0] == window(5120, 720, 1.0, 0.0, 0.0)[0] == 3200  # half a turn
    _cx, top, _w, h_top = window(5120, 720, 0.0, 1.0, 0.2)
    assert top == pytest.approx(h_top / 2)  # tilted fully up: the window touches the top edge
