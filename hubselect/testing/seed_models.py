"""Tiny text-to-image pipelines and LoRA adapters, built from configs with random weights.

They stand in for Hub checkpoints wherever nothing can be downloaded: tests seed the loopback
Hub with them through real uploads, the profiler and the demo run them on CPU, and
:func:`build_pipeline` with :data:`SD15` gives a full-size Stable Diffusion 1.5 architecture
(random weights) for GPU throughput figures without a download.

Every builder is deterministic for a given seed, so identical components (a shared VAE, a shared
text encoder) produce byte-identical files.

>>> pipe = build_pipeline("sd-tiny-ddim")  # doctest: +SKIP
>>> pipe("a photo of a cat", num_inference_steps=2, output_type="np").images.shape  # doctest: +SKIP
(1, 16, 16, 3)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

#: Two special tokens of CLIP's vocabulary; every CLIP text model below expects them first.
BOS, EOS = "<|startoftext|>", "<|endoftext|>"

#: A handful of merges so that common prompt words become single tokens (any order is valid BPE).
_MERGE_WORDS = ("a", "photo", "of", "the", "cat", "dog", "sks", "style", "painting", "in")


def _byte_alphabet() -> list[str]:
    # GPT-2/CLIP byte-level alphabet: one printable character per byte value.
    from tokenizers.pre_tokenizers import ByteLevel

    return sorted(ByteLevel.alphabet())


def tiny_clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A deterministic CLIP BPE vocabulary (byte alphabet, ``</w>`` forms, a few merges).

    BPE training is not deterministic across processes, so the vocabulary is written by hand.
    """
    alphabet = _byte_alphabet()
    tokens = [BOS, EOS, *alphabet, *(c + "</w>" for c in alphabet)]
    merges: list[tuple[str, str]] = []
    for word in _MERGE_WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merged = left + right
            if (left, right) not in merges:
                merges.append((left, right))
            if merged not in tokens:
                tokens.append(merged)
            pieces = [merged, *pieces[2:]]
    return {token: i for i, token in enumerate(tokens)}, merges


def tiny_clip_tokenizer(path: str | os.PathLike | None = None, *, model_max_length: int = 77):
    """A small CLIP tokenizer (about 550 tokens); saved to ``path`` when given.

    >>> tok = tiny_clip_tokenizer()
    >>> tok("a photo of a cat").input_ids[:2]
    [0, 322]
    """
    from transformers import CLIPTokenizer

    vocab, merges = tiny_clip_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
    if path is not None:
        tokenizer.save_pretrained(str(path))
    return tokenizer


# -- architecture specs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TextEncoderSpec:
    hidden_size: int = 16
    layers: int = 1
    heads: int = 2
    projection_dim: int | None = None  # set: CLIPTextModelWithProjection (SDXL's 2nd, SD3)
    vocab_size: int = 1000
    intermediate_size: int | None = None
    max_position_embeddings: int = 77
    hidden_act: str = "gelu"

    def config(self):
        from transformers import CLIPTextConfig

        return CLIPTextConfig(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size or 2 * self.hidden_size,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            projection_dim=self.projection_dim or self.hidden_size,
            hidden_act=self.hidden_act,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )


@dataclass(frozen=True)
class VaeSpec:
    block_out_channels: tuple[int, ...] = (8, 16)
    latent_channels: int = 4
    norm_num_groups: int = 4
    layers_per_block: int = 1
    scaling_factor: float = 0.18215
    shift_factor: float | None = None
    use_quant_conv: bool = True


@dataclass(frozen=True)
class ArchSpec:
    """What a tiny (or full-size) pipeline is made of.

    ``family`` picks the pipeline: ``sd`` (UNet + one CLIP text encoder), ``sdxl`` (UNet with
    text-time conditioning + two CLIP text encoders), ``sd3`` (MMDiT transformer + two CLIP text
    encoders with projection, no T5).
    """

    name: str
    family: str = "sd"
    block_out_channels: tuple[int, ...] = (8, 16)
    layers_per_block: int = 1
    attention_head_dim: int | tuple[int, ...] = 2
    cross_attention_dim: int = 16
    sample_size: int = 8
    norm_num_groups: int = 4
    transformer_layers: int = 1  # sd3: MMDiT blocks; sdxl: transformer layers per cross-attn block
    scheduler: str = "DDIMScheduler"
    prediction_type: str = "epsilon"
    text_encoder: TextEncoderSpec = field(default_factory=TextEncoderSpec)
    text_encoder_2: TextEncoderSpec | None = None
    vae: VaeSpec = field(default_factory=VaeSpec)


