"""Diffusers text-to-image pipelines: architecture, parameter counts and provenance, without weights.

Per repo the crawler reads, at the listed commit: ``model_index.json``, the denoiser's config,
the scheduler's config, and the safetensors header of every weighted component (parameter
counts). Everything else (license, gating, downloads, likes, dates, base model) comes from the
listing. Repos whose weights are only pickles, or that need their own code, are recorded with a
flag and an ``excluded_reason`` and never read further; no code from a repo is ever run.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Mapping

from crawlers.base import Crawler, RepoReader, Skipped, listing_features, note
from hubselect.crawl.safety import NOT_FLAGGED, components_of, library_exports, remote_code_reasons, unsafe_reasons
from hubselect.hub.models import RepoReadError, files_under
from hubselect.zoo import ModelRecord

log = logging.getLogger(__name__)

#: Components that can hold the denoiser, most specific first.
DENOISER_COMPONENTS = ("unet", "transformer", "prior", "decoder")
TEXT_ENCODER_COMPONENTS = ("text_encoder", "text_encoder_2", "text_encoder_3")

#: Pipeline class → model family (anything else: the class name without "Pipeline", lowercased).
FAMILIES = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
    "PixArtAlphaPipeline": "pixart-alpha",
    "PixArtSigmaPipeline": "pixart-sigma",
    "KandinskyV22Pipeline": "kandinsky-2.2",
    "LatentConsistencyModelPipeline": "lcm",
    "SanaPipeline": "sana",
    "AuraFlowPipeline": "auraflow",
    "HunyuanDiTPipeline": "hunyuan-dit",
}

#: Canonical weights file names of a diffusers / transformers component.
CANONICAL_WEIGHTS = ("diffusion_pytorch_model.safetensors", "model.safetensors")


def _variant(path: str) -> str | None:
    # diffusion_pytorch_model.fp16.safetensors -> "fp16"; diffusion_pytorch_model.safetensors -> None
    stem = path.rsplit("/", 1)[-1].split(".")
    return stem[1].split("-")[0] if len(stem) > 2 else None


def weights_files(reader: RepoReader, component: str) -> list[str]:
    """The safetensors files holding one copy of a component's weights (preferring the full-precision one).

    Raises :class:`RepoReadError` when the component has none or its shard index cannot be read.
    """
    under = files_under(reader.files, component)
    single = [f for f in under if f.endswith(".safetensors")]
    indexes = [f for f in under if f.endswith(".safetensors.index.json")]
    for candidates in (
        [f for f in single if _variant(f) is None and "-of-" not in f],
        [f for f in indexes if _variant(f.removesuffix(".index.json")) is None],
        [f for f in single if _variant(f) == "fp16" and "-of-" not in f],
        [f for f in indexes if _variant(f.removesuffix(".index.json")) == "fp16"],
    ):
        if candidates:
            canonical = [f for f in candidates if f.rsplit("/", 1)[-1] in CANONICAL_WEIGHTS]
            chosen = sorted(canonical or candidates)[0]
            if chosen.endswith(".index.json"):
                weight_map = reader.read_json(chosen).get("weight_map") or {}
                return sorted({f"{component}/{shard}" for shard in weight_map.values()})
            return [chosen]
    if single:
        raise RepoReadError(f"{component}: cannot tell which of {len(single)} safetensors files is the weights")
    raise RepoReadError(f"{component}: no safetensors weights")


_BUFFER_CACHE: dict[str, frozenset[str]] = {}


def persistent_buffers(class_name: str, config: Mapping[str, Any]) -> frozenset[str]:
    """Names of the persistent buffers of a diffusers model class (stored in checkpoints, not parameters).

    Found by building the class from its config on the meta device (no memory, no weights, no
    repo code); cached per class. E.g. SD3's transformer stores its sin-cos position table.
    """
    if class_name in _BUFFER_CACHE:
        return _BUFFER_CACHE[class_name]
    import diffusers
    import torch

    cls = getattr(diffusers, class_name, None) if class_name in library_exports("diffusers") else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.ModelMixin)):
        return frozenset()
    if _implausible(config):
        log.warning("%s config has implausibly large sizes; counting all its stored tensors as parameters", class_name)
        return frozenset()
    try:
        with torch.device("meta"):
            model = cls.from_config(dict(config))
    except Exception as exc:  # a config this diffusers cannot build: count every stored tensor
        log.info("cannot build %s from its config on the meta device (%s); counting all stored tensors", class_name, exc)
        return frozenset()
    stored = set(model.state_dict())
    _BUFFER_CACHE[class_name] = frozenset(n for n, _ in model.named_buffers() if n in stored)
    return _BUFFER_CACHE[class_name]


def _implausible(config: Mapping[str, Any]) -> bool:
    # Building on the meta device allocates nothing, but a config asking for millions of layers
    # would still take forever to build: such a config is not worth trusting.
    for key, value in config.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and (v > 65536 or ("layers" in key and v > 512)):
                return True
    return False


def count_parameters(headers: list[Any], exclude: frozenset[str] = frozenset()) -> tuple[int, str | None]:
    """(floating-point parameters stored, dominant dtype) over the headers of one component's files.

    Integer tensors (e.g. old CLIP checkpoints' ``position_ids``) and the ``exclude`` buffers are not parameters.
    """
    total, dtypes = 0, Counter()
    for header in headers:
        for name, tensor in header.tensors.items():
            if name in exclude or not tensor.dtype.startswith(("F", "BF")):
                continue
            total += tensor.parameter_count
            dtypes[tensor.dtype] += tensor.parameter_count
    return total, (dtypes.most_common(1)[0][0] if dtypes else None)


def _first_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
        return max(value)
    return None


def denoiser_features(config: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture of a UNet or transformer denoiser from its ``config.json``."""
    cls = str(config.get("_class_name") or "")
    channels = config.get("block_out_channels")
    if isinstance(channels, (list, tuple)) and channels:
        layers = config.get("layers_per_block", 1)
        per_block = list(layers) if isinstance(layers, (list, tuple)) else [layers] * len(channels)
        width, depth = max(channels), int(sum(per_block))
        family = "unet"
        heads = _first_int(config.get("num_attention_heads"))
        channels_text = ",".join(str(c) for c in channels)
    else:
        heads = _first_int(config.get("num_attention_heads"))
        head_dim = _first_int(config.get("attention_head_dim"))
        width = heads * head_dim if heads and head_dim else _first_int(config.get("hidden_size"))
        depth = (_first_int(config.get("num_layers")) or 0) + (_first_int(config.get("num_single_layers")) or 0) or None
        family = "transformer" if "Transformer" in cls or "DiT" in cls else (cls.lower() or None)
        channels_text = None
    cross = config.get("cross_attention_dim")
    if cross is None:
        cross = config.get("joint_attention_dim") or config.get("caption_channels")
    return {
        "denoiser_class": cls or None,
        "denoiser_family": family,
        "denoiser_width": width,
        "denoiser_depth": depth,
        "block_out_channels": channels_text,
        "attention_head_dim": _first_int(config.get("attention_head_dim")),
        "num_attention_heads": heads,
        "cross_attention_dim": _first_int(cross),
        "sample_size": _first_int(config.get("sample_size")),
        "in_channels": _first_int(config.get("in_channels")),
        "patch_size": _first_int(config.get("patch_size")),
        "conditioning": config.get("addition_embed_type") or None,
    }


def vae_features(header: Any) -> dict[str, Any]:
    """Latent channels and spatial downscale of an AutoencoderKL, from its tensor shapes."""
    tensors = header.tensors
    conv_in = tensors.get("decoder.conv_in.weight")
    latent = conv_in.shape[1] if conv_in is not None and len(conv_in.shape) == 4 else None
    ups = {name.split(".")[2] for name in tensors if name.startswith("decoder.up_blocks.")}
    scale = 2 ** (len(ups) - 1) if ups else None
    return {"latent_channels": latent, "vae_scale_factor": scale}


class T2ICrawler(Crawler):
    """Diffusers text-to-image pipelines (``pipeline_tag=text-to-image``, library diffusers)."""

    name = "t2i"
    description = "diffusers text-to-image pipelines: configs and safetensors headers, never weights"

    def listing(self, *, search: str | None = None) -> Mapping[str, Any]:
        return {"filter": "diffusers", "pipeline_tag": "text-to-image", "search": search, "sort": "downloads"}

    def record(self, reader: RepoReader) -> ModelRecord | Skipped:
        repo = reader.repo_id
        if "model_index.json" not in reader.files:
            return Skipped(repo, reader.revision, "no model_index.json: not a diffusers pipeline (a LoRA or single-file checkpoint?)")
        info = reader.info
        card = info.card_data.to_dict() if info is not None and info.card_data is not None else {}
        notes: list[str] = []
        transient = False
        features: dict[str, Any] = {"kind": "t2i", **listing_features(info), "safety_flag": NOT_FLAGGED, "excluded_reason": NOT_FLAGGED}

        def done() -> ModelRecord:
            features["crawl_complete"] = not transient
            features["crawl_notes"] = "; ".join(notes) or None
            return ModelRecord(repo, revision=reader.revision, features=features)

        # Safety first, from the file list alone (no request).
        code = remote_code_reasons(reader.files, None, card)
        if code:
            return self._flag(repo, features, "remote_code", "needs custom code: " + "; ".join(code), done)

        try:
            index = reader.read_json("model_index.json")
        except RepoReadError as exc:
            if exc.gated:
                return self._flag(repo, features, "gated", exc.reason, done)
            transient = exc.transient
            note(notes, f"model_index.json unreadable: {exc.reason}", repo)
            return done()

        pipeline_class = index.get("_class_name")
        features["pipeline_class"] = pipeline_class if isinstance(pipeline_class, str) else str(pipeline_class)
        features["architecture"] = FAMILIES.get(features["pipeline_class"]) or features["pipeline_class"].removesuffix("Pipeline").lower()
        components = components_of(index)
        problems = unsafe_reasons(reader.files, index, card)
        if problems:
            return self._flag(repo, features, problems[0][0], "; ".join(reason for _, reason in problems), done)

        for name in TEXT_ENCODER_COMPONENTS + ("vae",):
            if name in components:
                features[f"{name}_class"] = components[name][1]
        features["num_text_encoders"] = sum(1 for n in TEXT_ENCODER_COMPONENTS if n in components)
        denoiser = next((n for n in DENOISER_COMPONENTS if n in components), None)
        features["denoiser"] = denoiser

        denoiser_config: dict[str, Any] = {}
        if denoiser is None:
            note(notes, "no denoiser component (unet/transformer) in model_index.json", repo)
        else:
            try:
                denoiser_config = reader.read_json(f"{denoiser}/config.json")
                features.update(denoiser_features(denoiser_config))
            except RepoReadError as exc:
                transient |= exc.transient
                note(notes, f"{denoiser} config unreadable: {exc.reason}", repo)

        scheduler = components.get("scheduler", (None, None))[1]
        features["scheduler"] = scheduler
        features["prediction_type"] = None
        if "scheduler" in components:
            try:
                scheduler_config = reader.read_json("scheduler/scheduler_config.json")
                features["scheduler"] = scheduler_config.get("_class_name") or scheduler
                features["prediction_type"] = scheduler_config.get("prediction_type") or (
                    "flow_matching" if "FlowMatch" in str(features["scheduler"]) else None
                )
            except RepoReadError as exc:
                transient |= exc.transient
                note(notes, f"scheduler config unreadable: {exc.reason}", repo)

        # Parameter counts from safetensors headers: a few kB per component, never the weights.
        weighted = [n for n in components if any(f.endswith(".safetensors") for f in files_under(reader.files, n))]
        total = 0
        for name in weighted:
            try:
                headers = [reader.read_safetensors_header(path) for path in weights_files(reader, name)]
            except RepoReadError as exc:
                transient |= exc.transient
                features[f"{name}_params"] = None
                note(notes, f"{name} parameters unknown: {exc.reason}", repo)
                total = None
                continue
            exclude = frozenset()
            if name == denoiser and denoiser_config.get("_class_name"):
                exclude = persistent_buffers(denoiser_config["_class_name"], denoiser_config)
            count, dtype = count_parameters(headers, exclude)
            features[f"{name}_params"] = count
            if name == denoiser:
                features["denoiser_params"] = count
                features["weights_dtype"] = dtype
            if name == "vae":
                features.update(vae_features(headers[0]))
            if total is not None:
                total += count
        features["text_encoders_params"] = (
            sum(features.get(f"{n}_params") or 0 for n in TEXT_ENCODER_COMPONENTS if n in weighted)
            if all(features.get(f"{n}_params") is not None for n in TEXT_ENCODER_COMPONENTS if n in weighted)
            else None
        )
        features["total_params"] = total if weighted else None
        if features.get("latent_channels") is None:
            features["latent_channels"] = features.get("in_channels")
        scale = features.get("vae_scale_factor")
        sample = features.get("sample_size")
        features["resolution"] = sample * scale if sample and scale else None
        if features["resolution"] is None:
            note(notes, "native resolution unknown (needs the denoiser's sample_size and the VAE's downscale)", repo)
        return done()

    @staticmethod
    def _flag(repo: str, features: dict[str, Any], flag: str, reason: str, done) -> ModelRecord:
        log.warning("%s: %s", repo, reason)
        features["safety_flag"] = flag
        features["excluded_reason"] = reason
        return done()

