"""Fréchet statistics and distances, and nearest datasets at scale."""

from __future__ import annotations

import numpy as np
import pytest

import hubselect.data.similarity as similarity
from hubselect.data.similarity import nearest, pairwise_distances
from hubselect.errors import InputError
from hubselect.metrics import FrechetStats, frechet_distance, frechet_stats


def _stats(rng, shift: float = 0.0, dim: int = 8, n: int = 200, scale: float = 1.0) -> FrechetStats:
    return frechet_stats(rng.normal(shift, scale, size=(n, dim)), extractor="probe@1")


def test_stats_files_are_float32_upper_triangles_that_load_back(tmp_path):
    rng = np.random.default_rng(0)
    stats = _stats(rng, dim=64)
    path = stats.save(tmp_path / "s.npz")
    # float32 mu + the upper triangle of sigma: about half of a float32 matrix, an eighth of float64.
    assert path.stat().st_size < (64 + 64 * 65 / 2) * 4 + 2048
    loaded = FrechetStats.load(path)
    assert loaded.sigma.dtype == np.float32 and (loaded.n, loaded.extractor) == (200, "probe@1")
    np.testing.assert_array_equal(loaded.sigma, loaded.sigma.T)
    np.testing.assert_allclose(loaded.sigma, stats.sigma, rtol=1e-6)
    np.testing.assert_allclose(loaded.mu, stats.mu, rtol=1e-6)


def test_the_frechet_distance_is_zero_for_the_same_set_and_grows_with_the_shift():
    rng = np.random.default_rng(1)
    base = _stats(rng)
    assert frechet_distance(base, base) == pytest.approx(0.0, abs=1e-6)
    near, far = _stats(rng, shift=0.5), _stats(rng, shift=2.0)
    assert frechet_distance(base, near) < frechet_distance(base, far)
    assert frechet_distance(base, far) == pytest.approx(frechet_distance(far, base), rel=1e-6)
    # For equal covariances the distance is the squared shift of the means (8 dims x 2.0²).
    assert frechet_distance(base, far) == pytest.approx(32.0, rel=0.15)


@pytest.mark.parametrize("dim", [8, 128])
def test_the_distance_equals_clean_fids(dim):
    from cleanfid.fid import frechet_distance as clean_fid_distance

    rng = np.random.default_rng(dim)
    # Correlated features with a rank-deficient covariance, as real probe embeddings have.
    mix = rng.normal(size=(dim, dim)) * (rng.uniform(size=dim) > 0.2)
    a = frechet_stats(rng.normal(size=(300, dim)) @ mix, extractor="probe@1")
    b = frechet_stats(rng.normal(0.3, 1.2, size=(300, dim)) @ mix, extractor="probe@1")
    args = [np.asarray(x, dtype=np.float64) for x in (a.mu, a.sigma, b.mu, b.sigma)]
    assert frechet_distance(a, b) == pytest.approx(float(np.real(clean_fid_distance(*args))), rel=1e-4)


def test_statistics_of_different_probes_are_not_compared():
    """With a one-line InputError, as every error a user can act on: it was a ValueError."""
    rng = np.random.default_rng(2)
    with pytest.raises(InputError, match="different dimensions"):
        frechet_distance(_stats(rng, dim=4), _stats(rng, dim=8))
    other = frechet_stats(rng.normal(size=(50, 8)), extractor="other@2")
    with pytest.raises(InputError, match="different extractors"):
        frechet_distance(_stats(rng), other)
    with pytest.raises(InputError, match="at least 2 feature vectors"):
        frechet_stats(rng.normal(size=(1, 8)))


def test_a_distance_to_what_is_not_frechet_statistics_is_refused_by_name():
    """``frechet_distance(a, None)`` raised "AttributeError: 'NoneType' object has no attribute
    'dim'"; given the features themselves (an array), the same, or numpy's shape errors."""
    rng = np.random.default_rng(4)
    stats, features = _stats(rng), rng.normal(size=(20, 8))
    for call, expected in (
        (lambda: frechet_distance(stats, None), "b must be Fréchet statistics (frechet_stats(features) or FrechetStats.load(path)), got None"),
        (lambda: frechet_distance(features, stats), "a must be Fréchet statistics (frechet_stats(features) or FrechetStats.load(path)), got ndarray"),
    ):
        with pytest.raises(InputError) as raised:
            call()
        assert str(raised.value) == expected


