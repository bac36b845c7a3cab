"""The real ONVIF client (onvif-zeep-async, unmodified) drives the simulated dome, and its RTSP
picture follows: a pan shifts the picture by the expected number of pixels, a zoom magnifies it."""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import urlsplit

import av
import cv2
import numpy as np
import pytest
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from koopsuz.sim.ptz import FOV_DEG, magnification
from koopsuz.sim.rtsp import SimServer
from tests.ptz.conftest import ONVIF_PASSWORD, ONVIF_USER, onvif_url

pytestmark = pytest.mark.timeout(120)


def grab(server: SimServer, n: int = 4, camera: str = "yk-dome") -> np.ndarray:
    """A grey frame of the dome's sub stream, decoded from real RTSP (the n-th, past the first IDR)."""
    return frames(server, camera, n + 1)[-1]


def frames(server: SimServer, camera: str, n: int) -> list[np.ndarray]:
    out = []
    with av.open(server.url(camera, "sub"), options={"rtsp_transport": "tcp"}, timeout=10) as c:
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="gray").astype(np.float32))
            if len(out) == n:
                return out
    raise AssertionError("no frames")


async def settle(ptz, profile: str, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = await ptz.GetStatus({"ProfileToken": profile})
        if str(st.MoveStatus.PanTilt) == "IDLE" and str(st.MoveStatus.Zoom) == "IDLE":
            return st
        await asyncio.sleep(0.1)
    raise AssertionError("the dome kept moving")


def test_onvif_client_drives_the_dome_and_the_picture_follows(dome: SimServer) -> None:
    head = dome.ptz_heads["yk-dome"]

    async def run() -> None:
        port = urlsplit(onvif_url(dome)).port
        cam = ONVIFCamera("127.0.0.1", port, ONVIF_USER, ONVIF_PASSWORD, no_cache=True)
        try:
            await cam.update_xaddrs()
            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            assert [p.token for p in profiles] == ["main", "sub"]
            assert profiles[0].PTZConfiguration.NodeToken == "node-0"
            assert float(profiles[0].PTZConfiguration.ZoomLimits.Range.XRange.Max) == 1.0
            uri = await media.GetStreamUri(
                {"ProfileToken": "sub", "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}}
            )
            assert uri.Uri == dome.url("yk-dome", "sub")
            ptz = await cam.create_ptz_service()
            assert (await ptz.GetNodes())[0].MaximumNumberOfPresets == 64
            home_pos = {"PanTilt": {"x": 0.0, "y": 0.0}, "Zoom": {"x": 0.0}}
            await ptz.AbsoluteMove({"ProfileToken": "main", "Position": home_pos})
            await settle(ptz, "main")
            home = await ptz.SetPreset({"ProfileToken": "main", "PresetName": "home"})
            before = await asyncio.to_thread(grab, dome)

            # pan right by 0.02 (3.6 degrees): the scene slides left by that share of the field of view
            await ptz.RelativeMove({"ProfileToken": "main", "Translation": {"PanTilt": {"x": 0.02, "y": 0.0}}})
            st = await settle(ptz, "main")
            assert st.Position.PanTilt.x == pytest.approx(0.02, abs=1e-4)
            panned = await asyncio.to_thread(grab, dome)
            (dx, dy), response = cv2.phaseCorrelate(before, panned)
            expected = -0.02 / 2 * 360 / FOV_DEG * before.shape[1]  # pixels of the 640-wide sub picture
            assert dx == pytest.approx(expected, abs=1.5) and abs(dy) < 1.0 and response > 0.3, (dx, dy, response)

            # zoom to 2x at home: the new picture is the middle half of the old one, enlarged
            await ptz.GotoPreset({"ProfileToken": "main", "PresetToken": home})
            await settle(ptz, "main")
            z2 = 1.0 / 27.0
            await ptz.RelativeMove({"ProfileToken": "main", "Translation": {"Zoom": {"x": z2}}})
            await settle(ptz, "main")
            assert magnification(head.zoom) == pytest.approx(2.0, abs=1e-3)
            zoomed = await asyncio.to_thread(grab, dome)
            h, w = before.shape
            middle = cv2.resize(before[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4], (w, h))
            other = cv2.resize(before[: h // 2, : w // 2], (w, h))
            assert np.abs(zoomed - middle).mean() < 0.5 * np.abs(zoomed - other).mean()
            assert np.abs(zoomed - middle).mean() < 12

            # presets: listed with their position, recalled, removed; a wrong token is a fault
            presets = await ptz.GetPresets({"ProfileToken": "main"})
            assert [(p.token, p.Name) for p in presets] == [(home, "home")]
            await ptz.ContinuousMove({"ProfileToken": "main", "Velocity": {"PanTilt": {"x": -1.0, "y": 0.5}}})
            await asyncio.sleep(0.3)
            moving = await ptz.GetStatus({"ProfileToken": "main"})
            assert str(moving.MoveStatus.PanTilt) == "MOVING"
            await ptz.Stop({"ProfileToken": "main", "PanTilt": True, "Zoom": True})
            stopped = await settle(ptz, "main")
            assert stopped.Position.PanTilt.x < -0.05 and stopped.Position.PanTilt.y > 0.02
            await ptz.GotoPreset({"ProfileToken": "main", "PresetToken": home})
            back = await settle(ptz, "main")
            assert (back.Position.PanTilt.x, back.Position.PanTilt.y) == (pytest.approx(0.0), pytest.approx(0.0))
            with pytest.raises(Fault, match="no preset"):
                await ptz.GotoPreset({"ProfileToken": "main", "PresetToken": "nope"})
            await ptz.RemovePreset({"ProfileToken": "main", "PresetToken": home})
            assert not await ptz.GetPresets({"ProfileToken": "main"})
        finally:
            await cam.close()

        intruder = ONVIFCamera("127.0.0.1", cam.port, ONVIF_USER, "wrong", no_cache=True)
        try:
            dm = await intruder.create_devicemgmt_service()
            with pytest.raises(Fault, match="not authorized"):
                await dm.GetDeviceInformation()
        finally:
            await intruder.close()

    asyncio.run(run())


def test_at_home_the_dome_shows_its_scenario_and_its_truth_holds(dome: SimServer) -> None:
    """The loop plays in the first quarter of the ring: the walker moves at home, not when turned away;
    ground-truth lines say whether the dome was looking home when they happened."""
    head = dome.ptz_heads["yk-dome-2"]

    def truth_line(since: float) -> dict:
        deadline = time.monotonic() + 5  # the 2 s loop brings the walker in (and out) every loop
        while time.monotonic() < deadline:
            lines = [t for t in dome.truth_since(since) if t.get("camera") == "yk-dome-2" and "actor" in t]
            if lines:
                return lines[-1]
            time.sleep(0.1)
        raise AssertionError("no ground truth from yk-dome-2")

    def motion(n: int = 10) -> float:
        shots = frames(dome, "yk-dome-2", n + 3)[3:]
        return float(np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(shots)]))

    head.absolute(0.0, 0.0, 0.0)
    moving_home = motion()
    assert truth_line(time.time())["ptz_home"] is True
    head.absolute(1.0, 0.0, 0.0)  # half a turn: a still part of the street
    deadline = time.monotonic() + 5
    while any(head.moving()) and time.monotonic() < deadline:
        time.sleep(0.05)
    moving_away = motion()
    assert moving_home > 0.2 and moving_away < moving_home / 4, (moving_home, moving_away)
    assert truth_line(time.time())["ptz_home"] is False
    head.absolute(0.0, 0.0, 0.0)
