"""The prior the learner is boosted from: a model's results elsewhere, weighted by evidence value.

``prior(m, q) = (1 − α) · Σ_j a_j u_qj n_mj / Σ_j a_j u_qj  +  α · Σ_j a_j w_qj r_mj / Σ_j a_j w_qj``

over the profiled datasets ``j ≠ q`` where model ``m`` has a result; ``u`` and ``w`` are
similarity kernels ``sim(q, j)^γ + ε`` (``ε = ∞``: equal weights), or *nearest-scaled*
kernels ``sim(q, j)^(τ / ℓ_q)`` with ``ℓ_q = −log max_j sim(q, j)``.

The nearest-scaled kernel sets its sharpness per query from the query's nearest profiled
dataset: it gives that one weight ``e^−τ`` and a dataset ``x`` times as far (in
``−log sim``, i.e. in squared distance over the bandwidths) ``e^−xτ``. A query with a
near-duplicate in the zoo (``sim ≈ 1``) is then predicted from that duplicate alone, one far from
everything from a broad neighbourhood. A fixed power cannot do both: the similarity's
bandwidth is the ``k``-th neighbour's distance, so when a query's ``k`` nearest datasets are
a tight cluster (distances 3 and 14 against a bandwidth of ~250) all of them have
``sim ≈ 1`` and ``sim^4`` weighs the duplicate and the merely related alike.

- ``n_mj``: min–max normalised score (1 = best on ``j``). Min–max keeps magnitudes: a model
  that collapses (accuracy at chance, FID in the hundreds) sits far below the rest, and
  Pearson over a target's models is mostly decided by such models. With all ``a_j = 1``,
  ``u`` flat and ``α = 0`` the prior is exactly ``average_best``; with a sharp ``u`` it
  approaches ``nearest_dataset``.
- ``a_j = max(0, ρ̄_j)^p``: how much dataset ``j``'s results agree with the other training
  datasets' (``ρ̄_j``, its mean Pearson correlation with them over shared models). Under a
  one-factor view of a zoo (a model's general quality, seen through each dataset with more or
  less noise) a dataset whose ranking tracks the others' measures that quality well and
  deserves more weight; one whose scores are noise (all models within 0.001) deserves none.
  ``p = 0`` weighs all datasets alike. Datasets that share fewer than
  :data:`MIN_SHARED` models with the others cannot be judged and get ``ρ̄`` = the mean
  of those that can (neutral).
- ``r_mj``: the model's within-dataset rank as a fraction (best 1), weighted by similarity
  to the query through ``w``. Ranks are robust to one dataset's
  outliers and say how the model *orders* among the others where the data look like the
  query's — what Spearman and NDCG@5 reward. ``α ∈ [0, 1]`` moves the prior from the plain
  mean (0) to this similarity-weighted order alone (1; with a sharp kernel that is close to
  ``nearest_dataset``), so the grid spans both baselines and what lies between.

``p``, ``α`` and the two kernels are chosen per fit by leave-one-dataset-out over the training datasets
(closed form, so cheap; the agreement of a pseudo-target is never used to weigh it), with
``average_best`` as the reference: a setting replaces it only if it improves pearson,
spearman and ndcg5 alike (:func:`hubselect.rank.metrics.pareto_pick`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from hubselect.rank.metrics import TargetsScorer, pareto_pick

AGREEMENT_POWERS = (0.0, 1.0, 2.0)
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
#: ``ε`` that marks a nearest-scaled kernel (its ``γ`` is then ``τ``; see the module docstring);
#: negative, so it can never be a plain ``sim^γ + ε``.
NEAREST = -1.0
#: (γ, ε) of the similarity kernels: nearest-scaled, sharp (the most similar datasets
#: dominate), medium, flat.
KERNELS = ((1.0, NEAREST), (4.0, 0.01), (2.0, 0.1), (1.0, math.inf))
#: Kernels tried for the min–max part: flat (``average_best``), sharp, or nearest-scaled
#: (``nearest_dataset``-like where the zoo has near-duplicates of the query).
MEAN_KERNELS = ((1.0, math.inf), (4.0, 0.01), (1.0, NEAREST))
#: ``ℓ_q`` floor: a query at distance 0 from a dataset is predicted from its exact duplicates.
_TINY = 1e-12
#: Two datasets' agreement is only measured over at least this many shared models.
MIN_SHARED = 10
#: At most this many training datasets serve as pseudo-targets in the selection (a seeded
#: sample), which keeps it a few seconds on zoos with hundreds of datasets.
MAX_PSEUDO_TARGETS = 100


def dataset_agreement(normalised: np.ndarray) -> np.ndarray:
    """Pearson correlation between every two datasets' columns over their shared models.

    NaN where they share fewer than :data:`MIN_SHARED` models (and on the diagonal).
    Vectorised: five matrix products, no loop over pairs.
    """
    known = (~np.isnan(normalised)).astype(float)
    x = np.nan_to_num(normalised)
    n = known.T @ known
    sx = x.T @ known  # sx[j, k] = Σ over models known on both of x_j
    sxx = (x * x).T @ known
    sxy = x.T @ x
    with np.errstate(all="ignore"):
        cov = sxy - sx * sx.T / n
        var_j = sxx - sx**2 / n
        var_k = var_j.T
        corr = cov / np.sqrt(var_j * var_k)
    corr[(n < MIN_SHARED) | ~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, np.nan)
    return corr


def agreement_weights(corr: np.ndarray, pool: np.ndarray, leave_out: np.ndarray | None = None) -> np.ndarray:
    """Mean agreement ``ρ̄_j`` of every dataset with the ``pool`` datasets.

    With ``leave_out`` (pseudo-targets), row ``i`` leaves ``leave_out[i]`` out of the pool, so
    a pseudo-target's own results never set the weights it is predicted with. Returns
    ``(n_rows, n_datasets)`` (one row without ``leave_out``); unjudgeable datasets get the
    row's mean.
    """
    sub = corr[:, pool]
    total = np.nansum(sub, axis=1)
    count = np.sum(~np.isnan(sub), axis=1).astype(float)
    if leave_out is None:
        total, count = total[None, :], count[None, :]
    else:
        own = corr[:, leave_out].T  # (n_rows, n_datasets)
        has = ~np.isnan(own)
        total = total[None, :] - np.where(has, own, 0.0)
        count = count[None, :] - has
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no dataset can be judged: all-NaN rows
        mean = total / count
        fill = np.nanmean(np.where(np.isfinite(mean), mean, np.nan), axis=1, keepdims=True)
    fill = np.where(np.isfinite(fill), fill, 1.0)
    return np.where(np.isfinite(mean), mean, fill)


def _kernel(gamma: float, epsilon: float, similarity_rows: np.ndarray, profiled: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Query × dataset weights ``sim^γ + ε`` (or nearest-scaled, ``ε =`` :data:`NEAREST`):
    zero for unprofiled datasets and a query's own column."""
    allowed = np.broadcast_to(profiled[None, :], similarity_rows.shape).copy()
    own = np.asarray(own)
    has_own = own >= 0
    allowed[np.flatnonzero(has_own), own[has_own]] = False
    if math.isinf(epsilon):
        w = np.ones_like(similarity_rows, dtype=float)
    elif epsilon == NEAREST:
        with np.errstate(divide="ignore"):
            log_sim = np.log(np.where(allowed, similarity_rows, 0.0).astype(float))  # −∞ where excluded or sim = 0
        nearest = np.maximum(-np.max(log_sim, axis=1, keepdims=True), _TINY)
        with np.errstate(invalid="ignore"):
            w = np.where(np.isfinite(log_sim), np.exp(gamma * log_sim / nearest), 0.0)
    else:
        w = similarity_rows**gamma + epsilon
    return np.where(allowed, w, 0.0)


