"""Pair features: what the learner knows about a (model, dataset) pair.

Every feature is computed only from what is visible for the query dataset — its own
features and distances, never its records — so training rows (profiled datasets) and
prediction rows (a held-out target, a user's new dataset) are built the same way. Evidence
features of a training row leave out the row's own dataset, exactly as a target has no
records of its own.

Model features (``m:<column>``)
    every model feature column of the zoo, numeric as-is, text as a LightGBM category, except
    the throughput measurements' (:func:`measurement_columns`).
Dataset features (``d:<column>``)
    every dataset feature column, of the query dataset.
Graph evidence (``ev:*``), from the model's visible results and the dataset↔dataset edges
    ``ev:prior``: the prior the learner is boosted from (:mod:`hubselect.rank.prior`);
    ``ev:mean`` / ``ev:mean_rank``: the model's mean min–max / rank-normalised score over the
    other profiled datasets (what ``average_best`` ranks by); ``ev:knn`` / ``ev:knn_rank``: the
    same, weighted by similarity, over the query's ``k`` most similar profiled datasets (where
    the model has a result); ``ev:nearest``: its min–max score on the query's most similar
    profiled dataset; ``ev:support``: the summed similarity behind ``ev:knn`` (how much
    evidence there is); ``ev:count``: how many other datasets the model has results on;
    ``ev:query_similarity``: the query's similarity to its most similar profiled dataset
    (how far it is from everything the zoo knows).
Links (``link:<column>``)
    for a model text column whose values name datasets of the zoo (e.g. ``pretrain_dataset``):
    the similarity between the query and that dataset (1 when it is the query itself).
Graph embeddings (``emb:*``)
    ``emb:cos``: cosine of the model's and the query's node2vec+ embeddings (their interaction);
    with the ``both`` feature set also ``emb:m<i>`` and ``emb:d<i>``, both ends' coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hubselect.bench.throughput import (
    BENCH_PREFIX,
    FIGURE_COLUMNS,
    SETTING_COLUMNS,
    figure_settings,
)
from hubselect.graph.arrays import ZooArrays, normalise_minmax, normalise_rank
from hubselect.graph.matching import top_k

EMBEDDING_SETS = ("none", "interaction", "both")


@dataclass
class FeatureSchema:
    """Names and kinds of the learner's columns; categories of text features, in code order."""

    names: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"names": self.names, "categories": self.categories, "links": self.links}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSchema":
        return cls(list(data["names"]), {k: list(v) for k, v in data.get("categories", {}).items()}, list(data.get("links", [])))

    @property
    def categorical(self) -> list[str]:
        return [n for n in self.names if n in self.categories]


