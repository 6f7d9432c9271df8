"""Leave-one-dataset-out evaluation of the method against every baseline.

The metrics are defined in :mod:`hubselect.rank.metrics`, the baselines in
:mod:`hubselect.rank.baselines`; ``hubselect evaluate --help`` shows the report's shape.

For each target dataset: every model→target result is hidden (from the graph, from the
learner's training rows and from the evidence features); the target keeps its features and
its dataset↔dataset distances. The method is then fitted from scratch on what is left —
graph rebuilt, node2vec+ re-embedded, inner cross-validation rerun — and scores the target's
models; so do the baselines. Metrics per target, then their mean over targets.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import numpy as np

from hubselect.errors import HubselectError, InputError, check_whole
from hubselect.graph.arrays import ZooArrays
from hubselect.rank import baselines
from hubselect.rank.metrics import mean_metrics, paired_margins, random_metrics, rel1_defined, selection_metrics
from hubselect.rank.ranker import Ranker, RankerConfig, check_fit_arguments, check_names, describe_zoo

log = logging.getLogger("hubselect.rank")

#: An unknown-target error lists at most this many valid names.
LISTED = 50


def evaluable_targets(arrays: ZooArrays) -> list[str]:
    """Datasets with results for at least two models (a ranking can be scored there)."""
    return [d for j, d in enumerate(arrays.datasets) if arrays.known[:, j].sum() >= 2]


#: Why :func:`targets_left_out` leaves a target out.
SAME_SCORE = "every model scores the same"


def targets_left_out(arrays: ZooArrays, targets: Sequence[str]) -> dict[str, str]:
    """The targets among ``targets`` on which no ranking can be scored, each with why.

    Where every model scores the same, any ranking of the models is as right as any other:
    every predictor, chance included, would hit a best model with NDCG 1, and a correlation with
    a constant is undefined. Counted in, such a target would add the same figures to every
    predictor's mean and a certain 0 to every margin (narrowing its interval), so it is left out
    for all of them alike.

    >>> targets_left_out(arrays, ["saturated", "d1"])  # doctest: +SKIP
    {'saturated': 'every model scores the same'}
    """
    out = {}
    for target in targets:
        t = arrays.dataset_index(target)
        if np.ptp(arrays.scores[np.flatnonzero(arrays.known[:, t]), t]) == 0:
            out[target] = SAME_SCORE
    return out


def resolve_targets(arrays: ZooArrays, targets: Sequence[str] | None) -> list[str]:
    """The requested targets, checked; all evaluable datasets when none are requested.

    Leaving a target out must leave another evaluable dataset to train on, so a zoo with fewer
    than two is refused here, before any fitting (the learner's own error would blame the zoo
    as a whole, and a zoo with none would give an empty report).
    """
    valid = evaluable_targets(arrays)
    if len(valid) < 2:
        has = f"{len(valid)} ({valid[0]})" if valid else "none"
        raise InputError(
            "leave-one-dataset-out evaluation needs at least two datasets with results for two or more models "
            f"(one held out to rank, another to train on); this zoo has {has}; "
            "add results for more models and datasets with `hubselect profile` or `hubselect zoo import`"
        )
    if not targets:
        return valid
    unknown = [t for t in targets if t not in valid]
    if unknown:
        raise InputError(f"unknown target(s) {', '.join(unknown)}; valid targets (datasets with results for 2+ models): {_listed(valid)}")
    return list(dict.fromkeys(targets))


def _true_scores(arrays: ZooArrays, target: str) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the target's models and their true scores there."""
    t = arrays.dataset_index(target)
    models = np.flatnonzero(arrays.known[:, t])
    return models, arrays.scores[models, t]


