"""Synthetic zoos with a known answer, for tests and for the scale benchmark.

Datasets fall into clusters: each cluster has a centre in an 8-dimensional "probe" space, its
datasets lie close to it, and distances are Euclidean between the datasets' probe vectors.
Every model has a general quality and a home cluster where it does a little better. One
model per cluster is *planted*: on its cluster it beats every other model by a clear margin,
elsewhere it is below average — so the right answer for a dataset of cluster ``k`` is
``meta.extra["planted"][k]``, which ``average_best`` misses and neighbourhood evidence finds.

Scores look like accuracy (higher is better, ~0.6–0.95) or, with ``higher_is_better=False``,
like FID (lower is better, ~15–60).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hubselect.zoo.store import RECORD_COLUMNS, Zoo, ZooMeta


def synthetic_zoo(
    n_models: int = 40,
    n_datasets: int = 12,
    *,
    n_clusters: int = 3,
    records_per_dataset: int | None = None,
    higher_is_better: bool = True,
    with_before: bool = False,
    noise: float = 0.01,
    seed: int = 0,
) -> Zoo:
    """A zoo of ``n_models`` × ``n_datasets`` with planted best models (see the module docstring).

    ``records_per_dataset``: how many models each dataset has results for (random ones, the
    planted model of its cluster always among them); ``None`` = every model.

    >>> zoo = synthetic_zoo(20, 6, n_clusters=2, seed=1)
    >>> zoo.meta.extra["planted"]
    {'0': 'model-0000', '1': 'model-0001'}
    """
    if n_models < n_clusters or n_datasets < n_clusters:
        raise ValueError("need at least one model and one dataset per cluster")
    rng = np.random.default_rng(seed)
    models = [f"model-{i:04d}" for i in range(n_models)]
    datasets = [f"data-{j:03d}" for j in range(n_datasets)]
    cluster = np.arange(n_datasets) % n_clusters
    centres = rng.normal(0.0, 3.0, size=(n_clusters, 8))
    probe = centres[cluster] + rng.normal(0.0, 0.5, size=(n_datasets, 8))

    quality = rng.normal(0.0, 1.0, size=n_models)
    home = rng.integers(0, n_clusters, size=n_models)
    planted = np.arange(n_clusters)  # model k is planted for cluster k
    quality[planted] = -0.5
    home[planted] = planted

    accuracy = (
        0.78
        + 0.04 * quality[:, None]
        + 0.02 * (home[:, None] == cluster[None, :])
        + rng.normal(0.0, 0.02, size=(1, n_datasets))  # per-dataset difficulty
        + rng.normal(0.0, noise, size=(n_models, n_datasets))
    )
    is_planted = planted[cluster][None, :] == np.arange(n_models)[:, None]
    top = accuracy.max(axis=0)
    accuracy = np.where(is_planted, top + 0.05, accuracy)
    accuracy = np.clip(accuracy, 0.05, 0.995)
    score = accuracy if higher_is_better else 15.0 + 100.0 * (1.0 - accuracy)

    known = np.ones((n_models, n_datasets), dtype=bool)
    if records_per_dataset is not None and records_per_dataset < n_models:
        known[:] = False
        for j in range(n_datasets):
            others = np.setdiff1d(np.arange(n_models), [planted[cluster[j]]])
            chosen = rng.choice(others, size=records_per_dataset - 1, replace=False)
            known[chosen, j] = True
            known[planted[cluster[j]], j] = True
    rows, cols = np.nonzero(known)
    before = None
    if with_before:
        # Before fine-tuning: a noisy, weaker echo of the result.
        before_acc = 0.5 * accuracy + rng.normal(0.0, 0.03, size=accuracy.shape)
        before = before_acc if higher_is_better else 15.0 + 100.0 * (1.0 - before_acc)

    records = pd.DataFrame(
        {
            "model": pd.Series(np.array(models, dtype=object)[rows], dtype=object),
            "dataset": pd.Series(np.array(datasets, dtype=object)[cols], dtype=object),
            "method": "default",
            "config_hash": "",
            "score": score[rows, cols],
            "score_before": before[rows, cols] if before is not None else None,
            "model_revision": None,
            "dataset_revision": None,
            "metrics": "{}",
            "details": "{}",
        }
    )[RECORD_COLUMNS]
    a, b = np.triu_indices(n_datasets, 1)
    distances = pd.DataFrame(
        {
            "dataset_a": pd.Series(np.array(datasets, dtype=object)[a], dtype=object),
            "dataset_b": pd.Series(np.array(datasets, dtype=object)[b], dtype=object),
            "distance": np.linalg.norm(probe[a] - probe[b], axis=1),
            "probe": "synthetic",
        }
    )
    families = np.array(["unet-s", "unet-m", "unet-l", "dit"], dtype=object)
    model_table = pd.DataFrame(
        {
            "model": pd.Series(models, dtype=object),
            "revision": None,
            "family": pd.Series(families[rng.integers(0, len(families), n_models)], dtype=object),
            "params": np.round(10 ** rng.uniform(6, 9, n_models)),
        }
    )
    dataset_table = pd.DataFrame(
        {"dataset": pd.Series(datasets, dtype=object), "revision": None, "images": rng.integers(50, 5000, n_datasets).astype(float)}
    )
    meta = ZooMeta(
        score="accuracy" if higher_is_better else "fid",
        higher_is_better=higher_is_better,
        description="synthetic zoo with planted best models",
        extra={
            "planted": {str(k): models[k] for k in range(n_clusters)},
            "clusters": {datasets[j]: int(cluster[j]) for j in range(n_datasets)},
        },
    )
    return Zoo(meta, models=model_table, datasets=dataset_table, records=records, distances=distances)
