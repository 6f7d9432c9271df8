"""``hubselect evaluate`` and ``hubselect build``: measure the selection method, and build a ranker."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import time
from pathlib import Path

import click

from hubselect.cli import SETTINGS, check_probe, cli, common_options, seed_option
from hubselect.cli.output import margins_table, table
from hubselect.jsonable import finite, json_default
from hubselect.errors import HubselectError, InputError

_METRIC_COLUMNS = ("top1_hit", "top1_score", "rel1", "regret", "pearson", "spearman", "ndcg5")


def _config(seed: int, learner: str):
    from hubselect.rank import RankerConfig

    return RankerConfig.seeded(seed, learner)


def _open(zoo_ref: str, method: str | None, probe: str | None, command: str, datasets_needed: int):
    """The zoo's results of ``method``, refused where they are too few for ``command`` (see
    :func:`unrankable_because`): checked on the whole zoo, before it is narrowed to the method."""
    from hubselect.zoo.resolve import open_zoo

    zoo = open_zoo(zoo_ref, token=SETTINGS.token)
    # The advised command line keeps the probe asked for: on a zoo whose distances several probes
    # measured, one without it is refused ("choose one with --probe").
    command += f" --probe {shlex.quote(probe)}" if probe is not None else ""
    problem = unrankable_because(zoo, zoo_ref, method, command, datasets_needed=datasets_needed)
    if problem:
        raise InputError(problem)
    zoo = zoo.for_method(method)
    return zoo.for_probe(_distance_probe(zoo, zoo_ref, probe) if probe is not None else None)


def unrankable_because(zoo, zoo_ref: str, method: str | None, command: str, *, datasets_needed: int = 1) -> str | None:
    """Why ``zoo``'s results of ``method`` are too few to build a ranker on (``datasets_needed``
    1: a dataset with results of two or more models) or to evaluate one (2); None: they are not.

    A ranker is built on one method's results, and a view of the zoo narrowed to them cannot tell
    that the zoo holds others: said here, of the whole zoo, so that ``build --method dreambooth``
    on a zoo of LoRA results does not read as a zoo with too few results. The reason names the
    method, what the zoo holds of each other one, and ``command`` (the command line less
    ``--method``) with a method whose results are enough. ``method`` None is the zoo's only
    method, or any of several (:meth:`~hubselect.zoo.Zoo.for_method` then asks which).

    >>> unrankable_because(zoo, "org/zoo", "dreambooth", "hubselect build org/zoo --out ranker")  # doctest: +SKIP
    'zoo org/zoo holds no dreambooth results to build a ranker on; its lora results have 3 datasets with results for two or more models (...); use the lora results with `hubselect build org/zoo --out ranker --method lora`, or ...'
    """
    from hubselect.profile.recipes import METHODS

    held = zoo.results_by_method()
    enough = sorted(m for m, counts in held.items() if len(counts["rankable"]) >= datasets_needed)
    if method in enough or (method is None and enough):
        return None
    if method is None and len(held) == 1:
        method = next(iter(held))
    more = "more " if held and (method is None or method in held) else ""
    if method is None or method in METHODS:
        get_more = (f"profile {more}models (`hubselect profile --models A,B --datasets D{f' --methods {method}' if method else ''} --zoo ZOO`) "
                    f"or import their records (`hubselect zoo import`{f' with --method {method}' if method else ''})")
    else:  # a method of imported results: profiling makes results of another
        get_more = f"import {more}results of it (`hubselect zoo import` with --method {method})"
    if not held:
        return f"zoo {zoo_ref} holds no fine-tuning results yet, so there is nothing to rank; {get_more}"

    def rankable(counts: dict, datasets: str) -> str:
        """``3 such datasets (d1, d2, d3; 12 results of 4 models)``: what one method's results have."""
        found, n, models = counts["rankable"], counts["results"], counts["models"]
        named = f"{', '.join(found[:3])}{', …' if len(found) > 3 else ''}; " if found else ""
        return f"{len(found) or 'no'} {datasets.format(s='' if len(found) == 1 else 's')} ({named}{n} result{'s' if n != 1 else ''} of {models} model{'s' if models != 1 else ''})"

    if datasets_needed == 1:
        purpose, needs = "build a ranker on", "a ranker needs a dataset with results for two or more models"
    else:
        purpose = "evaluate"
        needs = ("leave-one-dataset-out evaluation needs at least two datasets with results for two or more models "
                 "(one held out to rank, another to train on)")
    if method is None:  # several methods, none with enough (with enough, for_method would ask which)
        each = "; ".join(f"{m}: {rankable(counts, 'such dataset{s}')}" for m, counts in held.items())
        return f"zoo {zoo_ref}'s results are too few to {purpose}: {needs}, of one method, and no method's results have enough ({each}); {get_more}"
    if method in held:
        line = f"zoo {zoo_ref}'s {method} results are too few to {purpose}: {needs}, and they have {rankable(held[method], 'such dataset{s}')}"
        others = "such dataset{s}"
    else:
        line, others = f"zoo {zoo_ref} holds no {method} results to {purpose}", "dataset{s} with results for two or more models"
    line += "".join(f"; its {m} results have {rankable(counts, others)}" for m, counts in held.items() if m != method)
    if len(enough) == 1:
        return line + f"; use the {enough[0]} results with `{command} --method {enough[0]}`, or {get_more}"
    if enough:
        return line + f"; use another method's with `{command} --method M` (M: one of {', '.join(enough)}), or {get_more}"
    return line + f"; {get_more}"