#: Tiny architectures, each a different shape of the same idea; all run on CPU in milliseconds.
TINY_ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("sd-tiny-ddim"),
        ArchSpec(
            "sd-tiny-wide",
            block_out_channels=(16, 32),
            attention_head_dim=4,
            cross_attention_dim=32,
            text_encoder=TextEncoderSpec(hidden_size=32, layers=2, heads=4),
            scheduler="PNDMScheduler",
        ),
        ArchSpec(
            "sd-tiny-deep",
            block_out_channels=(8, 16, 16),
            layers_per_block=2,
            sample_size=16,
            scheduler="EulerDiscreteScheduler",
        ),
        ArchSpec(
            "sd-tiny-vpred",
            block_out_channels=(8, 16),
            attention_head_dim=4,
            cross_attention_dim=24,
            text_encoder=TextEncoderSpec(hidden_size=24, layers=1, heads=2),
            scheduler="DPMSolverMultistepScheduler",
            prediction_type="v_prediction",
        ),
        ArchSpec(
            "sdxl-tiny",
            family="sdxl",
            block_out_channels=(8, 16),
            attention_head_dim=(2, 4),
            cross_attention_dim=32,  # = hidden sizes of both text encoders, concatenated
            text_encoder=TextEncoderSpec(hidden_size=16),
            text_encoder_2=TextEncoderSpec(hidden_size=16, projection_dim=16),
            scheduler="EulerDiscreteScheduler",
        ),
        ArchSpec(
            "sd3-tiny",
            family="sd3",
            block_out_channels=(),
            attention_head_dim=8,
            cross_attention_dim=32,  # joint attention dim; >= both CLIP hidden sizes together
            sample_size=8,
            transformer_layers=1,
            text_encoder=TextEncoderSpec(hidden_size=16, projection_dim=16),
            text_encoder_2=TextEncoderSpec(hidden_size=16, projection_dim=16),
            vae=VaeSpec(latent_channels=4, scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False),
            scheduler="FlowMatchEulerDiscreteScheduler",
            prediction_type="flow",
        ),
    )
}

#: Stable Diffusion 1.5's architecture (860M UNet, 123M CLIP ViT-L/14 text encoder, 84M VAE).
SD15 = ArchSpec(
    "sd15",
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    attention_head_dim=8,
    cross_attention_dim=768,
    sample_size=64,
    norm_num_groups=32,
    scheduler="PNDMScheduler",
    text_encoder=TextEncoderSpec(
        hidden_size=768, layers=12, heads=12, intermediate_size=3072, vocab_size=49408, hidden_act="quick_gelu"
    ),
    vae=VaeSpec(block_out_channels=(128, 256, 512, 512), norm_num_groups=32, layers_per_block=2),
)

FULL_SIZE_ARCHS = {"sd15": SD15}


def arch_spec(name: str) -> ArchSpec:
    """The spec called ``name`` (a tiny one or a full-size one such as ``sd15``)."""
    specs = {**TINY_ARCHS, **FULL_SIZE_ARCHS}
    if name not in specs:
        raise KeyError(f"unknown architecture {name!r}; choose one of: {', '.join(specs)}")
    return specs[name]


# -- building ------------------------------------------------------------------------------------


def _seeded(seed: int):
    import torch

    torch.manual_seed(seed)


def _scheduler(spec: ArchSpec):
    import diffusers

    cls = getattr(diffusers, spec.scheduler)
    if spec.family == "sd3":
        return cls(shift=3.0)
    kwargs: dict[str, Any] = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1}
    if spec.scheduler == "PNDMScheduler":
        kwargs["skip_prk_steps"] = True
    if spec.scheduler == "DDIMScheduler":
        kwargs.update(clip_sample=False, set_alpha_to_one=False)
    return cls(prediction_type=spec.prediction_type, **kwargs)


