"""The matching graph: model nodes, dataset nodes, weighted edges (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hubselect.graph.arrays import ZooArrays, normalise_rank


@dataclass(frozen=True)
class GraphConfig:
    """How the matching graph is built.

    ``neighbours``: each dataset keeps edges to its ``neighbours`` most similar datasets (the
    union over both ends, so the graph stays symmetric); the same ``k`` sets each dataset's
    kernel bandwidth. ``dataset_edge_balance``: total dataset↔dataset weight at a profiled
    dataset, relative to its total model weight (1 = a walk at a dataset is about as likely to
    step to a similar dataset as to one of its models).
    """

    neighbours: int = 5
    dataset_edge_balance: float = 1.0

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError("neighbours must be >= 1")
        if self.dataset_edge_balance <= 0:
            raise ValueError("dataset_edge_balance must be > 0")


def _bandwidths(off: np.ndarray, k: int) -> np.ndarray:
    """Each dataset's kernel bandwidth ``σ``: its distance to its ``k``-th nearest dataset (or its
    farthest, when it has fewer); ``off`` holds the distances with NaN for unknown and on the
    diagonal. NaN for a dataset with no known distance."""
    n = off.shape[0]
    counts = np.sum(~np.isnan(off), axis=1)
    ordered = np.sort(np.where(np.isnan(off), np.inf, off), axis=1)
    sigma = np.full(n, np.nan)
    has = counts > 0
    pick = np.minimum(k, np.maximum(counts, 1)) - 1
    sigma[has] = ordered[np.arange(n)[has], pick[has]]
    # Two identical datasets (distance 0) would give σ = 0; fall back to the smallest
    # positive distance in the zoo so the kernel stays defined.
    positive = off[off > 0]
    floor = float(np.min(positive)) if positive.size else 1.0
    return np.where(has & ~(sigma > 0), floor, sigma)


def _kernel(off: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        sim = np.exp(-(off**2) / scale)
    sim[np.isnan(sim)] = 0.0
    np.fill_diagonal(sim, 0.0)
    return sim


def _off_diagonal(distances: np.ndarray) -> np.ndarray:
    off = np.array(distances, dtype=float)
    np.fill_diagonal(off, np.nan)
    return off


def similarity_from_distances(distances: np.ndarray, k: int = 5) -> np.ndarray:
    """Dataset similarities in [0, 1] from distances, with a locally scaled Gaussian kernel.

    ``sim(a, b) = exp(-d(a, b)² / (σ_a σ_b))`` where ``σ_a`` is ``a``'s distance to its
    ``k``-th nearest dataset (or its farthest, when it has fewer). The kernel is free of the
    probe's units (Euclidean distances of ~20 and Fréchet distances of ~200 give the same
    similarities) and adapts to dense and sparse regions. Unknown distances give 0; the
    diagonal is 0 (a dataset is not its own neighbour).

    Symmetric, as the matching graph's edges need. It does not order a dataset's neighbours by
    their distance to it: a neighbour in a sparse region (a large ``σ_b``) can come before a
    nearer one in a dense region. :func:`neighbourhood_from_distances` does.

    >>> d = np.array([[0, 1, 4], [1, 0, 4], [4, 4, 0]], dtype=float)
    >>> s = similarity_from_distances(d, k=1)
    >>> bool(s[0, 1] > s[0, 2])
    True
    """
    off = _off_diagonal(distances)
    sigma = _bandwidths(off, k)
    return _kernel(off, np.outer(sigma, sigma))


def neighbourhood_from_distances(distances: np.ndarray, k: int = 5) -> np.ndarray:
    """Each dataset's (row's) closeness to the others, in its own bandwidth: ``exp(-d(q, j)² / σ_q²)``.

    ``σ_q`` is as in :func:`similarity_from_distances`, so a dataset's ``k``-th nearest is at
    ``e^-1``; but each row is one decreasing function of the distance, so its most similar
    datasets are the query's nearest (those ``nearest_dataset`` and ``recommend``'s nearest
    list name). A recommendation's evidence is read through it. Not symmetric. Unknown
    distances and the diagonal give 0.

    Dataset 1 is nearer to dataset 0 than dataset 2 is, but sits beside dataset 3 (a small ``σ_1``):

    >>> d = np.array([[0, 1, 1.5, 1.05], [1, 0, 2.5, 0.1], [1.5, 2.5, 0, 2.5], [1.05, 0.1, 2.5, 0]])
    >>> bool(neighbourhood_from_distances(d, k=1)[0, 1] > neighbourhood_from_distances(d, k=1)[0, 2])
    True
    >>> bool(similarity_from_distances(d, k=1)[0, 1] > similarity_from_distances(d, k=1)[0, 2])
    False
    """
    off = _off_diagonal(distances)
    sigma = _bandwidths(off, k)
    return _kernel(off, (sigma**2)[:, None])


def _grown(distances: np.ndarray, new_distances: np.ndarray) -> np.ndarray:
    n = distances.shape[0]
    full = np.full((n + 1, n + 1), np.nan)
    full[:n, :n] = distances
    full[n, :n] = full[:n, n] = new_distances
    full[n, n] = 0.0
    return full


def similarity_to(distances: np.ndarray, new_distances: np.ndarray, k: int = 5) -> np.ndarray:
    """Similarity of a new dataset (its distances to the zoo's datasets, NaN = unknown).

    Uses the same kernel as :func:`similarity_from_distances`, with the zoo's bandwidths.
    """
    return similarity_from_distances(_grown(distances, new_distances), k)[distances.shape[0], :distances.shape[0]]


def neighbourhood_to(distances: np.ndarray, new_distances: np.ndarray, k: int = 5) -> np.ndarray:
    """A new dataset's row of :func:`neighbourhood_from_distances` (its distances to the zoo's
    datasets, NaN = unknown): in its own bandwidth, nearest first.

    Only the row's own bandwidth enters, so it is computed from the row, without the grown
    matrix :func:`similarity_to` needs for every dataset's bandwidth. The zoo's distances are
    read only where the row's bandwidth is 0 (``k`` exact duplicates), for the same fallback.
    """
    row = np.array(new_distances, dtype=float)
    known = row[~np.isnan(row)]
    if not known.size:
        return np.zeros_like(row)
    sigma = float(np.sort(known)[min(k, known.size) - 1])
    if not sigma > 0:  # as _bandwidths: the smallest positive distance in the zoo and the row
        zoo = np.asarray(distances, dtype=float)[~np.eye(len(distances), dtype=bool)]
        positive = np.concatenate([zoo[zoo > 0], known[known > 0]])
        sigma = float(np.min(positive)) if positive.size else 1.0
    with np.errstate(all="ignore"):
        sim = np.exp(-(row**2) / sigma**2)
    return np.where(np.isnan(sim), 0.0, sim)


def top_k(similarity: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Keep each row's ``k`` largest positive entries (among ``allowed`` columns); zero the rest."""
    sim = similarity if allowed is None else np.where(allowed[None, :], similarity, 0.0)
    if sim.shape[1] <= k:
        return np.where(sim > 0, sim, 0.0)
    # argpartition is O(n) per row; ties at the cut are broken by column order (deterministic).
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    out = np.zeros_like(sim)
    rows = np.arange(sim.shape[0])[:, None]
    out[rows, idx] = sim[rows, idx]
    return np.where(out > 0, out, 0.0)