def _weighted_mean(values: np.ndarray, known: np.ndarray, weights: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return (np.nan_to_num(values) @ weights.T) / (known @ weights.T)


@dataclass(frozen=True)
class KernelPrior:
    """One setting of the prior: ``agreement`` = p, ``weight`` = α, ``mean_kernel`` = u's (γ, ε),
    ``order_kernel`` = w's (γ, ε).

    ``reliability`` holds the fitted ``ρ̄_j`` per dataset (zoo order) when ``agreement > 0``.
    """

    agreement: float = 0.0
    weight: float = 0.0
    mean_kernel: tuple[float, float] = (1.0, math.inf)
    order_kernel: tuple[float, float] = (1.0, math.inf)
    reliability: tuple[float, ...] = field(default=(), compare=False, repr=False)

    def dataset_weights(self, n_datasets: int, rho: np.ndarray | None = None) -> np.ndarray:
        """``a_j`` per dataset, as rows (broadcast against queries)."""
        if self.agreement == 0:
            return np.ones((1, n_datasets))
        if rho is None:
            rho = np.zeros(n_datasets)
            rho[: len(self.reliability)] = self.reliability  # a dataset added later has no results
            rho = rho[None, :]
        return np.clip(rho, 0.0, None) ** self.agreement

    def parts(self, evidence, similarity_rows: np.ndarray, own: np.ndarray, rho: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The min–max part and the rank part (None when ``α = 0``), each ``(n_models, n_queries)``."""
        a = self.dataset_weights(similarity_rows.shape[1], rho)
        u = _kernel(*self.mean_kernel, similarity_rows, evidence.profiled, own) * a
        mean = _weighted_mean(evidence.minmax, evidence.known, u)
        if self.weight == 0:
            return mean, None
        w = _kernel(*self.order_kernel, similarity_rows, evidence.profiled, own) * a
        return mean, _weighted_mean(evidence.rank, evidence.known, w)

    def table(self, evidence, similarity_rows: np.ndarray, own: np.ndarray, rho: np.ndarray | None = None) -> np.ndarray:
        """``(n_models, n_queries)`` prior from an :class:`~hubselect.rank.features.Evidence`.

        NaN where the model has no result on any other profiled dataset with weight.
        """
        return self.combine(*self.parts(evidence, similarity_rows, own, rho))

    def combine(self, mean: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        if order is None or self.weight == 0:
            return mean
        return (1.0 - self.weight) * np.where(np.isnan(mean), order, mean) + self.weight * np.where(np.isnan(order), mean, order)

    def fitted(self, evidence, pool: np.ndarray) -> "KernelPrior":
        """This setting with its dataset agreement measured on the ``pool`` datasets."""
        if self.agreement == 0:
            return self
        rho = agreement_weights(dataset_agreement(evidence.minmax), pool)[0]
        return KernelPrior(self.agreement, self.weight, self.mean_kernel, self.order_kernel, tuple(float(v) for v in rho))

    def label(self) -> str:
        def kernel(k):
            if math.isinf(k[1]):
                return "flat"
            return f"nearest-scaled^{k[0]:g}" if k[1] == NEAREST else f"sim^{k[0]:g}+{k[1]:g}"

        a = "" if self.agreement == 0 else f", agreement^{self.agreement:g}"
        mean = f"minmax({kernel(self.mean_kernel)}{a})"
        if self.weight == 0:
            return "average_best" if mean == "minmax(flat)" else mean
        return f"{1 - self.weight:g}*{mean} + {self.weight:g}*rank({kernel(self.order_kernel)}{a})"

    def to_dict(self) -> dict:
        def kernel(k):
            return [k[0], None if math.isinf(k[1]) else k[1]]

        return {
            "agreement": self.agreement,
            "weight": self.weight,
            "mean_kernel": kernel(self.mean_kernel),
            "order_kernel": kernel(self.order_kernel),
            "reliability": list(self.reliability),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "KernelPrior":
        def kernel(k):
            return (float(k[0]), math.inf if k[1] is None else float(k[1]))

        return cls(
            float(data.get("agreement", 0.0)),
            float(data.get("weight", 0.0)),
            kernel(data.get("mean_kernel", [1.0, None])),
            kernel(data.get("order_kernel", [1.0, None])),
            tuple(float(v) for v in data.get("reliability", ())),
        )


def candidates() -> list[KernelPrior]:
    """The reference (``average_best``) first, then every setting of the grid."""
    out = [KernelPrior()]
    for p in AGREEMENT_POWERS:
        for u in MEAN_KERNELS:
            for alpha in WEIGHTS:
                for w in KERNELS if alpha > 0 else [(1.0, math.inf)]:
                    prior = KernelPrior(p, alpha, u, w)
                    if prior not in out:
                        out.append(prior)
    return out


def select_prior(evidence, similarity: np.ndarray, datasets: np.ndarray, seed: int = 0) -> tuple[KernelPrior, dict[str, dict[str, float]]]:
    """Leave-one-dataset-out over ``datasets`` (the training datasets): the best setting, fitted.

    >>> prior, results = select_prior(evidence, similarity, trainable)  # doctest: +SKIP
    """
    pool = np.asarray(datasets)
    own = pool
    if own.size > MAX_PSEUDO_TARGETS:
        own = np.sort(np.random.default_rng(seed).choice(own, MAX_PSEUDO_TARGETS, replace=False))
    scores = evidence.arrays.scores
    higher = evidence.arrays.higher_is_better
    models_of = [np.flatnonzero(evidence.known[:, d] > 0) for d in own]
    # Pseudo-target c's predictions are column c of each candidate's (models × pseudo-targets) table.
    scorer = TargetsScorer([scores[models, d] for d, models in zip(own, models_of)], [models * own.size + c for c, models in enumerate(models_of)], higher)
    rho = agreement_weights(dataset_agreement(evidence.minmax), pool, leave_out=own)
    sim = similarity[own]
    means: dict[tuple, np.ndarray] = {}
    orders: dict[tuple, np.ndarray] = {}
    results: dict[KernelPrior, dict[str, float]] = {}
    for prior in candidates():
        a = prior.dataset_weights(sim.shape[1], rho)
        key = (prior.agreement, prior.mean_kernel)
        if key not in means:
            means[key] = _weighted_mean(evidence.minmax, evidence.known, _kernel(*prior.mean_kernel, sim, evidence.profiled, own) * a)
        order = None
        if prior.weight > 0:
            key = (prior.agreement, prior.order_kernel)
            if key not in orders:
                orders[key] = _weighted_mean(evidence.rank, evidence.known, _kernel(*prior.order_kernel, sim, evidence.profiled, own) * a)
            order = orders[key]
        table = prior.combine(means[(prior.agreement, prior.mean_kernel)], order)
        results[prior] = scorer.mean(table.ravel())
    best = pareto_pick(results, KernelPrior())
    report = {p.label(): {k: round(v, 5) for k, v in m.items()} for p, m in results.items()}
    return best.fitted(evidence, pool), report