def _vae(spec: VaeSpec, seed: int):
    from diffusers import AutoencoderKL

    _seeded(seed)
    n = len(spec.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=spec.block_out_channels,
        layers_per_block=spec.layers_per_block,
        latent_channels=spec.latent_channels,
        norm_num_groups=spec.norm_num_groups,
        scaling_factor=spec.scaling_factor,
        shift_factor=spec.shift_factor,
        use_quant_conv=spec.use_quant_conv,
        use_post_quant_conv=spec.use_quant_conv,
    )


def _text_encoder(spec: TextEncoderSpec, seed: int):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    _seeded(seed)
    cls = CLIPTextModelWithProjection if spec.projection_dim else CLIPTextModel
    return cls(spec.config()).eval()


def _unet(spec: ArchSpec, seed: int):
    from diffusers import UNet2DConditionModel

    _seeded(seed)
    n = len(spec.block_out_channels)
    down = ("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1)
    kwargs: dict[str, Any] = {}
    if spec.family == "sdxl":
        time_dim = 8
        kwargs.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=time_dim,
            # six micro-conditioning numbers, each embedded, plus the pooled 2nd text embedding
            projection_class_embeddings_input_dim=6 * time_dim + spec.text_encoder_2.projection_dim,
            use_linear_projection=True,
            transformer_layers_per_block=spec.transformer_layers,
        )
    return UNet2DConditionModel(
        sample_size=spec.sample_size,
        in_channels=spec.vae.latent_channels,
        out_channels=spec.vae.latent_channels,
        block_out_channels=spec.block_out_channels,
        layers_per_block=spec.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=spec.cross_attention_dim,
        attention_head_dim=spec.attention_head_dim,
        norm_num_groups=spec.norm_num_groups,
        **kwargs,
    )


def _sd3_transformer(spec: ArchSpec, seed: int):
    from diffusers import SD3Transformer2DModel

    _seeded(seed)
    heads = 2
    return SD3Transformer2DModel(
        sample_size=spec.sample_size,
        patch_size=1,
        in_channels=spec.vae.latent_channels,
        out_channels=spec.vae.latent_channels,
        num_layers=spec.transformer_layers,
        attention_head_dim=spec.attention_head_dim,
        num_attention_heads=heads,
        caption_projection_dim=heads * spec.attention_head_dim,
        joint_attention_dim=spec.cross_attention_dim,
        pooled_projection_dim=spec.text_encoder.projection_dim + spec.text_encoder_2.projection_dim,
        pos_embed_max_size=spec.sample_size,
    )


def build_pipeline(spec: ArchSpec | str, *, seed: int = 0, torch_dtype=None, device: str | None = None):
    """A diffusers pipeline of architecture ``spec`` with random weights (seeded).

    Components that only depend on their own spec (VAE, text encoders) are seeded on their own,
    so two pipelines sharing a VAE spec share the VAE's bytes. ``device`` builds the weights
    directly there (a full-size UNet initialises in seconds on a GPU, not a minute on CPU).

    >>> pipe = build_pipeline("sd-tiny-ddim")
    >>> type(pipe).__name__, pipe.unet.config.block_out_channels
    ('StableDiffusionPipeline', (8, 16))
    """
    import torch

    spec = arch_spec(spec) if isinstance(spec, str) else spec
    with torch.device(device or "cpu"):
        pipe = _build(spec, seed)
    if torch_dtype is not None and torch_dtype != torch.float32:  # built in float32; casting to it only warns
        pipe = pipe.to(dtype=torch_dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _build(spec: ArchSpec, seed: int):
    import diffusers

    tokenizer = tiny_clip_tokenizer()
    vae = _vae(spec.vae, seed)
    text_encoder = _text_encoder(spec.text_encoder, seed + 1)
    if spec.family == "sd":
        pipe = diffusers.StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=_unet(spec, seed + 3),
            scheduler=_scheduler(spec),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    elif spec.family == "sdxl":
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=_text_encoder(spec.text_encoder_2, seed + 2),
            tokenizer=tokenizer,
            tokenizer_2=tiny_clip_tokenizer(),
            unet=_unet(spec, seed + 3),
            scheduler=_scheduler(spec),
        )
    elif spec.family == "sd3":
        pipe = diffusers.StableDiffusion3Pipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=_text_encoder(spec.text_encoder_2, seed + 2),
            text_encoder_3=None,
            tokenizer=tokenizer,
            tokenizer_2=tiny_clip_tokenizer(),
            tokenizer_3=None,
            transformer=_sd3_transformer(spec, seed + 3),
            scheduler=_scheduler(spec),
        )
    else:
        raise ValueError(f"unknown family {spec.family!r}")
    return pipe


