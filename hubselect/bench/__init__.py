"""Throughput of text-to-image pipelines: ``hubselect bench`` and ``hubselect crawl --bench``.

>>> from hubselect.bench import BenchConfig, bench_model
>>> report = bench_model("org/sd-tiny", BenchConfig(steps=4))  # doctest: +SKIP
>>> report.images_per_s  # doctest: +SKIP
41.7
"""

from __future__ import annotations

import logging
from typing import Callable

from hubselect.bench.throughput import BenchConfig, BenchReport, measure_throughput, native_resolution
from hubselect.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["BenchConfig", "BenchReport", "bench_model", "load_pipeline", "measure_throughput", "native_resolution"]


def _weighted_components(files: frozenset[str], index: dict) -> list[str]:
    from hubselect.crawl.safety import components_of

    return [name for name in components_of(index) if any(f.startswith(f"{name}/") and f.endswith(".safetensors") for f in files)]


def _variant_of(path: str) -> str | None:
    # unet/diffusion_pytorch_model.fp16.safetensors (or .fp16-00001-of-00002.) -> "fp16"; no variant -> None
    parts = path.rsplit("/", 1)[-1].split(".")
    return parts[1].split("-")[0] if len(parts) > 2 else None


def _pick_variant(files: frozenset[str], index: dict, dtype: str) -> str | None:
    """``"fp16"`` when the pipeline is to be loaded from its fp16 weights files, else ``None``.

    float16 takes them where every weighted component has them (half the download). Any dtype
    takes them where some component has no other copy (an fp16-only repo): diffusers upcasts
    them to float32 on load, so a CPU benchmark of such a repo runs instead of finding no weights.
    """
    weighted = _weighted_components(files, index)
    variants = {name: {_variant_of(f) for f in files if f.startswith(f"{name}/") and f.endswith(".safetensors")} for name in weighted}
    if not weighted or not all("fp16" in found for found in variants.values()):
        return None
    if dtype == "float16" or any(None not in found for found in variants.values()):
        return "fp16"
    return None


def load_pipeline(
    ref: str, *, revision: str | None = None, dtype: str = "float32", token: str | None = None, check: Callable[[str, str | None], None] | None = None
):
    """Load a diffusers pipeline from a local folder or a Hub id, safetensors only, no repo code.

    Returns ``(pipeline, model_id, revision)``; refuses repos that are pickle-only or need custom code.
    ``ref`` with a ``revision`` is always the Hub repo, even where a folder of that name exists
    (:func:`~hubselect.hub.snapshots.local_folder`). ``check(model_id, revision)``, when given,
    runs once both are known, before any weights are downloaded or loaded: it raises to stop early.
    """
    import torch
    from diffusers import DiffusionPipeline

    from hubselect.hub.models import download_pipeline
    from hubselect.hub.snapshots import check_model, loading_pipeline, local_folder

    reader, index = check_model(ref, revision, token=token, purpose="benchmarked")
    folder = local_folder(ref, revision)
    model_id, sha = (str(folder), None) if folder is not None else (reader.repo_id, reader.revision)
    if check is not None:
        check(model_id, sha)
    variant = _pick_variant(reader.files, index, dtype)
    if folder is None:
        folder = download_pipeline(model_id, revision=sha, variant=variant, token=token)
    # Components recorded as [null, null] (e.g. SD3 without its T5 encoder) must be passed as None explicitly.
    absent = {name: None for name, value in index.items() if isinstance(value, list) and value == [None, None]}
    log.info("loading %s (%s, variant %s)", model_id, dtype, variant)
    with loading_pipeline(folder, model_id):
        pipe = DiffusionPipeline.from_pretrained(
            str(folder), dtype=getattr(torch, dtype), use_safetensors=True, variant=variant, local_files_only=True, **absent
        )
    return pipe, model_id, sha


def bench_model(
    ref: str | None,
    config: BenchConfig,
    *,
    revision: str | None = None,
    random_weights: str | None = None,
    token: str | None = None,
    check: Callable[[str, str | None], None] | None = None,
) -> BenchReport:
    """Measure a pipeline's throughput: a local folder, a Hub id, or an architecture with random weights.

    ``random_weights`` names an architecture from :mod:`hubselect.testing.seed_models` (``sd15`` is
    Stable Diffusion 1.5's): real speed figures without downloading weights. ``check(model_id,
    revision)`` is called with what the report will carry, before anything is loaded or measured
    (e.g. to refuse, at once, figures that could not be recorded where the caller wants them).
    """
    if random_weights:
        from hubselect.testing.seed_models import arch_spec, build_pipeline

        try:
            spec = arch_spec(random_weights)
        except KeyError as exc:
            raise InputError(str(exc.args[0])) from None
        model_id, sha = f"random-weights:{spec.name}", None
        if check is not None:
            check(model_id, sha)
        pipe = build_pipeline(spec, device=config.resolved_device(), torch_dtype=config.torch_dtype())
    elif ref:
        pipe, model_id, sha = load_pipeline(ref, revision=revision, dtype=config.dtype, token=token, check=check)
    else:
        raise InputError("say what to benchmark: a pipeline folder, a Hub id, or --random-weights ARCH")
    try:
        return measure_throughput(pipe, config, model=model_id, revision=sha)
    except RuntimeError as exc:
        message = str(exc).splitlines()[0]
        if "out of memory" in message.lower():
            raise InputError(f"{model_id}: out of memory at this setting; lower --batch or --resolution, or use --dtype float16") from None
        raise