def test_faiss_preselection_finds_the_exact_nearest_with_few_exact_distances():
    rng = np.random.default_rng(3)
    zoo = {f"d{i:02d}": _stats(rng, shift=rng.uniform(0, 6), scale=rng.uniform(0.5, 2.0)) for i in range(60)}
    query = _stats(rng, shift=1.0)
    brute = sorted(((name, frechet_distance(query, s)) for name, s in zoo.items()), key=lambda x: x[1])

    calls = []  # a candidate's statistics are loaded for its exact distance only
    found = nearest(query, {name: s.mu for name, s in zoo.items()}, lambda name: calls.append(name) or zoo[name], k=3, max_exact=30)
    assert [name for name, _ in found] == [name for name, _ in brute[:3]]
    assert [d for _, d in found] == pytest.approx([d for _, d in brute[:3]])
    assert len(calls) < 30  # the lower bound stopped the search early


def test_the_comparing_bar_counts_the_distances_the_search_can_still_need(monkeypatch, capsys):
    """The bar's total was every candidate while the lower bound stops the search after a round
    or two, so its time estimate said minutes for seconds of work: it shrinks to the rounds that
    candidates under the k-th distance so far may take, and ends full."""
    import importlib
    import re

    bars = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(bars, "HF_HUB_DISABLE_PROGRESS_BARS", None)  # as in a terminal; the test run turns bars off
    monkeypatch.setattr(bars, "progress_bar_states", {})  # as in a new process: earlier tests turned them off
    rng = np.random.default_rng(3)
    zoo = {f"d{i:02d}": _stats(rng, shift=rng.uniform(0, 6), scale=rng.uniform(0.5, 2.0)) for i in range(60)}
    query = _stats(rng, shift=1.0)
    calls = []
    nearest(query, {name: s.mu for name, s in zoo.items()}, lambda name: calls.append(name) or zoo[name], k=3, progress=True)
    states = re.findall(r"Comparing with 60 datasets:.*?(\d+)/(\d+)", capsys.readouterr().err)
    assert states and len(calls) < 60
    done, total = map(int, states[-1])
    assert done == total == len(calls), states


def test_every_pair_of_a_small_zoo_and_a_knn_graph_of_a_large_one():
    rng = np.random.default_rng(4)
    zoo = {f"d{i}": _stats(rng, shift=i / 3) for i in range(8)}
    small = pairwise_distances(zoo)
    assert len(small) == 28 and all(a < b for a, b in small)
    # Each dataset's square root is taken once for all its pairs: the distances are the same to the bit.
    assert small == {(a, b): frechet_distance(zoo[a], zoo[b]) for a, b in small}
    large = pairwise_distances(zoo, all_pairs_limit=4, neighbours=2)
    assert set(large) < set(small)
    # Each dataset keeps its nearest neighbour.
    for name in zoo:
        mine = {pair: d for pair, d in small.items() if name in pair}
        assert min(mine, key=mine.get) in large


def test_the_k_nearest_are_exact_even_when_they_are_far_down_the_mean_embedding_order():
    # Datasets of one domain: means nearly the same, diversity (spread) differs. The trace term
    # then decides, and the nearest by Fréchet distance can be anywhere in the mean order.
    rng = np.random.default_rng(5)

    def one_domain(scale: float) -> FrechetStats:
        return FrechetStats(rng.normal(0, 0.1, size=8).astype(np.float32), np.eye(8, dtype=np.float32) * scale**2, 200, "probe@1")

    zoo = {f"d{i:03d}": one_domain(rng.uniform(0.5, 2.0)) for i in range(150)}
    query = one_domain(1.0)
    brute = sorted(((name, frechet_distance(query, s)) for name, s in zoo.items()), key=lambda x: x[1])
    by_mean = sorted(zoo, key=lambda name: float(((zoo[name].mu - query.mu) ** 2).sum()))
    assert max(by_mean.index(name) for name, _ in brute[:5]) >= similarity.MAX_EXACT  # past the first 64 by mean

    found = nearest(query, {name: s.mu for name, s in zoo.items()}, zoo.__getitem__, k=5)
    assert [name for name, _ in found] == [name for name, _ in brute[:5]]
    assert [d for _, d in found] == pytest.approx([d for _, d in brute[:5]])
