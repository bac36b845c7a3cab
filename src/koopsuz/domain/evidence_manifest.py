"""The evidence manifest: what a package holds, and the check that it still holds exactly that.

Pure logic (no files, no database): the service hands in what it knows, this module writes the
manifest as canonical bytes (sorted keys, fixed indentation, UTF-8, one trailing newline: the same
input always gives the same bytes, so the Ed25519 signature over them is reproducible and a court's
expert can re-derive it), and ``verify`` compares a package's manifest, signature and files and
names exactly what is wrong. The manifest is indented rather than minified because a person reads
it too; canonical means "no variance", not "no whitespace".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "koopsuz-evidence/1"
LOCAL_TZ = ZoneInfo("Asia/Bishkek")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
UNSIGNED = frozenset({MANIFEST, SIGNATURE})  # the two files the manifest cannot list
HOLE_S = 0.25  # recorded pieces closer than this are continuous (one frame at 4 fps)


class InvalidKey(ValueError):
    """Not an Ed25519 public key in PEM form."""


# -- keys -------------------------------------------------------------------------------------
def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidKey(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKey("the public key is not Ed25519")
    return key


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key (64 bits: unguessable, readable)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def grouped(key_id: str) -> str:
    """``0123456789abcdef`` -> ``0123 4567 89ab cdef``, for reading aloud and comparing by eye."""
    return " ".join(key_id[i : i + 4] for i in range(0, len(key_id), 4))


# -- times ------------------------------------------------------------------------------------
def utc_iso(t: datetime) -> str:
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_iso(t: datetime) -> str:
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return t.astimezone(LOCAL_TZ).isoformat(timespec="milliseconds")


def interval(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "start_utc": utc_iso(start),
        "end_utc": utc_iso(end),
        "start_local": local_iso(start),
        "end_local": local_iso(end),
        "duration_s": round((end - start).total_seconds(), 3),
    }


# -- building ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Gap:
    """Time inside the requested range with no footage in the package, and why (the recorder's word)."""

    start: datetime
    end: datetime
    cause: str
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return interval(self.start, self.end) | {"cause": self.cause, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class CameraPart:
    """One camera's share of a package."""

    id: str
    name: str
    region: str
    site: Mapping[str, Any]  # id, name, type, address
    lat: float | None
    lon: float | None
    requested: Span
    recorded: Sequence[Span]  # the continuous pieces the original file holds, in order
    gaps: Sequence[Gap]
    original: str
    viewing: str | None
    duration_s: float
    source_segments: Sequence[tuple[datetime, str]]  # (start, sha256) of each recorded segment used
    redaction: Mapping[str, Any] | None = None  # what the viewing copy hides (faces/plates blurred, kept)

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "site": dict(self.site),
            "coordinates": None if self.lat is None or self.lon is None else {"lat": self.lat, "lon": self.lon},
            "requested": interval(self.requested.start, self.requested.end),
            "recorded": {
                "pieces": [interval(p.start, p.end) for p in self.recorded],
                "duration_s": round(self.duration_s, 3),
                "file_starts_at": utc_iso(self.recorded[0].start) if self.recorded else None,
            },
            "gaps": [g.to_json() for g in self.gaps],
            "files": {"original": self.original, "viewing": self.viewing},
            "source_segments": [{"start_utc": utc_iso(t), "sha256": h} for t, h in self.source_segments],
        }
        if self.redaction is not None:
            out["redaction"] = dict(self.redaction)
        return out


def missing_time(
    requested: Span, recorded: Sequence[Span], known_gaps: Sequence[Gap], *, still_recording_after: datetime | None
) -> list[Gap]:
    """The parts of ``requested`` that no recorded piece covers, each with the recorder's cause.

    A cause comes from the recorded gap that overlaps the hole most; a hole no gap explains is
    ``unexplained``, one before anything was recorded ``not_recorded``, and one at the end of the
    range after ``still_recording_after`` (the newest segment still being written) ``not_yet_written``.
    """
    holes: list[tuple[datetime, datetime]] = []
    cursor = requested.start
    for p in sorted(recorded, key=lambda s: s.start):
        if (p.start - cursor).total_seconds() > HOLE_S and p.start > requested.start:
            holes.append((cursor, min(p.start, requested.end)))
        cursor = max(cursor, p.end)
        if cursor >= requested.end:
            break
    if (requested.end - cursor).total_seconds() > HOLE_S:
        holes.append((cursor, requested.end))
    first = min((p.start for p in recorded), default=None)
    out = []
    for a, b in holes:
        best, overlap = None, timedelta(0)
        for g in known_gaps:
            o = min(b, g.end) - max(a, g.start)
            if o > overlap:
                best, overlap = g, o
        if best is not None:
            out.append(Gap(a, b, best.cause, best.detail))
        elif still_recording_after is not None and a >= still_recording_after - timedelta(seconds=HOLE_S):
            out.append(Gap(a, b, "not_yet_written", "the newest segment was still being recorded"))
        elif first is None or b <= first:
            out.append(Gap(a, b, "not_recorded", "no recording of this camera covers this time"))
        else:
            out.append(Gap(a, b, "unexplained", None))
    return out


def build_manifest(
    *,
    export_id: str,
    case_number: str,
    legal_basis: str,
    reason: str,
    exporter: Mapping[str, Any],
    exported_at: datetime,
    key_id: str,
    requested: Span,
    cameras: Sequence[CameraPart],
    files: Sequence[FileEntry],
    software: str,
    redaction: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise ValueError("a package cannot list one path twice")
    if UNSIGNED & set(paths):
        raise ValueError(f"{MANIFEST} and {SIGNATURE} cannot be listed in the manifest")
    out = {
        "format": FORMAT,
        "export_id": export_id,
        "case": {"number": case_number, "legal_basis": legal_basis, "reason": reason},
        "exporter": dict(exporter),
        "exported_at": {"utc": utc_iso(exported_at), "local": local_iso(exported_at)},
        "time_zone": str(LOCAL_TZ),
        "signing": {"algorithm": "Ed25519", "key_id": key_id, "signed_file": MANIFEST, "signature_file": SIGNATURE},
        "requested": interval(requested.start, requested.end),
        "cameras": [c.to_json() for c in cameras],
        "files": [f.to_json() for f in sorted(files, key=lambda f: f.path)],
        "software": software,
    }
    if redaction is not None:  # the request's redaction: on or lifted (with the grants), subject, plates
        out["redaction"] = dict(redaction)
    return out


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    text = json.dumps(manifest, sort_keys=True, indent=2, separators=(",", ": "), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def encode_signature(sig: bytes) -> bytes:
    """manifest.sig: the 64-byte signature in base64 on one line (``base64 -d`` gives it back for openssl)."""
    return base64.b64encode(sig) + b"\n"


def decode_signature(data: bytes) -> bytes | None:
    if len(data) == 64:
        return data
    try:
        sig = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return sig if len(sig) == 64 else None


# -- verifying --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a package. ``kind``: signature_invalid, signature_missing,
    manifest_missing, manifest_unreadable, key_mismatch, file_altered, file_missing, unexpected_file."""

    kind: str
    path: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


@dataclass(slots=True)
class Verification:
    trusted_key_id: str
    signed_key_id: str | None = None
    signature_valid: bool = False
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.signature_valid and not self.problems

    @property
    def altered(self) -> list[str]:
        """Every path something is wrong with, in order, each once."""
        return list(dict.fromkeys(p.path for p in self.problems if p.path))

    def to_json(self) -> dict[str, Any]:
        m = self.manifest or {}
        return {
            "ok": self.ok,
            "signature_valid": self.signature_valid,
            "trusted_key_id": self.trusted_key_id,
            "signed_key_id": self.signed_key_id,
            "files_checked": self.files_checked,
            "problems": [p.to_json() for p in self.problems],
            "altered": self.altered,
            "export_id": m.get("export_id"),
            "case": m.get("case"),
            "exporter": m.get("exporter"),
            "exported_at": m.get("exported_at"),
            "cameras": [
                {"id": c.get("id"), "name": c.get("name"), "gaps": len(c.get("gaps") or [])}
                for c in m.get("cameras") or []
                if isinstance(c, dict)
            ],
        }


@dataclass(frozen=True, slots=True)
class Digest:
    size: int
    sha256: str


def verify(
    manifest: bytes | None,
    signature: bytes | None,
    trusted: Ed25519PublicKey,
    files: Mapping[str, Digest],
) -> Verification:
    """Check a package: the signature over the manifest's exact bytes, then every file against it.

    ``files`` are the package's files other than the manifest and its signature (path relative to
    the package, ``/``-separated) with their size and SHA-256 as found. Files are compared even
    when the signature fails, so the report can still point at what differs from the listing;
    an invalid signature alone already means the package cannot be trusted.
    """
    out = Verification(trusted_key_id=key_fingerprint(trusted))
    if manifest is None:
        out.problems.append(Problem("manifest_missing", MANIFEST, "the package has no manifest.json"))
        return out
    if signature is None:
        out.problems.append(Problem("signature_missing", SIGNATURE, "the package has no manifest.sig"))
    else:
        sig = decode_signature(signature)
        if sig is None:
            out.problems.append(Problem("signature_invalid", SIGNATURE, "manifest.sig is not an Ed25519 signature"))
        else:
            try:
                trusted.verify(sig, manifest)
                out.signature_valid = True
            except InvalidSignature:
                pass
    try:
        parsed = json.loads(manifest.decode("utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError) as exc:
        if not out.signature_valid:
            out.problems.insert(0, Problem("signature_invalid", MANIFEST, "manifest.json was altered: unreadable"))
        out.problems.append(Problem("manifest_unreadable", MANIFEST, f"manifest.json is not valid JSON: {exc}"))
        return out
    out.manifest = parsed
    signing = parsed.get("signing") if isinstance(parsed.get("signing"), dict) else {}
    out.signed_key_id = signing.get("key_id") if isinstance(signing.get("key_id"), str) else None
    if signature is not None and not out.signature_valid and decode_signature(signature) is not None:
        if out.signed_key_id and out.signed_key_id != out.trusted_key_id:
            out.problems.append(
                Problem(
                    "key_mismatch",
                    None,
                    f"the manifest names signing key {out.signed_key_id}, not the trusted key {out.trusted_key_id}",
                )
            )
            detail = "the signature does not verify with the trusted key (another installation's key, or altered)"
        else:
            detail = "the signature does not match manifest.json: the manifest was altered after signing"
        out.problems.insert(0, Problem("signature_invalid", MANIFEST, detail))
    listed: dict[str, Digest] = {}
    for f in parsed.get("files") or []:
        if isinstance(f, dict) and isinstance(f.get("path"), str):
            listed[f["path"]] = Digest(int(f.get("size") or 0), str(f.get("sha256") or ""))
    for path, want in sorted(listed.items()):
        got = files.get(path)
        if got is None:
            out.problems.append(
                Problem("file_missing", path, f"{path} is listed in the manifest but not in the package")
            )
        elif got != want:
            what = f"size {got.size} instead of {want.size}" if got.size != want.size else "SHA-256 differs"
            out.problems.append(Problem("file_altered", path, f"{path} was altered ({what})"))
        else:
            out.files_checked += 1
    for path in sorted(set(files) - set(listed)):
        out.problems.append(Problem("unexpected_file", path, f"{path} is in the package but not in the manifest"))
    return out
