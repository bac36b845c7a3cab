"""Reading an evidence package (the zip, or the folder it was unpacked to) and checking it offline.

Nothing here needs the database or a server: a court's expert runs ``koopsuz evidence verify`` on
a laptop with the published public key. Files are hashed as they stream out of the zip, never
extracted, so a hostile archive (absolute names, ``..``) cannot write anywhere.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from koopsuz.domain.evidence_manifest import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    Digest,
    Verification,
    key_fingerprint,
    public_key_from_pem,
    verify,
)

CHUNK = 1 << 20
SMALL_MAX = 64 << 20  # manifest, signature and key are read whole; nothing honest is this large


class PackageError(ValueError):
    """Not a package at all (unreadable zip, empty folder); the message says what to do."""


@dataclass(slots=True)
class Contents:
    manifest: bytes | None
    signature: bytes | None
    public_key: bytes | None
    files: dict[str, Digest]  # every file except manifest.json and manifest.sig


def _hash(f: BinaryIO) -> tuple[Digest, bytes | None]:
    h, size, head = hashlib.sha256(), 0, bytearray()
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
        if len(head) <= SMALL_MAX:
            head += chunk
    return Digest(size, h.hexdigest()), bytes(head) if size <= SMALL_MAX else None


def _collect(opener: Callable[[str], BinaryIO], names: list[str]) -> Contents:
    # a folder zipped again by hand has one top folder around everything: look inside it
    prefix = ""
    tops = {n.split("/", 1)[0] for n in names}
    if MANIFEST not in names and len(tops) == 1 and all("/" in n for n in names):
        prefix = next(iter(tops)) + "/"
    out = Contents(None, None, None, {})
    for name in names:
        rel = name[len(prefix) :]
        try:
            with opener(name) as f:
                digest, data = _hash(f)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            digest, data = Digest(-1, "unreadable"), b""  # damaged beyond reading: still named as altered
        if rel == MANIFEST:
            out.manifest = data
        elif rel == SIGNATURE:
            out.signature = data
        else:
            out.files[rel] = digest
            if rel == PUBLIC_KEY:
                out.public_key = data
    return out


def _unchecked(zf: zipfile.ZipFile, name: str) -> BinaryIO:
    """A member without zipfile's CRC check: our SHA-256 is the check, and a CRC error would only
    say "bad zip" where the report must say which file changed."""
    f = zf.open(name)
    f._expected_crc = None  # type: ignore[attr-defined]
    return f  # type: ignore[return-value]


def read_package(path: Path) -> Contents:
    if path.is_dir():
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        if not names:
            raise PackageError(f"{path} is an empty folder, not an evidence package")
        return _collect(lambda n: (path / n).open("rb"), names)
    if not path.exists():
        raise PackageError(f"{path} does not exist")
    return read_zip(path, str(path))


def read_zip(source: Path | BinaryIO, label: str) -> Contents:
    """A zipped package from a path or an open (seekable) file, e.g. an upload."""
    path = label
    try:
        with zipfile.ZipFile(source) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            if not names:
                raise PackageError(f"{path} is an empty zip, not an evidence package")
            return _collect(lambda n: _unchecked(zf, n), names)
    except zipfile.BadZipFile:
        raise PackageError(f"{path} is neither a zip file nor a folder: give the package as it was exported") from None
    except (zipfile.LargeZipFile, RuntimeError, NotImplementedError) as exc:  # encrypted or unsupported members
        raise PackageError(f"{path} cannot be read: {exc}") from None


@dataclass(slots=True)
class Report:
    verification: Verification
    trust: str  # given | installation | package
    trusted_key_id: str

    @property
    def ok(self) -> bool:
        return self.verification.ok

    @property
    def warning(self) -> str | None:
        if self.trust != "package":
            return None
        return (
            "no trusted key was given and this machine has no installation key: checked against the key INSIDE "
            "the package, which only proves the package is internally consistent (anyone can re-sign a forged "
            f"package with their own key). Compare the fingerprint {self.trusted_key_id} with the one the "
            "installation published, or run again with --key PUBLISHED_KEY.pem"
        )

    def to_json(self) -> dict[str, object]:
        return self.verification.to_json() | {"trust": self.trust, "warning": self.warning}


def check(contents: Contents, trusted_pem: bytes | None, trust: str | None = None) -> Report:
    """Verify ``contents`` against ``trusted_pem`` (else the package's own key, flagged as such)."""
    if trusted_pem is None:
        if contents.public_key is None:
            raise PackageError("no key to check against: give --key PUBLISHED_KEY.pem (the package holds none)")
        trusted_pem, trust = contents.public_key, "package"
    key = public_key_from_pem(trusted_pem)
    result = verify(contents.manifest, contents.signature, key, contents.files)
    return Report(result, trust or "given", key_fingerprint(key))
