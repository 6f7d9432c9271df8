"""What dataset distances cost: one Fréchet distance, the ``k`` nearest of a new dataset in a zoo
of one domain (the worst case of the exact search: every candidate gets an exact distance), and
every pair of a small zoo.

The statistics are synthetic (random covariances of the probe's width around one mean), so the
figures are the arithmetic's alone, not a probe's. ``recommend`` pays the nearest search once per
call, ``dataset profile`` once per new profile, ``zoo import`` and the demo the pairs.

    python benchmarks/dataset_distances.py                       # 300 datasets, 512-d (CLIP ViT-B/32)
    python benchmarks/dataset_distances.py --datasets 1000 --dim 768 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from hubselect.data.similarity import nearest, pairwise_distances
from hubselect.metrics.frechet import FrechetStats, frechet_distance


def one_domain(count: int, dim: int, seed: int) -> tuple[FrechetStats, dict[str, FrechetStats]]:
    """A query and ``count`` datasets whose means are close and whose spreads differ."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=dim)

    def stats() -> FrechetStats:
        factor = rng.normal(size=(dim, dim)) / np.sqrt(dim) * rng.uniform(0.5, 2.0)
        mu = centre + 0.3 * rng.normal(size=dim)
        return FrechetStats(mu=mu.astype(np.float32), sigma=(factor @ factor.T).astype(np.float32), n=1000, extractor="synthetic")

    query = stats()
    return query, {f"dataset-{i:04d}": stats() for i in range(count)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300, help="datasets in the zoo searched, the first --pairs-of of them paired (default 300)")
    parser.add_argument("--dim", type=int, default=512, help="embedding width (default 512)")
    parser.add_argument("--k", type=int, default=5, help="nearest datasets asked for (default 5, recommend's)")
    parser.add_argument("--pairs-of", type=int, default=24, help="datasets whose every pair is measured (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    for name, least in (("datasets", 2), ("dim", 2), ("k", 1), ("pairs_of", 2)):
        if getattr(args, name) < least:
            parser.error(f"argument --{name.replace('_', '-')}: must be at least {least}, got {getattr(args, name)}")
    query, zoo = one_domain(args.datasets, args.dim, args.seed)
    figures: dict[str, float | int] = {"datasets": args.datasets, "dim": args.dim, "k": args.k}

    first = next(iter(zoo.values()))
    started = time.perf_counter()
    frechet_distance(query, first)
    figures["one_pair_s"] = time.perf_counter() - started

    loaded: list[str] = []
    started = time.perf_counter()
    nearest(query, {name: s.mu for name, s in zoo.items()}, lambda name: loaded.append(name) or zoo[name], k=args.k)
    figures["nearest_s"] = time.perf_counter() - started
    figures["nearest_exact_distances"] = len(loaded)

    some = dict(list(zoo.items())[: args.pairs_of])
    started = time.perf_counter()
    pairs = pairwise_distances(some, all_pairs_limit=len(some))
    figures["pairs"] = len(pairs)
    figures["pairs_s"] = time.perf_counter() - started

    print(f"one distance at {args.dim}-d: {figures['one_pair_s']:.3f} s")
    print(f"{args.k} nearest of {args.datasets} datasets of one domain: {figures['nearest_exact_distances']} exact distances, {figures['nearest_s']:.1f} s")
    print(f"every pair of {len(some)} datasets: {figures['pairs']} distances, {figures['pairs_s']:.1f} s ({figures['pairs_s'] / figures['pairs']:.3f} s each)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