def _distance_probe(zoo, zoo_ref: str, spec: str) -> str:
    """The id by which ``zoo``'s distances table names the probe ``spec`` (``inception``, a Hub
    id with or without a revision, a folder or the ``local:NAME`` it is named by); one that
    measured none of its distances is refused. Where no probe is named (distances imported
    from a bundle, or none), there is none to pass: the way on is to leave --probe out."""
    from hubselect.probes.registry import local_probe_id, probe_id

    wanted = probe_id(spec) or (local_probe_id(Path(spec)) if Path(spec).expanduser().is_dir() else spec)
    probes = zoo.distance_probes
    if wanted not in probes:
        if not any(probes):
            held = "they name no probe (imported from a bundle); leave --probe out to use them" if probes else "it holds none; leave --probe out"
            raise InputError(f"probe {wanted} measured none of zoo {zoo_ref}'s dataset distances: {held}")
        measured = ", ".join(p or "none named (imported)" for p in probes)
        raise InputError(f"probe {wanted} measured none of zoo {zoo_ref}'s dataset distances (measured with: {measured}); pass one of those with --probe")
    return wanted


_selection_options = [
    click.option("--method", default=None, help="Fine-tuning method whose results to use (needed when the zoo holds several)."),
    click.option("--probe", default=None, callback=check_probe,
                 help="Probe whose dataset distances the graph reads (its id, or its folder), as `recommend --probe` compares "
                      "a dataset through: distances from two probes are on two scales (default: the zoo's only one, or "
                      "openai/clip-vit-base-patch32 among several; a zoo whose distances name several others needs it)."),
    click.option("--learner", type=click.Choice(["lambdarank", "regression"]), default="lambdarank", show_default=True,
                 help="LightGBM objective of the ranker."),
    seed_option("Seed for walks, embeddings and the learner."),
]


def selection_options(func):
    for option in reversed(_selection_options):
        func = option(func)
    return func


@cli.command("evaluate")
@click.argument("zoo_ref", metavar="ZOO")
@click.option("--targets", default=None, help="Comma-separated target datasets (default: every dataset with results for 2+ models).")
@click.option("--json", "json_path", default=None, metavar="FILE",
              help="Also write the full report (per-target metrics included) to this file (checked before the evaluation starts).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Evaluate this many targets at a time, each in a worker process of its own (one core each: "
                   "at most the cores this machine has free); the report is the same.")
