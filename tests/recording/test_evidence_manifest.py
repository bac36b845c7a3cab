"""Pure parts of evidence packages: gaps inside a range, canonical bytes, verify edge cases, the key."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from koopsuz.domain.evidence_manifest import (
    Digest,
    Gap,
    Span,
    canonical_bytes,
    encode_signature,
    missing_time,
    public_key_from_pem,
    verify,
)
from koopsuz.security.signing import InstallationKey
from koopsuz.video.watermark import ascii_text, piecewise_clock

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_missing_time_names_each_hole_with_its_cause() -> None:
    recorded = [Span(at(10), at(20)), Span(at(20.1), at(30)), Span(at(40), at(50))]
    known = [Gap(at(30), at(39.5), "recorder_crashed", "signal 9"), Gap(at(0), at(5), "stream_lost")]
    gaps = missing_time(Span(at(-5), at(60)), recorded, known, still_recording_after=None)
    got = [((g.start - T0).total_seconds(), (g.end - T0).total_seconds(), g.cause) for g in gaps]
    # before anything: the recorded gap overlapping it most; a 0.1 s step is continuous footage
    assert got == [(-5, 10, "stream_lost"), (30, 40, "recorder_crashed"), (50, 60, "unexplained")]
    assert missing_time(Span(at(-5), at(5)), recorded, [], still_recording_after=None)[0].cause == "not_recorded"
    assert missing_time(Span(at(12), at(18)), recorded, known, still_recording_after=None) == []


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    a = canonical_bytes({"b": 1, "a": {"y": "й", "x": [1, 2]}})
    b = canonical_bytes({"a": {"x": [1, 2], "y": "й"}, "b": 1})
    assert a == b and a.endswith(b"}\n") and "й".encode() in a


def test_installation_key_is_private_persistent_and_signs(tmp_path: Path) -> None:
    k = InstallationKey(tmp_path / "keys")
    assert not k.exists()
    pub = k.public()
    assert k.exists() and stat.S_IMODE(os.stat(k.path).st_mode) == 0o600
    assert InstallationKey(tmp_path / "keys").public() == pub  # loaded, not regenerated
    body = canonical_bytes({"x": 1})
    files = {"a.txt": Digest(1, "00")}
    v = verify(body, encode_signature(k.sign(body)), public_key_from_pem(pub.pem), {})
    assert v.ok and v.signed_key_id is None
    v = verify(None, None, public_key_from_pem(pub.pem), files)
    assert [p.kind for p in v.problems] == ["manifest_missing"]
    v = verify(body, b"garbage", public_key_from_pem(pub.pem), files)
    assert [p.kind for p in v.problems] == ["signature_invalid", "unexpected_file"]


def test_watermark_text_and_clock() -> None:
    assert ascii_text("Дело №5, Өмүрбеков Ң.") == "Delo ?5, Omurbekov Ng."
    clock = piecewise_clock([(0.0, at(100)), (4.0, at(200))])
    assert clock(1.5) == at(101.5) and clock(4.0) == at(200) and clock(6.25) == at(202.25)