def save_tiny_pipeline(path: str | os.PathLike, spec: ArchSpec | str, *, seed: int = 0, card: str | None = None) -> Path:
    """Build a pipeline and save it as a Hub-ready diffusers folder (safetensors, model card).

    >>> save_tiny_pipeline("/tmp/sd-tiny", "sd-tiny-ddim")  # doctest: +SKIP
    PosixPath('/tmp/sd-tiny')
    """
    spec = arch_spec(spec) if isinstance(spec, str) else spec
    folder = Path(path)
    pipe = build_pipeline(spec, seed=seed)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    _record_absent_components(pipe, folder)
    (folder / "README.md").write_text(
        card
        or _card(
            {"license": "apache-2.0", "library_name": "diffusers", "pipeline_tag": "text-to-image", "tags": ["hubselect-tiny", spec.family]},
            f"# {spec.name}\n\nA tiny {spec.family} pipeline with random weights, for tests.\n",
        ),
        encoding="utf-8",
    )
    return folder


def _record_absent_components(pipe, folder: Path) -> None:
    # save_pretrained leaves components that are None (SD3 without T5) out of model_index.json,
    # and from_pretrained then refuses the folder; the Hub's SD3 repos write them as [null, null].
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    for name, module in pipe.components.items():
        if module is None and name not in index:
            index[name] = [None, None]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def _card(metadata: dict[str, Any], body: str) -> str:
    from huggingface_hub import ModelCardData

    return "---\n" + ModelCardData(**metadata).to_yaml() + "\n---\n\n" + body


# -- unsafe variants (for the crawler's safety checks) -------------------------------------------


def save_pickle_only_pipeline(path: str | os.PathLike, spec: ArchSpec | str = "sd-tiny-ddim", *, seed: int = 0) -> Path:
    """A pipeline saved with pickle weights only (``.bin``): loading it would unpickle untrusted data."""
    spec = arch_spec(spec) if isinstance(spec, str) else spec
    folder = Path(path)
    pipe = build_pipeline(spec, seed=seed)
    pipe.save_pretrained(str(folder), safe_serialization=False)
    _record_absent_components(pipe, folder)
    (folder / "README.md").write_text(
        _card({"license": "mit", "library_name": "diffusers", "pipeline_tag": "text-to-image"}, "# pickle-only pipeline\n"),
        encoding="utf-8",
    )
    return folder


_CUSTOM_PIPELINE_CODE = '''\
"""A custom pipeline: loading it means running this file."""
from diffusers import DiffusionPipeline


class MyTinyPipeline(DiffusionPipeline):
    def __init__(self, unet, scheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
'''


def save_remote_code_pipeline(path: str | os.PathLike, spec: ArchSpec | str = "sd-tiny-ddim", *, seed: int = 0) -> Path:
    """A pipeline whose ``model_index.json`` names a class defined in the repo's own ``pipeline.py``."""
    spec = arch_spec(spec) if isinstance(spec, str) else spec
    folder = save_tiny_pipeline(path, spec, seed=seed)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = ["pipeline", "MyTinyPipeline"]
    index["unet"] = ["pipeline", "MyTinyUNet"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    (folder / "pipeline.py").write_text(_CUSTOM_PIPELINE_CODE)
    return folder


# -- LoRA adapters -------------------------------------------------------------------------------


def save_tiny_lora(
    path: str | os.PathLike,
    base_model: str,
    spec: ArchSpec | str = "sd-tiny-ddim",
    *,
    rank: int = 4,
    instance_prompt: str = "a photo of sks dog",
    seed: int = 0,
    extra_tags: Iterable[str] = (),
) -> Path:
    """A LoRA adapter for the UNet of ``spec``, saved the diffusers way, with a card naming its base model.

    >>> save_tiny_lora("/tmp/lora", "org/sd-tiny-ddim")  # doctest: +SKIP
    """
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    spec = arch_spec(spec) if isinstance(spec, str) else spec
    unet = _unet(spec, seed + 3)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    with torch.no_grad():  # gaussian B would be zero-initialised; give the adapter an effect
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02, generator=torch.Generator().manual_seed(seed))
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    metadata = {
        "base_model": base_model,
        "license": "openrail++",
        "library_name": "diffusers",
        "pipeline_tag": "text-to-image",
        "tags": ["lora", "text-to-image", "diffusers", "template:sd-lora", *extra_tags],
        "instance_prompt": instance_prompt,
        "widget": [{"text": instance_prompt}],
    }
    body = f"# LoRA for {base_model}\n\nTrigger words: use `{instance_prompt}` in your prompt.\n"
    (folder / "README.md").write_text(_card(metadata, body), encoding="utf-8")
    return folder


