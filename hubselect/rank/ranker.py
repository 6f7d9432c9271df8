"""The ranker: matching graph + node2vec+ + LightGBM, fitted on a zoo; predicts for new datasets."""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import itertools
import json
import logging
import math
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from hubselect import __version__
from hubselect.errors import HubselectError, InputError, check_whole
from hubselect.jsonable import json_default
from hubselect.graph.arrays import ZooArrays, feature_row
from hubselect.graph.matching import GraphConfig, build_matching_graph, neighbourhood_to, similarity_from_distances, similarity_to, top_k
from hubselect.graph.node2vec import Node2VecConfig, align, embed, inductive_embedding
from hubselect.rank.features import EMBEDDING_SETS, Evidence, FeatureSchema, link_similarity, make_schema, measurement_columns, pair_matrix
from hubselect.rank.learners import LEARNERS, REGULARISATION, fit_learner
from hubselect.rank.metrics import TargetsScorer, pareto_pick, worst_gain
from hubselect.rank.prior import KernelPrior, select_prior

log = logging.getLogger("hubselect.rank")

#: Version of the saved ranker folder layout.
#: 2: several learners averaged (``ensemble``, ``learners``, features per embedding set).
#: 3: date columns (``m:created_at``, …) are numbers (days since 1970), no longer categories.
RANKER_FORMAT_VERSION = 3
RANKER_FILE = "ranker.json"
LEARNER_GLOB = "learner*.txt"
EMBEDDING_FILE = "embeddings.npy"
ZOO_FOLDER = "zoo"


def describe_zoo(zoo, arrays: ZooArrays) -> dict[str, Any]:
    """What a ranker records of the zoo it is fitted on (``ranker.json``'s ``zoo``), and an
    evaluation report of the zoo it evaluated: score, direction, repo, revision, method, the
    probe whose dataset distances it read (``recommend`` compares a new dataset through that
    one) and content fingerprint. ``hubselect push`` compares the two."""
    return {
        "score": zoo.meta.score,
        "higher_is_better": bool(zoo.meta.higher_is_better),
        "repo": zoo.meta.repo,
        "revision": zoo.meta.revision,
        "method": zoo.methods[0] if zoo.methods else None,
        "probe": next(iter(zoo.for_probe(None).distance_probes), None) or None,
        "fingerprint": arrays.fingerprint(),
    }


