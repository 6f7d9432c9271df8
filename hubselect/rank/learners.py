"""LightGBM learners, grouped by dataset: LambdaRank (default) and regression.

The label of a (model, dataset) row is the model's min–max normalised score on that dataset
(1 = best there, 0 = worst; direction-aware) — the same quantity the evaluation's NDCG gains
use (:mod:`hubselect.rank.metrics`), so the learner is trained on what it is judged on.
Boosting starts from the prior (:mod:`hubselect.rank.prior`) as LightGBM's ``init_score``: the
trees learn corrections to a strong baseline, not the ranking from scratch.

- ``lambdarank``: LambdaRank needs integer relevance grades; the label is rounded to one of
  ``grades`` levels (10 by default), and a grade's gain is the grade itself (linear, not
  LightGBM's default ``2^g − 1``), so a 0.9 model is worth 0.9 of the best one, as in the
  evaluation's NDCG. Pairs are formed within the top :data:`TRUNCATION` of each dataset.
- ``regression``: L2 regression on the label.

Two regularisation levels are offered (``light``, ``strong``); which one a fit uses, with how
many rounds, is chosen by inner cross-validation (see :mod:`hubselect.rank.ranker`).
Training is deterministic: one thread, fixed seed, ``deterministic=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

LEARNERS = ("lambdarank", "regression")

#: LambdaRank learns from pairs that involve the top ``TRUNCATION`` of each dataset's list
#: (LightGBM's default): the top is what users pick from, and the order of the rest is
#: carried by the prior the learner is boosted from. It also keeps training linear in the
#: number of models per dataset rather than quadratic.
TRUNCATION = 30


@dataclass(frozen=True)
class Regularisation:
    """Tree settings of one candidate (rows per leaf as a fraction keeps them scale-free)."""

    num_leaves: int
    min_data_in_leaf: int
    lambda_l2: float
    feature_fraction: float
    rounds: int
    learning_rate: float = 0.05


REGULARISATION = {
    # Enough capacity for interactions between evidence, links and embeddings.
    "light": Regularisation(num_leaves=15, min_data_in_leaf=20, lambda_l2=1.0, feature_fraction=0.8, rounds=128),
    # Few, well-supported splits: for zoos with few datasets, where any split can overfit.
    "strong": Regularisation(num_leaves=5, min_data_in_leaf=60, lambda_l2=10.0, feature_fraction=0.6, rounds=128),
}


def grade_labels(p: np.ndarray, grades: int) -> np.ndarray:
    """Integer relevance grades 0..grades-1 from normalised scores in [0, 1] (1 = best).

    >>> grade_labels(np.array([0.0, 0.5, 1.0]), 10).tolist()
    [0, 4, 9]
    """
    return np.clip(np.round(p * (grades - 1)), 0, grades - 1).astype(int)


def fit_learner(
    X: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    *,
    prior: np.ndarray | None = None,
    learner: str,
    regularisation: Regularisation,
    categorical: list[int],
    grades: int = 10,
    seed: int = 0,
    num_threads: int = 1,
) -> lgb.Booster:
    """Train on rows sorted by dataset: ``groups`` holds each dataset's row count, in order.

    ``p``: labels in [0, 1]; ``prior``: the raw score each row starts from (``init_score``).
    """
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    params = {
        "learning_rate": regularisation.learning_rate,
        "num_leaves": regularisation.num_leaves,
        "min_data_in_leaf": regularisation.min_data_in_leaf,
        "lambda_l2": regularisation.lambda_l2,
        "feature_fraction": regularisation.feature_fraction,
        "feature_fraction_seed": seed,
        "min_data_per_group": 10,
        "cat_smooth": 10.0,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": num_threads,
        "verbose": -1,
    }
    if learner == "lambdarank":
        params.update(
            objective="lambdarank",
            label_gain=list(range(grades)),
            lambdarank_truncation_level=TRUNCATION,
        )
        label = grade_labels(p, grades)
    else:
        params.update(objective="regression")
        label = p
    data = lgb.Dataset(
        X,
        label=label,
        init_score=prior,
        group=groups if learner == "lambdarank" else None,
        categorical_feature=categorical or "auto",
        free_raw_data=True,
        params={"verbose": -1, "min_data_in_bin": 3},
    )
    return lgb.train(params, data, num_boost_round=regularisation.rounds)

