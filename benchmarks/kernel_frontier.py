"""How far a similarity-weighted prior can go on a zoo, and which targets nothing gets right.

The method's prior (:mod:`hubselect.rank.prior`) predicts a target from the other datasets'
results, weighted by a kernel of their similarity to it. This script takes one family of those
kernels, the nearest-scaled ``sim^(τ/ℓ_q)`` (``τ`` small: a broad neighbourhood; ``τ`` large:
the most similar dataset alone), fixes ``τ`` instead of selecting it, and runs
leave-one-dataset-out for every ``τ`` on both of the prior's parts (min–max scores and
within-dataset ranks), beside ``nearest_dataset`` and the prior as the method selects it per fit.
It then lists the targets every row misses, with the margin of their best model over the runner-up:
when those are near ties, no choice of kernel decides them and the best top-1 hit rate any
row reaches is the family's ceiling on that zoo.

Run from the repository root::

    python benchmarks/kernel_frontier.py                         # the bundled demo zoo
    python benchmarks/kernel_frontier.py path/to/zoo --json out.json
    python benchmarks/kernel_frontier.py path/to/zoo --method lora   # a zoo of several methods
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

import hubselect
from hubselect.cli.output import table
from hubselect.errors import HubselectError
from hubselect.graph.arrays import ZooArrays
from hubselect.graph.matching import similarity_from_distances
from hubselect.rank import RankerConfig, baselines
from hubselect.rank.evaluate import evaluable_targets
from hubselect.rank.features import Evidence
from hubselect.rank.metrics import mean_metrics, selection_metrics
from hubselect.rank.prior import NEAREST, KernelPrior, select_prior
from hubselect.zoo.store import Zoo

#: The demo zoo that ships in the installed package, wherever this script is run from.
DEMO_ZOO = Path(hubselect.__file__).resolve().parent / "demo" / "zoo"
TAUS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)
COLUMNS = ("top1_hit", "rel1", "pearson", "spearman", "ndcg5")
FLAT = (1.0, math.inf)


def settings() -> dict[str, KernelPrior]:
    out = {}
    for tau in TAUS:
        out[f"minmax(nearest^{tau:g})"] = KernelPrior(0.0, 0.0, (tau, NEAREST))
        out[f"rank(nearest^{tau:g})"] = KernelPrior(0.0, 1.0, FLAT, (tau, NEAREST))
    return out


def frontier(arrays: ZooArrays, config: RankerConfig) -> dict:
    fixed = settings()
    rows: dict[str, list[dict]] = {"nearest_dataset": [], "prior, selected per fit": [], **{name: [] for name in fixed}}
    targets = evaluable_targets(arrays)
    margins = {}
    for target in targets:
        t = arrays.dataset_index(target)
        models = np.flatnonzero(arrays.known[:, t])
        true = arrays.scores[models, t]
        ordered = np.sort(true)[::-1] if arrays.higher_is_better else np.sort(true)
        margins[target] = float(abs(ordered[0] - ordered[1])) if ordered.size > 1 else math.nan
        view = arrays.without_records_of([target])
        evidence = Evidence(view, config.evidence_neighbours)
        similarity = similarity_from_distances(view.distances, config.graph.neighbours)
        row, own = similarity[[t]], np.array([t])
        trainable = np.flatnonzero(view.known.sum(axis=0) >= 2)
        selected, _ = select_prior(evidence, similarity, trainable, config.seed)
        predictions = {"nearest_dataset": baselines.nearest_dataset(view, t, models)}
        for name, prior in {"prior, selected per fit": selected, **fixed}.items():
            predictions[name] = prior.table(evidence, row, own)[models, 0]
        for name, predicted in predictions.items():
            rows[name].append(selection_metrics(true, predicted, arrays.higher_is_better))
        print(f"  {target}", file=sys.stderr)
    summary = {}
    for name, per in rows.items():
        misses = [target for target, m in zip(targets, per) if m["top1_hit"] < 1]
        summary[name] = {**mean_metrics(per), "hits": len(targets) - len(misses), "misses": misses}
    always = [target for target in targets if all(target in s["misses"] for s in summary.values())]
    return {"targets": len(targets), "rows": summary, "missed_by_every_row": {t: margins[t] for t in always}, "margins": margins}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", nargs="?", type=Path, default=DEMO_ZOO)
    parser.add_argument("--method", default=None, help="fine-tuning method whose results to use (needed when the zoo holds several)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    try:
        arrays = ZooArrays.from_zoo(Zoo.load(args.zoo).for_method(args.method))
    except HubselectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = frontier(arrays, RankerConfig())
    console = Console()
    n = result["targets"]
    missed = result["missed_by_every_row"]

    def others(misses: list[str]) -> str:
        return ", ".join(t.split("/")[-1] for t in misses if t not in missed) or "–"

    rows = [(name, f"{s['hits']}/{n}", *[s[c] for c in COLUMNS[1:]], others(s["misses"])) for name, s in result["rows"].items()]
    title = f"{args.zoo}: leave-one-dataset-out over {n} targets"
    console.print(table(title, ["", "top-1", *COLUMNS[1:], "also missed"], rows))
    ceiling = max(s["hits"] for s in result["rows"].values())
    console.print(f"best top-1 of any row: {ceiling}/{n} ({ceiling / n:.3f})")
    if missed:
        near = ", ".join(f"{t.split('/')[-1]} {m:.3g}" for t, m in missed.items())
        console.print(f"missed by every row (the best model's margin over the runner-up, in score units): {near}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