class Evidence:
    """Evidence about every (model, query) pair from the visible records of ``arrays``.

    ``similarity`` holds query rows against the zoo's datasets (zero for a query's own
    column). ``own`` gives, per query, its own dataset column (−1 for a new dataset), which is
    left out of the model's mean.
    """

    def __init__(self, arrays: ZooArrays, k: int, prior=None) -> None:
        self.arrays = arrays
        self.k = k
        self.prior = prior  # a KernelPrior, or None
        self.minmax = normalise_minmax(arrays.scores, arrays.higher_is_better)
        self.rank = normalise_rank(arrays.scores, arrays.higher_is_better)
        self.known = arrays.known.astype(float)
        self.profiled = arrays.profiled
        mm0 = np.nan_to_num(self.minmax)
        rk0 = np.nan_to_num(self.rank)
        self._sums = (mm0.sum(axis=1), rk0.sum(axis=1), self.known.sum(axis=1))
        self._filled = (mm0, rk0)

    def neighbour_weights(self, similarity_rows: np.ndarray) -> np.ndarray:
        """Each query's top-``k`` similarities among profiled datasets (others zero)."""
        return top_k(similarity_rows, self.k, allowed=self.profiled)

    def tables(self, similarity_rows: np.ndarray, own: np.ndarray) -> dict[str, np.ndarray]:
        """Evidence matrices ``(n_models, n_queries)``."""
        mm0, rk0 = self._filled
        sum_mm, sum_rk, count = self._sums
        own = np.asarray(own)
        has_own = own >= 0
        own_col = np.where(has_own, own, 0)
        own_known = np.where(has_own[None, :], self.known[:, own_col], 0.0)
        own_mm = np.where(has_own[None, :], mm0[:, own_col], 0.0)
        own_rk = np.where(has_own[None, :], rk0[:, own_col], 0.0)
        n_other = count[:, None] - own_known
        with np.errstate(all="ignore"):
            mean_mm = (sum_mm[:, None] - own_mm) / n_other
            mean_rk = (sum_rk[:, None] - own_rk) / n_other
        weights = self.neighbour_weights(similarity_rows)  # (q, n_d)
        support = self.known @ weights.T
        with np.errstate(all="ignore"):
            knn_mm = (mm0 @ weights.T) / support
            knn_rk = (rk0 @ weights.T) / support
        nearest = np.argmax(weights, axis=1)
        has_nearest = weights[np.arange(weights.shape[0]), nearest] > 0
        nearest_mm = np.where(has_nearest[None, :], self.minmax[:, nearest], np.nan)
        query_sim = np.where(has_nearest, weights[np.arange(weights.shape[0]), nearest], np.nan)
        n_m = mm0.shape[0]
        out = {}
        if self.prior is not None:
            out["ev:prior"] = self.prior.table(self, similarity_rows, own)
        return out | {
            "ev:mean": mean_mm,
            "ev:mean_rank": mean_rk,
            "ev:knn": knn_mm,
            "ev:knn_rank": knn_rk,
            "ev:nearest": nearest_mm,
            "ev:support": support,
            "ev:count": np.broadcast_to(n_other, (n_m, own.size)).astype(float),
            "ev:query_similarity": np.broadcast_to(query_sim[None, :], (n_m, own.size)),
        }


