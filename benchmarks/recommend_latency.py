"""Where the time of `hubselect recommend` goes, on a synthetic zoo of 1,000 models × 1,000 datasets.

Builds (once per size, under --workdir: a folder per --models, --datasets and --per-dataset, an
image folder per --images) a synthetic zoo whose datasets carry Fréchet statistics made with
a tiny local CLIP probe, a ranker fitted on it, and a folder of --images (64) local images; then

- warm, in-process: calls ``hubselect.recommend`` repeatedly (a new sample seed each time, so
  the dataset is really read, decoded and embedded: no embedding-cache hit) and prints the
  median time of each phase — load (zoo, ranker), fetch, decode, probe load, probe forward,
  match, rank — and the total without the probe forward (goal: ≤ 1 s);
- cold: times the whole CLI call in a fresh process (goal: ≤ 15 s on 2 cores).

    python benchmarks/recommend_latency.py [--models 1000] [--datasets 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hubselect.data.refs import DEFAULT_MIN_IMAGES
from hubselect.errors import whole_option


def synthetic_zoo(folder: Path, probe_dir: Path, n_models: int, n_datasets: int, per_dataset: int, seed: int = 0) -> Path:
    """Datasets in clusters (near in embedding space within a cluster), each profiled with
    ``per_dataset`` models; a model's FID depends on its affinity to the dataset's cluster."""
    from hubselect.data.profile import artefact_names
    from hubselect.metrics.frechet import FrechetStats
    from hubselect.probes import resolve_probe
    from hubselect.zoo import DatasetRecord, DistanceRecord, ModelRecord, ProfileRecord, Zoo, ZooMeta

    rng = np.random.default_rng(seed)
    probe = resolve_probe(str(probe_dir))
    dim = 16
    clusters = max(2, n_datasets // 25)
    centres = rng.normal(0, 1.0, (clusters, dim))
    cluster_of = rng.integers(0, clusters, n_datasets)
    means = centres[cluster_of] + rng.normal(0, 0.15, (n_datasets, dim))
    affinity = rng.normal(0, 1, (n_models, clusters))
    quality = rng.normal(0, 1, n_models)

    zoo = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
    models = [f"synthetic/model-{i:04d}" for i in range(n_models)]
    zoo.add_models(ModelRecord(m, "0" * 40, {"total_params": int(rng.integers(1e8, 3e9)), "license": "openrail"}) for m in models)
    datasets = [f"synthetic/dataset-{j:04d}" for j in range(n_datasets)]
    records = []
    for j, name in enumerate(datasets):
        chosen = rng.choice(n_models, per_dataset, replace=False)
        fid = 40 - 6 * affinity[chosen, cluster_of[j]] - 3 * quality[chosen] + rng.normal(0, 1.5, per_dataset)
        records += [ProfileRecord(models[i], name, float(f), method="lora") for i, f in zip(chosen, fid)]
        base = rng.normal(0, 0.3, (dim, dim))
        stats = FrechetStats(mu=means[j].astype(np.float32), sigma=(base @ base.T / dim + 0.05 * np.eye(dim)).astype(np.float32), n=200)
        stats_name, provenance_name = artefact_names(name, probe.id)
        zoo.put_artefact(stats_name, stats.to_bytes())
        provenance = {"dataset": name, "revision": "synthetic", "probe": probe.id, "probe_revision": probe.revision, "embedding_dim": dim}
        zoo.put_artefact(provenance_name, json.dumps(provenance).encode())
    zoo.add_profiles(records)
    zoo.add_datasets(DatasetRecord(name, "synthetic", {"images": 200}) for name in datasets)
    # Distances to each dataset's 10 nearest (by mean embedding), as a large zoo stores them.
    gaps = ((means[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    order = np.argsort(gaps, axis=1)[:, 1:11]
    zoo.add_distances(
        DistanceRecord(datasets[a], datasets[b], float(gaps[a, b])) for a in range(n_datasets) for b in order[a] if a < b or a not in order[b]
    )
    return zoo.save(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=whole_option(2), default=1000)
    parser.add_argument("--datasets", type=whole_option(2), default=1000)
    parser.add_argument("--per-dataset", type=whole_option(2), default=20, help="models profiled per dataset (2 to --models: a ranker learns from datasets with two results or more)")
    parser.add_argument("--images", type=whole_option(DEFAULT_MIN_IMAGES), default=64, help=f"at least {DEFAULT_MIN_IMAGES}, as recommend asks")
    parser.add_argument("--repeats", type=whole_option(1), default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hubselect-recommend-latency")
    args = parser.parse_args()
    if args.per_dataset > args.models:
        parser.error(f"--per-dataset {args.per_dataset} is more than --models {args.models}: each dataset is profiled with distinct models")

    from hubselect import constants
    from hubselect.testing.tiny import tiny_clip_vision, write_image_folder

    # Keyed on every option that shapes the zoo: a rerun with another --per-dataset timed the
    # zoo of the first run, silently.
    work = args.workdir / f"{args.models}x{args.datasets}x{args.per_dataset}"
    # The zoo, ranker, probe and images are kept between runs; the embedding caches are not, so a
    # rerun reads, decodes and embeds the images again instead of timing cache hits.
    for cache in ("cache", "cold-cache"):
        shutil.rmtree(work / cache, ignore_errors=True)
    os.environ["HUBSELECT_CACHE"] = str(work / "cache")
    constants.CACHE_DIR = work / "cache"
    probe_dir = work / "probe"
    if not (probe_dir / "config.json").exists():
        tiny_clip_vision(probe_dir, seed=0)
    images = args.workdir / f"images-{args.images}"
    if not (images / "metadata.jsonl").exists():  # written last: a folder without it was cut short
        write_image_folder(images, args.images, style="cool", seed=3)
    zoo_dir, ranker_dir = work / "zoo", work / "ranker"
    size = f"{args.models} models × {args.datasets} datasets, {args.per_dataset} results per dataset"
    if not (zoo_dir / "zoo.json").exists():
        started = time.perf_counter()
        synthetic_zoo(zoo_dir, probe_dir, args.models, args.datasets, args.per_dataset)
        print(f"synthetic zoo ({size}) built in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    else:
        print(f"synthetic zoo ({size}) reused from {zoo_dir}", file=sys.stderr)
    from hubselect.errors import HubselectError
    from hubselect.rank import Ranker

    try:
        Ranker.load(ranker_dir)
    except HubselectError:  # none yet, or one this hubselect cannot read (an older format): fit it again
        from hubselect.zoo import Zoo

        started = time.perf_counter()
        ranker = Ranker.fit(Zoo.load(zoo_dir))
        if not (ranker_dir / "ranker.json").is_file():
            shutil.rmtree(ranker_dir, ignore_errors=True)  # a save cut short: Ranker.save refuses such a folder
        ranker.save(ranker_dir)
        print(f"ranker fitted in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    from hubselect.recommendation import recommend

    common = dict(zoo=str(zoo_dir), ranker=str(ranker_dir), probe=str(probe_dir), n=args.images, top_k=10)
    recommend(str(images), seed=10_000, **common)  # warm-up: imports, first loads
    runs = [recommend(str(images), seed=seed, **common).timings for seed in range(args.repeats)]
    phases = ["load", "fetch", "decode", "probe_load", "probe", "match", "rank"]
    medians = {p: statistics.median(r.get(p, 0.0) for r in runs) for p in phases}
    without_probe = sum(v for p, v in medians.items() if p != "probe")
    print(f"\nwarm in-process recommend, {args.images} local images, zoo of {size}, median of {args.repeats}:")
    for phase in phases:
        print(f"  {phase:<11} {medians[phase] * 1000:8.1f} ms")
    print(f"  {'all but probe forward':<22} {without_probe * 1000:8.1f} ms   (goal ≤ 1000 ms)")

    command = [sys.executable, "-m", "hubselect", "recommend", str(images), "--zoo", str(zoo_dir), "--ranker", str(ranker_dir),
               "--probe", str(probe_dir), "--n", str(args.images), "--seed", "777", "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HUBSELECT_CACHE": str(work / "cold-cache")})
    cold = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"cold CLI call failed: {done.stderr.strip().splitlines()[-1]}")
    print(f"  cold CLI call (new process, empty embedding cache): {cold:.2f} s   (goal ≤ 15 s)")


if __name__ == "__main__":
    main()
