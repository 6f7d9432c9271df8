"""Selection benchmark: the method against the baselines and the published figures, and at scale.

1. Leave-one-dataset-out on the TransferGraph text-classification bundle that ships in the
   package (``hubselect/bundles/transfergraph-text``) over the 8 targets its README lists; prints
   the method, every baseline, the figures published in that README, and the method's margins
   over ``average_best`` on pearson, spearman and rel1.
2. Scale: a synthetic zoo of 2,000 models × 500 datasets with 20 results per dataset (1%
   coverage: profiling costs a fine-tuning run per result, so real zoos are sparse; every
   dataset has distances to every other, as a probe gives). Prints the build time and the
   per-new-dataset prediction latency in fast and faithful mode.

Run from the repository root::

    python benchmarks/selection.py                 # both parts
    python benchmarks/selection.py --skip-scale    # the text bundle only
    python benchmarks/selection.py --json out.json # also write every figure as JSON
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

import hubselect
from hubselect.cli.output import margins_table, table
from hubselect.errors import HubselectError, whole_option
from hubselect.rank import NewDataset, Ranker, RankerConfig, evaluate
from hubselect.rank.synthetic import synthetic_zoo
from hubselect.zoo import import_bundle

#: The bundle that ships in the installed package, wherever this script is run from.
DEFAULT_BUNDLE = Path(hubselect.__file__).resolve().parent / "bundles" / "transfergraph-text"
TARGETS = [
    "rotten_tomatoes",
    "tweet_eval/irony",
    "tweet_eval/sentiment",
    "tweet_eval/offensive",
    "glue/cola",
    "glue/sst2",
    "tweet_eval/hate",
    "tweet_eval/emotion",
]
#: The figures of the bundle's README (mean over the 8 targets); None where it gives none.
PUBLISHED = {
    "oracle (best model)": {"top1_score": 0.836, "rel1": 1.000, "pearson": None, "spearman": None},
    "random (README)": {"top1_score": 0.767, "rel1": 0.918, "pearson": None, "spearman": None},
    "average_best (README)": {"top1_score": 0.821, "rel1": 0.982, "pearson": 0.806, "spearman": 0.719},
    "TransferGraph XGB + node2vec+": {"top1_score": 0.824, "rel1": 0.986, "pearson": 0.825, "spearman": 0.711},
    "TransferGraph best per metric": {"top1_score": 0.824, "rel1": 0.986, "pearson": 0.856, "spearman": 0.711},
}
#: The scale part's synthetic zoo.
SCALE_MODELS, SCALE_DATASETS = 2000, 500
COLUMNS = ("top1_hit", "top1_score", "rel1", "regret", "pearson", "spearman", "ndcg5")


def text_bundle(bundle: Path, console: Console) -> dict:
    zoo = import_bundle(bundle, higher_is_better=True)
    started = time.perf_counter()
    report = evaluate(zoo, TARGETS, RankerConfig(), progress=lambda m: print(m, file=sys.stderr))
    seconds = time.perf_counter() - started
    rows = [("method (hubselect)", *[report["method"][k] for k in COLUMNS])]
    rows += [(name, *[values[k] for k in COLUMNS]) for name, values in report["baselines"].items()]
    rows += [(name, *[values.get(k) for k in COLUMNS]) for name, values in PUBLISHED.items()]
    console.print(table(f"TransferGraph text bundle, leave-one-dataset-out over {len(TARGETS)} targets ({seconds:.0f}s)", ["", *COLUMNS], rows))
    margins = {k: report["method"][k] - report["baselines"]["average_best"][k] for k in ("pearson", "spearman", "rel1", "ndcg5", "top1_score")}
    console.print(
        "method − average_best: " + ", ".join(f"{k} {v:+.4f}" for k, v in margins.items()) + f"  ({verdict(report['margins']['average_best'])})"
    )
    console.print(margins_table(report["margins"]))
    console.print("selected per target: " + ", ".join(f"{t}={r['selected']}" for t, r in report["targets"].items()))
    return {"report": report, "margins_vs_average_best": margins, "seconds": seconds}


def verdict(margins: dict, metrics: tuple[str, ...] = ("pearson", "spearman", "rel1")) -> str:
    """What the method's margins over a baseline show, read from their 95% intervals as the margins
    table's legend reads them: one containing 0 is a difference these targets cannot tell apart.

    The sign of the mean alone claimed a win the table printed below it contradicted.

    >>> verdict({"pearson": {"mean": 0.001, "low": -0.002, "high": 0.004}, "spearman": {"mean": 0.05, "low": 0.01, "high": 0.09}}, ("pearson", "spearman"))
    'beats it on spearman; these targets cannot tell them apart on pearson'
    """
    groups: dict[str, list[str]] = {"beats it on": [], "behind it on": [], "these targets cannot tell them apart on": [], "undefined on": []}
    for metric in metrics:
        interval = margins.get(metric, {})
        low, high = interval.get("low"), interval.get("high")
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (low, high)):
            groups["undefined on"].append(metric)
        elif low > 0:
            groups["beats it on"].append(metric)
        elif high < 0:
            groups["behind it on"].append(metric)
        else:
            groups["these targets cannot tell them apart on"].append(metric)
    return "; ".join(f"{words} {_listed(names)}" for words, names in groups.items() if names)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _near(zoo_distances: np.ndarray, datasets: list[str], j: int, rng: np.random.Generator) -> dict[str, float]:
    """Distances of a new dataset close to dataset ``j``: j's distances, jittered by ±5%."""
    row = zoo_distances[j] * rng.uniform(0.95, 1.05, size=zoo_distances.shape[1])
    row[j] = 0.1 * np.nanmin(np.where(np.arange(row.size) == j, np.nan, zoo_distances[j]))
    return {d: float(v) for d, v in zip(datasets, row) if np.isfinite(v)}


