"""How long ``hubselect evaluate`` takes on a zoo of real size, and what ``--jobs`` buys.

Leave-one-dataset-out fits the ranker twice per target (the method, then ``features_only``),
each fit with its own prior selection and inner cross-validation, so the whole evaluation costs
(targets × per-target time) / jobs. This script builds a synthetic zoo (``--models`` ×
``--datasets``, ``--per-dataset`` results per dataset: real zoos are sparse), evaluates
``--targets`` of its datasets once per value of ``--jobs``, and prints the time per target,
the estimate for every target of the zoo, and whether every ``--jobs`` gave the same report.

Run from the repository root::

    python benchmarks/evaluate_scale.py                               # 200 x 50, 4 targets, jobs 1 and 2
    python benchmarks/evaluate_scale.py --models 1000 --datasets 200 --per-dataset 40 --targets 4 --jobs 1,4
    python benchmarks/evaluate_scale.py --json out.json                # also write every figure as JSON

A worker process starts in a few seconds (it imports LightGBM, numba and gensim), so ``--jobs``
pays off on evaluations of minutes, not on a handful of quick targets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hubselect.errors import whole_option
from hubselect.graph import ZooArrays
from hubselect.rank import evaluate
from hubselect.rank.evaluate import evaluable_targets
from hubselect.rank.synthetic import synthetic_zoo


def jobs_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated whole numbers of at least 1, got {text!r}")
    return list(dict.fromkeys(values))


def _without_seconds(report: dict) -> dict:
    return {k: (_without_seconds(v) if isinstance(v, dict) else v) for k, v in report.items() if k != "seconds"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=whole_option(2), default=200)
    parser.add_argument("--datasets", type=whole_option(3), default=50)
    parser.add_argument("--per-dataset", type=whole_option(2), default=40, help="models with a result on each dataset (2 to --models)")
    parser.add_argument("--targets", type=whole_option(1), default=4, help="how many of the zoo's datasets to evaluate (the first ones)")
    parser.add_argument("--jobs", type=jobs_list, default=[1, 2], help="comma-separated values of evaluate's jobs to time, e.g. 1,2,4")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if args.per_dataset > args.models:
        parser.error(f"--per-dataset {args.per_dataset} is more than --models {args.models}")
    if args.targets > args.datasets:
        parser.error(f"--targets {args.targets} is more than --datasets {args.datasets}")

    # A cluster of datasets per 10 (at least 3), each with a model planted best on it: no more
    # clusters than models, or the smallest zoos the checks above accept could not be built.
    clusters = min(args.models, max(3, args.datasets // 10))
    zoo = synthetic_zoo(args.models, args.datasets, n_clusters=clusters, records_per_dataset=args.per_dataset, seed=0)
    every = evaluable_targets(ZooArrays.from_zoo(zoo))
    targets = every[: args.targets]
    cores = os.cpu_count() or 1
    print(f"zoo: {args.models} models x {args.datasets} datasets, {args.per_dataset} results per dataset; "
          f"evaluating {len(targets)} of its {len(every)} targets; {cores} cores", flush=True)
    evaluate(zoo, targets[:1], jobs=1)  # warm-up: numba's cached walk kernel, imports

    figures: dict = {"models": args.models, "datasets": args.datasets, "per_dataset": args.per_dataset, "targets": len(targets),
                     "zoo_targets": len(every), "cores": cores, "runs": []}
    reports = []
    for jobs in args.jobs:
        started = time.perf_counter()
        report = evaluate(zoo, targets, jobs=jobs)
        seconds = time.perf_counter() - started
        reports.append(_without_seconds(report))
        per_target = seconds / len(targets)
        whole = per_target * len(every)
        fits = sum(r["seconds"] for r in report["targets"].values()) / len(targets)
        print(f"jobs {jobs}: {seconds:.1f} s for {len(targets)} targets, {per_target:.1f} s per target "
              f"({fits:.1f} s of fitting each); all {len(every)} targets: about {whole / 60:.1f} min", flush=True)
        figures["runs"].append({"jobs": jobs, "seconds": round(seconds, 2), "seconds_per_target": round(per_target, 2),
                                "fit_seconds_per_target": round(fits, 2), "whole_zoo_minutes": round(whole / 60, 1)})
    same = all(r == reports[0] for r in reports[1:])
    figures["same_report"] = same
    if len(reports) > 1:
        print("every --jobs gave the same report" if same else "the reports DIFFER between --jobs values", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