@selection_options
@common_options
def evaluate_command(zoo_ref: str, targets: str | None, json_path: str | None, jobs: int, method: str | None, probe: str | None, learner: str, seed: int) -> None:
    """Leave-one-dataset-out evaluation of the method against the baselines.

    For each target, every model→target result leaves the graph and the training rows (the
    target keeps its features and distances), the ranker is refitted and ranks the target's
    models; so the zoo needs at least two datasets with results for 2+ models. A target on which
    every model scores the same is left out, and named: any ranking is as right as another there.
    The metrics, per target (then their mean over targets):

    \b
    top1_hit    the predicted top-1 is a true best model (ties count)
    top1_score  the true score of the predicted top-1
    rel1        top1_score / best (higher is better) or best / top1_score (lower);
                undefined on a target whose scores are not all > 0
    regret      |best − top1_score|
    pearson     correlation of predicted and true scores over the target's models
    spearman    rank correlation of the same (both: +1 = perfectly right)
    ndcg5       NDCG@5, gains = the target's min–max normalised true score

    Models a predictor ties are scored as the mean over their orders, never by their names: a
    tie at the top counts as the share of the tied models that are a true best (top1_hit), and
    the mean of their scores (top1_score, rel1, regret).

    The report (--format json, or --json FILE) is:

    \b
    {"method": {metric: mean over targets},
     "baselines": {"average_best": {...}, "nearest_dataset": {...},
                   "features_only": {...}, "random": {...},
                   "initial_score": {...}},   # only with pre-fine-tuning scores,
                                              # over the targets that have them
     "margins": {baseline: {metric: {"mean": d, "low": lo, "high": hi,
                                     "targets": n}}},  # method − baseline, 95% paired bootstrap
     "targets": {name: {"models": n, "best_models": [...],
                        "method": {metric: value},
                        "baselines": {name: {metric: value}},
                        "predicted_top1": {"method": model, <baseline>: model},  # ties: first by name
                        "prior": "<prior setting chosen in the fold>",
                        "selected": "<embedding set>/<regularisation>/<rounds>x<shrinkage>",
                        "seconds": s}},
     "zoo": {"score": name, "higher_is_better": bool, "repo": id, "revision": sha,
             "method": name, "probe": id, "fingerprint": hash},  # the zoo and the ranker configuration
     "config": {...},                               # evaluated, as a ranker.json records them
     "targets_left_out": {name: why},  # only if any: every model scores the same there,
                                       # so it is in no mean or margin
     "notices": [sentence, ...]}   # only when something needs explaining,
                                   # e.g. rel1 undefined (null) where scores are not all > 0
    """
    from hubselect.paths import check_writable_file
    from hubselect.rank import evaluate
    from hubselect.rank.evaluate import baseline_labels

    report_file = check_writable_file(json_path, "--json") if json_path is not None else None
    command = f"hubselect evaluate {shlex.quote(zoo_ref)}" + (f" --json {shlex.quote(str(json_path))}" if json_path is not None else "")
    zoo = _open(zoo_ref, method, probe, command, datasets_needed=2)
    wanted = [t.strip() for t in targets.split(",") if t.strip()] if targets else None
    if targets is not None and not wanted:
        raise InputError("--targets is empty; pass comma-separated dataset names, e.g. --targets a,b")
    started = time.perf_counter()
    report = evaluate(zoo, wanted, _config(seed, learner), progress=SETTINGS.output.info, bar=SETTINGS.output.human, jobs=jobs)
    not_written = _write_report(report, report_file) if report_file is not None else None
    for notice in report.get("notices", []):
        SETTINGS.output.info(f"note: {notice}")

    def human(console):
        labels = baseline_labels(report)  # a row over fewer targets than the title's says so
        rows = [("method", *[report["method"][k] for k in _METRIC_COLUMNS])]
        rows += [(labels[name], *[values[k] for k in _METRIC_COLUMNS]) for name, values in report["baselines"].items()]
        title = (
            f"leave-one-dataset-out over {len(report['targets'])} target(s) of {zoo_ref} "
            f"({zoo.meta.score}, {zoo.meta.direction}; "
            f"{time.perf_counter() - started:.0f}s)"
        )
        console.print(table(title, ["", *_METRIC_COLUMNS], rows))
        console.print(margins_table(report["margins"], labels))
        if report_file is not None and not_written is None:
            console.print(f"Per-target report written to {report_file}")

    SETTINGS.output.result(report, human)
    if not_written is not None:
        raise HubselectError(not_written)


