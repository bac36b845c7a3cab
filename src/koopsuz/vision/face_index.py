"""1:N search over face vectors: exact below 20 000 faces, a binary-sketch scan with exact re-ranking above.

    index = FaceIndex()                      # 128-D unit vectors, cosine similarity
    index.add([17, 18], vectors)             # ids are the caller's (e.g. enrolled photo ids)
    index.search(probe, k=5)                 # [(17, 0.71), (3, 0.22), ...] best first
    index.remove([17])                       # gone from every later search
    index.save(path); FaceIndex.load(path)

How it searches (bench/faces.py measured the choice; docs/benchmarks.md has the numbers):

* Below ``exact_below`` vectors (default 20 000): every vector, exactly (FAISS's flat scan). A
  watchlist of that size never misses a match to an approximation, and a full scan is as fast as
  the sketch scan there (measured: 0.04 ms at 10 000, 1.4 ms at 100 000 vs the sketch's 0.5 ms).
* Above: each vector also has a 512-bit sketch (the signs of 512 random projections, SimHash), so
  the Hamming distance between sketches estimates the angle between vectors. A FAISS
  ``IndexBinaryFlat`` scans all sketches (64 bytes a face, SIMD popcount, one core) for the
  ``rerank`` closest, and those are re-scored exactly on the float vectors. A true match at
  cosine >= 0.5 lies so far inside the 512 candidates that recall@1 against exact search measured
  1.000 at 1 M faces, in ~2-3 ms on one core, with no graph to build (1 M faces index in seconds).
  HNSW graphs (usearch, FAISS) were measured too: on 128-D face-like vectors they need very wide
  beams for recall@1 >= 0.99, and minutes to build a million.

Removal is exact: the rows go from the sketch index and from the vectors in the same step, so a
removed id can never be returned. Adding an id that is present replaces its vector.

Vectors are L2-normalised on the way in (SFace's already are), so inner product = cosine
similarity, and :meth:`search` returns similarities (1 = identical), not distances. Memory: the
float32 vectors (512 B), the sketch (64 B) and the id (8 B): about 0.58 GB per million faces.

Pure: no store I/O; the caller keeps it in step with the store (build at start from the approved,
unexpired entries; add/remove on every change). Thread-safe: searches share a read lock and run
in parallel (FAISS and numpy release the GIL), changes take it exclusively. FAISS is told to use
one thread per search (its OpenMP threads fight for a small machine's cores and multiply tail
latency; measured), so two threads searching use both cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

DEFAULT_DIM = 128
EXACT_BELOW = 20_000
SKETCH_BITS = 512
RERANK = 512
_FORMAT = 1
_MAX_ID = 2**63 - 1

faiss.omp_set_num_threads(1)


class FaceIndexError(ValueError):
    """Bad ids, vectors or files handed to a :class:`FaceIndex`; the message says what is wrong."""


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back so it is not starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class FaceIndex:
    """Top-k cosine search over unit vectors keyed by non-negative integer ids."""

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        *,
        exact_below: int = EXACT_BELOW,
        sketch_bits: int = SKETCH_BITS,
        rerank: int = RERANK,
        seed: int = 20261125,
    ) -> None:
        if sketch_bits % 64:
            raise FaceIndexError("sketch_bits must be a multiple of 64")
        self.dim, self.exact_below, self.rerank, self.seed = dim, exact_below, rerank, seed
        self._lock = _ReadWriteLock()
        rng = np.random.default_rng(seed)
        self._proj = rng.standard_normal((dim, sketch_bits)).astype(np.float32)
        self._sketches = faiss.IndexBinaryFlat(sketch_bits)
        self._ids = np.zeros(0, np.int64)
        self._vecs = np.zeros((0, dim), np.float32)
        self._n = 0

    # ------------------------------------------------------------------ changes

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace: an id already present gets the new vector) one vector per id."""
        keys = _keys(ids)
        vecs = self._vectors(vectors, len(keys))
        if len(np.unique(keys)) != len(keys):
            raise FaceIndexError("the same id appears twice in one add()")
        if not len(keys):
            return
        codes = self._sketch(vecs)
        with self._lock.write():
            self._remove_rows(np.isin(self._ids[: self._n], keys))
            self._grow(self._n + len(keys))
            self._ids[self._n : self._n + len(keys)] = keys
            self._vecs[self._n : self._n + len(keys)] = vecs
            self._sketches.add(codes)
            self._n += len(keys)

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove these ids (unknown ids are ignored); returns how many were removed."""
        keys = _keys(ids if isinstance(ids, np.ndarray) else list(ids))
        if not len(keys):
            return 0
        with self._lock.write():
            return self._remove_rows(np.isin(self._ids[: self._n], keys))

    def clear(self) -> None:
        with self._lock.write():
            self._remove_rows(np.ones(self._n, bool))

    def _remove_rows(self, mask: np.ndarray) -> int:
        """Drop the rows where ``mask`` is true, keeping order, from the sketches and the arrays alike."""
        gone = int(mask.sum())
        if not gone:
            return 0
        rows = np.flatnonzero(mask).astype(np.int64)
        self._sketches.remove_ids(faiss.IDSelectorBatch(rows))
        keep = np.flatnonzero(~mask)
        self._ids[: len(keep)] = self._ids[keep]
        self._vecs[: len(keep)] = self._vecs[keep]
        self._n = len(keep)
        assert self._sketches.ntotal == self._n
        return gone

    def _grow(self, need: int) -> None:
        if need <= len(self._ids):
            return
        cap = max(need, 2 * len(self._ids), 1024)
        ids, vecs = np.zeros(cap, np.int64), np.zeros((cap, self.dim), np.float32)
        ids[: self._n], vecs[: self._n] = self._ids[: self._n], self._vecs[: self._n]
        self._ids, self._vecs = ids, vecs

    # ------------------------------------------------------------------ queries

    def search(self, vector: np.ndarray, k: int = 5, *, exact: bool | None = None) -> list[tuple[int, float]]:
        """The ``k`` most similar ids with their cosine similarities, best first.

        ``exact`` forces a full scan (True) or the sketch scan (False); by default the index scans
        every vector while it holds fewer than ``exact_below``.
        """
        if k < 1:
            raise FaceIndexError("k must be at least 1")
        q = self._vectors(vector, 1)
        code = self._sketch(q)  # outside the lock; a few microseconds
        with self._lock.read():
            n = self._n
            if n == 0:
                return []
            if (n < self.exact_below) if exact is None else exact:
                # FAISS's single-threaded SIMD scan, not numpy's `@`: multi-threaded BLAS on a busy
                # 2-core machine has a 40 ms p99 for 20 000 vectors, this one under 1 ms (measured)
                sims, rows = faiss.knn(q, self._vecs[:n], min(k, n), metric=faiss.METRIC_INNER_PRODUCT)
                ids = self._ids[rows[0]]
                return [(int(i), float(s)) for i, s in zip(ids, sims[0], strict=True)]
            _, found = self._sketches.search(code, min(n, max(self.rerank, k)))
            rows = found[0][found[0] >= 0]
            sims, ids = self._vecs[rows] @ q[0], self._ids[rows]  # 512 x 128: too small for BLAS threads
        top = _top(sims, k)
        return [(int(ids[i]), float(sims[i])) for i in top]

    def search_many(self, vectors: np.ndarray, k: int = 1) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``vectors`` (e.g. the best faces of one track)."""
        return [self.search(v, k) for v in self._vectors(vectors, None)]

    def __len__(self) -> int:
        return self._n

    def __contains__(self, id_: int) -> bool:
        with self._lock.read():
            return bool(np.any(self._ids[: self._n] == id_))

    def ids(self) -> np.ndarray:
        """Every id in the index, in insertion order."""
        with self._lock.read():
            return self._ids[: self._n].copy()

    @property
    def memory_bytes(self) -> int:
        """Bytes held for the faces now in the index (vectors, sketches, ids; spare capacity excluded)."""
        return self._n * (self.dim * 4 + self._sketches.code_size + 8)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> None:
        """Write the whole index to one file (atomically: a crash leaves the old file)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        with self._lock.read():
            codes = faiss.vector_to_array(self._sketches.xb)
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    format=np.int64(_FORMAT),
                    meta=np.array([self.dim, self.exact_below, self.rerank, self.seed], np.int64),
                    proj=self._proj,
                    ids=self._ids[: self._n],
                    vecs=self._vecs[: self._n],
                    codes=codes.reshape(self._n, self._sketches.code_size),
                )
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | Path, *, exact_below: int | None = None) -> FaceIndex:
        """Read a file written by :meth:`save`; a missing or foreign file is a clear error."""
        p = Path(path)
        if not p.is_file():
            raise FaceIndexError(f"no face index at {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                if int(z["format"]) != _FORMAT:
                    raise FaceIndexError(f"{p}: face index format {int(z['format'])}, expected {_FORMAT}")
                dim, exact, rerank, seed = (int(x) for x in z["meta"])
                proj, ids, vecs, codes = z["proj"], z["ids"], z["vecs"], z["codes"]
        except (OSError, ValueError, KeyError, EOFError) as exc:
            if isinstance(exc, FaceIndexError):
                raise
            raise FaceIndexError(f"{p} is not a face index file ({type(exc).__name__})") from None
        ix = cls(dim, exact_below=exact if exact_below is None else exact_below, sketch_bits=proj.shape[1],
                 rerank=rerank, seed=seed)  # fmt: skip
        if not np.array_equal(ix._proj, proj):
            ix._proj = proj.astype(np.float32)
        ix._grow(len(ids))
        ix._ids[: len(ids)], ix._vecs[: len(ids)] = ids, vecs
        ix._sketches.add(np.ascontiguousarray(codes, np.uint8))
        ix._n = len(ids)
        return ix

    # ------------------------------------------------------------------ helpers

    def _sketch(self, vecs: np.ndarray) -> np.ndarray:
        return np.packbits((vecs @ self._proj) > 0, axis=1)

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
    arr = np.asarray(ids).reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise FaceIndexError("ids must be integers")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > _MAX_ID):
        raise FaceIndexError("ids must be non-negative 63-bit integers")
    return arr.astype(np.int64)


def _top(sims: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(sims))
    if k == 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    return top[np.argsort(-sims[top], kind="stable")]


def exact_search(vectors: np.ndarray, ids: np.ndarray, probe: np.ndarray, k: int = 1) -> list[tuple[int, float]]:
    """Brute force over a (n, d) unit-vector matrix, as CompreFace does: the reference for recall."""
    sims = vectors @ np.asarray(probe, np.float32).reshape(-1)
    return [(int(ids[i]), float(sims[i])) for i in _top(sims, k)]
