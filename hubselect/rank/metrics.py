"""Selection metrics for one target dataset (DESIGN.md), for a prediction and for chance.

All metrics compare a predicted score per model (higher = predicted better, whatever the
zoo's direction) with the true scores of the target's models:

- ``top1_hit``: the predicted top-1 is a true best model (ties in the true score count as hits).
- ``top1_score``: the true score of the predicted top-1.
- ``rel1``: ``top1_score / best`` (higher is better) or ``best / top1_score`` (lower is better);
  a ratio means something only on a positive scale, so it is undefined (NaN) on a target whose
  scores are not all > 0 (log-likelihoods, differences): there -1 vs -5 would read as 5x worse.
- ``regret``: ``|best − top1_score|``.
- ``pearson``, ``spearman``: between the predicted score and the true score, oriented so that
  +1 always means "perfectly right" (for a lower-is-better zoo the true score is negated).
  For rankers the predicted score is the raw ranker output, so Pearson measures how linear
  that output is in the true score. A constant prediction has no correlation: 0.
- ``ndcg5``: NDCG@5 with gains = the target's min–max normalised true score (1 = best).

Ties in the prediction are scored as their expectation over the orders of the tied models,
never by breaking them on the models' names or positions: a predictor with no opinion on which
of two models is better must not hit or miss by how they happen to be named. So ``top1_*``,
``rel1`` and ``regret`` are means over the models tied at the top (``top1_hit`` = the share of
them that are a true best), and NDCG gives each position of a tied group the group's mean gain
(McSherry & Najork, "Computing information retrieval performance measures efficiently in the
presence of tied scores", 2008). A prediction that ties every model scores what chance does
(:func:`random_metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

METRICS = ("top1_hit", "top1_score", "rel1", "regret", "pearson", "spearman", "ndcg5")


def _gains(true: np.ndarray, higher_is_better: bool) -> np.ndarray:
    lo, hi = float(np.min(true)), float(np.max(true))
    if hi == lo:
        return np.ones_like(true)
    return (true - lo) / (hi - lo) if higher_is_better else (hi - true) / (hi - lo)


def _discounts(n: int, k: int = 5) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, min(n, k) + 2))


def rel1_defined(true: np.ndarray) -> bool:
    """Whether ``rel1`` means something on a target with these true scores: all of them > 0.

    >>> rel1_defined(np.array([0.9, 0.7])), rel1_defined(np.array([-1.0, -5.0]))
    (True, False)
    """
    return bool(np.all(np.asarray(true, dtype=float) > 0))


def _rel(top: float, best: float, higher_is_better: bool) -> float:
    """The ratio of two positive scores (callers check :func:`rel1_defined`)."""
    num, den = (top, best) if higher_is_better else (best, top)
    return num / den


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank (what Spearman needs), in one ``np.unique``."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def _near_one(x: np.ndarray) -> np.ndarray:
    """``x`` times the power of two that brings its largest magnitude into [0.5, 1): exact (a
    correlation of it is the same to the last digit), and its squares cannot overflow, as
    those of scores past ~1e154 do in ``np.corrcoef`` (whose correlation then read 0)."""
    return np.ldexp(x, -np.frexp(np.max(np.abs(x)))[1])


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(_near_one(x), _near_one(y))[0, 1])


def selection_metrics(true: np.ndarray, predicted: np.ndarray, higher_is_better: bool) -> dict[str, float]:
    """Metrics of one prediction on one target; tied predictions scored as their expectation.

    ``predicted``: higher = predicted better; NaN (no opinion) ranks below every number, all
    NaNs tied, and counts as the lowest prediction in the correlations.

    >>> m = selection_metrics(np.array([0.9, 0.8, 0.7]), np.array([3.0, 2.0, 1.0]), True)
    >>> m["top1_hit"], m["spearman"], m["ndcg5"]
    (1.0, 1.0, 1.0)
    >>> selection_metrics(np.array([0.9, 0.8, 0.7]), np.array([1.0, 1.0, 0.0]), True)["top1_hit"]  # a tie at the top
    0.5
    """
    true = np.asarray(true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if np.isnan(predicted).all():
        predicted = np.zeros_like(true)
    missing = np.isnan(predicted)
    # No opinion ranks below every prediction whatever their scale: ``min - 1.0`` is the min
    # itself past 2**53, which tied a NaN with the lowest model. -inf orders the groups and the
    # ranks; Pearson, which needs numbers, reads it just below the lowest prediction.
    floor = np.min(predicted[~missing])
    below = min(floor - 1.0, np.nextafter(floor, -np.inf))
    ordered = np.where(missing, -np.inf, predicted)
    predicted = np.where(missing, below, predicted)
    # Groups of equal prediction, best predicted first: group 0 is the tied top.
    _, group, sizes = np.unique(-ordered, return_inverse=True, return_counts=True)
    best = float(np.max(true)) if higher_is_better else float(np.min(true))
    top = true[group == 0]
    oriented = true if higher_is_better else -true
    gains = _gains(true, higher_is_better)
    disc = _discounts(true.size)
    # Expected DCG over the orders within each tied group: every position of a group gets its mean gain.
    expected_gains = np.repeat(np.bincount(group, weights=gains) / sizes, sizes)
    dcg = float(np.sum(expected_gains[: disc.size] * disc))
    ideal = float(np.sum(np.sort(gains)[::-1][: disc.size] * disc))
    return {
        "top1_hit": float(np.mean(top == best)),
        "top1_score": float(np.mean(top)),
        "rel1": float(np.mean([_rel(float(t), best, higher_is_better) for t in top])) if rel1_defined(true) else math.nan,
        "regret": float(np.mean(np.abs(best - top))),
        "pearson": _correlation(predicted, oriented),
        "spearman": _correlation(rankdata(ordered), rankdata(oriented)),
        "ndcg5": dcg / ideal if ideal > 0 else 1.0,
    }


class TargetsScorer:
    """:func:`selection_metrics` on many targets at once, for one prediction vector after another.

    Choosing a prior or a learner scores hundreds of candidate predictions on up to a hundred
    validation datasets each; one call of :func:`selection_metrics` per (candidate, dataset)
    spent most of a fit in Python. Here the targets' true scores are padded into one
    ``(targets, models)`` array once, with everything that depends on them alone (gains,
    ideal DCG, ranks of the truth), and each prediction is scored with a few array operations.

    ``true[i]`` holds target ``i``'s true scores and ``positions[i]`` where its models'
    predictions sit in the vectors passed to :meth:`metrics` (one flat vector for every
    target). The figures are :func:`selection_metrics`'s, ties and NaNs included, to rounding
    (correlations are summed in another order: they may differ in the last digits).

    >>> scorer = TargetsScorer([np.array([0.9, 0.8]), np.array([0.5, 0.7, 0.6])], [np.array([0, 1]), np.array([2, 3, 4])], True)
    >>> scorer.mean(np.array([2.0, 1.0, 0.0, 1.0, 0.5]))["top1_hit"]
    1.0
    """

    def __init__(self, true: Sequence[np.ndarray], positions: Sequence[np.ndarray], higher_is_better: bool) -> None:
        if len(true) != len(positions):
            raise ValueError("one positions array per target")
        sizes = np.array([len(t) for t in true], dtype=int)
        if sizes.size == 0 or sizes.min() < 1 or any(len(p) != n for p, n in zip(positions, sizes)):
            raise ValueError("every target needs at least one model, and one position per model")
        self.higher_is_better = higher_is_better
        self.sizes = sizes
        width = int(sizes.max())
        self.valid = np.arange(width)[None, :] < sizes[:, None]
        self.padding_starts = self.valid[:, 1:] != self.valid[:, :-1]  # a group of its own in every sort (_ranks)
        self.index = np.zeros(self.valid.shape, dtype=np.intp)
        self.index[self.valid] = np.concatenate([np.asarray(p, dtype=np.intp) for p in positions])
        truth = np.zeros(self.valid.shape)
        truth[self.valid] = np.concatenate([np.asarray(t, dtype=float) for t in true])
        self.true = truth
        low = np.where(self.valid, truth, np.inf).min(axis=1)
        high = np.where(self.valid, truth, -np.inf).max(axis=1)
        self.best = high if higher_is_better else low
        spread = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            gains = ((truth - low[:, None]) if higher_is_better else (high[:, None] - truth)) / spread[:, None]
        gains = np.where(spread[:, None] == 0, 1.0, gains)
        self.gains = np.where(self.valid, gains, 0.0)
        self.discounts = 1.0 / np.log2(np.arange(2, min(width, 5) + 2))
        self.cutoff = np.arange(self.discounts.size)[None, :] < sizes[:, None]
        top_gains = -np.sort(-self.gains, axis=1)[:, : self.discounts.size]
        self.ideal = np.sum(top_gains * self.discounts * self.cutoff, axis=1)
        self.rel1_defined = np.where(self.valid, truth > 0, True).all(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = truth / self.best[:, None] if higher_is_better else self.best[:, None] / truth
        self.rel = np.where(self.valid, rel, 0.0)
        oriented = truth if higher_is_better else -truth
        self.oriented = np.where(self.valid, oriented, 0.0)
        self.oriented_ranks = self._ranks(self.oriented)

    def _ranks(self, values: np.ndarray) -> np.ndarray:
        """Each row's average ranks (from 0, ties sharing their mean rank) over its valid entries,
        as :func:`rankdata` ranks them: NaNs above every number, all tied.

        The padding is NaN, which a stable sort puts after the valid entries, NaNs included: it
        stays where it was, a group of its own. Padded with +inf, it tied with a valid +inf and
        sorted before a valid NaN, and their ranks (so spearman) were not :func:`selection_metrics`'s.
        """
        key = np.where(self.valid, values, np.nan)
        order = np.argsort(key, axis=1, kind="stable")
        ordered = np.take_along_axis(key, order, axis=1)
        columns = np.arange(key.shape[1])
        starts = np.ones(key.shape, dtype=bool)
        nan = np.isnan(ordered)
        starts[:, 1:] = ((ordered[:, 1:] != ordered[:, :-1]) & ~(nan[:, 1:] & nan[:, :-1])) | self.padding_starts
        first = np.maximum.accumulate(np.where(starts, columns, 0), axis=1)
        ends = np.ones(key.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, columns, key.shape[1]), axis=1), axis=1), axis=1)
        ranks = np.empty(key.shape)
        np.put_along_axis(ranks, order, (first + last) / 2.0, axis=1)
        return np.where(self.valid, ranks, 0.0)

    def _correlation(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each row's Pearson correlation over its valid entries; 0 where either side is constant."""
        def centred(v):
            low = np.where(self.valid, v, np.inf).min(axis=1)
            high = np.where(self.valid, v, -np.inf).max(axis=1)
            scale = np.frexp(np.maximum(np.abs(low), np.abs(high)))[1]  # as _near_one: no overflow past 1e154
            v = np.ldexp(np.where(self.valid, v, 0.0), -scale[:, None])
            mean = v.sum(axis=1) / self.sizes
            return np.where(self.valid, v - mean[:, None], 0.0), high - low

        cx, spread_x = centred(x)
        cy, spread_y = centred(y)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.sum(cx * cy, axis=1) / np.sqrt(np.sum(cx * cx, axis=1) * np.sum(cy * cy, axis=1))
        r = np.clip(r, -1.0, 1.0)
        return np.where((self.sizes < 2) | (spread_x == 0) | (spread_y == 0), 0.0, r)

    def metrics(self, predicted: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric of :data:`METRICS` per target (arrays in the targets' order)."""
        valid = self.valid
        values = np.where(valid, np.asarray(predicted, dtype=float)[self.index], np.nan)
        values = np.where(np.isnan(values).all(axis=1, keepdims=True) & valid, 0.0, values)  # no opinion at all: a tie
        missing = np.isnan(values) & valid
        floor = np.where(valid & ~missing, values, np.inf).min(axis=1, keepdims=True)
        below = np.minimum(floor - 1.0, np.nextafter(floor, -np.inf))
        ordered = np.where(missing, -np.inf, values)
        numbers = np.where(missing, below, values)
        highest = np.where(valid, ordered, -np.inf).max(axis=1, keepdims=True)
        top = valid & (ordered == highest)
        count = top.sum(axis=1)

        def top_mean(v):
            return np.where(top, v, 0.0).sum(axis=1) / count

        key = np.where(valid, -ordered, np.nan)  # best predicted first, padding last
        order = np.argsort(key, axis=1, kind="stable")
        key = np.take_along_axis(key, order, axis=1)
        gains = np.take_along_axis(self.gains, order, axis=1)
        starts = np.ones(key.shape, dtype=bool)
        starts[:, 1:] = key[:, 1:] != key[:, :-1]
        flat = np.flatnonzero(starts.ravel())
        group_sums = np.add.reduceat(gains.ravel(), flat)
        group_sizes = np.diff(np.append(flat, gains.size))
        group = np.cumsum(starts.ravel()) - 1
        expected = (group_sums / group_sizes)[group].reshape(key.shape)[:, : self.discounts.size]
        dcg = np.sum(expected * self.discounts * self.cutoff, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ndcg = np.where(self.ideal > 0, dcg / self.ideal, 1.0)
        return {
            "top1_hit": top_mean((self.true == self.best[:, None]).astype(float)),
            "top1_score": top_mean(self.true),
            "rel1": np.where(self.rel1_defined, top_mean(self.rel), np.nan),
            "regret": top_mean(np.abs(self.best[:, None] - self.true)),
            "pearson": self._correlation(numbers, self.oriented),
            "spearman": self._correlation(self._ranks(ordered), self.oriented_ranks),
            "ndcg5": ndcg,
        }

    def mean(self, predicted: np.ndarray) -> dict[str, float]:
        """:func:`mean_metrics` of :meth:`metrics`: each metric's mean over targets, NaNs skipped."""
        out = {}
        for key, values in self.metrics(predicted).items():
            values = values[~np.isnan(values)]
            out[key] = float(np.mean(values)) if values.size else math.nan
        return out


def random_metrics(true: np.ndarray, higher_is_better: bool) -> dict[str, float]:
    """The exact expectation of every metric when the ranking is a uniformly random permutation.

    ``top1_*``, ``rel1`` and ``regret`` average over every model being the top-1 (``rel1``
    undefined, NaN, as in :func:`selection_metrics`, where the scores are not all > 0);
    ``ndcg5`` = E[DCG@5] / IDCG with E[gain at any position] = mean gain (exact, no sampling);
    correlations of a random ranking have expectation 0.

    >>> random_metrics(np.array([1.0, 0.0]), True)["top1_hit"]
    0.5
    """
    true = np.asarray(true, dtype=float)
    best = float(np.max(true)) if higher_is_better else float(np.min(true))
    gains = _gains(true, higher_is_better)
    disc = _discounts(true.size)
    ideal = float(np.sum(np.sort(gains)[::-1][: disc.size] * disc))
    rel1 = float(np.mean([_rel(float(t), best, higher_is_better) for t in true])) if rel1_defined(true) else math.nan
    return {
        "top1_hit": float(np.mean(true == best)),
        "top1_score": float(np.mean(true)),
        "rel1": rel1,
        "regret": float(np.mean(np.abs(best - true))),
        "pearson": 0.0,
        "spearman": 0.0,
        "ndcg5": float(np.mean(gains) * disc.sum() / ideal) if ideal > 0 else 1.0,
    }


def _value(metrics: dict, key: str) -> float:
    """A metric's value, NaN where it is missing or undefined (None)."""
    value = metrics.get(key)
    return math.nan if value is None else float(value)


def mean_metrics(per_target: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over targets (NaNs skipped)."""
    out = {}
    for key in METRICS:
        values = [v for v in (_value(m, key) for m in per_target) if not math.isnan(v)]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


#: The metrics :func:`paired_margins` reports: higher is better for each of them.
MARGIN_METRICS = ("top1_hit", "rel1", "pearson", "spearman", "ndcg5")


def paired_margins(
    method: list[dict[str, float]],
    baseline: list[dict[str, float]],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Method minus baseline per metric, with a paired-bootstrap interval over the targets.

    ``method[i]`` and ``baseline[i]`` are the metrics of the same target. Per metric of
    :data:`MARGIN_METRICS`: ``mean`` (the mean per-target difference over the targets where
    both are defined), ``low`` and ``high`` (the central ``level`` interval of that mean when
    the targets are resampled with replacement) and ``targets``. An interval that contains 0
    says the zoo's targets cannot tell the two apart on that metric: with 24 targets, one
    more top-1 hit is worth 0.042. With few targets (under ten or so) a percentile bootstrap
    is too narrow: read the interval as the least of the uncertainty.

    >>> m = [{"top1_hit": 1.0, "rel1": 1.0, "pearson": 0.9, "spearman": 0.9, "ndcg5": 1.0}] * 8
    >>> b = [{"top1_hit": 0.0, "rel1": 0.8, "pearson": 0.5, "spearman": 0.5, "ndcg5": 0.8}] * 8
    >>> paired_margins(m, b)["pearson"]
    {'mean': 0.4, 'low': 0.4, 'high': 0.4, 'targets': 8}
    """
    rng = np.random.default_rng(seed)
    out = {}
    for key in MARGIN_METRICS:
        diffs = np.array([_value(a, key) - _value(b, key) for a, b in zip(method, baseline)], dtype=float)
        diffs = diffs[np.isfinite(diffs)]
        if diffs.size == 0:
            out[key] = {"mean": math.nan, "low": math.nan, "high": math.nan, "targets": 0}
            continue
        means = diffs[rng.integers(0, diffs.size, size=(resamples, diffs.size))].mean(axis=1)
        tail = (1.0 - level) / 2.0
        low, high = np.quantile(means, [tail, 1.0 - tail])
        out[key] = {"mean": round(float(diffs.mean()), 12), "low": round(float(low), 12), "high": round(float(high), 12), "targets": int(diffs.size)}
    return out


def margin_cells(margins: dict[str, dict[str, dict]], *, sep: str = " ") -> dict[str, list[str]]:
    """Per baseline but chance (``random``: beating it is not in question), one text per
    :data:`MARGIN_METRICS` metric: ``+0.041<sep>[-0.012, +0.095]``, or ``–`` where undefined.

    The bounds have the mean's decimals: rounded coarser, ``+0.008`` read ``[+0.01, +0.01]``
    (a mean outside its own interval) and an interval excluding 0 could read as one holding it.

    >>> margin_cells({"random": {}, "nearest_dataset": {"pearson": {"mean": 0.04, "low": -0.01, "high": 0.1}}})["nearest_dataset"][2]
    '+0.040 [-0.010, +0.100]'
    """
    out = {}
    for name, by_metric in margins.items():
        if name == "random":
            continue
        cells = []
        for metric in MARGIN_METRICS:
            m = by_metric.get(metric, {})
            values = [m.get(k) for k in ("mean", "low", "high")]
            if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                cells.append(f"{values[0]:+.3f}{sep}[{values[1]:+.3f}, {values[2]:+.3f}]")
            else:
                cells.append("–")
        out[name] = cells
    return out


#: The metrics a candidate configuration is judged on during inner cross-validation.
SELECTION_METRICS = ("pearson", "spearman", "ndcg5")


def worst_gain(metrics: dict, reference: dict) -> float:
    """The smallest improvement of ``metrics`` over ``reference`` among :data:`SELECTION_METRICS`.

    >>> round(worst_gain({"pearson": .81, "spearman": .75, "ndcg5": .91}, {"pearson": .8, "spearman": .7, "ndcg5": .9}), 3)
    0.01
    """
    return min(metrics[m] - reference[m] for m in SELECTION_METRICS)


def pareto_pick(results: dict, reference) -> object:
    """The candidate whose *worst* gain over ``reference`` is largest, if that gain is > 0.

    ``results`` maps candidates to mean metrics over validation datasets. A candidate is
    only preferred to the reference when it improves every one of pearson, spearman and
    ndcg5 out of fold: trading one metric away for another is not an improvement a user
    can count on. Among those, the largest worst-case improvement wins; otherwise the
    reference stays.

    >>> pareto_pick({"a": {"pearson": .8, "spearman": .7, "ndcg5": .9},
    ...              "b": {"pearson": .81, "spearman": .75, "ndcg5": .91}}, "a")
    'b'
    """
    best, best_gain = reference, 0.0
    for key, metrics in results.items():
        gain = worst_gain(metrics, results[reference])
        if gain > best_gain:
            best, best_gain = key, gain
    return best