def _write_report(report: dict, path: Path) -> str | None:
    """Write the report; if that fails after all (the folder went away, the disk filled), save it
    in the temp folder instead, so a finished evaluation is never lost. Returns what went wrong."""
    text = json.dumps(finite(report), indent=2, default=json_default) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return None
    except OSError as exc:
        problem = f"could not write the report to {path} ({exc.strerror or exc})"
    try:
        fd, fallback = tempfile.mkstemp(prefix="hubselect-evaluate-", suffix=".json")
        with os.fdopen(fd, "w") as file:
            file.write(text)
    except OSError as exc:
        return f"{problem}, nor a copy in {tempfile.gettempdir()} ({exc.strerror or exc}); rerun with --format json to get it on stdout"
    return f"{problem}; it was saved to {fallback} instead"


@cli.command("build")
@click.argument("zoo_ref", metavar="ZOO")
@click.option("--out", "out", required=True, metavar="DIR",
              help="Folder to write the ranker to: a new or empty one, or a ranker folder to rebuild (its other files are kept).")
@selection_options
@common_options
def build_command(zoo_ref: str, out: str, method: str | None, probe: str | None, learner: str, seed: int) -> None:
    """Train the ranker on every result of a zoo and save it (learner, feature schema, embeddings, config).

    --out must be a new or empty folder, or a ranker folder: a folder holding anything else is
    refused (the ranker writes its own zoo/ and learner files there).
    """
    from hubselect.rank import Ranker
    from hubselect.rank.ranker import check_ranker_folder, fit_progress_bar

    if not out:
        raise InputError("--out is empty; pass the folder to write the ranker to, e.g. --out ranker")
    out = check_ranker_folder(out)
    zoo = _open(zoo_ref, method, probe, f"hubselect build {shlex.quote(zoo_ref)} --out {shlex.quote(str(out))}", datasets_needed=1)
    started = time.perf_counter()
    with fit_progress_bar(SETTINGS.output.human) as progress:
        ranker = Ranker.fit(zoo, _config(seed, learner), progress=progress)
    ranker.save(out)
    seconds = time.perf_counter() - started
    counts = ranker.describe()["zoo"]
    summary = {
        "ranker": str(out),
        "models": counts["models"],
        # A model crawled without results yet is a node only.
        "models_with_results": counts["models_with_results"],
        # What it ranks, as its card says: those recommend can name (not flagged by the crawl).
        "models_ranked": counts["models_ranked"],
        "datasets": counts["datasets"],
        "prior": ranker.kernel_prior.label(),
        "selected": ranker.ensemble.label(),
        # False where inner cross-validation kept the prior alone (``selected`` is then of 0 rounds).
        "uses_learner": ranker.ensemble.uses_learner,
        "zoo": ranker.zoo_info,
        "seconds": round(seconds, 2),
    }
    without = summary["models"] - summary["models_with_results"]
    flagged = summary["models_with_results"] - summary["models_ranked"]
    left_out = [f"{without} model{'s' if without > 1 else ''} without results yet, which it cannot rank"] if without else []
    if flagged:
        left_out.append(f"{flagged} with results that recommend never names, flagged by the crawl as deleted from the Hub or unsafe to load")
    unranked = f" (and {'; '.join(left_out)})" if left_out else ""
    learner = f"{summary['selected']} (embedding set/regularisation/rounds×shrinkage)" if summary["uses_learner"] else "none (inner cross-validation kept the prior alone)"
    SETTINGS.output.result(
        summary,
        lambda console: console.print(
            f"Built a ranker for {summary['models_ranked']} models with results × {summary['datasets']} datasets{unranked} "
            f"in {seconds:.1f}s → {out}\n"
            f"  prior: {summary['prior']}; learner: {learner}"
        ),
    )
