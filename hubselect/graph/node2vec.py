"""node2vec+ embeddings of the matching graph (pecanpy's node2vec+ transitions, gensim skip-gram).

pecanpy's own walk driver (``SparseOTF.simulate_walks``) compiles a fresh numba closure
over every graph's arrays, which costs ~5 s of JIT per graph. Leave-one-dataset-out
evaluation embeds a new graph per fold (and per inner fold), so that cost would dominate.
Here the walk loop takes the arrays as arguments, is compiled once and cached on disk, and
calls pecanpy's own node2vec+ transition kernel
(:meth:`pecanpy.rw.SparseRWGraph.get_extended_normalized_probs`) and noise thresholds
(:meth:`get_noise_thresholds`) — the node2vec+ maths stays pecanpy's. The walk is the sparse
on-the-fly (``SparseOTF``) strategy: the graphs are sparse, and ``PreComp``'s Σ degree²
table grows with the number of models per dataset.

Walks run on one thread from one seed, and skip-gram runs with one worker and the same seed,
so a seed gives the same embedding on every run.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit
from pecanpy.pecanpy import SparseOTF
from pecanpy.rw.sparse_rw import SparseRWGraph

from hubselect.errors import check_whole
from hubselect.graph.matching import MatchingGraph

_node2vec_plus_probs = SparseRWGraph.get_extended_normalized_probs


@dataclass(frozen=True)
class Node2VecConfig:
    """node2vec+ and skip-gram settings.

    Defaults and why: ``q = 2`` keeps walks local (at a model reached from dataset ``d``,
    node2vec+ favours datasets tightly linked to ``d``), so a model's context is the cluster
    of similar datasets it does well on — the signal a target inherits from its neighbours.
    (With ``p = q = 1`` node2vec+ is plain node2vec.) ``dim = 16``: a zoo has few datasets,
    and the learner sees both ends' coordinates; more dimensions add noise, not signal.
    10 walks of 40 steps per node and a window of 5 cover a node's 2–3-hop neighbourhood
    several times at a cost that stays a few seconds for 2,500 nodes.
    """

    dim: int = 16
    walks_per_node: int = 10
    walk_length: int = 40
    window: int = 5
    epochs: int = 1
    p: float = 1.0
    q: float = 2.0
    gamma: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.walks_per_node < 1 or self.walk_length < 2 or self.window < 1 or self.epochs < 1:
            raise ValueError("dim, walks_per_node, window and epochs must be >= 1 and walk_length >= 2")
        if self.p <= 0 or self.q <= 0:
            raise ValueError("p and q must be > 0")
        check_whole("node2vec seed", self.seed, 0, 2**32 - 1)  # numba's np.random.seed refuses others mid-fit

    def to_dict(self) -> dict:
        return asdict(self)


@njit(cache=True, nogil=True)
def _walks(indptr, indices, weights, noise, p, q, starts, walk_length, seed):  # pragma: no cover - compiled
    np.random.seed(seed)
    out = np.full((starts.size, walk_length), -1, dtype=np.int64)
    for i in range(starts.size):
        cur = starts[i]
        out[i, 0] = cur
        prev = -1
        for j in range(1, walk_length):
            start, end = indptr[cur], indptr[cur + 1]
            if start == end:
                break
            if prev < 0:  # first step: plain weighted step
                w = weights[start:end].copy()
                cdf = np.cumsum(w / w.sum())
            else:
                cdf = np.cumsum(_node2vec_plus_probs(weights, indices, indptr, p, q, cur, prev, noise))
            k = np.searchsorted(cdf, np.random.random())
            if k >= end - start:  # float rounding at the top of the cdf
                k = end - start - 1
            nxt = indices[start + k]
            out[i, j] = nxt
            prev = cur
            cur = nxt
    return out


def random_walks(graph: MatchingGraph, config: Node2VecConfig = Node2VecConfig()) -> np.ndarray:
    """node2vec+ walks: an int array (walks × walk_length), -1 after a walk's end."""
    pecan = SparseOTF(p=config.p, q=config.q, extend=True, gamma=config.gamma, random_state=config.seed)
    pecan.set_node_ids([str(i) for i in range(graph.n_nodes)])
    pecan.indptr, pecan.indices, pecan.data = graph.indptr, graph.indices, graph.weights
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # isolated nodes: mean of an empty slice
        noise = np.nan_to_num(pecan.get_noise_thresholds(), nan=0.0)
    rng = np.random.default_rng(config.seed)
    starts = np.concatenate([rng.permutation(graph.n_nodes) for _ in range(config.walks_per_node)]).astype(np.int64)
    # Nodes without edges have nothing to learn from: no walks start there.
    starts = starts[graph.degree()[starts] > 0]
    return _walks(graph.indptr, graph.indices, graph.weights, noise, float(config.p), float(config.q), starts, config.walk_length, config.seed)


