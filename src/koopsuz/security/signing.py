"""The installation's Ed25519 signing key: what makes an evidence package checkable by anyone.

One key per installation, generated on first use under the data dir (PEM, PKCS#8, mode 0600) and
never leaving it; its public half is published (``koopsuz evidence key``) and handed to courts, so
a package verified against that published key proves it came out of this installation unaltered.
The key id is a fingerprint of the raw public key, short enough to read aloud over a phone.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from koopsuz.domain.evidence_manifest import key_fingerprint, public_key_from_pem

KEY_FILE = "installation.ed25519"
PUBLIC_FILE = "installation.ed25519.pub.pem"


class SigningKeyError(RuntimeError):
    """The key file exists but cannot be used; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    pem: bytes
    key_id: str


class InstallationKey:
    """Load-or-create the installation's key at ``keys_dir/installation.ed25519``."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self.path = keys_dir / KEY_FILE
        self._lock = threading.Lock()
        self._key: Ed25519PrivateKey | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def _private(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = self._load() if self.path.exists() else self._create()
            return self._key

    def _create(self) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        # O_EXCL: two processes starting at once must not each write (and sign with) their own key
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._load()
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        (self.keys_dir / PUBLIC_FILE).write_bytes(_public_pem(key.public_key()))
        return key

    def _load(self) -> Ed25519PrivateKey:
        try:
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise SigningKeyError(f"cannot read the installation key {self.path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{self.path} is not an Ed25519 private key")
        return key

    def public(self) -> PublicKey:
        pem = _public_pem(self._private().public_key())
        return PublicKey(pem, key_fingerprint(public_key_from_pem(pem)))

    def sign(self, data: bytes) -> bytes:
        return self._private().sign(data)


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint_of_pem(pem: bytes) -> str:
    return key_fingerprint(public_key_from_pem(pem))