@dataclass(frozen=True)
class RankerConfig:
    """Everything that decides a fit (the method and its defaults: :mod:`hubselect.rank`).

    - ``learner``: ``lambdarank`` (default) or ``regression``.
    - ``embedding_sets`` × ``regularisation``: the learner candidates inner cross-validation
      chooses from (with rounds and shrinkage); ``("none",)`` is ``features_only``.
    - ``graph``, ``node2vec``: the matching graph and its embedding (:mod:`hubselect.graph`).
    - ``evidence_neighbours``: profiled datasets behind the ``ev:knn*`` features.
    - ``inner_folds``: groups of training datasets, for inner cross-validation and for the
      out-of-fold embeddings of training rows.
    - ``grades``: LambdaRank relevance levels.
    - ``prior``: boost from the selected prior (``False``: from zero, as TransferGraph does).
    - ``calibrate``: map the raw score onto the normalised-score scale (affine).
    - ``seed``, ``num_threads``: a seed fixes every random choice; one thread keeps LightGBM
      deterministic.

    >>> RankerConfig(learner="regression").without_embeddings().embedding_sets
    ('none',)
    """

    learner: str = "lambdarank"
    embedding_sets: tuple[str, ...] = ("interaction", "both")
    regularisation: tuple[str, ...] = ("strong", "light")
    graph: GraphConfig = field(default_factory=GraphConfig)
    node2vec: Node2VecConfig = field(default_factory=Node2VecConfig)
    evidence_neighbours: int = 5
    inner_folds: int = 5
    grades: int = 10
    prior: bool = True
    calibrate: bool = True
    seed: int = 0
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise InputError(f"learner {self.learner!r} is not one of {', '.join(LEARNERS)}")
        for name in self.embedding_sets:
            if name not in EMBEDDING_SETS:
                raise InputError(f"embedding feature set {name!r} is not one of {', '.join(EMBEDDING_SETS)}")
        for name in self.regularisation:
            if name not in REGULARISATION:
                raise InputError(f"regularisation {name!r} is not one of {', '.join(REGULARISATION)}")
        if not self.embedding_sets or not self.regularisation:
            raise InputError("a ranker needs at least one embedding feature set and one regularisation level")
        check_whole("evidence_neighbours", self.evidence_neighbours, 1)
        check_whole("grades", self.grades, 2)
        check_whole("inner_folds", self.inner_folds, 2)  # fewer is no cross-validation: the prior alone, silently
        check_whole("seed", self.seed, 0, 2**32 - 1)  # the CLI's --seed range; numpy refuses a negative one mid-fit
        check_whole("num_threads", self.num_threads, 1)  # LightGBM reads 0 or less as "all cores": not deterministic
        object.__setattr__(self, "embedding_sets", tuple(self.embedding_sets))
        object.__setattr__(self, "regularisation", tuple(self.regularisation))

    @property
    def candidates(self) -> list[tuple[str, str]]:
        """Candidate (embedding set, regularisation) pairs, simplest first (ties go to the simplest)."""
        return [(e, r) for e in self.embedding_sets for r in self.regularisation]

    @property
    def uses_embeddings(self) -> bool:
        return any(e != "none" for e in self.embedding_sets)

    @classmethod
    def seeded(cls, seed: int = 0, learner: str = "lambdarank") -> "RankerConfig":
        """The configuration ``--seed`` and ``--learner`` make: one seed for every random choice,
        node2vec's walks and embedding included (``RankerConfig(seed=3)`` leaves those at 0).

        >>> RankerConfig.seeded(3).node2vec.seed
        3
        """
        return cls(learner=learner, seed=seed, node2vec=Node2VecConfig(seed=seed))

    def without_embeddings(self) -> "RankerConfig":
        """The same learner on the same features, minus graph embeddings (``features_only``)."""
        return replace(self, embedding_sets=("none",))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RankerConfig":
        data = dict(data)
        data["graph"] = GraphConfig(**data.get("graph", {}))
        data["node2vec"] = Node2VecConfig(**data.get("node2vec", {}))
        for key in ("embedding_sets", "regularisation"):
            if key in data:
                data[key] = tuple(data[key])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class NewDataset:
    """A dataset the zoo has no results for: its features and its distances to zoo datasets.

    >>> NewDataset("my-pets", features={"images": 300}, distances={"org/pets": 12.5}).name
    'my-pets'
    """

    name: str
    features: Mapping[str, Any] = field(default_factory=dict)
    distances: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """One model's place in a ranking for a new dataset.

    ``score``: the calibrated ranker output, ≈ the expected min–max normalised score on the new
    dataset (1 = as good as the best profiled model, 0 = as bad as the worst; higher is better
    whatever the zoo's direction). ``expected_score``: the model's similarity-weighted mean score, in the zoo's units (e.g.
    FID), on the new dataset's most similar profiled datasets, with the range
    ``expected_low``..``expected_high`` it spans there (NaN when the model has no result on
    any of them). ``evidence``: those results as ``(dataset, distance, score)``, nearest
    first.
    """

    model: str
    score: float
    rank: int
    expected_score: float = math.nan
    expected_low: float = math.nan
    expected_high: float = math.nan
    evidence: tuple[tuple[str, float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "evidence": [list(e) for e in self.evidence]}


@dataclass(frozen=True)
class Choice:
    """What inner cross-validation picked: embedding feature set, regularisation, boosting
    rounds, and the shrinkage applied to the learner's correction of the prior."""

    embedding_set: str
    regularisation: str
    rounds: int
    shrinkage: float = 1.0

    def label(self) -> str:
        return f"{self.embedding_set}/{self.regularisation}/{self.rounds}x{self.shrinkage:g}"


@dataclass(frozen=True)
class Ensemble:
    """What inner cross-validation picked: learner candidates (:class:`Choice`) whose corrections
    of the prior are averaged — one member, several, or none with rounds (the prior alone).

    Members that share an embedding set and a regularisation share one booster, read at their
    own number of rounds, so an ensemble costs at most one booster per (embedding set,
    regularisation) pair.
    """

    members: tuple[Choice, ...]

    @property
    def active(self) -> tuple[Choice, ...]:
        """The members with rounds: the ones whose corrections are averaged."""
        return tuple(m for m in self.members if m.rounds > 0)

    @property
    def uses_learner(self) -> bool:
        return bool(self.active)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The (embedding set, regularisation) pairs with a booster, in member order."""
        return list(dict.fromkeys((m.embedding_set, m.regularisation) for m in self.active))

    def rounds(self, pair: tuple[str, str]) -> int:
        return max(m.rounds for m in self.members if (m.embedding_set, m.regularisation) == pair)

    def label(self) -> str:
        """``interaction/light/64x1`` for one member; ``mean of 5: interaction/light/32,64x0.5,1 + …`` for several."""
        active = self.active
        if not active:
            return self.members[0].label()
        if len(active) == 1:
            return active[0].label()
        parts = []
        for e, r in self.pairs:
            mine = [m for m in active if (m.embedding_set, m.regularisation) == (e, r)]
            rounds = ",".join(str(k) for k in sorted({m.rounds for m in mine}))
            shrink = ",".join(f"{v:g}" for v in sorted({m.shrinkage for m in mine}))
            parts.append(f"{e}/{r}/{rounds}x{shrink}")
        return f"mean of {len(active)}: " + " + ".join(parts)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(m) for m in self.members]

    @classmethod
    def from_list(cls, data: Sequence[Mapping[str, Any]]) -> Ensemble:
        return cls(tuple(Choice(**m) for m in data))


@dataclass(frozen=True)
class Calibration:
    """An affine map from the ranker's raw score to the expected min–max normalised score.

    Fitted by least squares on out-of-fold predictions of the training datasets (never on
    the query). Affine on purpose: it puts the score in readable units (≈ 0 for the worst
    profiled model, ≈ 1 for the best) while leaving the ranking *and* every correlation of
    the raw score exactly as they are — the Pearson a user or the evaluation sees is the
    raw ranker score's.
    """

    slope: float = 1.0
    intercept: float = 0.0

    @classmethod
    def identity(cls) -> "Calibration":
        return cls()

    @classmethod
    def fit(cls, raw: np.ndarray, target: np.ndarray) -> "Calibration":
        ok = np.isfinite(raw) & np.isfinite(target)
        if ok.sum() < 2 or np.ptp(raw[ok]) == 0:
            return cls()
        slope, intercept = np.polyfit(raw[ok], target[ok], 1)
        if not slope > 0:  # a ranker no better than chance: keep its order, not a flipped one
            return cls()
        return cls(float(slope), float(intercept))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self.slope * raw + self.intercept

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept}


def _prior_table(tables: dict[str, np.ndarray], config: "RankerConfig") -> np.ndarray:
    """The score boosting starts from: the kernel prior (:mod:`hubselect.rank.prior`), or 0."""
    if not config.prior:
        return np.zeros_like(tables["ev:mean"])
    return tables["ev:prior"]


def _ranking_scale(prior: np.ndarray, labels: np.ndarray, cols: np.ndarray, seed: int, per_dataset: int = 200) -> float:
    """The factor that puts the prior on LambdaRank's scale.

    LambdaRank reads score differences through a logistic (σ = 1): a prior in [0, 1] whose
    good models differ by 0.02 would read as "no opinion", and the trees would relearn the
    ordering from scratch. The factor is the maximum-likelihood scale of the prior under the
    pairwise logistic loss (pairs within a dataset, weighted by their label gap), i.e. how
    confident the prior deserves to be on the training data. Up to ``per_dataset`` models
    per dataset are sampled to keep it linear in zoo size.
    """
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(seed)
    gaps, weights = [], []
    for d in np.unique(cols):
        idx = np.flatnonzero(cols == d)
        if idx.size > per_dataset:
            idx = rng.choice(idx, per_dataset, replace=False)
        dl = labels[idx][:, None] - labels[idx][None, :]
        dp = prior[idx][:, None] - prior[idx][None, :]
        mask = dl > 0
        gaps.append(dp[mask])
        weights.append(dl[mask])
    gap, weight = np.concatenate(gaps), np.concatenate(weights)
    if gap.size == 0:
        return 1.0

    def loss(scale: float) -> float:
        return float(np.sum(weight * np.logaddexp(0.0, -scale * gap)))

    return float(minimize_scalar(loss, bounds=(0.0, 100.0), method="bounded").x)


#: Inner cross-validation scores at most this many held-out datasets per candidate.
MAX_VALIDATION_DATASETS = 100

#: Fractions of the learner's correction tried on top of the prior (1 = as trained).
SHRINKAGE = (1.0, 0.5, 0.25)


def _checkpoints(rounds: int) -> list[int]:
    """Boosting rounds at which inner cross-validation reads the validation score (doubling)."""
    marks = [rounds]
    while marks[-1] > 4:
        marks.append(marks[-1] // 2)
    return sorted(set(marks))


#: A fit's progress callback: ``progress(step, done, total)`` after each step, ``step`` naming
#: the one just done (``"inner fold 2/5 (interaction, strong)"``), ``done`` of ``total``.
FitProgress = Callable[[str, int, int], None]


class _Steps:
    """Counts a fit's steps for its :data:`FitProgress` callback (None: counts only)."""

    def __init__(self, progress: FitProgress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, step: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(step, self.done, self.total)


@contextlib.contextmanager
def fit_progress_bar(show: bool = True) -> Iterator[FitProgress]:
    """A :meth:`Ranker.fit` progress callback drawing one bar on stderr (huggingface_hub's tqdm,
    so ``HF_HUB_DISABLE_PROGRESS_BARS`` turns it off), for the minutes a large zoo's fit takes.

    >>> with fit_progress_bar() as progress:
    ...     ranker = Ranker.fit(zoo, progress=progress)  # doctest: +SKIP
    """
    from huggingface_hub.utils import tqdm

    with tqdm(desc="Fitting the ranker", unit="step", disable=not show) as bar:

        def progress(step: str, done: int, total: int) -> None:
            bar.total = total
            bar.set_postfix_str(step, refresh=False)
            bar.update(done - bar.n)

        yield progress


def _inner_selection(pairs, matrices, train, prior, labels, rows, cols, group_of, n_groups, arrays, calibrate=True, step=lambda name: None, threads=1):
    """Grouped cross-validation over the training datasets: pick the ensemble, fit the calibration.

    Each group of datasets is held out in turn; every candidate is trained on the rest and
    its out-of-fold predictions read at several boosting-round checkpoints. The reference is
    0 rounds — the prior alone: the learner has to earn its place by improving pearson,
    spearman and ndcg5 alike out of fold (:func:`hubselect.rank.metrics.pareto_pick`).

    Which single candidate wins that comparison changes from one fit to the next when many
    are nearly as good (on small zoos, from one left-out dataset to the next), and the
    winner's out-of-fold score is optimistic for the same reason (it is the maximum of many
    noisy estimates). So the method does not pick one: it averages the corrections of every
    candidate that improves on the prior (bagging over rounds, shrinkage, feature sets and
    regularisation), and keeps that mean if it, too, improves pearson, spearman and ndcg5
    out of fold; otherwise the best single candidate, under the same rule; otherwise the
    prior. The calibration is fitted on the result's pooled out-of-fold predictions.
    """
    oof: dict[Choice, np.ndarray] = {}
    zero = Choice(pairs[0][0], pairs[0][1], 0)
    oof[zero] = prior.copy()
    for embedding_set, reg in pairs:
        rounds = REGULARISATION[reg].rounds
        marks = _checkpoints(rounds)
        for k in marks:
            for shrink in SHRINKAGE:
                oof[Choice(embedding_set, reg, k, shrink)] = np.full(rows.size, np.nan)
        for g in range(n_groups):
            held = group_of[cols] == g
            booster = train(embedding_set, reg, rounds, ~held)
            step(f"inner fold {g + 1}/{n_groups} ({embedding_set}, {reg})")
            X_held = matrices[embedding_set][1][held]
            for k in marks:
                correction = booster.predict(X_held, num_iteration=k, raw_score=True)
                for shrink in SHRINKAGE:
                    oof[Choice(embedding_set, reg, k, shrink)][held] = prior[held] + shrink * correction
    datasets = np.unique(cols)
    if datasets.size > MAX_VALIDATION_DATASETS:  # a seeded sample keeps selection fast on big zoos
        datasets = np.sort(np.random.default_rng(0).choice(datasets, MAX_VALIDATION_DATASETS, replace=False))
    members = [np.flatnonzero(cols == d) for d in datasets]
    score = TargetsScorer([arrays.scores[rows[m], d] for m, d in zip(members, datasets)], members, arrays.higher_is_better).mean

    results: dict[Choice, dict[str, float]] = {choice: score(raw) for choice, raw in oof.items()}
    step("learner candidates scored")
    best = pareto_pick(results, zero)
    picked, raw = Ensemble((best,)), oof[best]
    report = {c.label(): {k: round(v, 5) for k, v in m.items()} for c, m in results.items()}
    improving = tuple(c for c in results if c.rounds > 0 and worst_gain(results[c], results[zero]) > 0)
    if len(improving) > 1:
        mean = prior + np.mean([oof[c] - prior for c in improving], axis=0)
        metrics = score(mean)
        report.setdefault(Ensemble(improving).label(), {k: round(v, 5) for k, v in metrics.items()})
        if worst_gain(metrics, results[zero]) > 0:
            picked, raw = Ensemble(improving), mean
    log.debug("inner cross-validation picked %s", picked.label())
    calibration = Calibration.fit(raw, labels) if calibrate else Calibration.identity()
    return picked, calibration, report


def check_fit_arguments(zoo: Any, config: Any) -> RankerConfig:
    """The config to fit with (the default for None), once ``zoo`` and ``config`` are of the types
    :meth:`Ranker.fit` and :func:`~hubselect.rank.evaluate` take; anything else is an
    :class:`InputError` naming the parameter, not an AttributeError from inside.

    A zoo is opened by the caller (:func:`hubselect.zoo.resolve.open_zoo` takes what the CLI
    does: a folder, a Hub dataset id or ``demo``): the selection core never fetches.

    >>> check_fit_arguments("my-zoo", None)
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: zoo must be a Zoo, got 'my-zoo'; open a zoo folder, a Hub dataset id or 'demo' with hubselect.zoo.resolve.open_zoo('my-zoo')
    """
    from hubselect.zoo.store import Zoo

    if not isinstance(zoo, Zoo):
        how = f"open_zoo({os.fspath(zoo)!r})" if isinstance(zoo, (str, os.PathLike)) else "open_zoo(...)"
        raise InputError(f"zoo must be a Zoo, got {_shown(zoo)}; open a zoo folder, a Hub dataset id or 'demo' with hubselect.zoo.resolve.{how}")
    if config is not None and not isinstance(config, RankerConfig):
        raise InputError(f"config must be a RankerConfig (e.g. RankerConfig(seed=1)) or None, got {_shown(config)}")
    return config or RankerConfig()


def check_names(name: str, names: Any, what: str) -> list[str] | None:
    """``names`` as a list (one name given as a str is a list of one), or None; anything but
    names is an :class:`InputError` (a str must not be read as its characters).

    >>> check_names("targets", "org/pets", "dataset names")
    ['org/pets']
    """
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    # Any collection of names: a list, a set, dict keys, a numpy array or a pandas Series of str.
    if isinstance(names, Iterable) and not isinstance(names, (bytes, Mapping)):
        listed = list(names)
        if all(isinstance(n, str) for n in listed):
            return [str(n) for n in listed]
    raise InputError(f"{name} must be {what} (a str or a collection of str), or None, got {_shown(names)}")


def _shown(value: Any) -> str:
    """A wrong argument, as an error message shows it: its repr if short, else its type."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"a {type(value).__name__}"


class Ranker:
    """A fitted ranker. Build with :meth:`fit`, persist with :meth:`save` / :meth:`load`.

    >>> from hubselect.rank.synthetic import synthetic_zoo
    >>> ranker = Ranker.fit(synthetic_zoo(30, 9, seed=0))  # doctest: +SKIP
    >>> ranker.predict(NewDataset("new", distances={"data-000": 1.0}))[0].model  # doctest: +SKIP
    'model-0000'
    """

    def __init__(
        self,
        arrays: ZooArrays,
        config: RankerConfig,
        *,
        schemas: dict[str, FeatureSchema],
        boosters: dict[tuple[str, str], Any],
        embedding: np.ndarray | None,
        ensemble: Ensemble,
        calibration: Calibration,
        kernel_prior: KernelPrior,
        prior_fill: float,
        prior_scale: float,
        selection: dict[str, Any],
        zoo_info: dict[str, Any],
    ) -> None:
        self.arrays = arrays
        self.config = config
        self.schemas = schemas
        self.boosters = boosters
        self.embedding = embedding
        self.ensemble = ensemble
        self.calibration = calibration
        self.kernel_prior = kernel_prior
        self.prior_fill = prior_fill
        self.prior_scale = prior_scale
        self.selection = selection
        self.zoo_info = zoo_info
        self.similarity = similarity_from_distances(arrays.distances, config.graph.neighbours)
        self._evidence = Evidence(arrays, config.evidence_neighbours, kernel_prior)
        self._tables: dict[str, np.ndarray] | None = None

    # -- fitting ------------------------------------------------------------------------------

    @classmethod
    def fit(cls, zoo, config: RankerConfig | None = None, *, progress: FitProgress | None = None) -> "Ranker":
        """Fit on every result of a one-method zoo (see ``Zoo.for_method``). ``progress`` is
        told of each step (:data:`FitProgress`; :func:`fit_progress_bar` draws a bar of them).

        >>> ranker = Ranker.fit(zoo.for_method("lora"))  # doctest: +SKIP
        """
        config = check_fit_arguments(zoo, config)
        arrays = ZooArrays.from_zoo(zoo)
        return cls.fit_arrays(arrays, config, zoo_info=describe_zoo(zoo, arrays), progress=progress)

    @classmethod
    def fit_arrays(
        cls,
        arrays: ZooArrays,
        config: RankerConfig,
        *,
        ensemble: Ensemble | None = None,
        calibration: Calibration | None = None,
        kernel_prior: KernelPrior | None = None,
        zoo_info: dict[str, Any] | None = None,
        progress: FitProgress | None = None,
    ) -> "Ranker":
        """Fit on the visible results of ``arrays`` (hidden targets stay nodes without results).

        ``ensemble``, ``calibration`` and ``kernel_prior`` reuse an earlier fit's selections
        instead of running them again — what faithful prediction does. ``progress`` is told of
        each step (:data:`FitProgress`): the prior's selection, each graph embedding, each
        inner cross-validation training, the final fit.
        """
        known = arrays.known
        trainable = np.flatnonzero(known.sum(axis=0) >= 2)
        if trainable.size == 0:
            raise HubselectError(
                "no dataset has results for two or more models, so there is nothing to rank; "
                "profile more models on the zoo's datasets (`hubselect profile --models A,B --datasets D --zoo ZOO`) "
                "or import their records (`hubselect zoo import`)"
            )
        if ensemble is not None:
            first = ensemble.members[0]
            pairs = ensemble.pairs or [(first.embedding_set, first.regularisation)]
        else:
            pairs = config.candidates
        needs_learner = ensemble is None or ensemble.uses_learner
        uses_embeddings = needs_learner and any(e != "none" for e, _ in pairs)
        selection: dict[str, Any] = {}
        n_groups = min(config.inner_folds, trainable.size)
        selects_prior = kernel_prior is None and config.prior and trainable.size >= 3
        selects_learner = ensemble is None and n_groups >= 2
        step = _Steps(
            progress,
            selects_prior
            + (1 + (n_groups if n_groups >= 2 else 0) if uses_embeddings else 0)
            + (len(pairs) * n_groups + 1 if selects_learner else 0)
            + 1,
        )

        similarity = similarity_from_distances(arrays.distances, config.graph.neighbours)
        evidence = Evidence(arrays, config.evidence_neighbours)
        if kernel_prior is None:
            kernel_prior = KernelPrior()
            if selects_prior:
                kernel_prior, selection["prior"] = select_prior(evidence, similarity, trainable, config.seed)
                step("prior selected")
        elif kernel_prior.agreement > 0:
            kernel_prior = kernel_prior.fitted(evidence, trainable)
        evidence.prior = kernel_prior
        tables = evidence.tables(similarity, own=np.arange(len(arrays.datasets)))

        # Training rows, sorted by dataset (LightGBM groups must be contiguous).
        rows, cols = np.nonzero(known[:, trainable])
        cols = trainable[cols]
        order = np.lexsort((rows, cols))
        rows, cols = rows[order], cols[order]
        labels = evidence.minmax[rows, cols]
        prior_table = _prior_table(tables, config)
        prior_fill = float(np.nanmedian(prior_table)) if np.isfinite(prior_table).any() else 0.5
        prior = np.nan_to_num(prior_table[rows, cols], nan=prior_fill)
        prior_scale = 1.0
        if config.learner == "lambdarank" and config.prior:
            prior_scale = _ranking_scale(prior, labels, cols, config.seed)
        prior = prior * prior_scale

        group_of = np.full(len(arrays.datasets), -1)
        if n_groups >= 2:
            group_of[np.random.default_rng(config.seed).permutation(trainable)] = np.arange(trainable.size) % n_groups

        n_m = len(arrays.models)
        main_embedding = row_model_emb = row_query_emb = None
        if uses_embeddings:
            main_embedding = embed(build_matching_graph(arrays, config.graph, similarity), config.node2vec)
            step("graph embedded")
            row_model_emb = main_embedding[rows].copy()
            row_query_emb = main_embedding[n_m + cols].copy()
            if n_groups >= 2:
                # Out-of-fold embeddings: a training row's embeddings come from a graph without
                # its own dataset's results, as a target's graph has none of the target's.
                for g in range(n_groups):
                    members = np.flatnonzero(group_of == g)
                    view = arrays.without_records_of([arrays.datasets[j] for j in members])
                    emb = align(embed(build_matching_graph(view, config.graph, similarity), config.node2vec), main_embedding, np.arange(n_m))
                    in_group = group_of[cols] == g
                    row_model_emb[in_group] = emb[rows[in_group]]
                    row_query_emb[in_group] = emb[n_m + cols[in_group]]
                    step(f"graph embedded without inner fold {g + 1}/{n_groups}")

        matrices: dict[str, tuple[FeatureSchema, np.ndarray | None]] = {}
        query_features = arrays.dataset_features.iloc[cols].reset_index(drop=True)
        for embedding_set in dict.fromkeys(e for e, _ in pairs):
            schema = make_schema(arrays, embedding_set, config.node2vec.dim)
            X = None
            if needs_learner:
                links = link_similarity(arrays, schema.links, rows, similarity[cols], cols)
                X = pair_matrix(schema, arrays, rows, cols, tables, cols, query_features, links, row_model_emb, row_query_emb)
            matrices[embedding_set] = (schema, X)

        def train(embedding_set: str, reg: str, rounds: int, mask: np.ndarray):
            schema, X = matrices[embedding_set]
            _, sizes = np.unique(cols[mask], return_counts=True)  # cols are sorted
            return fit_learner(
                X[mask],
                labels[mask],
                sizes,
                prior=prior[mask],
                learner=config.learner,
                regularisation=replace(REGULARISATION[reg], rounds=rounds),
                categorical=[schema.names.index(n) for n in schema.categorical],
                grades=config.grades,
                seed=config.seed,
                num_threads=config.num_threads,
            )

        if ensemble is None:
            if selects_learner:
                ensemble, calibration, selection["learner"] = _inner_selection(
                    pairs, matrices, train, prior, labels, rows, cols, group_of, n_groups, arrays, config.calibrate, step, config.num_threads
                )
            else:  # too few datasets to validate anything: the prior alone
                ensemble, calibration = Ensemble((Choice(pairs[0][0], pairs[0][1], 0),)), Calibration.fit(prior, labels)
        everything = np.ones(rows.size, dtype=bool)
        boosters = {pair: train(*pair, ensemble.rounds(pair), everything) for pair in ensemble.pairs}
        step("final fit")
        used = {e for e, _ in ensemble.pairs} or {ensemble.members[0].embedding_set}
        ranker = cls(
            arrays,
            config,
            schemas={e: matrices[e][0] for e in used},
            boosters=boosters,
            embedding=main_embedding,
            ensemble=ensemble,
            calibration=calibration or Calibration(),
            kernel_prior=kernel_prior,
            prior_fill=prior_fill,
            prior_scale=prior_scale,
            selection=selection,
            zoo_info=zoo_info or {"higher_is_better": arrays.higher_is_better, "fingerprint": arrays.fingerprint()},
        )
        ranker._tables = tables
        return ranker

    # -- scoring ------------------------------------------------------------------------------

    def _scores(
        self,
        models: np.ndarray,
        tables: dict[str, np.ndarray],
        similarity_row: np.ndarray,
        own: int,
        query_features: pd.DataFrame,
        query_embedding: np.ndarray | None,
    ) -> np.ndarray:
        """Calibrated scores of ``models`` for one query (``tables`` hold its column only)."""
        prior = np.nan_to_num(_prior_table(tables, self.config)[models, 0], nan=self.prior_fill)
        raw = self.prior_scale * prior
        if self.boosters:
            n = models.size
            sim_rows = np.broadcast_to(similarity_row[None, :], (n, similarity_row.size))
            qf = query_features.iloc[np.zeros(n, dtype=int)].reset_index(drop=True)
            model_emb = query_emb = None
            if self.embedding is not None:
                model_emb = self.embedding[models]
                query_emb = np.broadcast_to(query_embedding[None, :], (n, query_embedding.size))
            zeros = np.zeros(n, dtype=int)
            matrices = {}
            for embedding_set, schema in self.schemas.items():
                links = link_similarity(self.arrays, schema.links, models, sim_rows, np.full(n, own))
                matrices[embedding_set] = pair_matrix(schema, self.arrays, models, zeros, tables, zeros, qf, links, model_emb, query_emb)
            active = self.ensemble.active
            correction = np.zeros(n)
            for m in active:
                booster = self.boosters[(m.embedding_set, m.regularisation)]
                correction += m.shrinkage * booster.predict(matrices[m.embedding_set], num_iteration=m.rounds, raw_score=True, num_threads=self.config.num_threads)
            raw = raw + correction / len(active)
        return self.calibration(raw)

    def _model_indices(self, models: Sequence[str] | None) -> np.ndarray:
        if models is None:
            return np.arange(len(self.arrays.models))
        unknown = [m for m in models if m not in self.arrays._model_index]
        if unknown:
            raise InputError(f"model(s) not in the zoo: {', '.join(unknown[:5])}")
        return np.array([self.arrays.model_index(m) for m in models], dtype=int)

    def score_zoo_dataset(self, dataset: str, models: Sequence[str] | None = None) -> np.ndarray:
        """Scores of ``models`` (default: all) for a dataset node of the fitted zoo.

        This is how leave-one-dataset-out evaluation scores a held-out target: the target is
        a node of the graph the ranker was fitted on, without results.
        """
        q = self.arrays.dataset_index(dataset)
        if self._tables is None:
            self._tables = self._evidence.tables(self.similarity, own=np.arange(len(self.arrays.datasets)))
        tables = {k: v[:, [q]] for k, v in self._tables.items()}
        qemb = self.embedding[len(self.arrays.models) + q] if self.embedding is not None else None
        qf = self.arrays.dataset_features.iloc[[q]].reset_index(drop=True)
        return self._scores(self._model_indices(models), tables, self.similarity[q], q, qf, qemb)

    # -- prediction for a new dataset ---------------------------------------------------------

    def _distance_vector(self, dataset: NewDataset) -> np.ndarray:
        vector = np.full(len(self.arrays.datasets), np.nan)
        unknown = []
        for name, value in dataset.distances.items():
            j = self.arrays._dataset_index.get(name)
            if j is None:
                unknown.append(name)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):  # "abc", None: not a distance, said as such below
                number = math.nan
            if not math.isfinite(number) or number < 0:
                raise InputError(f"distance from {dataset.name!r} to {name!r} must be a number >= 0, got {value!r}")
            vector[j] = number
        if unknown:
            log.warning(
                "ignoring distances to %d dataset(s) not in the zoo the ranker was built on (added since? rebuild it to use them): %s",
                len(unknown), ", ".join(sorted(unknown)[:5]),
            )
        if np.isnan(vector).all():
            log.warning("no distance of %r names a zoo dataset; ranking from the models' results elsewhere alone", dataset.name)
        return vector

    def predict(
        self,
        dataset: NewDataset,
        mode: str = "fast",
        *,
        models: Sequence[str] | None = None,
        top: int | None = None,
    ) -> list[Prediction]:
        """Rank the zoo's models for a new dataset, best first.

        ``mode="fast"``: the new node's embedding is the weighted mean of its most similar
        datasets' embeddings (no walks, no retraining; milliseconds). ``mode="faithful"``: the
        node is inserted into the graph, the graph re-embedded and the learner retrained with
        the selections made at build time — as M&C does (about a build's time; when the build
        chose the prior alone there is no learner to retrain and it is as quick as fast mode).
        ``top``: how many models to return, the best first (None: every model).

        >>> ranker.predict(NewDataset("mine", {"images": 200}, {"org/pets": 3.1}), top=3)  # doctest: +SKIP
        """
        if mode not in ("fast", "faithful"):
            raise InputError(f"mode must be 'fast' or 'faithful', got {mode!r}")
        if not isinstance(dataset, NewDataset):
            raise InputError(f"dataset must be a NewDataset(name, features={{...}}, distances={{zoo dataset: distance}}), got {_shown(dataset)}")
        check_whole("top", top, 1, none_for="every model")
        models = check_names("models", models, "model names")
        distances = self._distance_vector(dataset)
        idx = self._model_indices(models)
        if mode == "faithful":
            # The new node is the user's dataset, never the zoo's dataset of the same name (a folder
            # called `images`, a newer revision of a profiled Hub dataset, or that very dataset, then
            # a node at distance 0 from it): it gets a name of its own in the graph.
            node = _unused_name(dataset.name, self.arrays.datasets)
            grown = self.arrays.with_new_dataset(
                node, dataset.features, {self.arrays.datasets[j]: float(distances[j]) for j in np.flatnonzero(~np.isnan(distances))}
            )
            refit = Ranker.fit_arrays(
                grown,
                self.config,
                ensemble=self.ensemble,
                calibration=self.calibration,
                kernel_prior=self.kernel_prior,
                zoo_info=self.zoo_info,
            )
            scores = refit.score_zoo_dataset(node, [self.arrays.models[i] for i in idx])
        else:
            sim_row = similarity_to(self.arrays.distances, distances, self.config.graph.neighbours)
            tables = self._evidence.tables(sim_row[None, :], own=np.array([-1]))
            qemb = None
            if self.embedding is not None:
                weights = top_k(sim_row[None, :], self.config.graph.neighbours)[0]
                qemb = inductive_embedding(self.embedding[len(self.arrays.models):], weights)
            qf = feature_row(self.arrays.dataset_features, dataset.features, dataset.name).reset_index(drop=True)
            scores = self._scores(idx, tables, sim_row, -1, qf, qemb)
        return self._predictions(idx, scores, distances, top)

    def _predictions(self, idx: np.ndarray, scores: np.ndarray, distances: np.ndarray, top: int | None) -> list[Prediction]:
        # The evidence: the new dataset's nearest profiled datasets, nearest first, weighted in its
        # own kernel. (The graph's symmetric kernel, which the ranker's features read, would swap in
        # a farther dataset from a sparse part of the zoo for a nearer one from a dense part.)
        near_row = neighbourhood_to(self.arrays.distances, distances, self.config.graph.neighbours)
        weights = self._evidence.neighbour_weights(near_row[None, :])[0]
        neighbours = np.flatnonzero(weights > 0)
        neighbours = neighbours[np.argsort(distances[neighbours], kind="stable")]  # the weights fall as the distances grow
        raw = self.arrays.scores[np.ix_(idx, neighbours)]
        present = ~np.isnan(raw)
        w = np.where(present, weights[neighbours][None, :], 0.0)
        with np.errstate(all="ignore"):
            expected = np.sum(np.nan_to_num(raw) * w, axis=1) / w.sum(axis=1)
        # initial=: no neighbour with results (none the ranker knows) is no evidence, not an error.
        low = np.where(present.any(axis=1), np.min(np.where(present, raw, np.inf), axis=1, initial=np.inf), np.nan)
        high = np.where(present.any(axis=1), np.max(np.where(present, raw, -np.inf), axis=1, initial=-np.inf), np.nan)
        names = [self.arrays.models[i] for i in idx]
        order = sorted(range(idx.size), key=lambda r: (-scores[r], names[r]))
        if top is not None:
            order = order[:top]
        out = []
        for rank, r in enumerate(order, start=1):
            evidence = tuple((self.arrays.datasets[j], float(distances[j]), float(raw[r, c])) for c, j in enumerate(neighbours) if present[r, c])
            out.append(
                Prediction(
                    model=names[r],
                    score=float(scores[r]),
                    rank=rank,
                    expected_score=float(expected[r]),
                    expected_low=float(low[r]),
                    expected_high=float(high[r]),
                    evidence=evidence,
                )
            )
        return out

    # -- persistence --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What ``ranker.json`` holds: everything needed to read the other files."""
        with_results = np.isfinite(self.arrays.scores).any(axis=1)
        return {
            "format": "hubselect-ranker",
            "format_version": RANKER_FORMAT_VERSION,
            "hubselect_version": __version__,
            "zoo": {
                **self.zoo_info,
                "models": len(self.arrays.models),
                "datasets": len(self.arrays.datasets),
                # The models it learns from: a crawled model without results is a node, not a candidate.
                "models_with_results": int(with_results.sum()),
                # Those of them recommend can name (its card counts these): one the crawl flagged
                # (deleted from the Hub, unsafe to load) keeps its results, which inform the
                # ranking, but is never recommended (recommendation.candidate_models).
                "models_ranked": int((with_results & ~_flagged(self.arrays)).sum()),
            },
            "config": self.config.to_dict(),
            "ensemble": self.ensemble.to_list(),
            "selected": self.ensemble.label(),
            "prior": self.kernel_prior.to_dict(),
            "prior_fill": self.prior_fill,
            "prior_scale": self.prior_scale,
            "calibration": self.calibration.to_dict(),
            "features": {e: schema.to_dict() for e, schema in self.schemas.items()},
            # What the card says the learner left out (a ranker built before keeps what its schemas name).
            "model_columns_left_out": self._model_columns_left_out(),
            "selection": self.selection,
            "nodes": {"models": self.arrays.models, "datasets": self.arrays.datasets},
            "files": {
                "learners": {f"{e}/{r}": _learner_file(e, r) for e, r in self.boosters},
                "embeddings": EMBEDDING_FILE if self.embedding is not None else None,
                "zoo": ZOO_FOLDER,
            },
        }

    def _model_columns_left_out(self) -> list[str]:
        """The zoo's model columns no schema of this ranker learns from (:func:`measurement_columns`)."""
        learned = {name.removeprefix("m:") for schema in self.schemas.values() for name in schema.names if name.startswith("m:")}
        return sorted(set(measurement_columns(self.arrays.model_features)) - learned)

    def save(self, path: str | Path) -> Path:
        """Write the ranker folder: ``ranker.json``, ``learner-*.txt``, ``embeddings.npy``, ``zoo/``.

        ``zoo/`` holds the results, features and distances the ranker was fitted on — what
        prediction reads evidence from, and what faithful mode retrains on. ``path`` must be new,
        empty or a ranker folder (:func:`check_ranker_folder`). Over a ranker, the new one is
        written whole into a folder beside it and swapped in (:func:`_swap_in`): the old one stays
        loadable until the new one is complete, a failed or interrupted save leaves it as it was,
        and files put beside it (``evaluation.json``) are kept.
        """
        folder = check_ranker_folder(path)
        if folder.is_dir() and not (folder / RANKER_FILE).is_file():  # empty: no ranker to keep whole
            try:
                self._write(folder)
            except BaseException:
                for entry in folder.iterdir():  # back to empty: a partial ranker would be refused next time
                    if entry.is_dir():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                raise
            return folder
        target = folder.resolve()  # a link to a ranker folder stays a link, to the new ranker
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.new-{secrets.token_hex(4)}")
        staging.mkdir()
        try:
            self._write(staging)
            _swap_in(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # left only when the save failed
        return folder

    def _write(self, folder: Path) -> None:
        """The ranker's files, into an existing empty folder; ``ranker.json`` last, atomically."""
        from hubselect.zoo.store import Zoo, ZooMeta, atomic_write

        for (e, r), booster in self.boosters.items():
            booster.save_model(str(folder / _learner_file(e, r)))
        if self.embedding is not None:
            np.save(folder / EMBEDDING_FILE, self.embedding)
        meta = ZooMeta(score=self.zoo_info.get("score", "score"), higher_is_better=self.arrays.higher_is_better)
        _arrays_to_zoo(self.arrays, meta, Zoo).save(folder / ZOO_FOLDER)
        text = json.dumps(self.describe(), indent=2, default=json_default) + "\n"
        atomic_write(folder / RANKER_FILE, lambda path: Path(path).write_text(text))

    @classmethod
    def load(cls, path: str | Path) -> "Ranker":
        """Read a folder written by :meth:`save`.

        A build may swap a new ranker in while this reads; when ``ranker.json`` changed during the
        read, it reads again, so what it returns is one ranker, never parts of two.
        """
        folder = Path(path)
        for _ in range(3):
            before = _file_identity(folder / RANKER_FILE)
            try:
                ranker = cls._read(folder)
            except Exception:
                if _file_identity(folder / RANKER_FILE) == before:
                    raise
            else:
                if _file_identity(folder / RANKER_FILE) == before:
                    return ranker
            time.sleep(0.05)
        raise HubselectError(f"{folder} kept changing while it was read (is a build writing it?); rerun when the build is done")

    @classmethod
    def _read(cls, folder: Path) -> "Ranker":
        """The ranker in ``folder``; a folder with a file missing or damaged is a one-line error
        saying which, and to rebuild it (nothing but a build writes these files)."""
        import lightgbm as lgb

        from hubselect.zoo.store import META_FILE, Zoo

        meta_file = folder / RANKER_FILE
        if not meta_file.is_file():
            raise InputError(f"{folder} is not a ranker (no {RANKER_FILE}); build one with `hubselect build ZOO --out DIR`")
        try:
            info = json.loads(meta_file.read_text())
        except ValueError as exc:  # not JSON, or not UTF-8
            raise _damaged(folder, f"{RANKER_FILE} is damaged (not valid JSON: {getattr(exc, 'msg', exc)})") from None
        if not isinstance(info, dict):
            raise _damaged(folder, f"{RANKER_FILE} is damaged (not a JSON object)")
        if info.get("format") != "hubselect-ranker" or info.get("format_version") != RANKER_FORMAT_VERSION:
            raise _damaged(folder, f"ranker format {info.get('format_version')!r} is not supported (this hubselect reads {RANKER_FORMAT_VERSION})")
        try:
            models, datasets = info["nodes"]["models"], info["nodes"]["datasets"]
            files = info["files"]
            learners = {tuple(pair.split("/", 1)): name for pair, name in files.get("learners", {}).items()}
            embedding_file = files.get("embeddings")
            fields = dict(
                config=RankerConfig.from_dict(info["config"]),
                schemas={e: FeatureSchema.from_dict(schema) for e, schema in info["features"].items()},
                ensemble=Ensemble.from_list(info["ensemble"]),
                calibration=Calibration(**info["calibration"]),
                kernel_prior=KernelPrior.from_dict(info["prior"]),
                prior_fill=float(info["prior_fill"]),
                prior_scale=float(info["prior_scale"]),
                selection=info.get("selection", {}),
                zoo_info={k: v for k, v in info["zoo"].items() if k not in ("models", "datasets", "models_with_results", "models_ranked")},
            )
        except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:  # a key missing, or a value of the wrong shape
            reason = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise _damaged(folder, f"{RANKER_FILE} is damaged ({reason})") from exc
        if not (folder / ZOO_FOLDER / META_FILE).is_file():
            raise _damaged(folder, f"{ZOO_FOLDER}/ is missing")
        try:
            arrays = ZooArrays.from_zoo(Zoo.load(folder / ZOO_FOLDER))
        except HubselectError as exc:  # its advice is for a user's zoo (re-import, pull), not a ranker's copy
            raise _damaged(folder, f"{ZOO_FOLDER}/ is damaged") from exc
        if arrays.models != models or arrays.datasets != datasets:
            raise _damaged(folder, f"the saved {ZOO_FOLDER}/ does not match {RANKER_FILE}")
        boosters = {}
        for pair, name in learners.items():
            if not (folder / name).is_file():
                raise _damaged(folder, f"{name} is missing")
            try:
                boosters[pair] = lgb.Booster(model_file=str(folder / name))
            except lgb.basic.LightGBMError as exc:
                raise _damaged(folder, f"{name} is damaged") from exc
        embedding = None
        if embedding_file:
            if not (folder / embedding_file).is_file():
                raise _damaged(folder, f"{embedding_file} is missing")
            try:
                embedding = np.load(folder / embedding_file)
            except (OSError, ValueError, EOFError) as exc:
                raise _damaged(folder, f"{embedding_file} is damaged") from exc
            if embedding.ndim != 2 or embedding.shape[0] != len(arrays.models) + len(arrays.datasets):
                raise _damaged(folder, f"{embedding_file} does not match {RANKER_FILE}")
        return cls(arrays, boosters=boosters, embedding=embedding, **fields)


def _damaged(folder: Path, what: str) -> HubselectError:
    """The error for a ranker folder with a file missing or damaged (``what``)."""
    return HubselectError(f"{folder}: {what}; rebuild the ranker with `hubselect build ZOO --out DIR`")


def check_ranker_folder(path: str | Path) -> Path:
    """The folder :meth:`Ranker.save` may write to: a new one, an empty one, or a ranker folder (it
    is rebuilt); anything else is an :class:`InputError`, raised before a fit is spent on it.

    A folder holding other files is refused rather than written into: the ranker's own ``zoo/`` and
    learner files would overwrite a user's zoo folder, or files of the same names.

    >>> check_ranker_folder("/proc/ranker")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: /proc/ranker: cannot create files in /proc (No such file or directory); pass a path in a folder you can write to
    """
    from hubselect.paths import check_can_create_in

    if not str(path):
        raise InputError("no folder given for the ranker; pass a new or empty one, e.g. ranker")
    folder = Path(path)
    if os.path.lexists(folder) and not folder.is_dir():
        raise InputError(f"{folder} is not a folder; pass a new or empty folder for the ranker (or a ranker folder, to rebuild it)")
    if folder.is_dir() and not (folder / RANKER_FILE).is_file() and any(folder.iterdir()):
        suggestion = folder / "ranker"  # a new folder inside, or the ranker there (demo-run/ranker)
        example = f", e.g. {suggestion}" if not os.path.lexists(suggestion) or (suggestion / RANKER_FILE).is_file() else ""
        raise InputError(
            f"{folder} holds files and is not a ranker (no {RANKER_FILE}): a ranker written there would overwrite them; "
            f"pass a new or empty folder (or a ranker folder, to rebuild it){example}"
        )
    if (folder / RANKER_FILE).is_file():
        # A rebuild writes the new ranker beside the old one and renames it in (Ranker.save).
        if os.path.ismount(folder):
            raise InputError(f"{folder} is a mount point, which a rebuild cannot replace; write the ranker to a folder inside it, e.g. {folder / 'ranker'}")
        check_can_create_in(folder.resolve().parent, str(folder))
    else:
        check_can_create_in(folder, str(folder))
    return folder


def _swap_in(new: Path, folder: Path) -> None:
    """Put the complete ranker folder ``new`` at ``folder``, in place of the ranker there.

    Two renames: the old folder goes aside, the new one takes its name; only then are the files a
    user put beside the old ranker moved over and the old folder deleted. Between the renames (a
    few microseconds) a reader finds no folder; one mid-read sees ``ranker.json`` change and reads
    again (:meth:`Ranker.load`). A concurrent save of the same folder may take the name between
    the renames: its ranker is moved aside the same way, the last save wins, both end whole.
    """
    moved: list[Path] = []  # what was at ``folder``, moved aside: the old ranker first
    try:
        for _ in range(5):
            aside = folder.with_name(f".{folder.name}.old-{secrets.token_hex(4)}")
            moved.append(aside)
            try:
                os.rename(folder, aside)
            except FileNotFoundError:
                moved.pop()  # nothing there: a new folder, or another save is between its renames
            try:
                os.rename(new, folder)
                break
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        else:
            raise HubselectError(f"{folder} kept being replaced by another build; rerun when it is done")
    except BaseException:
        if moved and os.path.lexists(moved[0]) and not os.path.lexists(folder):
            os.rename(moved.pop(0), folder)  # the old ranker goes back
        for aside in moved:
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if moved:
        for entry in moved[0].iterdir():
            if not _is_ranker_entry(entry.name) and not os.path.lexists(folder / entry.name):
                os.rename(entry, folder / entry.name)
    for aside in moved:
        shutil.rmtree(aside, ignore_errors=True)


def _is_ranker_entry(name: str) -> bool:
    """Whether ``save`` writes a file or folder of this name (a rebuild replaces it; other files are kept)."""
    return name in (RANKER_FILE, EMBEDDING_FILE, ZOO_FOLDER) or fnmatch.fnmatch(name, LEARNER_GLOB)


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns


def _unused_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or the first of ``name (new)``, ``name (new 2)``, ... that is not in ``taken``.

    >>> _unused_name("images", ["images", "images (new)"])
    'images (new 2)'
    """
    taken = set(taken)
    candidates = itertools.chain([name, f"{name} (new)"], (f"{name} (new {i})" for i in itertools.count(2)))
    return next(c for c in candidates if c not in taken)


def _learner_file(embedding_set: str, regularisation: str) -> str:
    return f"learner-{embedding_set}-{regularisation}.txt"


def _flagged(arrays: ZooArrays) -> np.ndarray:
    """Per model, whether the crawl flagged it: any text in ``excluded_reason`` (an empty one is
    a flag cleared), as ``recommend`` reads it."""
    reasons = arrays.model_features.get("excluded_reason")
    if reasons is None:
        return np.zeros(len(arrays.models), dtype=bool)
    return reasons.map(lambda reason: isinstance(reason, str) and bool(reason.strip())).to_numpy(dtype=bool)


def _arrays_to_zoo(arrays: ZooArrays, meta, zoo_type):
    """The zoo tables a ranker needs (results, features, distances), rebuilt from its arrays."""
    rows, cols = np.nonzero(arrays.known)
    records = pd.DataFrame(
        {
            "model": pd.Series([arrays.models[i] for i in rows], dtype=object),
            "dataset": pd.Series([arrays.datasets[j] for j in cols], dtype=object),
            "method": "default",
            "config_hash": "",
            "score": arrays.scores[rows, cols],
            "score_before": arrays.before[rows, cols] if arrays.before is not None else None,
            "model_revision": None,
            "dataset_revision": None,
            "metrics": "{}",
            "details": "{}",
        }
    )
    a, b = np.nonzero(np.triu(~np.isnan(arrays.distances), 1))
    distances = pd.DataFrame(
        {
            "dataset_a": pd.Series([arrays.datasets[i] for i in a], dtype=object),
            "dataset_b": pd.Series([arrays.datasets[j] for j in b], dtype=object),
            "distance": arrays.distances[a, b],
            "probe": "",
        }
    )
    models = arrays.model_features.reset_index(names="model")
    models.insert(1, "revision", None)
    datasets = arrays.dataset_features.reset_index(names="dataset")
    datasets.insert(1, "revision", None)
    return zoo_type(meta, models=models, datasets=datasets, records=records, distances=distances)
