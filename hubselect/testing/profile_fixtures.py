"""Tiny inputs for the profiler: a full CLIP (both towers, for CLIP-T), and a Hub seeded with
pipelines and image datasets to profile, uploaded through real ``HfApi`` calls.

>>> clip = tiny_clip_full("/tmp/tiny-clip")  # doctest: +SKIP
>>> seeded = seed_profile_hub("/tmp/work", token="hf_tester_x", namespace="tester")  # doctest: +SKIP
>>> seeded.models, seeded.datasets  # doctest: +SKIP
(['tester/sd-tiny-ddim', 'tester/sd-tiny-vpred'], ['tester/warm-images', 'tester/cool-images'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def tiny_clip_full(path: str | os.PathLike, seed: int = 0, *, projection_dim: int = 16) -> Path:
    """Save a tiny random ``CLIPModel`` (text and vision towers), its image processor and the
    tiny CLIP tokenizer at ``path``: a probe with which CLIP-T can be computed.

    32 px images, 8 px patches, 2 layers per tower; loads and embeds in milliseconds on CPU.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from hubselect.testing.seed_models import tiny_clip_tokenizer

    path = Path(path)
    tower = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, projection_dim=projection_dim)
    config = CLIPConfig(
        text_config=dict(tower, vocab_size=1000, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(tower, image_size=32, patch_size=8),
        projection_dim=projection_dim,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    model.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    tiny_clip_tokenizer(path)
    return path


@dataclass
class ProfileHub:
    """What :func:`seed_profile_hub` uploaded."""

    namespace: str
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    #: A pipeline saved with pickle weights only (must be refused).
    pickle_model: str = ""
    #: A dataset with fewer images than a profile needs.
    small_dataset: str = ""


def seed_profile_hub(
    workdir: str | os.PathLike,
    *,
    token: str,
    namespace: str,
    endpoint: str | None = None,
    archs: tuple[str, ...] = ("sd-tiny-ddim", "sd-tiny-vpred"),
    styles: tuple[str, ...] = ("warm", "cool"),
    images: int = 12,
    small_images: int = 3,
) -> ProfileHub:
    """Upload tiny pipelines of ``archs``, a pickle-only pipeline, image datasets of ``styles``
    (parquet shards with captions) and one dataset of ``small_images`` images.
    """
    from huggingface_hub import HfApi

    from hubselect.testing.seed_models import save_pickle_only_pipeline, save_tiny_pipeline
    from hubselect.testing.tiny import write_parquet_shards

    api = HfApi(endpoint=endpoint, token=token)
    workdir = Path(workdir)
    seeded = ProfileHub(namespace)

    def upload(name: str, folder: Path, repo_type: str = "model") -> str:
        repo_id = f"{namespace}/{name}"
        api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type, commit_message=f"add {name}")
        return repo_id

    for arch in archs:
        seeded.models.append(upload(arch, save_tiny_pipeline(workdir / "models" / arch, arch)))
    seeded.pickle_model = upload("sd-tiny-pickle", save_pickle_only_pipeline(workdir / "models" / "sd-tiny-pickle", seed=2))
    for index, style in enumerate(styles):
        folder = workdir / "datasets" / style
        write_parquet_shards(folder, n=images, shards=1, row_group_size=images, style=style, seed=index, size=(40, 40))
        seeded.datasets.append(upload(f"{style}-images", folder, "dataset"))
    folder = workdir / "datasets" / "small"
    write_parquet_shards(folder, n=small_images, shards=1, row_group_size=small_images, style="mono", seed=7, size=(40, 40))
    seeded.small_dataset = upload("small-images", folder, "dataset")
    return seeded


__all__ = ["ProfileHub", "seed_profile_hub", "tiny_clip_full"]
