"""The demo's probe: a tiny CLIP vision tower taught what the procedural domains look like.

A tiny CLIP with random weights mostly sees mean colour: under it a red checkerboard is
nearer a red gradient than a blue checkerboard, while what decides how a model fine-tunes on
a dataset is its *kind* of picture. A real CLIP has learned what the world's pictures are
about; this one learns it for the demo's world, once, at bundle-build time: a few hundred
steps of a supervised objective (which domain, which palette?) on images drawn from
:mod:`hubselect.demo.domains`. It is still a plain transformers
``CLIPVisionModelWithProjection`` with its ``CLIPImageProcessor``: every hubselect code path
(dataset profiles, Fréchet distances, FID) loads it like any Hub probe.

>>> train_probe("/tmp/demo-probe")  # doctest: +SKIP
PosixPath('/tmp/demo-probe')
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hubselect.demo.domains import DOMAINS, PALETTES, draw

#: Size of the probe's image embedding (what profiles store, and what FID is computed on).
PROBE_DIM = 16

#: Weight of the palette objective beside the domain objective: the probe sees what kind of
#: picture an image is first, and its colours second (as FID should: a model that draws the
#: right shapes in the wrong colours is closer than one that draws the wrong shapes).
PALETTE_WEIGHT = 0.5


def _batch(rng: np.random.Generator, size: int):
    import torch

    domains, palettes = list(DOMAINS), list(PALETTES)
    images, domain_ids, palette_ids = [], [], []
    for _ in range(size):
        d, p = int(rng.integers(len(domains))), int(rng.integers(len(palettes)))
        image, _ = draw(domains[d], rng, palette=palettes[p], knob=float(rng.uniform()))
        images.append(np.asarray(image, dtype=np.float32))
        domain_ids.append(d)
        palette_ids.append(p)
    return np.stack(images), torch.tensor(domain_ids), torch.tensor(palette_ids)


def train_probe(path: str | os.PathLike, *, steps: int = 600, batch_size: int = 48, seed: int = 0, threads: int | None = 1) -> Path:
    """Train and save the demo probe at ``path`` (under a minute on one CPU core).

    Deterministic for a seed and thread count: the same call writes the same weights.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    path = Path(path)
    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=4, projection_dim=PROBE_DIM
    )
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = CLIPVisionModelWithProjection(config)
            heads = torch.nn.ModuleDict({"domain": torch.nn.Linear(PROBE_DIM, len(DOMAINS)), "palette": torch.nn.Linear(PROBE_DIM, len(PALETTES))})
            params = list(model.parameters()) + list(heads.parameters())
            optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.1)
            rng = np.random.default_rng(seed)
            model.train()
            for _ in range(steps):
                images, domain, palette = _batch(rng, batch_size)
                pixels = (torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0 - mean) / std
                embeds = model(pixel_values=pixels).image_embeds
                loss = torch.nn.functional.cross_entropy(heads["domain"](embeds), domain) + PALETTE_WEIGHT * torch.nn.functional.cross_entropy(
                    heads["palette"](embeds), palette
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            model.eval()
    finally:
        torch.set_num_threads(previous_threads)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


__all__ = ["PROBE_DIM", "train_probe"]
