"""Generate images with fixed seeds: image ``i`` always starts from the noise of ``seeds[i]``.

The base model and the fine-tuned model are given the same prompts and the same seeds, so the
before/after comparison differs only in the weights. Seeds go into CPU generators, so an image
is the same whichever device draws its starting noise.
"""

from __future__ import annotations

from typing import Any, Sequence

from hubselect.profile.training import autocast


def generate(
    pipe: Any,
    prompts: Sequence[str],
    *,
    seeds: Sequence[int],
    steps: int,
    guidance_scale: float,
    resolution: int | None = None,
    device: Any = None,
    dtype: Any = None,
    batch_size: int = 8,
) -> list:
    """One PIL image per prompt, image ``i`` seeded with ``seeds[i]``.

    >>> images = generate(pipe, ["a photo of sks dog"] * 4, seeds=range(4), steps=25, guidance_scale=7.5)  # doctest: +SKIP
    """
    import torch

    if len(prompts) != len(seeds):
        raise ValueError(f"one seed per prompt: {len(prompts)} prompts, {len(seeds)} seeds")
    device = device or pipe.device
    images: list = []
    with torch.inference_mode(), autocast(device, dtype):
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            generators = [torch.Generator().manual_seed(int(s)) for s in seeds[start : start + batch_size]]
            out = pipe(
                chunk,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                generator=generators,
                height=resolution,
                width=resolution,
                output_type="pil",
            )
            images.extend(out.images)
    return images


__all__ = ["generate"]
