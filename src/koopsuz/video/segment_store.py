"""Where recorded segment files live: the recorder's disk, or an S3 API (issue 9).

ffmpeg can only write local files, so a recorder always records to its own disk first; with
``KOOPSUZ_RECORDINGS_URL=s3://bucket/prefix`` an uploader (``video/segment_uploader.py``) then moves
each finished file to the bucket and the local disk is only a buffer. Everything that reads
footage (playback, exports, evidence packages) and retention go through a ``SegmentStore``, so any
``koopsuz api`` node serves a camera's footage whether or not it recorded it.

Keys are the media-relative paths the index already stores (``recordings/<camera>/<day>/<session>/
seg-000012.m4s``), under the URL's prefix: the index needs no change and a bucket listing reads like
the recorder's folder. Integrity stays the index's business: readers hash what they get and compare
it with the SHA-256 the recorder computed, wherever the bytes came from.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ulid import ULID


class SegmentMissing(LookupError):
    """The file is in none of the places it should be (deleted by retention, lost, never uploaded)."""


class SegmentStoreError(RuntimeError):
    """The store could not be reached or refused the request; the message says which and why."""


def safe_rel(rel: str) -> str | None:
    """A stored relative path, or None when it could escape the media root or the bucket prefix.

    Checked on the text: resolving every path costs a stat per folder."""
    p = Path(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel:
        return None
    return p.as_posix()


class SegmentStore(Protocol):
    """The port: read, size, copy out and delete recorded files by their media-relative path."""

    kind: str

    def read(self, rel: str) -> bytes:
        """The file's bytes; SegmentMissing if it is nowhere, SegmentStoreError if the store is away."""
        ...

    def sizes(self, rels: Sequence[str]) -> dict[str, int]:
        """Sizes of the files that exist (absent ones are left out); one listing per folder, not a call per file."""
        ...

    def local_copy(self, rel: str) -> Path:
        """A local file holding the bytes (libavformat reads files): the original, or a cached download."""
        ...

    def delete(self, rels: Iterable[str]) -> int:
        """Remove these files (absent ones are fine); the number of files removed."""
        ...


class LocalSegmentStore:
    """The recorder's own disk: today's behaviour, and the buffer in front of S3."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, rel: str) -> Path:
        clean = safe_rel(rel)
        if clean is None:
            raise SegmentMissing(f"invalid media reference {rel!r}")
        return self.root / clean

    def read(self, rel: str) -> bytes:
        try:
            return self.path(rel).read_bytes()
        except OSError:
            raise SegmentMissing(f"recording file {rel} is missing (deleted by retention or lost)") from None

    def sizes(self, rels: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for rel in rels:
            with contextlib.suppress(OSError, SegmentMissing):
                out[rel] = self.path(rel).stat().st_size
        return out

    def local_copy(self, rel: str) -> Path:
        p = self.path(rel)
        if not p.exists():
            raise SegmentMissing(f"recording file {rel} is missing (deleted by retention or lost)")
        return p

    def delete(self, rels: Iterable[str]) -> int:
        n = 0
        for rel in rels:
            try:
                self.path(rel).unlink()
                n += 1
            except (FileNotFoundError, SegmentMissing):
                pass
        return n


class S3SegmentStore:
    """Segments in a bucket of any S3 API (AWS, MinIO, Ceph RGW, SeaweedFS...), through boto3.

    Reads go through a local cache (``cache_dir``, bounded by ``cache_bytes``, oldest out first):
    an export reads each file twice (hash check, then libavformat) and a viewer seeks back, neither
    should fetch the same segment again. Segments never change once written, so a cached copy is
    stale only when it is gone from the bucket, and readers still hash what they serve.
    """

    kind = "s3"

    def __init__(
        self,
        url: str,
        *,
        cache_dir: Path,
        cache_bytes: int = 2 * 2**30,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = url
        self.cache_dir = cache_dir.resolve()
        self.cache_bytes = cache_bytes
        self._cache_lock = threading.Lock()
        self._cached = 0  # bytes added since the cache was last trimmed
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region or "us-east-1",
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                # fail fast: the uploader has its own retry with backoff, and a reader its user waiting
                config=Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"}),
            )
        self.client = client

    def key(self, rel: str) -> str:
        clean = safe_rel(rel)
        if clean is None:
            raise SegmentMissing(f"invalid media reference {rel!r}")
        return f"{self.prefix}{clean}"

    # -- writing (the uploader) -----------------------------------------------------------
    def put_file(self, rel: str, path: Path, sha256: str | None = None) -> None:
        """Upload one local file; raises SegmentStoreError when the store is away or refuses it."""
        from botocore.exceptions import BotoCoreError, ClientError

        meta = {"sha256": sha256} if sha256 else {}
        try:
            with path.open("rb") as f:
                self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=f, Metadata=meta)
        except (BotoCoreError, ClientError) as exc:
            raise SegmentStoreError(f"cannot upload {rel} to {self.url}: {_why(exc)}") from None

    # -- reading --------------------------------------------------------------------------
    def read(self, rel: str) -> bytes:
        return self.local_copy(rel).read_bytes()

    def local_copy(self, rel: str) -> Path:
        key = self.key(rel)
        dest = self.cache_dir / safe_rel(rel)  # type: ignore[operator]  # key() refused anything unsafe
        if dest.is_file():
            with contextlib.suppress(OSError):
                os.utime(dest)  # recently used: trimmed last
            return dest
        from botocore.exceptions import BotoCoreError, ClientError

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{ULID()}.part")
        try:
            self.client.download_file(self.bucket, key, str(tmp))
            os.replace(tmp, dest)
        except ClientError as exc:
            tmp.unlink(missing_ok=True)
            if _status(exc) in (403, 404):
                raise SegmentMissing(
                    f"recording file {rel} is not in {self.url} (deleted by retention or lost)"
                ) from None
            raise SegmentStoreError(f"cannot read {rel} from {self.url}: {_why(exc)}") from None
        except BotoCoreError as exc:
            tmp.unlink(missing_ok=True)
            raise SegmentStoreError(f"cannot read {rel} from {self.url}: {_why(exc)}") from None
        self._note_cached(dest)
        return dest

    def sizes(self, rels: Sequence[str]) -> dict[str, int]:
        from botocore.exceptions import BotoCoreError, ClientError

        by_dir: dict[str, set[str]] = defaultdict(set)
        for rel in rels:
            clean = safe_rel(rel)
            if clean is not None:
                by_dir[clean.rsplit("/", 1)[0] if "/" in clean else ""].add(rel)
        out: dict[str, int] = {}
        pages = self.client.get_paginator("list_objects_v2")
        for folder, wanted in by_dir.items():
            prefix = f"{self.prefix}{folder}/" if folder else self.prefix
            try:
                for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                    for obj in page.get("Contents", []):
                        rel = obj["Key"][len(self.prefix) :]
                        if rel in wanted:
                            out[rel] = int(obj["Size"])
            except (BotoCoreError, ClientError) as exc:
                raise SegmentStoreError(f"cannot list {prefix} in {self.url}: {_why(exc)}") from None
        return out

    def delete(self, rels: Iterable[str]) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        keys = []
        for rel in rels:
            with contextlib.suppress(SegmentMissing):
                keys.append(self.key(rel))
                (self.cache_dir / rel).unlink(missing_ok=True)
        n = 0
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = [{"Key": k} for k in keys[i : i + 1000]]
            try:
                r = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
            except (BotoCoreError, ClientError) as exc:
                raise SegmentStoreError(f"cannot delete from {self.url}: {_why(exc)}") from None
            errors = r.get("Errors", [])
            if errors:
                raise SegmentStoreError(
                    f"{self.url} refused to delete {len(errors)} file(s): {errors[0].get('Message')}"
                )
            n += len(chunk)
        return n

    def check(self) -> None:
        """Raise SegmentStoreError unless the bucket answers (readiness, start-up message)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise SegmentStoreError(f"recordings bucket {self.url} unreachable: {_why(exc)}") from None

    # -- the read cache -------------------------------------------------------------------
    def _note_cached(self, path: Path) -> None:
        with self._cache_lock:
            with contextlib.suppress(OSError):
                self._cached += path.stat().st_size
            if self._cached < self.cache_bytes // 10:
                return  # trim in steps of a tenth of the cache, not after every download
            self._cached = 0
            files = []
            for p in self.cache_dir.rglob("*"):
                with contextlib.suppress(OSError):
                    if p.is_file():
                        st = p.stat()
                        files.append((st.st_mtime, st.st_size, p))
            total = sum(size for _t, size, _p in files)
            for _t, size, p in sorted(files):
                if total <= self.cache_bytes:
                    break
                p.unlink(missing_ok=True)
                total -= size


