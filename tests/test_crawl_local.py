"""The tiny pipelines tests and demos build on, and the t2i crawler's reading of local folders (no Hub)."""

from __future__ import annotations

import filecmp

import pytest

from crawlers.t2i import T2ICrawler
from hubselect.hub.models import LocalRepoReader
from hubselect.testing.seed_models import TINY_ARCHS, build_pipeline, save_tiny_pipeline, tiny_clip_tokenizer


@pytest.mark.parametrize("arch", sorted(TINY_ARCHS))
def test_tiny_pipelines_generate_images_at_their_native_resolution(arch):
    import torch

    from hubselect.bench import native_resolution

    pipe = build_pipeline(arch)
    side = native_resolution(pipe)
    images = pipe("a photo of a cat", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (1, side, side, 3)


def test_tiny_tokenizer_files_are_identical_across_builds(tmp_path):
    tiny_clip_tokenizer(tmp_path / "a")
    tiny_clip_tokenizer(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors and "tokenizer.json" in match


def test_a_folder_with_full_and_fp16_weights_counts_parameters_once(tmp_path):
    folder = save_tiny_pipeline(tmp_path / "sd", "sd-tiny-ddim")
    pipe = build_pipeline("sd-tiny-ddim")
    pipe.unet.half().save_pretrained(str(folder / "unet"), variant="fp16")

    record = T2ICrawler().record(LocalRepoReader(folder))

    assert record.features["unet_params"] == pipe.unet.num_parameters()
    assert record.features["weights_dtype"] == "F32"  # the full-precision copy is the one read
