"""Brief pre-training of tiny text-to-image pipelines on a mix of procedural domains.

A Hub model's prior comes from what it was trained on. The demo's models get theirs the same
way, in seconds: the VAE learns to reconstruct the images of the model's domain mix, then the
UNet learns to denoise their latents, conditioned on their captions through the (frozen)
text encoder. A model that saw only stripes and checkerboards decodes everything into crisp
periodic patterns and fine-tunes well on textures; one that saw gradients and clouds
reproduces smooth colour fields; a 16 px model cannot draw fine detail at all.

The VAE's ``scaling_factor`` is set from the latents it produces (as Stable Diffusion's was),
so the diffusion runs on unit-variance latents. Deterministic for a seed and thread count.

>>> spec = DEMO_MODELS[0]
>>> pretrain_pipeline(spec, "/tmp/demo-model", steps_scale=0.1)  # doctest: +SKIP
PosixPath('/tmp/demo-model')
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hubselect.testing.seed_models import ArchSpec, TextEncoderSpec, VaeSpec


@dataclass(frozen=True)
class DemoModel:
    """One model of the demo zoo: an architecture and what it was pre-trained on.

    ``mix`` weighs domains; ``palettes`` restricts the colours its UNet saw (``None``: all).
    The VAE always sees every palette (like the VAE Stable Diffusion models share, it can
    draw any colour), so a palette-restricted model is a matter of its prior, not of what
    it can represent: fine-tuning can move it.
    ``vae_steps`` / ``unet_steps`` are its pre-training budget at ``steps_scale=1``.
    """

    name: str
    arch: ArchSpec
    mix: dict[str, float]
    description: str
    palettes: tuple[str, ...] | None = None
    vae_steps: int = 150
    unet_steps: int = 300
    batch_size: int = 16
    learning_rate: float = 2e-3
    seed: int = 0
    tags: tuple[str, ...] = field(default=())

    @property
    def resolution(self) -> int:
        return self.arch.sample_size * 2 ** (len(self.arch.vae.block_out_channels) - 1)


def _images(model: DemoModel, n: int, rng: np.random.Generator, palettes: tuple[str, ...] | None) -> tuple[np.ndarray, list[str]]:
    from hubselect.demo.domains import draw_mix

    images, captions = [], []
    for _ in range(n):
        image, caption = draw_mix(model.mix, rng, size=model.resolution, palettes=palettes)
        images.append(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
        captions.append(caption)
    return np.stack(images).transpose(0, 3, 1, 2), captions


def pretrain_pipeline(model: DemoModel, path: str | os.PathLike, *, steps_scale: float = 1.0, pool: int = 384, threads: int | None = 1) -> dict[str, Any]:
    """Build ``model``'s pipeline, pre-train its VAE and UNet on its domain mix, and save it at
    ``path`` as a diffusers folder (safetensors). Returns what was done (steps, losses, seconds).
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    from hubselect.testing.seed_models import build_pipeline

    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model.seed)
            pipe = build_pipeline(model.arch, seed=model.seed)
            rng = np.random.default_rng(model.seed)
            generator = torch.Generator().manual_seed(model.seed)
            vae_pixels = torch.from_numpy(_images(model, pool, rng, None)[0])
            pixels_np, captions = _images(model, pool, rng, model.palettes)
            pixels = torch.from_numpy(pixels_np)

            def batches(steps: int):
                for _ in range(steps):
                    yield torch.randint(0, pool, (model.batch_size,), generator=generator)

            # 1. The VAE: reconstruction, with a small KL term so the latent space stays smooth.
            vae = pipe.vae
            vae.train()
            optimizer = torch.optim.AdamW(vae.parameters(), lr=model.learning_rate, weight_decay=0.0)
            vae_steps = max(1, round(model.vae_steps * steps_scale))
            vae_losses = []
            for index in batches(vae_steps):
                batch = vae_pixels[index]
                posterior = vae.encode(batch).latent_dist
                latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
                loss = F.mse_loss(vae.decode(latents).sample, batch) + 1e-6 * posterior.kl().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                vae_losses.append(float(loss.detach()))
            vae.eval()
            with torch.no_grad():
                means = torch.cat([vae.encode(pixels[i : i + 64]).latent_dist.mean for i in range(0, pool, 64)])
            scaling = float(1.0 / means.std())
            vae.register_to_config(scaling_factor=scaling)
            latents_all = means * scaling

            # 2. The UNet: the standard diffusion loss on those latents, text from the frozen encoder.
            with torch.no_grad():
                ids = pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
                hidden_all = torch.cat([pipe.text_encoder(ids[i : i + 64])[0] for i in range(0, pool, 64)])
            scheduler = DDPMScheduler.from_config({k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")})
            prediction = scheduler.config.prediction_type
            unet = pipe.unet
            unet.train()
            optimizer = torch.optim.AdamW(unet.parameters(), lr=model.learning_rate, weight_decay=1e-2)
            unet_steps = max(1, round(model.unet_steps * steps_scale))
            unet_losses = []
            total_t = scheduler.config.num_train_timesteps
            for index in batches(unet_steps):
                latents = latents_all[index]
                noise = torch.randn(latents.shape, generator=generator)
                timesteps = torch.randint(0, total_t, (len(index),), generator=generator)
                noisy = scheduler.add_noise(latents, noise, timesteps)
                target = scheduler.get_velocity(latents, noise, timesteps) if prediction == "v_prediction" else noise
                loss = F.mse_loss(unet(noisy, timesteps, hidden_all[index]).sample, target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                optimizer.step()
                unet_losses.append(float(loss.detach()))
            unet.eval()
    finally:
        torch.set_num_threads(previous_threads)

    folder = Path(path)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    (folder / "README.md").write_text(model_card(model), encoding="utf-8")

    def tail(values: list[float]) -> float:
        window = values[-max(1, len(values) // 10) :]
        return round(float(np.mean(window)), 5)

    return {
        "model": model.name,
        "vae_steps": vae_steps,
        "unet_steps": unet_steps,
        "vae_loss": tail(vae_losses),
        "unet_loss": tail(unet_losses),
        "scaling_factor": round(scaling, 5),
        "seconds": round(time.perf_counter() - started, 2),
    }


def model_card(model: DemoModel) -> str:
    """The model card pushed with the pipeline: Hub metadata (what the crawler reads) and a description."""
    from huggingface_hub import ModelCardData

    mix = ", ".join(f"{name} {weight:g}" for name, weight in sorted(model.mix.items(), key=lambda kv: -kv[1]))
    metadata = ModelCardData(
        license="apache-2.0",
        library_name="diffusers",
        pipeline_tag="text-to-image",
        tags=["hubselect-demo", "tiny", *model.tags],
    )
    return (
        "---\n"
        + metadata.to_yaml()
        + "\n---\n\n"
        + f"# {model.name}\n\nA tiny Stable Diffusion-family pipeline of the hubselect demo zoo: {model.description}\n\n"
        + f"Pre-trained for a few seconds on CPU on procedurally generated images ({mix}"
        + (f"; palettes {', '.join(model.palettes)}" if model.palettes else "")
        + f"), at {model.resolution} px. It is for trying hubselect, not for making pictures.\n"
    )


#: The VAE most demo models share the shape of: 32 px images ↔ 8×8 latents (a 4× downscale).
VAE_F4 = VaeSpec(block_out_channels=(8, 16, 16))


def _arch(name: str, **kwargs: Any) -> ArchSpec:
    kwargs.setdefault("vae", VAE_F4)
    kwargs.setdefault("sample_size", 8)
    kwargs.setdefault("block_out_channels", (16, 32))
    kwargs.setdefault("attention_head_dim", 4)
    return ArchSpec(name, **kwargs)


_ALL_DOMAINS = {"shapes": 1.0, "glyphs": 1.0, "stripes": 1.0, "checker": 1.0, "dots": 1.0, "gradients": 1.0, "clouds": 1.0, "scenes": 1.0, "static": 1.0}

#: The demo's models: six shapes of the tiny SD architecture, each with its own pre-training mix.
#: Four predict velocity (like SD 2.x), two predict noise (like SD 1.x); at the demo's few
#: denoising steps the two kinds respond very differently to a short LoRA fine-tune.
DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel(
        "sd-tiny-geometric",
        _arch("geometric", scheduler="DDIMScheduler", prediction_type="v_prediction"),
        {"shapes": 1.0, "glyphs": 1.0},
        "shapes and glyphs: flat colours with sharp edges.",
        seed=11,
        tags=("geometric",),
    ),
    DemoModel(
        "sd-tiny-patterns",
        _arch(
            "patterns",
            attention_head_dim=8,
            cross_attention_dim=32,
            text_encoder=TextEncoderSpec(hidden_size=32, layers=2, heads=4),
            scheduler="PNDMScheduler",
            prediction_type="v_prediction",
        ),
        {"stripes": 1.0, "checker": 1.0, "dots": 1.0},
        "stripes, checkerboards and polka dots: periodic textures (wider attention, two text-encoder layers).",
        seed=12,
        tags=("textures",),
    ),
    DemoModel(
        "sd-tiny-smooth16",
        _arch("smooth16", vae=VaeSpec(block_out_channels=(8, 16)), scheduler="EulerDiscreteScheduler", prediction_type="v_prediction"),
        {"gradients": 1.0, "clouds": 1.0, "scenes": 1.0},
        "gradients, clouds and landscapes: smooth colour fields, at 16 px.",
        seed=13,
        tags=("smooth", "low-resolution"),
    ),
    DemoModel(
        "sd-tiny-deep",
        _arch("deep", block_out_channels=(16, 32, 32), layers_per_block=2, scheduler="EulerDiscreteScheduler"),
        _ALL_DOMAINS,
        "every domain a little: a generalist (a deeper UNet, three resolutions, noise prediction).",
        unet_steps=180,
        seed=14,
        tags=("generalist",),
    ),
    DemoModel(
        "sd-tiny-noise",
        _arch(
            "noise",
            cross_attention_dim=24,
            text_encoder=TextEncoderSpec(hidden_size=24, layers=1, heads=2),
            scheduler="DPMSolverMultistepScheduler",
            prediction_type="v_prediction",
        ),
        {"static": 1.0, "checker": 0.5, "glyphs": 0.5},
        "pixel noise, checkerboards and glyphs: high-frequency detail.",
        seed=15,
        tags=("high-frequency",),
    ),
    DemoModel(
        "sd-tiny-scenes",
        _arch(
            "scenes",
            block_out_channels=(24, 48),
            attention_head_dim=8,
            cross_attention_dim=32,
            text_encoder=TextEncoderSpec(hidden_size=32, layers=1, heads=4),
            scheduler="DDIMScheduler",
        ),
        {"scenes": 1.0, "shapes": 0.6, "gradients": 0.6},
        "landscapes, shapes and gradients in warm, night and earth palettes: illustrations (a wider UNet, noise prediction).",
        palettes=("warm", "night", "earth"),
        unet_steps=200,
        seed=16,
        tags=("illustration",),
    ),
)


__all__ = ["DEMO_MODELS", "DemoModel", "model_card", "pretrain_pipeline"]
