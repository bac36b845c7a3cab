"""1:N search over face vectors: an HNSW graph (usearch), with exact search while the set is small.

    index = FaceIndex()                      # 128-D, inner product on unit vectors
    index.add([17, 18], vectors)             # ids are the caller's (e.g. enrolled photo ids)
    index.search(probe, k=5)                 # [(17, 0.71), (3, 0.22), ...] best first
    index.remove([17])                       # gone from every later search
    index.save(path); FaceIndex.load(path)

Why usearch (bench/faces.py measures it beside FAISS and brute-force numpy): it removes entries
in place (FAISS's HNSW cannot remove; it would need a rebuild on every expired watchlist entry),
answers a 1 M search in well under a millisecond, and saves/loads in one file. Below
``exact_below`` entries (default 10 000) searches scan every vector (usearch's ``exact=True``, the
same arithmetic as numpy's ``vectors @ probe`` and about as fast at that size): a small watchlist
then never misses a match to the graph's approximation.

Vectors are L2-normalised on the way in (SFace's already are), so inner product = cosine
similarity, and :meth:`search` returns similarities (1 = identical), not distances.

Pure: no store I/O; the caller keeps it in step with the store (build at start from the approved,
unexpired entries; add/remove on every change). One lock serialises mutation and search, so one
index may be shared between threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from usearch.index import Index, MetricKind

DEFAULT_DIM = 128
EXACT_BELOW = 10_000
_MAX_ID = 2**63 - 1


class FaceIndexError(ValueError):
    """Bad ids, vectors or files handed to a :class:`FaceIndex`; the message says what is wrong."""


class FaceIndex:
    """Top-k cosine search over unit vectors keyed by non-negative integer ids.

    ``connectivity`` (HNSW M), ``expansion_add`` (efConstruction) and ``expansion_search`` (ef)
    default to values bench/faces.py found to give recall@1 >= 0.99 at 1 M faces.
    """

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        *,
        exact_below: int = EXACT_BELOW,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 96,
        dtype: str = "f32",
        threads: int = 0,
        _index: Index | None = None,
    ) -> None:
        self.dim = dim
        self.exact_below = exact_below
        self.threads = threads  # 0: all cores, for bulk add
        self._lock = threading.Lock()
        self._ix = _index or Index(
            ndim=dim,
            metric=MetricKind.IP,
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )

    # ------------------------------------------------------------------ changes

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace: an id already present gets the new vector) one vector per id."""
        keys = _keys(ids)
        vecs = self._vectors(vectors, len(keys))
        if len(np.unique(keys)) != len(keys):
            raise FaceIndexError("the same id appears twice in one add()")
        if not len(keys):
            return
        with self._lock:
            present = keys[self._ix.contains(keys)] if len(self._ix) else keys[:0]
            if len(present):
                self._ix.remove(present)
            self._ix.add(keys, vecs, threads=self.threads)

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove these ids (unknown ids are ignored); returns how many were removed."""
        keys = _keys(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if not len(keys):
            return 0
        with self._lock:
            present = keys[self._ix.contains(keys)] if len(self._ix) else keys[:0]
            if len(present):
                self._ix.remove(present)
            return len(present)

    def clear(self) -> None:
        with self._lock:
            self._ix.reset()

    # ------------------------------------------------------------------ queries

    def search(self, vector: np.ndarray, k: int = 5, *, exact: bool | None = None) -> list[tuple[int, float]]:
        """The ``k`` most similar ids with their cosine similarities, best first.

        ``exact`` forces a full scan (True) or the graph (False); by default the index scans while
        it holds fewer than ``exact_below`` vectors.
        """
        if k < 1:
            raise FaceIndexError("k must be at least 1")
        q = self._vectors(vector, 1)[0]
        with self._lock:
            n = len(self._ix)
            if n == 0:
                return []
            use_exact = n < self.exact_below if exact is None else exact
            m = self._ix.search(q, min(k, n), exact=use_exact)
            keys, dist = np.asarray(m.keys), np.asarray(m.distances)
        return [(int(key), float(1.0 - d)) for key, d in zip(keys, dist, strict=True)]

    def search_many(self, vectors: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Batch search: (ids, similarities), each (n, k); missing slots are id -1, similarity -inf."""
        q = self._vectors(vectors, None)
        out_ids = np.full((len(q), k), -1, np.int64)
        out_sim = np.full((len(q), k), -np.inf, np.float32)
        with self._lock:
            n = len(self._ix)
            if n == 0 or not len(q):
                return out_ids, out_sim
            m = self._ix.search(q, min(k, n), exact=n < self.exact_below, threads=self.threads)
            keys, dist, counts = np.asarray(m.keys), np.asarray(m.distances), np.asarray(m.counts)
        for i, c in enumerate(counts):
            out_ids[i, :c] = keys[i, :c].astype(np.int64)
            out_sim[i, :c] = 1.0 - dist[i, :c]
        return out_ids, out_sim

    def __len__(self) -> int:
        return len(self._ix)

    def __contains__(self, id_: int) -> bool:
        return bool(len(self._ix)) and bool(self._ix.contains(int(id_)))

    def ids(self) -> np.ndarray:
        """Every id in the index (unordered)."""
        with self._lock:
            return np.asarray(self._ix.keys, dtype=np.int64) if len(self._ix) else np.zeros(0, np.int64)

    @property
    def memory_bytes(self) -> int:
        """The index's own memory use (vectors + graph), as usearch accounts it."""
        return int(self._ix.memory_usage)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> None:
        """Write the whole index to one file (atomically: a crash leaves the old file)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        with self._lock:
            self._ix.save(str(tmp))
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | Path, *, exact_below: int = EXACT_BELOW, threads: int = 0) -> FaceIndex:
        """Read a file written by :meth:`save`; a missing or foreign file is a clear error."""
        p = Path(path)
        if not p.is_file():
            raise FaceIndexError(f"no face index at {p}")
        try:
            ix = Index.restore(str(p))
        except (RuntimeError, ValueError) as exc:
            raise FaceIndexError(f"{p} is not a face index file: {exc}") from None
        if ix is None:
            raise FaceIndexError(f"{p} is not a face index file")
        if ix.metric != MetricKind.IP:
            raise FaceIndexError(f"{p} holds a {ix.metric} index, expected inner product")
        return cls(ix.ndim, exact_below=exact_below, threads=threads, _index=ix)

    # ------------------------------------------------------------------ checks

    def _vectors(self, vectors: np.ndarray, n: int | None) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise FaceIndexError(f"expected vectors of dimension {self.dim}, got shape {np.shape(vectors)}")
        if n is not None and len(v) != n:
            raise FaceIndexError(f"{n} ids but {len(v)} vectors")
        if not np.isfinite(v).all():
            raise FaceIndexError("vectors contain NaN or infinity")
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        if (norms < 1e-12).any():
            raise FaceIndexError("a zero vector cannot be searched by similarity")
        return np.ascontiguousarray(v / norms)


def _keys(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise FaceIndexError("ids must be integers")
    if arr.size and (arr.min() < 0 or arr.max() > _MAX_ID):
        raise FaceIndexError("ids must be non-negative 63-bit integers")
    return arr.astype(np.uint64)


def exact_search(vectors: np.ndarray, ids: np.ndarray, probe: np.ndarray, k: int = 1) -> list[tuple[int, float]]:
    """Brute force over a (n, d) unit-vector matrix, as CompreFace does: the reference for recall."""
    sims = vectors @ np.asarray(probe, np.float32).reshape(-1)
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top])]
    return [(int(ids[i]), float(sims[i])) for i in top]
