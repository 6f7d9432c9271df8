"""Ranking models for a dataset: the learner, the baselines and leave-one-dataset-out evaluation.

The method (:class:`Ranker`), fitted on a zoo's visible results
    1. **Evidence** (:mod:`hubselect.rank.features`): for every (model, dataset) pair, how the
       model did elsewhere — its mean normalised score over the other datasets, the same
       weighted by similarity to the dataset, its score on the most similar profiled
       dataset, how much evidence there is — computed with the pair's own dataset left
       out, exactly as a target has no results of its own.
    2. **Prior** (:mod:`hubselect.rank.prior`): ``(1 − α)`` × a (similarity-/agreement-)
       weighted mean of min–max scores + ``α`` × a similarity-weighted mean of within-dataset
       ranks. The family contains ``average_best`` (the reference) and reaches
       ``nearest_dataset``; its setting is chosen by leave-one-dataset-out over the training
       datasets.
    3. **Matching graph + node2vec+** (:mod:`hubselect.graph`): embeddings of models and
       datasets. Training rows take theirs from *out-of-fold* graphs (5 groups of training
       datasets, each embedded without its own results, rotated onto the main embedding by
       Procrustes), so the learner never trains on embeddings that saw the row's label while
       the target's never do.
    4. **Pair features** (:mod:`hubselect.rank.features`): model features (numeric and
       categorical), the query's dataset features, the evidence, ``link:`` features (model
       columns that name zoo datasets, e.g. ``pretrain_dataset``: the query's similarity to
       that dataset), and embeddings (``interaction``: cosine of the two ends; ``both``:
       also both ends' coordinates).
    5. **Learner** (:mod:`hubselect.rank.learners`): LightGBM LambdaRank (default) or
       regression, grouped by dataset, labels = min–max normalised score, boosted from the
       prior (``init_score``; for LambdaRank the prior is first put on the ranking loss's
       scale by a one-parameter maximum-likelihood fit).
    6. **Inner cross-validation**: the training datasets in 5 groups; candidates = embedding
       set (``interaction``, ``both``) × regularisation (``strong``, ``light``) × boosting
       rounds (4…128, doubling) × shrinkage of the learner's correction (1, ½, ¼). The
       reference is 0 rounds — the prior alone. The ranker averages the corrections of every
       candidate that improves on the reference (an ensemble: one booster per embedding set ×
       regularisation, read at several rounds), if that mean improves on it too; otherwise
       the best single candidate, otherwise the prior.
    7. **Calibration**: an affine map of the raw score onto the expected min–max normalised
       score, fitted on the out-of-fold predictions (readable; order and correlations
       unchanged).

How choices are made (why there are no hand-tuned numbers)
    Every choice that depends on the zoo — prior setting, embedding set, regularisation,
    rounds, shrinkage, and which of them to average — is made per fit, on the training datasets only, by the same rule
    (:func:`hubselect.rank.metrics.pareto_pick`): a more complex candidate replaces the
    simpler reference only if it improves pearson, spearman *and* ndcg5 out of fold. Trading
    one metric for another is not an improvement a user can count on, and on a zoo where the
    graph carries no usable signal the method falls back to ``average_best`` instead of
    adding noise. The fixed defaults (grids, 16-dim embeddings, k = 5 neighbours, 5 inner
    folds, LightGBM settings) are generic and documented where they are defined; the grids
    span from the baselines to what lies between rather than being tuned.

Outputs
    :meth:`Ranker.predict` returns :class:`Prediction` objects: ``score`` (calibrated,
    ≈ expected normalised score: 1 = as good as the best profiled model), ``rank``, and
    ``expected_score`` / ``expected_low`` / ``expected_high`` in the zoo's own units (e.g.
    FID): the model's similarity-weighted results on the new dataset's nearest profiled
    datasets, with the ``evidence`` they come from. ``mode="fast"`` embeds the new dataset
    inductively (milliseconds); ``mode="faithful"`` inserts it, re-embeds and retrains with
    the build's selections, as M&C does.

Baselines and evaluation: :mod:`hubselect.rank.baselines`, :mod:`hubselect.rank.evaluate`,
metrics: :mod:`hubselect.rank.metrics`.

>>> from hubselect.rank.synthetic import synthetic_zoo
>>> report = evaluate(synthetic_zoo(24, 9, seed=0), targets=["data-000"])  # doctest: +SKIP
>>> sorted(report)  # doctest: +SKIP
['baselines', 'config', 'margins', 'method', 'targets', 'zoo']
"""

from hubselect.rank.baselines import BASELINES
from hubselect.rank.evaluate import evaluable_targets, evaluate
from hubselect.rank.metrics import METRICS, random_metrics, selection_metrics
from hubselect.rank.ranker import NewDataset, Prediction, Ranker, RankerConfig

__all__ = [
    "BASELINES",
    "METRICS",
    "NewDataset",
    "Prediction",
    "Ranker",
    "RankerConfig",
    "evaluable_targets",
    "evaluate",
    "random_metrics",
    "selection_metrics",
]
