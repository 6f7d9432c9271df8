"""Dataset × dataset distances at scale: faiss preselection, exact Fréchet distance.

The Fréchet distance is ``‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½)`` and its trace term is never
negative, so the squared distance between mean embeddings is a *lower bound* of it. That makes
a faiss k-nearest-neighbour search over mean embeddings an exact preselection: candidates are
taken in order of their lower bound, their exact distance is computed
(:func:`hubselect.metrics.frechet_distance`, ~0.04 s per pair for 512-d embeddings on a CPU core
once the query's square root is taken),
and the search stops as
soon as the next lower bound cannot beat the k-th best exact distance found, however far down
the mean order that is (datasets of one domain, whose means are close, differ by the trace
term). Small zoos simply get every pair.

The distances a zoo stores are capped instead: a new profile gets exact distances to the
:data:`MAX_EXACT` datasets nearest by mean embedding (:func:`nearest` with ``k=None``), which
need not be its nearest by Fréchet distance. Making them exact costs several times as many
exact distances per profile (all of them, in a zoo of one domain).
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from typing import Callable, Mapping, Sequence

import numpy as np

from hubselect.metrics.frechet import FrechetReference, FrechetStats

log = logging.getLogger(__name__)

#: Zoos with at most this many datasets get exact distances for every pair.
ALL_PAIRS_LIMIT = 64

#: Exact distances a new profile gets in a large zoo: to this many datasets, nearest by mean
#: embedding (:func:`nearest` with ``k=None``).
MAX_EXACT = 64


def _index(means: np.ndarray):
    import faiss

    index = faiss.IndexFlatL2(means.shape[1])
    index.add(np.ascontiguousarray(means, dtype=np.float32))
    return index


def _exact(pairs: Sequence[tuple[FrechetStats | FrechetReference, FrechetStats]]) -> list[float]:
    """The Fréchet distance of each pair. A pair's first set is prepared (its square root taken)
    once however many pairs it is in: the callers' pairs share a query, or come sorted by their
    first dataset, which may come prepared already."""
    unprepared = list({id(a): a for a, _ in pairs if not isinstance(a, FrechetReference)}.values())
    prepared: dict[int, FrechetReference] = {}

    def distance(pair: tuple[FrechetStats | FrechetReference, FrechetStats]) -> float:
        first, other = pair
        return (first if isinstance(first, FrechetReference) else prepared[id(first)]).distance(other)

    workers = min(len(pairs), os.cpu_count() or 1)
    if workers <= 1:
        prepared.update((id(a), FrechetReference(a)) for a in unprepared)
        return list(map(distance, pairs))
    # numpy's eigendecompositions and products release the GIL.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        prepared.update(zip(map(id, unprepared), pool.map(FrechetReference, unprepared)))
        return list(pool.map(distance, pairs))


def nearest(
    query: FrechetStats,
    means: Mapping[str, np.ndarray],
    load_stats: Callable[[str], FrechetStats],
    *,
    k: int | None = 5,
    max_exact: int = MAX_EXACT,
    progress: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` datasets nearest to ``query`` by exact Fréchet distance, nearest first.

    ``means`` maps each candidate dataset to its mean embedding (cheap to hold for thousands);
    ``load_stats`` loads a candidate's full statistics, only for those that need an exact
    distance. The ``k`` are exact: candidates are searched in mean-embedding order for as long
    as one can still beat the ``k``-th best. ``k=None`` asks for every dataset (all exact
    distances when there are at most ``max_exact``, else those of the ``max_exact`` nearest by
    mean embedding, which need not be the ``max_exact`` nearest by distance). ``progress`` shows
    a bar of the exact distances (in a zoo of one domain, every dataset's).

    >>> nearest(stats, {"org/a": mu_a, "org/b": mu_b}, load, k=1)  # doctest: +SKIP
    [('org/a', 3.2)]
    """
    from huggingface_hub.utils import tqdm

    names = list(means)
    if not names:
        return []
    if k is None and len(names) <= max_exact:
        return sorted(zip(names, _exact([(query, load_stats(n)) for n in names])), key=lambda x: x[1])
    reference = FrechetReference(query)  # its square root once, for every round
    matrix = np.stack([np.asarray(means[n], dtype=np.float32) for n in names])
    index = _index(matrix)
    want = min(k or max_exact, len(names))
    budget = min(max_exact, len(names)) if k is None else len(names)
    bounds, order = index.search(np.asarray(query.mu, dtype=np.float32)[None, :], budget)
    found: list[tuple[str, float]] = []
    position = 0
    # Exact distances in rounds of `want`, nearest lower bound first, until no remaining
    # candidate can enter the top k.
    step = max(want, 1)
    with tqdm(total=budget, desc=f"Comparing with {len(names)} datasets", unit="dataset", disable=not progress, leave=False) as bar:
        while position < budget:
            chunk = [int(i) for i in order[0, position : position + step] if i >= 0]
            if not chunk:
                break
            distances = _exact([(reference, load_stats(names[i])) for i in chunk])
            found.extend((names[i], d) for i, d in zip(chunk, distances))
            position += len(chunk)
            bar.update(len(chunk))
            found.sort(key=lambda x: x[1])
            if k is not None and len(found) >= want and position < budget:
                # Only candidates whose lower bound is under the k-th distance so far can still
                # enter (the bounds ascend, the k-th only falls): the bar's total is the rounds
                # they may take, not every candidate, so its estimate shrinks to the real one.
                below = int(np.searchsorted(bounds[0, position:budget], found[want - 1][1], side="left"))
                bar.total = position + min(budget - position, -(-below // step) * step)
                bar.refresh()
                if below == 0:
                    break
    log.debug("nearest: %d exact distances for %d candidates", len(found), len(names))
    return found[:want] if k is not None else found


def nearest_by_mean(queries: Mapping[str, np.ndarray], candidates: Mapping[str, np.ndarray], k: int = MAX_EXACT) -> dict[str, list[str]]:
    """Each query dataset's ``k`` nearest ``candidates`` by mean embedding (every candidate
    where there are at most ``k``): the datasets :func:`nearest` with ``k=None`` computes exact
    distances to, so that pairs picked apart from it are the pairs it would have picked.

    >>> nearest_by_mean({"q": np.zeros(2)}, {"a": np.ones(2), "b": np.full(2, 9.0)}, k=1)
    {'q': ['a']}
    """
    names = sorted(candidates)
    if len(names) <= k:
        return {query: list(names) for query in queries}
    if not queries:
        return {}
    matrix = np.stack([np.asarray(candidates[n], dtype=np.float32) for n in names])
    _, order = _index(matrix).search(np.stack([np.asarray(mu, dtype=np.float32) for mu in queries.values()]), k)
    return {query: [names[int(j)] for j in row if j >= 0] for query, row in zip(queries, order)}


def cross_pairs(one: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray], k: int = MAX_EXACT) -> set[tuple[str, str]]:
    """The pairs ``(a, b)``, ``a < b``, between two disjoint sets of datasets (name -> mean
    embedding) that :func:`nearest` with ``k=None`` would give exact distances to, had each
    dataset of one set been profiled into a zoo holding the other: each dataset with its ``k``
    nearest of the other set (all of them up to ``k``), from both sides. Two writers' zoos meet
    with these pairs, and with none within one side, which its writer's zoo already holds.

    >>> sorted(cross_pairs({"a": np.zeros(2), "c": np.full(2, 9.0)}, {"b": np.ones(2), "d": np.full(2, 8.0)}, k=1))
    [('a', 'b'), ('c', 'd')]
    """
    pairs: set[tuple[str, str]] = set()
    for queries, candidates in ((one, other), (other, one)):
        for name, near in nearest_by_mean(queries, candidates, k).items():
            pairs.update(tuple(sorted((name, n))) for n in near)
    return pairs


def exact_distances(
    pairs: Sequence[tuple[str, str]], load_stats: Callable[[str], FrechetStats], *, progress: bool = False, desc: str = "Distances"
) -> list[float]:
    """The exact Fréchet distance of each pair of datasets, in order, with a progress bar.

    Statistics are loaded as pairs need them and a few are kept (an Inception covariance is
    32 MB): pairs sorted by their first dataset load each of them once.

    >>> exact_distances([("a", "b")], {"a": stats_a, "b": stats_b}.__getitem__)  # doctest: +SKIP
    [1.5]
    """
    from huggingface_hub.utils import tqdm

    load = functools.lru_cache(maxsize=16)(load_stats)
    # Each pair's first dataset prepared once while the pairs that start with it go by.
    reference = functools.lru_cache(maxsize=2)(lambda name: FrechetReference(load(name)))
    distances: list[float] = []
    chunk = max(os.cpu_count() or 1, 1)
    with tqdm(total=len(pairs), desc=desc, unit="pair", disable=not progress or not pairs) as bar:
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            distances.extend(_exact([(reference(a), load(b)) for a, b in part]))
            bar.update(len(part))
    return distances


def pairwise_distances(
    stats: Mapping[str, FrechetStats],
    *,
    all_pairs_limit: int = ALL_PAIRS_LIMIT,
    neighbours: int = 16,
) -> dict[tuple[str, str], float]:
    """Distances between datasets: every pair of a small zoo, the kNN graph of a large one.

    With more than ``all_pairs_limit`` datasets, each dataset's ``neighbours`` nearest by mean
    embedding (faiss) get an exact distance; pairs are keyed ``(a, b)`` with ``a < b``.

    >>> pairwise_distances({"a": stats_a, "b": stats_b, "c": stats_c})  # doctest: +SKIP
    {('a', 'b'): 1.5, ('a', 'c'): 9.1, ('b', 'c'): 8.7}
    """
    names = sorted(stats)
    if len(names) <= all_pairs_limit:
        pairs = list(combinations(names, 2))
    else:
        matrix = np.stack([np.asarray(stats[n].mu, dtype=np.float32) for n in names])
        _, order = _index(matrix).search(matrix, min(neighbours + 1, len(names)))
        pairs = sorted({tuple(sorted((names[i], names[int(j)]))) for i, row in enumerate(order) for j in row if j >= 0 and int(j) != i})
    distances = _exact([(stats[a], stats[b]) for a, b in pairs])
    return dict(zip(pairs, distances))


__all__ = ["ALL_PAIRS_LIMIT", "MAX_EXACT", "cross_pairs", "exact_distances", "nearest", "nearest_by_mean", "pairwise_distances"]