# -- seeding a Hub (the loopback one in tests) through real uploads ------------------------------


@dataclass
class SeededModels:
    """What :func:`seed_model_repos` uploaded, and what a crawler should find there."""

    namespace: str
    #: repo id -> architecture name, for the pipelines a crawl must record.
    pipelines: dict[str, str] = field(default_factory=dict)
    #: repo id -> (safety flag, arch) for the repos a crawl must flag.
    flagged: dict[str, str] = field(default_factory=dict)
    #: repo id -> base model repo id, for the LoRA adapters.
    loras: dict[str, str] = field(default_factory=dict)
    #: repo id -> local folder that was uploaded.
    folders: dict[str, Path] = field(default_factory=dict)


def seed_model_repos(
    workdir: str | os.PathLike,
    *,
    token: str,
    namespace: str,
    endpoint: str | None = None,
    archs: Iterable[str] | None = None,
) -> SeededModels:
    """Upload tiny pipelines of every architecture, a gated, a pickle-only and a custom-code
    pipeline, and three LoRA adapters, to ``namespace`` with real ``HfApi.upload_folder`` calls.

    >>> seeded = seed_model_repos(tmp_path, token="hf_crawler", namespace="crawler")  # doctest: +SKIP
    >>> sorted(seeded.flagged.values())  # doctest: +SKIP
    ['gated', 'pickle_only', 'remote_code']
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    workdir = Path(workdir)
    seeded = SeededModels(namespace)

    def upload(name: str, folder: Path) -> str:
        repo_id = f"{namespace}/{name}"
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=f"add {name}")
        seeded.folders[repo_id] = folder
        return repo_id

    for arch in archs or TINY_ARCHS:
        repo_id = upload(arch, save_tiny_pipeline(workdir / arch, arch))
        seeded.pipelines[repo_id] = arch
    gated = upload("sd-tiny-gated", save_tiny_pipeline(workdir / "sd-tiny-gated", "sd-tiny-ddim", seed=1))
    api.update_repo_settings(gated, gated="auto")
    seeded.flagged[gated] = "gated"
    seeded.flagged[upload("sd-tiny-pickle", save_pickle_only_pipeline(workdir / "sd-tiny-pickle", seed=2))] = "pickle_only"
    seeded.flagged[upload("sd-tiny-custom", save_remote_code_pipeline(workdir / "sd-tiny-custom", seed=3))] = "remote_code"
    for name, arch, prompt in (
        ("lora-sks-dog", "sd-tiny-ddim", "a photo of sks dog"),
        ("lora-pixel-style", "sd-tiny-vpred", "pxl style"),
        ("lora-ink-painting", "sd-tiny-wide", "ink painting of a cat"),
    ):
        base = f"{namespace}/{arch}"
        folder = save_tiny_lora(workdir / name, base, arch, instance_prompt=prompt, seed=len(seeded.loras))
        seeded.loras[upload(name, folder)] = base
    return seeded


def parameter_counts(pipe) -> dict[str, int]:
    """Parameters per weighted component of a loaded pipeline, as the models themselves report."""
    import torch

    return {
        name: sum(p.numel() for p in module.parameters())
        for name, module in pipe.components.items()
        if isinstance(module, torch.nn.Module)
    }


__all__ = [
    "SD15",
    "TINY_ARCHS",
    "ArchSpec",
    "TextEncoderSpec",
    "VaeSpec",
    "arch_spec",
    "build_pipeline",
    "parameter_counts",
    "save_pickle_only_pipeline",
    "save_remote_code_pipeline",
    "save_tiny_lora",
    "save_tiny_pipeline",
    "seed_model_repos",
    "SeededModels",
    "tiny_clip_tokenizer",
    "tiny_clip_vocab",
]
