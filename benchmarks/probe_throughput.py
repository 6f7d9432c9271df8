"""Probe throughput: end-to-end feature extraction vs the raw forward pass on the same batches.

End to end is ``Probe.embed(images)``: decoded RGB images in, float32 embeddings (on the host)
out, with image preprocessing on a background thread overlapping the forward pass. Raw is
``Probe.forward`` alone on the very same batches, preprocessed beforehand and already on the
device. Their ratio says how much the input pipeline costs (the goal is >= 0.9).

Probes are built locally with random weights, so this runs offline:

- ``tiny``: the 2-layer, 32 px CLIP vision tower the tests use (its forward pass is almost
  free, so the ratio measures preprocessing overhead, not a realistic workload);
- ``base``: CLIP ViT-B/32's architecture (``openai/clip-vit-base-patch32``, the default probe);
- any local model folder or cached Hub id.

Images are synthetic photos-like RGB images of mixed sizes, shrunk as decoding shrinks them
(shorter side <= 512 px), or a real dataset with ``--dataset``.

    python benchmarks/probe_throughput.py                      # tiny and base, device auto
    python benchmarks/probe_throughput.py --probe base --device cuda --images 2048 --batch-size 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hubselect.errors import whole_option


def build_probe_folder(name: str, root: Path) -> str:
    if name == "tiny":
        from hubselect.testing.tiny import tiny_clip_vision

        return str(tiny_clip_vision(root / "tiny-clip"))
    if name == "base":
        import torch
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                  image_size=224, patch_size=32, projection_dim=512)
        torch.manual_seed(0)
        folder = root / "clip-vit-base-patch32-random"
        CLIPVisionModelWithProjection(config).save_pretrained(folder)
        CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(folder)
        return str(folder)
    return name


def synthetic_images(count: int, seed: int = 0):
    from PIL import Image

    from hubselect.data.decode import shrink
    from hubselect.testing.tiny import STYLES, style_image

    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        size = (int(rng.integers(320, 1025)), int(rng.integers(320, 1025)))
        image = style_image(STYLES[i % len(STYLES)], rng, (size[0] // 8, size[1] // 8)).resize(size, Image.Resampling.BILINEAR)
        images.append(shrink(image, 512))
    return images


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fns, device, *, min_runs: int, min_seconds: float) -> list[list[float]]:
    """Seconds per run of each of ``fns``, interleaved (A, B, A, B, ...) so that load changes on a
    shared machine hit both alike; repeated until both ``min_runs`` and ``min_seconds`` are met."""
    times: list[list[float]] = [[] for _ in fns]
    started = time.perf_counter()
    while len(times[0]) < min_runs or time.perf_counter() - started < min_seconds:
        for fn, out in zip(fns, times):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - t0)
    return times


def bench(probe_spec: str, images, *, device: str, batch_size: int, min_runs: int, min_seconds: float) -> dict:
    import torch

    from hubselect.probes import load_probe

    probe = load_probe(probe_spec, device=device, batch_size=batch_size)
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    pixel_batches = [probe.preprocess(batch) for batch in batches]

    def raw() -> None:
        with torch.inference_mode():
            for pixels in pixel_batches:
                probe.forward(pixels)

    def end_to_end() -> None:
        probe.embed(images, batch_size=batch_size)

    raw(), end_to_end()  # warm-up: kernels, allocator, thread pools
    raw_times, e2e_times = measure([raw, end_to_end], probe.device, min_runs=min_runs, min_seconds=min_seconds)
    n = len(images)
    raw_rate, e2e_rate = n / statistics.median(raw_times), n / statistics.median(e2e_times)
    return {
        "probe": probe.id,
        "dim": probe.dim,
        "device": str(probe.device),
        "device_name": torch.cuda.get_device_name(probe.device) if probe.device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "images": n,
        "batch_size": batch_size,
        "raw_images_per_s": round(raw_rate, 1),
        "end_to_end_images_per_s": round(e2e_rate, 1),
        "ratio": round(e2e_rate / raw_rate, 3),
        "runs": {"raw": len(raw_times), "end_to_end": len(e2e_times)},
        "end_to_end_batch_latency_ms": {
            "mean": round(1000 * statistics.mean(e2e_times) / len(batches), 2),
            "p50": round(1000 * statistics.median(e2e_times) / len(batches), 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="append", help="tiny, base, a model folder or a cached Hub id (repeatable; default: tiny and base)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=whole_option(1), default=None, help="images per run (default: 64 on CPU, 2048 on GPU)")
    parser.add_argument("--batch-size", type=whole_option(1), default=None, help="default: 32 on CPU, 128 on GPU")
    parser.add_argument("--dataset", default=None, help="sample images from this dataset (folder, parquet, Hub id) instead of synthetic ones")
    parser.add_argument("--min-runs", type=whole_option(1), default=5, help="timed runs of each, at least (at least 1)")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="and at least this long")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)

    from hubselect.errors import HubselectError
    from hubselect.probes import pick_device

    try:
        on_gpu = pick_device(args.device).type == "cuda"
    except HubselectError as error:
        parser.error(str(error))
    count = args.images if args.images is not None else (2048 if on_gpu else 64)
    batch_size = args.batch_size if args.batch_size is not None else (128 if on_gpu else 32)
    try:
        return run(args, count, batch_size)
    except HubselectError as error:  # a --dataset or --probe it cannot read
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, count: int, batch_size: int) -> int:
    if args.dataset:
        from hubselect.data.sample import load_dataset_sample

        images = load_dataset_sample(args.dataset, n=count, progress=False).images
    else:
        images = synthetic_images(count)
    results = []
    with tempfile.TemporaryDirectory(prefix="hubselect-bench-") as tmp:
        for name in args.probe or ["tiny", "base"]:
            spec = build_probe_folder(name, Path(tmp))
            result = bench(spec, images, device=args.device, batch_size=batch_size, min_runs=args.min_runs, min_seconds=args.min_seconds)
            result["probe"] = name if name in ("tiny", "base") else result["probe"]
            results.append(result)
            if not args.json:
                print(
                    f"{result['probe']:>6}  {result['device_name']:<28} batch {batch_size:>4}  "
                    f"raw {result['raw_images_per_s']:>9.1f} img/s  end-to-end {result['end_to_end_images_per_s']:>9.1f} img/s  "
                    f"ratio {result['ratio']:.3f}",
                    flush=True,
                )
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