def link_columns(arrays: ZooArrays) -> list[str]:
    """Model text columns some of whose values name datasets of the zoo."""
    names = set(arrays.datasets)
    out = []
    for column in arrays.model_features.columns:
        values = arrays.model_features[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            if values.dropna().isin(names).any():
                out.append(column)
    return out


def measurement_columns(model_features: pd.DataFrame) -> set[str]:
    """The model columns of throughput measurements that the learner leaves out.

    Every ``bench_*`` column: how a figure was measured (device, dtype, steps, resolution, how
    long it ran, its error) says nothing of how a model fine-tunes, and changes with each rerun.
    The figures themselves (images/s, denoiser step latency, peak memory) too, unless all the
    zoo's were measured with one setting (:func:`~hubselect.bench.throughput.figure_settings`):
    a CPU figure at 2 steps and 16 px is hundreds of times below a GPU one at 20 steps and 512 px: in
    one column the learner would split on where each model happened to be measured. A zoo whose
    models were measured at their native resolutions, where those differ, has no figure features
    either; a ranker built before keeps the columns its schema names. How peak memory was
    measured (an older hubselect's CPU measure left the weights out) is no setting of the others:
    figures differing only in it lose ``peak_memory_mb`` alone.

    >>> measurement_columns(pd.DataFrame({"license": ["mit"], "throughput_images_per_s": [2.0], "bench_seconds": [5.1]}))
    {'bench_seconds'}
    """
    out = {c for c in model_features.columns if c.startswith(BENCH_PREFIX)}
    figures = [c for c in model_features.columns if c in FIGURE_COLUMNS]
    if "throughput_images_per_s" not in model_features.columns:  # no figure measured: nothing to compare
        return out
    # Each fit reads this for its schemas: only the columns figure_settings reads, not every feature.
    read = [c for c in ("throughput_images_per_s", *SETTING_COLUMNS, "bench_memory_measure") if c in model_features.columns]
    measured = {figure_settings(row) for row in model_features[read].to_dict("records")} - {None}
    if len({settings[:5] for settings in measured}) > 1:
        out.update(figures)
    elif len(measured) > 1:
        out.update(c for c in figures if c == "peak_memory_mb")
    return out


def make_schema(arrays: ZooArrays, embedding_set: str, dim: int) -> FeatureSchema:
    """The learner's columns for a zoo and an embedding feature set."""
    if embedding_set not in EMBEDDING_SETS:
        raise ValueError(f"embedding feature set must be one of {EMBEDDING_SETS}, got {embedding_set!r}")
    names: list[str] = []
    categories: dict[str, list[str]] = {}
    left_out = measurement_columns(arrays.model_features)
    for prefix, table in (("m:", arrays.model_features), ("d:", arrays.dataset_features)):
        for column in table.columns:
            if prefix == "m:" and column in left_out:
                continue
            name = prefix + column
            names.append(name)
            if not pd.api.types.is_float_dtype(table[column]):
                categories[name] = sorted({str(v) for v in table[column].dropna()})
    names += ["ev:prior", "ev:mean", "ev:mean_rank", "ev:knn", "ev:knn_rank", "ev:nearest", "ev:support", "ev:count", "ev:query_similarity"]
    links = link_columns(arrays)
    names += [f"link:{c}" for c in links]
    if embedding_set != "none":
        names.append("emb:cos")
    if embedding_set == "both":
        names += [f"emb:m{i}" for i in range(dim)] + [f"emb:d{i}" for i in range(dim)]
    return FeatureSchema(names, categories, links)


def _encode(values: pd.Series, categories: list[str]) -> np.ndarray:
    codes = {c: float(i) for i, c in enumerate(categories)}
    return np.array([codes.get(str(v), np.nan) if v is not None and not (isinstance(v, float) and np.isnan(v)) else np.nan for v in values], dtype=float)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def pair_matrix(
    schema: FeatureSchema,
    arrays: ZooArrays,
    models: np.ndarray,
    queries: np.ndarray,
    evidence: dict[str, np.ndarray],
    evidence_columns: np.ndarray,
    query_features: pd.DataFrame,
    link_similarity: dict[str, np.ndarray],
    model_embedding: np.ndarray | None,
    query_embedding: np.ndarray | None,
) -> np.ndarray:
    """The feature matrix of pairs ``(models[r], queries[r])`` in ``schema`` column order.

    ``evidence`` holds ``(n_models, n_queries)`` tables; ``evidence_columns[r]`` is row ``r``'s
    column in them. ``query_features`` has one row per pair (the query's dataset features).
    ``link_similarity[column]`` is ``(n_rows,)``. Embeddings are ``(n_rows, dim)``.
    """
    n = models.size
    out = np.full((n, len(schema.names)), np.nan)
    mf = arrays.model_features
    for c, name in enumerate(schema.names):
        kind, _, column = name.partition(":")
        if kind == "m":
            values = mf[column].to_numpy()[models] if column in mf.columns else np.full(n, None)
            out[:, c] = _encode(pd.Series(values), schema.categories[name]) if name in schema.categories else pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        elif kind == "d":
            values = query_features[column].to_numpy() if column in query_features.columns else np.full(n, None)
            out[:, c] = _encode(pd.Series(values), schema.categories[name]) if name in schema.categories else pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        elif kind == "ev":
            out[:, c] = evidence[name][models, evidence_columns]
        elif kind == "link":
            out[:, c] = link_similarity[column]
        elif name == "emb:cos":
            out[:, c] = _cosine(model_embedding, query_embedding)
        elif column.startswith("m"):
            out[:, c] = model_embedding[:, int(column[1:])]
        else:
            out[:, c] = query_embedding[:, int(column[1:])]
    return out


def link_similarity(arrays: ZooArrays, links: list[str], models: np.ndarray, query_similarity_rows: np.ndarray, query_own: np.ndarray) -> dict[str, np.ndarray]:
    """Per link column, the similarity between each row's query and the dataset its model names.

    ``query_similarity_rows[r]`` is row ``r``'s query similarity to every zoo dataset;
    ``query_own[r]`` its own column (−1 for a new dataset).
    """
    out = {}
    for column in links:
        named = arrays.model_features[column].to_numpy()[models]
        col = np.array([arrays._dataset_index.get(v, -1) if isinstance(v, str) else -1 for v in named])
        rows = np.arange(models.size)
        sim = np.where(col >= 0, query_similarity_rows[rows, np.maximum(col, 0)], np.nan)
        sim = np.where((col >= 0) & (col == query_own), 1.0, sim)
        out[column] = sim
    return out