@dataclass
class MatchingGraph:
    """An undirected weighted graph in CSR form; nodes are models first, then datasets.

    Node ``i < n_models`` is ``models[i]``; node ``n_models + j`` is ``datasets[j]``.
    """

    models: list[str]
    datasets: list[str]
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_nodes(self) -> int:
        return len(self.models) + len(self.datasets)

    @property
    def n_edges(self) -> int:
        return int(self.indptr[-1] // 2)

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def neighbours(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[node], self.indptr[node + 1]
        return self.indices[start:end], self.weights[start:end]


def build_matching_graph(arrays: ZooArrays, config: GraphConfig = GraphConfig(), similarity: np.ndarray | None = None) -> MatchingGraph:
    """The matching graph of the visible records of ``arrays``.

    Model–dataset edge weight: the model's within-dataset rank as a fraction, ``rank / n``
    (best = 1, worst = 1/n), so every record is an edge but good results carry more walk
    probability. Dataset↔dataset edges: the top-``k`` similarities, scaled by one global
    factor so that at a typical profiled dataset they carry ``dataset_edge_balance`` times the
    weight of its model edges.

    >>> from hubselect.rank.synthetic import synthetic_zoo
    >>> g = build_matching_graph(ZooArrays.from_zoo(synthetic_zoo(20, 6, seed=0)))
    >>> g.n_nodes
    26
    """
    n_m, n_d = len(arrays.models), len(arrays.datasets)
    weight = normalise_rank(arrays.scores, arrays.higher_is_better)
    rows, cols = np.nonzero(~np.isnan(weight))
    w_md = weight[rows, cols]

    sim = similarity if similarity is not None else similarity_from_distances(arrays.distances, config.neighbours)
    kept = top_k(sim, config.neighbours)
    kept = np.maximum(kept, kept.T)  # union of both ends' neighbour lists
    model_mass = np.nansum(weight, axis=0)
    dataset_mass = kept.sum(axis=1)
    both = (model_mass > 0) & (dataset_mass > 0)
    scale = float(np.median(model_mass[both] / dataset_mass[both])) if both.any() else 1.0
    kept = kept * scale * config.dataset_edge_balance
    a, b = np.nonzero(np.triu(kept, 1))
    w_dd = kept[a, b]

    src = np.concatenate([rows, n_m + cols, n_m + a, n_m + b])
    dst = np.concatenate([n_m + cols, rows, n_m + b, n_m + a])
    val = np.concatenate([w_md, w_md, w_dd, w_dd]).astype(np.float32)
    n = n_m + n_d
    matrix = sp.csr_matrix((val, (src, dst)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.sort_indices()  # pecanpy's node2vec+ kernel merges sorted neighbour lists
    return MatchingGraph(
        models=list(arrays.models),
        datasets=list(arrays.datasets),
        indptr=matrix.indptr.astype(np.uint32),
        indices=matrix.indices.astype(np.uint32),
        weights=matrix.data.astype(np.float32),
    )