def _evaluate_target(arrays: ZooArrays, target: str, config: RankerConfig, only_features: RankerConfig, *, fitting) -> dict[str, Any]:
    """One target's entry of the report: the method and every baseline fitted and scored
    without the target's results."""
    started = time.perf_counter()
    t = arrays.dataset_index(target)
    models, true = _true_scores(arrays, target)
    model_names = [arrays.models[i] for i in models]
    view = arrays.without_records_of([target])

    method = Ranker.fit_arrays(view, config, progress=fitting(target, "method"))
    predictions: dict[str, np.ndarray] = {"method": method.score_zoo_dataset(target, model_names)}
    features_only = Ranker.fit_arrays(view, only_features, progress=fitting(target, "features_only"))
    predictions["average_best"] = baselines.average_best(view, models)
    predictions["nearest_dataset"] = baselines.nearest_dataset(view, t, models)
    predictions["features_only"] = features_only.score_zoo_dataset(target, model_names)
    before = baselines.initial_score(arrays.before, arrays.higher_is_better, t, models)
    if before is not None:
        predictions["initial_score"] = before

    metrics = {name: selection_metrics(true, pred, arrays.higher_is_better) for name, pred in predictions.items()}
    metrics["random"] = random_metrics(true, arrays.higher_is_better)
    best = float(np.max(true)) if arrays.higher_is_better else float(np.min(true))
    order = ["average_best", "nearest_dataset", "features_only", "random", "initial_score"]
    return {
        "models": int(models.size),
        "best_models": [m for m, s in zip(model_names, true) if s == best],
        "method": metrics["method"],
        "baselines": {name: metrics[name] for name in order if name in metrics},
        "predicted_top1": {name: _top1(pred, model_names) for name, pred in predictions.items()},
        "prior": method.kernel_prior.label(),
        "selected": method.ensemble.label(),
        "seconds": round(time.perf_counter() - started, 3),
    }


class _TargetsBar:
    """The bar of :func:`evaluate`'s targets (a no-op where none is shown)."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def fitting(self, target: str, which: str):
        """A :data:`~hubselect.rank.ranker.FitProgress` callback naming the fit's step in the bar."""
        def step(name: str, done: int, total: int) -> None:
            self.bar.set_postfix_str(f"{target}: {which} {done}/{total} ({name})")

        return step

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Lines written meanwhile do not break the bar (it is cleared, then drawn again)."""
        with self.bar.external_write_mode(file=sys.stderr):
            yield

    def done(self) -> None:
        self.bar.update(1)


#: What a worker process of :func:`_evaluate_targets` evaluates with (its initializer sets it).
_WORKER: dict[str, Any] = {}


def _start_worker(arrays: ZooArrays, config: RankerConfig, only_features: RankerConfig, begun) -> None:
    _WORKER.update(arrays=arrays, config=config, only_features=only_features, begun=begun)


def _evaluate_in_worker(target: str) -> dict[str, Any]:
    _WORKER["begun"].send(target)  # should this process die on it, the driver can say which target it was on
    return _evaluate_target(_WORKER["arrays"], target, _WORKER["config"], _WORKER["only_features"], fitting=lambda target, which: None)


def _evaluate_targets(arrays: ZooArrays, names: list[str], config: RankerConfig, only_features: RankerConfig, jobs: int, shown: _TargetsBar) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each target's entry as it is done: one after another here, or ``jobs`` at a time in
    worker processes (in the order they finish; each target's entry is the same either way:
    every fit is seeded, and a target's never depends on another's)."""
    if jobs == 1 or len(names) == 1:
        for target in names:
            yield target, _evaluate_target(arrays, target, config, only_features, fitting=shown.fitting)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from hubselect.errors import stopping_on_signals
    from hubselect.workers import worker_pool

    workers = min(jobs, len(names))
    shown.bar.set_postfix_str(f"{workers} targets at a time")
    # The targets workers begin, as they begin them. A pipe, not a queue: a queue's lock was gone
    # (a FileNotFoundError traceback) for a worker still starting when a Ctrl-C ended the run; and
    # a few bytes at a time, the workers' writes to it are whole without one.
    on_target, begun = multiprocessing.Pipe(duplex=False)
    began: set[str] = set()
    # SIGTERM and SIGHUP end the run as Ctrl-C does, through the pool's teardown: killed
    # outright, this process left its workers running, for good.
    with stopping_on_signals(), on_target, begun, worker_pool(workers, _start_worker, (arrays, config, only_features, begun)) as pool:
        running = {pool.submit(_evaluate_in_worker, target): target for target in names}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            while on_target.poll():
                began.add(on_target.recv())
            for future in sorted(done, key=lambda f: names.index(running[f])):
                if isinstance(future.exception(), BrokenProcessPool):
                    raise HubselectError(_worker_lost(future.exception(), [t for t in names if t in began and t in running.values()]))
                yield running.pop(future), future.result()


@contextmanager
def _targets_bar(targets: int, show: bool) -> Iterator[_TargetsBar]:
    from huggingface_hub.utils import tqdm

    with tqdm(total=targets, desc="Evaluating", unit="target", disable=not show) as bar:
        yield _TargetsBar(bar)


