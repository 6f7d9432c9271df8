"""The matching graph of a zoo and its node2vec+ embeddings.

Nodes
    one per model (with features or results) and one per dataset (with features, results or
    distances). A dataset known only from distances — e.g. a model's pre-training dataset —
    is still a node: it links the datasets around it.

Model–dataset edges (one per visible result)
    weight = the model's within-dataset rank as a fraction, ``rank / n`` (best 1, worst
    ``1/n``; direction-aware, so FID and accuracy zoos are treated alike). Why ranks and not
    raw or min–max scores: a random walk should step from a dataset to its good models more
    often than to its bad ones, whatever the score's units and however a few failed runs
    stretch its range; ``rank / n`` gives every dataset the same spread of weights. Every
    result is an edge (no threshold): node2vec+ already treats a node's below-average edges
    as weak ("noisy") when it biases the walk, which is the thresholding we would otherwise
    hand-pick.

Dataset↔dataset edges
    from distances (lower = closer) through a locally scaled Gaussian kernel,
    ``sim(a, b) = exp(−d(a, b)² / (σ_a σ_b))`` with ``σ_a`` = ``a``'s distance to its
    ``k``-th nearest dataset (``k = 5``). Why: probes measure distances in their own units
    (Euclidean distances of ~20, Fréchet distances of ~200); the kernel makes similarities
    unit-free and adapts to dense and sparse regions. Each dataset keeps edges to its ``k``
    most similar datasets (union over both ends, so the graph stays undirected): enough to
    connect a new dataset to its neighbourhood, few enough that far datasets do not blur it.
    These edges are scaled by one factor so that at a typical profiled dataset they carry as
    much weight as its model edges (``dataset_edge_balance = 1``): with ~150 models per
    dataset they would otherwise be invisible to the walks of profiled datasets, while a
    held-out target *only* has such edges — its embedding would be built from a different
    kind of evidence than the datasets the learner is trained on.

Missing data
    a dataset without distances has only its model edges (or none: an isolated node, whose
    embedding is NaN — LightGBM reads that as missing); a model without features is a node
    like any other.

Embeddings (:func:`embed`)
    node2vec+ (pecanpy's transition kernel, ``extend=True``) walks, then skip-gram (gensim):
    16 dimensions, 10 walks of 40 steps per node, window 5, ``p = 1``, ``q = 2`` (see
    :class:`Node2VecConfig` for why). Seeded and single-threaded: a seed gives the same
    embedding on every run. A dataset added after training gets the weighted mean of its
    most similar datasets' embeddings (:func:`inductive_embedding`) — "fast" prediction.

>>> from hubselect.rank.synthetic import synthetic_zoo
>>> graph = build_matching_graph(ZooArrays.from_zoo(synthetic_zoo(20, 6, seed=0)))
>>> graph.n_nodes, graph.n_models
(26, 20)
"""

from hubselect.graph.arrays import ZooArrays, normalise_minmax, normalise_rank
from hubselect.graph.matching import (
    GraphConfig,
    MatchingGraph,
    build_matching_graph,
    neighbourhood_from_distances,
    neighbourhood_to,
    similarity_from_distances,
    similarity_to,
    top_k,
)
from hubselect.graph.node2vec import Node2VecConfig, align, embed, inductive_embedding, random_walks

__all__ = [
    "GraphConfig",
    "MatchingGraph",
    "Node2VecConfig",
    "ZooArrays",
    "align",
    "build_matching_graph",
    "embed",
    "inductive_embedding",
    "neighbourhood_from_distances",
    "neighbourhood_to",
    "normalise_minmax",
    "normalise_rank",
    "random_walks",
    "similarity_from_distances",
    "similarity_to",
    "top_k",
]
