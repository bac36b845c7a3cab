"""The 1:N index: recall of the sketch scan against exact search, removal, replacement, save/load, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from koopsuz.vision.face_index import FaceIndex, FaceIndexError, exact_search


def unit(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def planted_probe(rng: np.random.Generator, target: np.ndarray, sim: float) -> np.ndarray:
    """A unit vector at cosine ``sim`` to ``target``: another photo of the same enrolled person."""
    noise = rng.standard_normal(target.shape).astype(np.float32)
    noise -= noise.dot(target) * target
    noise /= np.linalg.norm(noise)
    return (sim * target + np.sqrt(1 - sim**2) * noise).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return np.arange(12_000, dtype=np.int64) * 3 + 1_000_000_007, unit(rng, 12_000)


@pytest.fixture(scope="module")
def sketched(data) -> FaceIndex:  # type: ignore[no-untyped-def]
    ids, vecs = data
    ix = FaceIndex(exact_below=1_000)  # 12 000 > 1 000: searches scan the sketches, then re-rank
    ix.add(ids, vecs)
    return ix


def test_sketch_search_finds_what_exact_search_finds(sketched: FaceIndex, data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    rng = np.random.default_rng(1)
    targets = rng.choice(len(ids), 300, replace=False)
    agree = found = 0
    for t in targets:
        probe = planted_probe(rng, vecs[t], rng.uniform(0.5, 0.7))
        got = sketched.search(probe, k=1)
        want = exact_search(vecs, ids, probe, k=1)
        agree += got[0][0] == want[0][0]
        found += got[0][0] == ids[t]
        assert got[0][1] == pytest.approx(want[0][1], abs=1e-5) or got[0][0] != want[0][0]
    assert agree / len(targets) >= 0.99
    assert found / len(targets) >= 0.99


def test_small_index_is_exact_and_ranks_by_similarity(data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    ix = FaceIndex()  # 500 < exact_below
    ix.add(ids[:500], vecs[:500])
    rng = np.random.default_rng(2)
    for _ in range(50):
        probe = unit(rng, 1)[0]
        got = ix.search(probe, k=10)
        want = exact_search(vecs[:500], ids[:500], probe, k=10)
        assert [g[0] for g in got] == [w[0] for w in want]
        np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], atol=1e-5)
    assert len(ix.search(vecs[0], k=1000)) == 500


def test_removal_really_removes_in_both_modes(data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    for exact_below in (100_000, 100):
        ix = FaceIndex(exact_below=exact_below)
        ix.add(ids[:3000], vecs[:3000])
        gone = ids[:3000:2]
        assert ix.remove(np.concatenate([gone, [42, 43]])) == len(gone)  # unknown ids are ignored
        assert len(ix) == 3000 - len(gone)
        assert ix.remove(gone) == 0
        gone_set = set(gone.tolist())
        for i in range(0, 3000, 2)[:200]:
            hits = ix.search(vecs[i], k=5)
            assert not gone_set & {h for h, _ in hits}
            assert hits[0][1] < 0.6  # its own vector (similarity 1.0) is gone
        for i in range(1, 200, 2):
            assert ix.search(vecs[i], k=1)[0] == (ids[i], pytest.approx(1.0, abs=1e-5))
        assert ids[0] not in ix and ids[1] in ix
        assert set(ix.ids().tolist()) == set(ids[1:3000:2].tolist())


def test_adding_an_existing_id_replaces_its_vector(data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    ix = FaceIndex()
    ix.add(ids[:10], vecs[:10])
    ix.add([ids[0]], vecs[100:101])
    assert len(ix) == 10
    assert ix.search(vecs[100], k=1)[0][0] == ids[0]
    assert ix.search(vecs[0], k=1)[0][0] != ids[0]


def test_save_and_load_round_trip(tmp_path: Path, sketched: FaceIndex, data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    path = tmp_path / "faces.usearch"
    sketched.save(path)
    back = FaceIndex.load(path, exact_below=1_000)
    assert len(back) == len(sketched) == len(ids)
    for i in range(0, len(ids), 997):
        assert back.search(vecs[i], k=3) == sketched.search(vecs[i], k=3)
    back.remove([ids[0]])
    assert back.search(vecs[0], k=1)[0][0] != ids[0]


def test_bad_files_and_bad_input_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FaceIndexError, match="no face index"):
        FaceIndex.load(tmp_path / "missing.usearch")
    (tmp_path / "junk.usearch").write_bytes(b"not an index at all" * 10)
    with pytest.raises(FaceIndexError, match="not a face index"):
        FaceIndex.load(tmp_path / "junk.usearch")
    ix = FaceIndex()
    v = unit(np.random.default_rng(3), 3)
    with pytest.raises(FaceIndexError, match="dimension 128"):
        ix.add([1], np.zeros((1, 64), np.float32))
    with pytest.raises(FaceIndexError, match="2 ids but 3 vectors"):
        ix.add([1, 2], v)
    with pytest.raises(FaceIndexError, match="twice"):
        ix.add([1, 1, 2], v)
    with pytest.raises(FaceIndexError, match="non-negative"):
        ix.add([-1, 2, 3], v)
    with pytest.raises(FaceIndexError, match="NaN"):
        ix.add([1], np.full((1, 128), np.nan, np.float32))
    with pytest.raises(FaceIndexError, match="zero vector"):
        ix.search(np.zeros(128, np.float32))
    assert ix.search(v[0], k=3) == [] and len(ix) == 0


def test_vectors_are_normalised_and_batch_search_matches_single(data) -> None:  # type: ignore[no-untyped-def]
    ids, vecs = data
    ix = FaceIndex()
    ix.add(ids[:200], vecs[:200] * 5.0)  # not unit length: normalised on the way in
    assert ix.search(vecs[3], k=1)[0][1] == pytest.approx(1.0, abs=1e-5)
    for many, v in zip(ix.search_many(vecs[:20], k=2), vecs[:20], strict=True):
        single = ix.search(v, k=2)
        assert [m[0] for m in many] == [s[0] for s in single]
        np.testing.assert_allclose([m[1] for m in many], [s[1] for s in single], atol=1e-5)