def embed(graph: MatchingGraph, config: Node2VecConfig = Node2VecConfig()) -> np.ndarray:
    """node2vec+ embedding of every node: ``(n_nodes, dim)``, NaN rows for nodes without edges.

    >>> from hubselect.graph import build_matching_graph, ZooArrays
    >>> from hubselect.rank.synthetic import synthetic_zoo
    >>> g = build_matching_graph(ZooArrays.from_zoo(synthetic_zoo(20, 6, seed=0)))
    >>> embed(g, Node2VecConfig(dim=8)).shape
    (26, 8)
    """
    from gensim.models import Word2Vec

    walks = random_walks(graph, config)
    out = np.full((graph.n_nodes, config.dim), np.nan, dtype=np.float64)
    if walks.size == 0:
        return out
    tokens = np.array([str(i) for i in range(graph.n_nodes)], dtype=object)
    lengths = (walks >= 0).sum(axis=1)
    sentences = [list(tokens[w[:n]]) for w, n in zip(walks, lengths)]
    gensim_log = logging.getLogger("gensim")
    level = gensim_log.level
    gensim_log.setLevel(logging.WARNING)  # gensim logs every epoch at INFO
    try:
        model = Word2Vec(
            sentences,
            vector_size=config.dim,
            window=config.window,
            sg=1,
            min_count=0,
            workers=1,
            epochs=config.epochs,
            seed=config.seed,
        )
    finally:
        gensim_log.setLevel(level)
    present = np.flatnonzero(graph.degree() > 0)
    out[present] = model.wv[[str(i) for i in present]]
    return out


def inductive_embedding(neighbour_embeddings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Embedding of a node added after training: the weighted mean of its neighbours'.

    A node whose only edges go to ``neighbours`` shares their walk contexts, so skip-gram
    would place it near their weighted centre; this computes that centre directly (no walks,
    no retraining). Returns NaNs when no neighbour has an embedding.
    """
    ok = ~np.isnan(neighbour_embeddings).any(axis=1) & (weights > 0)
    if not ok.any():
        return np.full(neighbour_embeddings.shape[1], np.nan)
    w = weights[ok] / weights[ok].sum()
    return w @ neighbour_embeddings[ok]


def align(embedding: np.ndarray, reference: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rotate ``embedding`` onto ``reference`` (orthogonal Procrustes on ``rows``).

    Skip-gram embeddings of two graphs live in arbitrarily rotated spaces; aligning on the
    shared model nodes makes coordinates comparable, so a learner trained on coordinates from
    one graph can read coordinates from another.
    """
    from scipy.linalg import orthogonal_procrustes

    ok = rows[~np.isnan(embedding[rows]).any(axis=1) & ~np.isnan(reference[rows]).any(axis=1)]
    if ok.size < 2:
        return embedding
    mu_e, mu_r = embedding[ok].mean(axis=0), reference[ok].mean(axis=0)
    rotation, _ = orthogonal_procrustes(embedding[ok] - mu_e, reference[ok] - mu_r)
    return (embedding - mu_e) @ rotation + mu_r
