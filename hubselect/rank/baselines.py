"""Baselines that ``hubselect evaluate`` measures the method against, each a predicted score per
model for a held-out target.

Every baseline reads only what leave-one-dataset-out leaves visible (``arrays`` with the
target's results hidden), except ``initial_score``, which reads the target's own
pre-fine-tuning scores — measuring them needs no fine-tuning.

- ``average_best``: the model's mean min–max-normalised score over the other datasets.
- ``nearest_dataset``: the model's min–max-normalised score on the profiled dataset closest
  to the target (smallest distance). A target without distances falls back to
  ``average_best``; a model without a result there ranks last.
- ``features_only``: the method's learner without graph embeddings (see
  :meth:`hubselect.rank.RankerConfig.without_embeddings`); computed in
  :mod:`hubselect.rank.evaluate`.
- ``random``: not a prediction but the exact expectation over random rankings
  (:func:`hubselect.rank.metrics.random_metrics`).
- ``initial_score``: the target's score before fine-tuning (direction-aware).
"""

from __future__ import annotations

import numpy as np

from hubselect.graph.arrays import ZooArrays, normalise_minmax

BASELINES = ("average_best", "nearest_dataset", "features_only", "random", "initial_score")


def average_best(arrays: ZooArrays, models: np.ndarray) -> np.ndarray:
    """Mean min–max-normalised score over the visible datasets (NaN: no result anywhere)."""
    norm = normalise_minmax(arrays.scores, arrays.higher_is_better)[models]
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(norm), axis=1)
        return np.where(counts > 0, np.nansum(norm, axis=1) / np.maximum(counts, 1), np.nan)


def nearest_profiled(arrays: ZooArrays, target: int) -> int | None:
    """The profiled dataset with the smallest known distance to ``target`` (None: no distances)."""
    dist = arrays.distances[target].copy()
    dist[target] = np.nan
    dist[~arrays.profiled] = np.nan
    if np.isnan(dist).all():
        return None
    return int(np.nanargmin(dist))


def nearest_dataset(arrays: ZooArrays, target: int, models: np.ndarray) -> np.ndarray:
    """The models' min–max-normalised scores on the target's nearest profiled dataset."""
    nearest = nearest_profiled(arrays, target)
    if nearest is None:
        return average_best(arrays, models)
    return normalise_minmax(arrays.scores, arrays.higher_is_better)[models, nearest]


def initial_score(before: np.ndarray | None, higher_is_better: bool, target: int, models: np.ndarray) -> np.ndarray | None:
    """The target's pre-fine-tuning scores, higher = better (None when none is known)."""
    if before is None:
        return None
    values = before[models, target]
    if np.isnan(values).all():
        return None
    return values if higher_is_better else -values