def _latency(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "runs": len(values),
        "mean_s": statistics.fmean(values),
        "p50_s": ordered[len(ordered) // 2],
        "p90_s": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
    }


def scale(console: Console, fast_runs: int, faithful_runs: int) -> dict:
    zoo = synthetic_zoo(SCALE_MODELS, SCALE_DATASETS, n_clusters=25, records_per_dataset=20, seed=0)
    started = time.perf_counter()
    ranker = Ranker.fit(zoo)
    build = time.perf_counter() - started
    arrays = ranker.arrays
    rng = np.random.default_rng(1)
    new = [
        NewDataset(f"new-{i}", {"images": 1000.0}, _near(arrays.distances, arrays.datasets, int(j), rng))
        for i, j in enumerate(rng.choice(len(arrays.datasets), fast_runs + faithful_runs + 1, replace=False))
    ]
    ranker.predict(new[0], mode="fast")  # warm-up
    fast = []
    for dataset in new[1 : 1 + fast_runs]:
        t = time.perf_counter()
        ranker.predict(dataset, mode="fast")
        fast.append(time.perf_counter() - t)
    faithful = []
    for dataset in new[1 + fast_runs :]:
        t = time.perf_counter()
        ranker.predict(dataset, mode="faithful")
        faithful.append(time.perf_counter() - t)
    result = {
        "models": len(arrays.models),
        "datasets": len(arrays.datasets),
        "records": int(arrays.known.sum()),
        "build_s": build,
        "selected": ranker.ensemble.label(),
        "prior": ranker.kernel_prior.label(),
        "fast": _latency(fast),
        "faithful": _latency(faithful),
    }
    rows = [
        ("build (Ranker.fit: graph, node2vec+ ×6, inner CV, LightGBM)", f"{build:.1f} s", "≤ 120 s"),
        ("predict, fast (per new dataset)", f"mean {result['fast']['mean_s'] * 1000:.0f} ms, p50 {result['fast']['p50_s'] * 1000:.0f} ms, p90 {result['fast']['p90_s'] * 1000:.0f} ms ({fast_runs} runs)", "≤ 1 s"),
        ("predict, faithful (per new dataset)", f"mean {result['faithful']['mean_s']:.1f} s, p50 {result['faithful']['p50_s']:.1f} s ({faithful_runs} runs)", "–"),
    ]
    console.print(
        table(
            f"scale: {result['models']} models × {result['datasets']} datasets, {result['records']} results "
            f"(selected {result['selected']}; prior {result['prior']})",
            ["", "time", "target"],
            rows,
        )
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="the TransferGraph text bundle folder")
    parser.add_argument("--skip-text", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--fast-runs", type=whole_option(1), default=20, help="timed fast predictions (at least 1)")
    parser.add_argument("--faithful-runs", type=whole_option(1), default=2, help="timed faithful predictions (at least 1)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = parser.parse_args(argv)
    if not args.skip_scale and args.fast_runs + args.faithful_runs >= SCALE_DATASETS:
        parser.error(f"--fast-runs + --faithful-runs must be below {SCALE_DATASETS} (each run predicts for its own new dataset near one of the scale zoo's datasets)")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    console = Console(soft_wrap=True, width=150)
    out = {}
    if not args.skip_text:
        try:
            out["text"] = text_bundle(args.bundle, console)
        except HubselectError as error:  # a --bundle that is not one
            print(f"error: {error}", file=sys.stderr)
            return 2
    if not args.skip_scale:
        out["scale"] = scale(console, args.fast_runs, args.faithful_runs)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
