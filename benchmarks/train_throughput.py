"""LoRA training throughput: hubselect's loop vs a minimal plain diffusers + peft loop.

Both loops fine-tune the same pipeline (random weights of an SD-1.x-style architecture from
``hubselect.testing.seed_models``, the family hubselect's trainer fine-tunes) with the same LoRA
(rank 4 on the UNet's attention projections), optimiser (AdamW), batch, resolution and
precision, on the same images and prompts, in the same process, one after the other,
``--repeats`` times each (alternating). The plain loop is what diffusers'
``train_text_to_image_lora.py`` does per step: VAE-encode the batch, text-encode the prompts,
noise, UNet forward, MSE loss, backward, clip, step, read the loss. hubselect's loop encodes
every image and prompt once before the first step (those modules are frozen) and samples the VAE
posterior per step.

Reported per loop: steady-state train steps/s (after ``--warmup`` steps), the median over
repeats, and peak GPU memory (``torch.cuda.max_memory_allocated``; CPU runs report none). The
ratio is hubselect / plain (goal: >= 1.0).

    # CPU, tiny architecture (runs anywhere in seconds)
    python benchmarks/train_throughput.py
    # GPU, full-size SD-1.5 architecture UNet at 512 px in bf16
    python benchmarks/train_throughput.py --device cuda --arch sd15 --steps 30 --warmup 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np

from hubselect.errors import whole_option
from hubselect.testing.seed_models import FULL_SIZE_ARCHS, TINY_ARCHS

#: The architectures both loops train. hubselect's trainer fine-tunes SD-1.x-style pipelines (a
#: UNet and one CLIP text encoder), so SDXL's and SD3's have no hubselect figure to compare with.
ARCHS = [name for name, spec in {**TINY_ARCHS, **FULL_SIZE_ARCHS}.items() if spec.family == "sd"]


def _arch(name: str) -> str:
    if name not in ARCHS:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not an architecture both loops train (hubselect's trainer fine-tunes SD-1.x-style pipelines: "
            f"a UNet and one CLIP text encoder); choose one of: {', '.join(ARCHS)}"
        )
    return name


def _resolution(text: str) -> int:
    """An image side both loops can train at: hubselect's recipes take multiples of 8 only, and
    refused another (a traceback) only once the plain loop had run, minutes in on a GPU."""
    value = whole_option(8)(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"must be a multiple of 8, got {value}")
    return value


def build(arch: str, device, seed: int = 0):
    from hubselect.testing.seed_models import build_pipeline

    # Built on the device directly: a full-size UNet initialises in seconds on a GPU.
    return build_pipeline(arch, seed=seed, device=str(device))


def training_images(n: int, size: int):
    from hubselect.testing.tiny import style_image, style_caption

    rng = np.random.default_rng(0)
    styles = ("warm", "cool", "mono", "noise")
    images = [style_image(styles[i % 4], rng, (size, size)) for i in range(n)]
    prompts = [style_caption(styles[i % 4], rng) for i in range(n)]
    return images, prompts


def hubselect_loop(pipe, images, prompts, args, device) -> dict:
    import torch

    from hubselect.profile.recipes import LoraRecipe
    from hubselect.profile.training import Trainer

    recipe = LoraRecipe(
        steps=args.steps,
        learning_rate=1e-4,
        batch_size=args.batch_size,
        resolution=args.resolution,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        use_captions=True,
    )
    trainer = Trainer(pipe, recipe, device=device, seed=0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    wall = time.perf_counter()
    result = trainer.train(images, prompts)
    wall = time.perf_counter() - wall
    return {
        "steps_per_s": result.steady_steps_per_second(args.warmup),
        "peak_memory_bytes": result.peak_memory_bytes,
        "wall_seconds": wall,
        "final_loss": result.final_loss,
    }


def plain_loop(pipe, images, prompts, args, device) -> dict:
    """A minimal diffusers + peft LoRA loop, as diffusers' example script does each step."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    from hubselect.profile.training import image_tensor, native_resolution, resolve_precision

    weight_dtype = resolve_precision(args.mixed_precision, device)
    resolution = args.resolution or native_resolution(pipe)
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
        if weight_dtype is not None:
            module.to(dtype=weight_dtype)
        module.to(device)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    if weight_dtype is not None:
        cast_training_params(unet, dtype=torch.float32)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    scheduler = DDPMScheduler.from_config({k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")})
    pixels = image_tensor(images, resolution)
    ids = tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
    autocast = torch.autocast(device_type=device.type, dtype=weight_dtype) if weight_dtype is not None else None
    generator = torch.Generator().manual_seed(0)
    unet.train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    start = time.perf_counter()
    for step in range(args.steps):
        index = torch.randint(len(images), (args.batch_size,), generator=generator)
        batch = pixels[index].to(device, dtype=weight_dtype or torch.float32)
        with torch.no_grad():
            latents = vae.encode(batch).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), device=device).long()
        noisy = scheduler.add_noise(latents, noise, timesteps)
        with torch.no_grad():
            hidden = text_encoder(ids[index].to(device))[0]
        target = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, timesteps)
        if autocast is not None:
            with autocast:
                pred = unet(noisy, timesteps, hidden).sample
        else:
            pred = unet(noisy, timesteps, hidden).sample
        loss = F.mse_loss(pred.float(), target.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach().item())  # the example logs the loss every step
        times.append(time.perf_counter() - start)
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    steady = (len(times) - args.warmup) / (times[-1] - (times[args.warmup - 1] if args.warmup else 0.0))
    return {"steps_per_s": steady, "peak_memory_bytes": peak, "wall_seconds": times[-1], "final_loss": float(np.mean(losses[-max(1, len(losses) // 10):]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=_arch, default="sd-tiny-ddim", help=f"Architecture ({', '.join(ARCHS)}).")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1.")
    parser.add_argument("--steps", type=whole_option(1), default=40, help="Training steps per run.")
    parser.add_argument("--warmup", type=whole_option(0), default=5, help="Steps left out of steps/s.")
    parser.add_argument("--repeats", type=whole_option(1), default=3, help="Runs of each loop (alternating); the median is reported.")
    parser.add_argument("--batch-size", type=whole_option(1), default=1)
    parser.add_argument("--resolution", type=_resolution, default=None,
                        help="Pixels, a multiple of 8 (default: the architecture's native one; 512 for sd15).")
    parser.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "fp16", "bf16"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--images", type=whole_option(1), default=16, help="Distinct training images.")
    parser.add_argument("--threads", type=whole_option(1), default=None, help="torch CPU threads (default: torch's).")
    parser.add_argument("--json", dest="json_path", default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    if args.warmup >= args.steps:
        parser.error("--warmup must be below --steps")

    import torch

    from hubselect.errors import HubselectError
    from hubselect.probes import pick_device
    from hubselect.profile.training import native_resolution, resolve_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except HubselectError as error:  # no CUDA here, or not a device
        parser.error(str(error))
    probe = build(args.arch, device)
    resolution = args.resolution or native_resolution(probe)
    del probe
    images, prompts = training_images(args.images, max(resolution, 64))
    runs: dict[str, list[dict]] = {"plain": [], "hubselect": []}
    for repeat in range(args.repeats):
        for name, loop in (("plain", plain_loop), ("hubselect", hubselect_loop)):
            pipe = build(args.arch, device)
            runs[name].append(loop(pipe, images, prompts, args, device))
            del pipe
            if device.type == "cuda":
                torch.cuda.empty_cache()
            print(f"  repeat {repeat + 1}/{args.repeats} {name:9s}: {runs[name][-1]['steps_per_s']:.3f} steps/s", file=sys.stderr)

    def summary(name: str) -> dict:
        rates = [r["steps_per_s"] for r in runs[name]]
        peaks = [r["peak_memory_bytes"] for r in runs[name] if r["peak_memory_bytes"] is not None]
        return {"steps_per_s": statistics.median(rates), "steps_per_s_runs": rates, "peak_memory_bytes": max(peaks) if peaks else None}

    dtype = resolve_precision(args.mixed_precision, device)
    report = {
        "arch": args.arch,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "precision": str(dtype).removeprefix("torch.") if dtype is not None else "float32",
        "resolution": resolution,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "gradient_checkpointing": args.gradient_checkpointing,
        "versions": {m.__name__: m.__version__ for m in (torch, __import__("diffusers"), __import__("peft"))},
        "plain": summary("plain"),
        "hubselect": summary("hubselect"),
    }
    report["ratio"] = report["hubselect"]["steps_per_s"] / report["plain"]["steps_per_s"]

    def mib(value):
        return "–" if value is None else f"{value / 2**20:,.0f} MiB"

    print(f"LoRA training throughput: {args.arch} at {resolution} px, batch {args.batch_size}, {report['precision']}, on {report['device']}")
    print(f"  plain diffusers+peft loop: {report['plain']['steps_per_s']:8.3f} steps/s   peak memory {mib(report['plain']['peak_memory_bytes'])}")
    print(f"  hubselect loop:            {report['hubselect']['steps_per_s']:8.3f} steps/s   peak memory {mib(report['hubselect']['peak_memory_bytes'])}")
    print(f"  ratio hubselect/plain:     {report['ratio']:8.2f}  (goal >= 1.0; median of {args.repeats} runs, {args.steps - args.warmup} timed steps each)")
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