class BufferedSegmentStore:
    """The local disk in front of a remote store: what is still local is read there, the rest remotely.

    On a recorder node a segment is local until the uploader has moved it; on an API node nothing
    is local and everything comes from the bucket. Deleting removes both copies.
    """

    def __init__(self, local: LocalSegmentStore, remote: S3SegmentStore) -> None:
        self.local = local
        self.remote = remote
        self.kind = remote.kind

    def read(self, rel: str) -> bytes:
        try:
            return self.local.read(rel)
        except SegmentMissing:  # uploaded (and removed here) meanwhile, or never here
            return self.remote.read(rel)

    def sizes(self, rels: Sequence[str]) -> dict[str, int]:
        out = self.local.sizes(rels)
        rest = [r for r in rels if r not in out]
        if rest:
            out.update(self.remote.sizes(rest))
        return out

    def local_copy(self, rel: str) -> Path:
        try:
            return self.local.local_copy(rel)
        except SegmentMissing:
            return self.remote.local_copy(rel)

    def delete(self, rels: Iterable[str]) -> int:
        rels = list(rels)
        self.local.delete(rels)
        return self.remote.delete(rels)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); a clear error for anything else."""
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise ValueError(f"recordings URL {url!r}: expected s3://bucket or s3://bucket/prefix")
    prefix = u.path.strip("/")
    if prefix and safe_rel(prefix) is None:
        raise ValueError(f"recordings URL {url!r}: the prefix may not contain '..'")
    return u.netloc, f"{prefix}/" if prefix else ""


def make_segment_store(settings: Any) -> LocalSegmentStore | BufferedSegmentStore:
    """The store the settings name: the media dir alone, or the media dir buffering an S3 bucket."""
    local = LocalSegmentStore(settings.media_dir)
    url = settings.recordings_url
    if not url:
        return local
    secret = settings.s3_secret_access_key
    remote = S3SegmentStore(
        url,
        cache_dir=settings.data_dir / "cache" / "recordings",
        cache_bytes=settings.recordings_cache_mb * 2**20,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    return BufferedSegmentStore(local, remote)


def _status(exc: Any) -> int | None:
    try:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _why(exc: Exception) -> str:
    """A short reason without the request's signature or credentials."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