def evaluate(
    zoo,
    targets: Sequence[str] | None = None,
    config: RankerConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    bar: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Leave-one-dataset-out evaluation; returns the ``hubselect evaluate`` JSON document.

    Shape: ``{"method": {metric: mean}, "baselines": {name: {metric: mean}}, "margins": {name:
    {metric: {"mean", "low", "high", "targets"}}}, "targets": {target: {"models": n,
    "best_models": [...], "method": {...}, "baselines": {name: {...}}, "predicted_top1":
    {"method": model, name: model, ...}, "prior": "<prior setting>", "selected": "<embedding
    set>/<regularisation>/<rounds>x<shrinkage>", "seconds": s}}}``. ``margins``: the method
    minus each baseline, with a 95% paired-bootstrap interval over the targets
    (:func:`~hubselect.rank.metrics.paired_margins`).
    ``zoo`` (score, direction, repo, revision, method, fingerprint: as a ranker's ``ranker.json``
    records its zoo) and ``config`` (the :class:`RankerConfig`) say what was evaluated.
    ``initial_score`` appears only when the zoo's records carry pre-fine-tuning scores (its
    mean and margins are over the targets that have them); ``targets_left_out`` (``{target:
    why}``) only when some target cannot be scored (:func:`targets_left_out`: it is in none of
    the means and margins, nor under ``targets``); ``notices`` (a list of sentences) only when
    there is something to explain, e.g. those targets, or targets whose scores are not all
    positive, where ``rel1`` is undefined (NaN, left out of the means).

    ``progress`` is told of each target when it is done; ``bar`` draws a bar of the targets on
    stderr, with the time left and the step each fit is at: a target of a real-size zoo takes
    minutes (two ranker fits), the whole evaluation hours. ``jobs`` evaluates that many targets
    at a time, each in a worker process of its own computing on one thread (LightGBM and the
    walks run on one anyway): up to the machine's free cores, the more jobs the sooner; the report
    is the same, but for the ``seconds`` each target took. Workers are spawned: a script that
    passes ``jobs > 1`` must call :func:`evaluate` under ``if __name__ == "__main__":``, as
    every use of :mod:`multiprocessing` with spawned processes must.

    >>> report = evaluate(zoo, targets=["glue/cola"])  # doctest: +SKIP
    >>> report["method"]["spearman"]  # doctest: +SKIP
    """
    config = check_fit_arguments(zoo, config)
    targets = check_names("targets", targets, "dataset names")
    check_whole("jobs", jobs, 1)
    arrays = ZooArrays.from_zoo(zoo)
    names = resolve_targets(arrays, targets)
    left_out = targets_left_out(arrays, names)
    names = [t for t in names if t not in left_out]
    if not names:
        raise InputError(_nothing_to_score(arrays, left_out))
    only_features = config.without_embeddings()
    done: dict[str, Any] = {}
    with _targets_bar(len(names), bar) as shown:
        for number, (target, entry) in enumerate(_evaluate_targets(arrays, names, config, only_features, jobs, shown), start=1):
            done[target] = entry
            message = (
                f"[{number}/{len(names)}] {target}: spearman {entry['method']['spearman']:.3f} "
                f"(average_best {entry['baselines']['average_best']['spearman']:.3f}), {entry['seconds']:.1f}s"
            )
            log.info(message)
            if progress is not None:
                with shown.writing():
                    progress(message)
            shown.done()
    per_target = {target: done[target] for target in names}
    without_rel1 = [target for target in names if not rel1_defined(_true_scores(arrays, target)[1])]

    rows = list(per_target.values())
    baseline_names = ["average_best", "nearest_dataset", "features_only", "random"]
    if any("initial_score" in r["baselines"] for r in rows):
        baseline_names.append("initial_score")
    scored_by = {name: [r for r in rows if name in r["baselines"]] for name in baseline_names}  # the targets each baseline scored
    report = {
        "method": mean_metrics([r["method"] for r in rows]),
        "baselines": {name: mean_metrics([r["baselines"][name] for r in shared]) for name, shared in scored_by.items()},
        "margins": {
            name: paired_margins([r["method"] for r in shared], [r["baselines"][name] for r in shared], seed=config.seed)
            for name, shared in scored_by.items()
        },
        "targets": per_target,
        **_evaluated(zoo, arrays, config),
    }
    notices = []
    if left_out:
        report["targets_left_out"] = left_out
        notices.append(_left_out_notice(list(left_out)))
    if without_rel1:
        notices.append(_rel1_notice(without_rel1, len(names)))
    if notices:
        report["notices"] = notices
    return report


def baseline_labels(report: dict[str, Any]) -> dict[str, str]:
    """Each baseline's name for a table of ``report``, with the count of targets it was scored on
    where that is fewer than the report's: ``initial_score (2 of 6 targets)``.

    A baseline scored on some targets only (``initial_score`` needs pre-fine-tuning scores) has
    its mean over those, and its margins over those it shares with the method: beside means over
    every target, a bare name would read as a comparison on the same targets.

    >>> baseline_labels(report)["initial_score"]  # doctest: +SKIP
    'initial_score (2 of 6 targets)'
    """
    scored_by = [r.get("baselines") if isinstance(r, dict) and isinstance(r.get("baselines"), dict) else {} for r in report.get("targets", {}).values()]
    labels = {}
    for name in report.get("baselines", {}):
        scored = sum(name in baselines for baselines in scored_by)
        labels[name] = f"{name} ({scored} of {len(scored_by)} targets)" if 0 < scored < len(scored_by) else name
    return labels


def _evaluated(zoo, arrays: ZooArrays, config: RankerConfig) -> dict[str, Any]:
    """What was evaluated: the zoo as a ranker's ``ranker.json`` records the zoo it was built on
    (:meth:`Ranker.fit <hubselect.rank.Ranker.fit>`), and the configuration.

    ``hubselect push`` publishes a report's figures as a ranker's: with these it can tell a
    report on the zoo, method, content and configuration the ranker was built from from one on
    another zoo, another method or the zoo before a rebuild, whose dataset names are the same.
    """
    return {"zoo": describe_zoo(zoo, arrays), "config": config.to_dict()}


def _worker_lost(broken: BaseException, targets: list[str]) -> str:
    """Why ``evaluate --jobs`` stopped when a worker process ended without a result, naming the
    ``targets`` the workers were on (the dead one's among them: which of them it was, the pool
    does not say), and what to do.

    A worker is killed outright when memory runs out (the OOM killer), N workers holding N
    targets' fits at once; the pool then said only "A process in the process pool was terminated
    abruptly". One that lives, but whose error could not be read back here (an exception that
    does not unpickle), breaks the pool the same way, with that as the cause.
    """
    quoted = [repr(t) for t in targets]
    on = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
    who = f"the worker process evaluating {on}" if len(quoted) == 1 else f"a worker process evaluating {on}" if quoted else "a worker process"
    if broken.__cause__ is not None:
        return f"{who} failed with an error that could not be passed back to this process; rerun with --jobs 1 to see it"
    return f"{who} died (out of memory?); rerun with --jobs 1, or fewer jobs"


def _listed(names: list[str]) -> str:
    return ", ".join(names[:LISTED]) + (f", … ({len(names)} in all)" if len(names) > LISTED else "")


def _left_out_notice(targets: list[str]) -> str:
    """Which targets the means and margins leave out (:func:`targets_left_out`), and why."""
    return f"left out: {_listed(targets)} ({SAME_SCORE}: no ranking of {'its' if len(targets) == 1 else 'their'} models is better than another)"


def _nothing_to_score(arrays: ZooArrays, left_out: dict[str, str]) -> str:
    """Why an evaluation whose every target :func:`targets_left_out` left out cannot run, and
    what to evaluate instead: the zoo's other targets, or more results."""
    evaluable = evaluable_targets(arrays)
    same = targets_left_out(arrays, evaluable)
    others = [t for t in evaluable if t not in same]
    instead = (f"choose targets whose models score differently: {_listed(others)}" if others else
               "add results that tell the models apart with `hubselect profile` or `hubselect zoo import`")
    on = ("each of " if len(left_out) > 1 else "") + _listed(list(left_out))
    return f"nothing to evaluate: {SAME_SCORE} on {on}, so no ranking of the models there is better than another; {instead}"


def _rel1_notice(targets: list[str], total: int) -> str:
    """Why rel1 is missing: said once for the whole evaluation, not per target."""
    named = ", ".join(targets[:3]) + (", ..." if len(targets) > 3 else "")
    where = "every target" if len(targets) == total else f"{len(targets)} of {total} targets ({named})"
    return (
        f"rel1 is undefined on {where}: it is a ratio of scores, meaningful only when every score is positive, "
        "and these targets have scores of 0 or below; compare top1_score and regret instead"
    )


def _top1(predicted: np.ndarray, names: list[str]) -> str:
    """The model a report names as a predictor's top-1: among models tied at the top, the first
    by name, so that it reads the same on every run; the metrics score the tie as the mean over
    those models (:mod:`hubselect.rank.metrics`), not as this one."""
    filled = np.where(np.isnan(predicted), -np.inf, predicted)
    return names[min(range(len(names)), key=lambda i: (-filled[i], names[i]))]
