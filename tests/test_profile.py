"""The profiler's parts: recipes and their config hash, the three training methods on a tiny
pipeline, the scores, the overfitting curve, and the crash-safe zoo writer. Offline, on CPU."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from hubselect.errors import InputError
from hubselect.profile import DreamBoothRecipe, EvalConfig, LoraRecipe, ProfileJob, TextualInversionRecipe, ZooWriter, make_recipe, run_job
from hubselect.profile.recipes import config_hash, parse_methods
from hubselect.zoo import ProfileRecord, Zoo, ZooMeta

TINY_EVAL = EvalConfig(sample_size=12, min_images=6, num_images=4, inference_steps=2, curve_points=2, curve_images=2)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    from hubselect.testing.profile_fixtures import tiny_clip_full
    from hubselect.testing.seed_models import save_tiny_pipeline
    from hubselect.testing.tiny import tiny_clip_vision, write_image_folder

    root = tmp_path_factory.mktemp("profile-inputs")
    return {
        "model": save_tiny_pipeline(root / "sd-tiny", "sd-tiny-ddim"),
        "vpred": save_tiny_pipeline(root / "sd-vpred", "sd-tiny-vpred"),
        "data": write_image_folder(root / "warm", n=12, style="warm"),
        "uncaptioned": write_image_folder(root / "cool", n=12, style="cool", captions=False),
        "clip": tiny_clip_full(root / "clip"),
        "vision_only": tiny_clip_vision(root / "clip-vision"),
    }


def _pixels(images) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float32) for image in images])


def _train_and_generate(model_dir: Path, data_dir: Path, recipe, *, seeds=(0, 1)):
    """Images of one prompt before and after training ``recipe`` for a few steps, same seeds."""
    import torch

    from hubselect.data.sample import load_dataset_sample
    from hubselect.profile.generation import generate
    from hubselect.profile.job import load_pipeline
    from hubselect.profile.training import Trainer

    torch.manual_seed(0)
    sample = load_dataset_sample(str(data_dir), n=6, seed=0, min_images=6, progress=False)
    pipe = load_pipeline(model_dir, "sd-tiny", pipeline_class="StableDiffusionPipeline")
    prompts = [recipe.prompt(None)] * len(seeds)
    before = generate(pipe, prompts, seeds=list(seeds), steps=2, guidance_scale=7.5)
    trainer = Trainer(pipe, recipe, device=torch.device("cpu"), seed=0)
    result = trainer.train(sample.images, [recipe.prompt(c) for c in sample.captions])
    after = generate(pipe, prompts, seeds=list(seeds), steps=2, guidance_scale=7.5)
    return pipe, trainer, result, before, after


# -- recipes ----------------------------------------------------------------------------------------


def test_recipes_have_practice_defaults_and_validate():
    assert (LoraRecipe().rank, LoraRecipe().lora_alpha, LoraRecipe().learning_rate) == (4, 4, 1e-4)
    assert LoraRecipe().target_modules == ("to_k", "to_q", "to_v", "to_out.0")
    db = DreamBoothRecipe()
    assert (db.learning_rate, db.steps, db.prior_preservation, db.token) == (1e-6, 200, False, "sks")
    assert db.prompt(None) == "a photo of sks object" and db.class_prompt == "a photo of object"
    assert TextualInversionRecipe().prompt("ignored caption") == "a photo of <hubselect-concept> object"
    assert LoraRecipe().prompt("a red bus") == "a red bus"
    with pytest.raises(InputError, match="multiple of 8"):
        LoraRecipe(resolution=30)
    with pytest.raises(InputError, match="mixed precision"):
        LoraRecipe(mixed_precision="fp8")
    with pytest.raises(InputError, match="unknown fine-tuning method 'hypernet'; choose from: lora, dreambooth, textual-inversion"):
        parse_methods("lora,hypernet")
    # One set of options configures a grid of methods: fields a recipe lacks are ignored.
    assert make_recipe("dreambooth", {"rank": 8, "steps": 5}).steps == 5


@pytest.mark.parametrize("build, message", [
    (lambda: DreamBoothRecipe(template="a photo of {token} {foo}"),
     "dreambooth: the template 'a photo of {token} {foo}' names {foo}; it may name {token} and {class_word}"),
    (lambda: TextualInversionRecipe(template="{token} {class_word} {"),
     "textual-inversion: the template '{token} {class_word} {' cannot be formatted (Single '{' encountered in format string); "
     "write a literal brace as {{ or }}"),
    (lambda: DreamBoothRecipe(class_template="a photo of {token}", prior_preservation=True),
     "dreambooth: the class template 'a photo of {token}' names {token}; it may name {class_word}"),
    (lambda: LoraRecipe(template="{token} {0}"), "lora: the template '{token} {0}' names {0}; it may name {token} and {class_word}"),
    (lambda: LoraRecipe(template="{token:d}"), "lora: the template '{token:d}' cannot be formatted (Unknown format code 'd' for object of "
                                               "type 'str'); write a literal brace as {{ or }}"),
], ids=["unknown-field", "stray-brace", "token-in-class-template", "positional-field", "format-spec"])
def test_a_template_that_cannot_be_formatted_is_refused_when_the_recipe_is_built(build, message):
    # Was accepted, and each job failed after the model and dataset were read: "unexpected KeyError: 'foo'".
    with pytest.raises(InputError) as info:
        build()
    assert str(info.value) == message


@pytest.mark.parametrize("settings, message", [
    ({"token": "object"}, "the placeholder token 'object' is part of the class word 'object', whose embedding it would start from; "
                          "choose a placeholder that is not (e.g. the default '<hubselect-concept>'), or another class word (--class-word)"),
    ({"token": "Dog", "class_word": "hot dog"}, "the placeholder token 'Dog' is part of the class word 'hot dog', whose embedding it would start "
                                                "from; choose a placeholder that is not (e.g. the default '<hubselect-concept>'), or another class word (--class-word)"),
    ({"token": "<cat>", "initializer": "a <cat> toy"}, "the placeholder token '<cat>' is part of the initializer 'a <cat> toy', whose embedding it "
                                                       "would start from; choose a placeholder that is not (e.g. the default '<hubselect-concept>'), or another initializer"),
    ({"token": "dog", "class_word": "dog", "initializer": "puppy"}, "the placeholder token 'dog' is part of the class word 'dog', which the prompts "
                                                                   "name beside it; choose a placeholder that is not (e.g. the default '<hubselect-concept>'), or another class word (--class-word)"),
], ids=["class-word", "case-and-part", "initializer", "class-word-beside-initializer"])
def test_a_textual_inversion_placeholder_inside_its_initializer_is_refused_with_the_real_reason(settings, message):
    # Was accepted, and the job failed after loading the model with "the initializer 'object' has no tokens":
    # the tokenizer reads the placeholder wherever its letters appear, so it took the initializer's place.
    with pytest.raises(InputError) as info:
        TextualInversionRecipe(**settings)
    assert str(info.value) == f"textual-inversion: {message}"
    assert TextualInversionRecipe(token="<dog>", class_word="dog").prompt(None) == "a photo of <dog> dog"


def test_templates_with_literal_braces_still_format():
    recipe = DreamBoothRecipe(template="{{style}} {token} {class_word}", class_template="{{style}} {class_word}", class_word="dog")
    assert (recipe.prompt(None), recipe.class_prompt) == ("{style} sks dog", "{style} dog")


def test_config_hash_is_stable_and_covers_every_setting():
    base = dict(probe="local:clip@abc", dino_probe=None, seed=0)
    h = config_hash(LoraRecipe(), EvalConfig(), **base)
    assert h == config_hash(LoraRecipe(), EvalConfig(), **base)
    changed = {
        config_hash(LoraRecipe(rank=8), EvalConfig(), **base),
        config_hash(LoraRecipe(), EvalConfig(num_images=16), **base),
        config_hash(LoraRecipe(), EvalConfig(), **{**base, "probe": "local:clip@def"}),
        config_hash(LoraRecipe(), EvalConfig(), **{**base, "dino_probe": "local:dino@1"}),
        config_hash(LoraRecipe(), EvalConfig(), **{**base, "seed": 1}),
        config_hash(DreamBoothRecipe(), EvalConfig(), **base),
    }
    assert h not in changed and len(changed) == 6
    # Gradient checkpointing trades compute for memory and changes no number (see the test
    # below): a rerun with it must find the results made without it.
    for recipe in (LoraRecipe(), DreamBoothRecipe(), TextualInversionRecipe()):
        assert config_hash(replace(recipe, gradient_checkpointing=True), EvalConfig(), **base) == config_hash(recipe, EvalConfig(), **base)


def test_a_setting_given_as_a_float_or_an_int_is_one_setting_with_one_hash():
    """``steps=500.0`` from a script is the CLI's ``--steps 500``: the same job, the same record
    key. It hashed apart (so a CLI rerun redid the script's jobs), and the per-process cache of
    hashes then gave whichever of the two came first to both."""
    base = {"probe": "local:clip@abc", "dino_probe": None, "seed": 0}
    as_ints = config_hash(LoraRecipe(steps=500, rank=4), EvalConfig(num_images=32, holdout=0.2), **base)
    assert config_hash(LoraRecipe(steps=500.0, rank=4.0), EvalConfig(num_images=32.0, holdout=0.2), **base) == as_ints
    assert config_hash(LoraRecipe(learning_rate=1), EvalConfig(), **base) == config_hash(LoraRecipe(learning_rate=1.0), EvalConfig(), **base)
    for field_name, value in (("steps", 500.5), ("rank", 2.5)):
        with pytest.raises(InputError, match=f"lora: {field_name} must be a whole number, got {value}"):
            LoraRecipe(**{field_name: value})
    with pytest.raises(InputError, match="num_images must be a whole number, got 31.5"):
        EvalConfig(num_images=31.5)
    # Flags likewise: a script's early_stop=1 is the CLI's --early-stop.
    assert config_hash(LoraRecipe(use_captions=0), EvalConfig(early_stop=1), **base) == config_hash(
        LoraRecipe(use_captions=False), EvalConfig(early_stop=True), **base
    )
    with pytest.raises(InputError, match="lora: steps must be a number, not True"):
        LoraRecipe(steps=True)
    with pytest.raises(InputError, match="lora: use_captions must be True or False, got 2"):
        LoraRecipe(use_captions=2)


#: config_hash keys every finished result in the zoos users hold: a recipe they could run must keep
#: its hash, or every such result is redone. Computed with hubselect at d47c2f1, before templates
#: were checked and gradient checkpointing left the hash.
PINNED_HASHES = [
    (LoraRecipe(), "1a347510faa14d58"),
    (DreamBoothRecipe(), "9472dc4ee2d76a2c"),
    (TextualInversionRecipe(), "6a828a5142bd81ef"),
    (DreamBoothRecipe(prior_preservation=True, class_word="dog"), "f2cc5cea53fdb3b1"),
    (LoraRecipe(class_word="dog", steps=3, learning_rate=1e-3), "ce9ec18867908c45"),
]


@pytest.mark.parametrize("recipe, expected", PINNED_HASHES, ids=lambda value: getattr(value, "method", None))
def test_config_hash_of_recipes_users_ran_is_unchanged(recipe, expected):
    probe = "openai/clip-vit-base-patch32@3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
    assert config_hash(recipe, EvalConfig(), probe=probe, dino_probe=None, seed=0) == expected


# -- training methods -------------------------------------------------------------------------------


def test_dreambooth_changes_the_generated_images(inputs):
    recipe = DreamBoothRecipe(steps=3, learning_rate=1e-3)
    pipe, _, result, before, after = _train_and_generate(inputs["model"], inputs["data"], recipe)
    assert result.steps == 3 and all(math.isfinite(loss) for loss in result.losses)
    assert np.abs(_pixels(after) - _pixels(before)).mean() > 0.5


def test_dreambooth_with_prior_preservation_trains(inputs):
    recipe = DreamBoothRecipe(steps=2, learning_rate=1e-3, prior_preservation=True, num_class_images=2, class_inference_steps=2)
    _, _, result, before, after = _train_and_generate(inputs["model"], inputs["data"], recipe)
    assert result.steps == 2 and np.abs(_pixels(after) - _pixels(before)).mean() > 0.5


def test_textual_inversion_learns_only_the_new_token(inputs):
    import torch
    from safetensors.torch import load_file

    from hubselect.profile.generation import generate

    recipe = TextualInversionRecipe(steps=3, learning_rate=5e-2)
    pipe, trainer, result, _, after = _train_and_generate(inputs["model"], inputs["data"], recipe)
    token_id = pipe.tokenizer.convert_tokens_to_ids(recipe.token)
    weights = pipe.text_encoder.get_input_embeddings().weight.detach()
    initial = trainer.method.original  # the embeddings right after the token was added
    others = torch.ones(len(weights), dtype=torch.bool)
    others[token_id] = False
    assert torch.equal(weights[others], initial[others])
    assert not torch.equal(weights[token_id], initial[token_id])
    # The same prompt and seeds with the embedding's initial value give other images.
    with torch.no_grad():
        weights[token_id] = initial[token_id]
    untrained = generate(pipe, [recipe.prompt(None)] * 2, seeds=[0, 1], steps=2, guidance_scale=7.5)
    assert np.abs(_pixels(after) - _pixels(untrained)).mean() > 0.5
    saved = trainer.save(inputs["data"].parent / "ti")
    assert list(load_file(saved)) == [recipe.token]


@pytest.mark.parametrize("recipe", [LoraRecipe(steps=3, learning_rate=1e-2), DreamBoothRecipe(steps=3, learning_rate=1e-3),
                                    TextualInversionRecipe(steps=3, learning_rate=5e-2)], ids=lambda r: r.method)
def test_gradient_checkpointing_trains_the_same_weights(inputs, recipe):
    # Why config_hash leaves it out: recomputing activations in the backward pass gives the same losses and weights.
    import torch

    runs = [_train_and_generate(inputs["model"], inputs["data"], replace(recipe, gradient_checkpointing=on), seeds=(0,)) for on in (False, True)]
    (pipe, _, result, _, after), (pipe_gc, _, result_gc, _, after_gc) = runs
    assert result.losses == result_gc.losses
    assert all(torch.equal(a, b) for a, b in zip(pipe.unet.parameters(), pipe_gc.unet.parameters()))
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight, pipe_gc.text_encoder.get_input_embeddings().weight)
    assert np.array_equal(_pixels(after), _pixels(after_gc))


def test_lora_weights_are_saved_the_diffusers_way(inputs, tmp_path):
    from hubselect.profile.job import load_pipeline
    from hubselect.profile.training import LORA_WEIGHTS

    recipe = LoraRecipe(steps=3, learning_rate=1e-2)
    _, trainer, _, before, after = _train_and_generate(inputs["vpred"], inputs["data"], recipe)
    assert np.abs(_pixels(after) - _pixels(before)).mean() > 0.1
    saved = trainer.save(tmp_path / "lora")
    assert saved.name == LORA_WEIGHTS
    fresh = load_pipeline(inputs["vpred"], "sd-vpred", pipeline_class="StableDiffusionPipeline")
    fresh.load_lora_weights(str(tmp_path / "lora"), weight_name=LORA_WEIGHTS)
    assert any("lora" in name for name, _ in fresh.unet.named_parameters())


# -- one job: scores, curve, bad input --------------------------------------------------------------


def _job(inputs, recipe, evaluation=TINY_EVAL, **kwargs) -> ProfileJob:
    from hubselect.probes import resolve_probe

    fields = dict(model=str(inputs["model"]), dataset=str(inputs["data"]), recipe=recipe, evaluation=evaluation,
                  probe=resolve_probe(str(inputs["clip"])), threads=1)
    fields.update(kwargs)
    return ProfileJob(**fields)


def test_a_job_reports_every_score_and_what_reproduces_it(inputs):
    import torch

    from hubselect.machine import cpu_name

    started = datetime.now(timezone.utc).replace(microsecond=0)
    record = run_job(_job(inputs, TextualInversionRecipe(steps=2, learning_rate=5e-2), dataset=str(inputs["uncaptioned"])))
    assert (record.model, record.dataset, record.method) == ("sd-tiny", "cool", "textual-inversion")
    assert math.isfinite(record.score) and math.isfinite(record.score_before)
    assert record.metrics["fid_after_finetune"] == record.score
    assert -1 <= record.metrics["clip_t"] <= 1 and -1 <= record.metrics["clip_i"] <= 1
    assert record.metrics["dino"] is None  # no DINO probe configured
    assert record.model_revision.startswith("local-") and record.dataset_revision.startswith("local-")
    details = record.details
    assert details["config_hash"] == record.config_hash and details["seed"] == 0 and details["device"] == "cpu"
    # A CPU's float rounding moves the scores: the record names the processor and torch's instruction set.
    assert details["device_name"] == f"{cpu_name()}, {torch.backends.cpu.get_cpu_capability()}"
    assert details["sample"] == {"images": 12, "train": 10, "held_out": 2, "captioned": 0, "skipped": {}}
    assert json.loads(json.dumps(details)) == details  # plain JSON, as the zoo stores it
    # When it was made: of two writers' copies of this result, a merge keeps the later.
    assert started <= datetime.fromisoformat(record.finished_at) <= datetime.now(timezone.utc)


def test_a_probe_without_a_text_tower_records_no_clip_t_and_says_why(inputs):
    from hubselect.probes import resolve_probe

    record = run_job(_job(inputs, LoraRecipe(steps=1), probe=resolve_probe(str(inputs["vision_only"]))))
    assert record.metrics["clip_t"] is None and math.isfinite(record.metrics["clip_i"])
    assert any("clip_t not computed" in note and "text tower" in note for note in record.details["notes"])
    assert all(point["editability"] is None for point in record.details["curve"])


def test_early_stop_ends_training_when_editability_collapses(inputs, monkeypatch):
    from hubselect.profile import evaluation as evaluation_module

    values = iter([0.30, 0.29, 0.10, 0.05])
    monkeypatch.setattr(evaluation_module.Scorer, "fidelity_editability", lambda self, images, prompts, real: (0.9, next(values)))
    evaluation = replace(TINY_EVAL, curve_points=4, early_stop=True, early_stop_drop=0.2)
    record = run_job(_job(inputs, LoraRecipe(steps=8), evaluation=evaluation))
    assert record.details["stopped_early_at"] == 6 and record.details["train_steps"] == 6
    assert [p["editability"] for p in record.details["curve"]] == [0.30, 0.29, 0.10]


def test_prior_preservation_class_images_are_generated_once_per_model_and_a_damaged_cache_entry_again(inputs, tmp_path, monkeypatch, caplog):
    # Were generated by every job (100 images of 25 steps by default), though the same for every dataset of a model.
    import logging

    from hubselect import constants

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    recipe = DreamBoothRecipe(steps=2, learning_rate=1e-3, prior_preservation=True, num_class_images=3, class_inference_steps=2)
    with caplog.at_level(logging.INFO, logger="hubselect.profile"):
        run_job(_job(inputs, recipe))
        reused = run_job(_job(inputs, recipe, dataset=str(inputs["uncaptioned"])))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("generating 3 class images" in m for m in messages) == 1 and sum("reusing 3 class images" in m for m in messages) == 1
    [entry] = (tmp_path / "cache" / "class-images").iterdir()
    # Cut short (a full disk, a copy interrupted): generated again, not trusted, with the same result as the cached images gave.
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hubselect.profile"):
        again = run_job(_job(inputs, recipe, dataset=str(inputs["uncaptioned"])))
    messages = [r.getMessage() for r in caplog.records]
    assert any("ignoring a damaged class-image cache entry" in m for m in messages) and any("generating 3 class images" in m for m in messages)
    assert again.score == reused.score and again.metrics["clip_i"] == reused.metrics["clip_i"]
    assert [p.name for p in (tmp_path / "cache" / "class-images").iterdir()] == [entry.name]  # replaced whole, no leftovers
    assert len(_class_image_entry(entry)) == 3


def _class_image_entry(path: Path) -> list:
    """The images of a class-image cache entry, opened as a user would: a zip of PNG files."""
    import zipfile

    from PIL import Image

    with zipfile.ZipFile(path) as entry:
        names = sorted(name for name in entry.namelist() if name.endswith(".png"))
        return [Image.open(entry.open(name)).convert("RGB") for name in names]


@pytest.fixture()
def class_image_cache(inputs, tmp_path, monkeypatch):
    """``class_images`` of the tiny pipeline with a cache of its own: ``draw(model_content)``, and its folder."""
    import torch

    from hubselect import constants
    from hubselect.profile.class_images import class_images
    from hubselect.profile.job import load_pipeline
    from hubselect.profile.training import native_resolution

    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    pipe = load_pipeline(inputs["model"], "sd-tiny", pipeline_class="StableDiffusionPipeline")
    recipe = DreamBoothRecipe(prior_preservation=True, num_class_images=3, class_inference_steps=2)

    def draw(model_content):
        return class_images(pipe, recipe, model_content=model_content, seed=0, resolution=native_resolution(pipe),
                            device=torch.device("cpu"), dtype=None)

    return draw, tmp_path / "cache" / "class-images"


def test_class_image_cache_entries_are_pngs_read_back_bit_identical(class_image_cache, caplog):
    # Were raw pixels (np.savez): 79 MB per entry for a 512-px model; PNG is lossless and about half that.
    import logging

    draw, folder = class_image_cache
    fresh = draw(None)  # not cached
    written = draw("model-a")
    [entry] = folder.iterdir()
    assert entry.suffix == ".zip"
    with caplog.at_level(logging.INFO, logger="hubselect.profile"):
        reused = draw("model-a")
    assert any("reusing 3 class images" in r.getMessage() for r in caplog.records)
    for images in (written, _class_image_entry(entry), reused):
        assert np.array_equal(_pixels(images), _pixels(fresh))



def test_writing_a_class_image_cache_entry_removes_those_not_used_for_30_days(class_image_cache):
    # The cache grew without bound: every model revision, class word or library upgrade left ~79 MB behind for good.
    import os
    import time

    def last_used(path: Path, days: float) -> None:
        then = time.time() - days * 24 * 3600
        os.utime(path, (then, then))

    draw, folder = class_image_cache
    folder.mkdir(parents=True)
    old_format = folder / "5f0c2a9e.npz"
    old_format.write_bytes(b"an entry of an earlier cache format")
    last_used(old_format, 31)
    draw("model-a")
    assert not old_format.exists()
    [entry] = folder.iterdir()
    last_used(entry, 31)
    draw("model-a")  # reused: used now
    recent = folder / "9d4e1b7a.zip"
    recent.write_bytes(b"an entry of another model")
    last_used(recent, 29)
    draw("model-b")
    assert len(list(folder.iterdir())) == 3 and entry.exists() and recent.exists()
    last_used(recent, 31)
    draw("model-c")
    assert len(list(folder.iterdir())) == 3 and not recent.exists()

#: ``draw_class_images(model, content)``: 3 class images of the tiny pipeline at 64 px, cached under
#: ``content`` (``None``: not cached), on 1 thread; run as a script, whether cached and fresh are equal.
_DRAW_CLASS_IMAGES = """
import json, sys
import numpy as np, torch
from hubselect.profile import DreamBoothRecipe
from hubselect.profile.class_images import class_images
from hubselect.profile.job import load_pipeline

def draw_class_images(model, content):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipe = load_pipeline(model, "sd-tiny", pipeline_class="StableDiffusionPipeline")
        recipe = DreamBoothRecipe(prior_preservation=True, num_class_images=3, class_inference_steps=2)
        images = class_images(pipe, recipe, model_content=content, seed=0, resolution=64, device=torch.device("cpu"), dtype=None)
    finally:
        torch.set_num_threads(threads)
    return np.stack([np.asarray(image) for image in images])

if __name__ == "__main__":
    print(json.dumps(bool((draw_class_images(sys.argv[1], "model-a") == draw_class_images(sys.argv[1], None)).all())))
"""


def test_a_class_image_cache_shared_by_two_kinds_of_cpu_gives_each_the_images_it_would_draw(inputs, tmp_path, monkeypatch):
    # A cache on a shared disk (HF_HOME on NFS) served an AVX512 machine's class images to an AVX2 one:
    # their kernels add floats in another order, and a 64-px tiny pipeline draws other pixels with each.
    import os
    import subprocess
    import sys

    import torch

    from hubselect import constants

    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this CPU has no vector instructions to compare its kernels with")
    monkeypatch.setattr(constants, "CACHE_DIR", tmp_path / "cache")
    scope: dict = {}
    exec(_DRAW_CLASS_IMAGES, scope)
    scope["draw_class_images"](inputs["model"], "model-a")  # this process's kernels: cached
    env = {**os.environ, "HUBSELECT_CACHE": str(tmp_path / "cache"), "ATEN_CPU_CAPABILITY": "default"}  # no vector instructions
    run = subprocess.run([sys.executable, "-c", _DRAW_CLASS_IMAGES, str(inputs["model"])], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-1] == "true", "the class images a machine without vector instructions got from the cache are not those it draws"
    assert len(list((tmp_path / "cache" / "class-images").iterdir())) == 2

def test_a_dataset_with_too_few_images_is_a_one_line_error(inputs, tmp_path):
    from hubselect.testing.tiny import write_image_folder

    small = write_image_folder(tmp_path / "small", n=3)
    with pytest.raises(InputError) as info:
        run_job(_job(inputs, LoraRecipe(steps=1), dataset=str(small)))
    assert "\n" not in str(info.value) and "a profile needs at least 6" in str(info.value)


def test_unsafe_local_models_are_refused(tmp_path):
    from hubselect.hub.snapshots import download_model
    from hubselect.testing.seed_models import save_pickle_only_pipeline, save_remote_code_pipeline

    with pytest.raises(InputError, match=r"is flagged pickle_only and is not profiled: weights only as pickle files"):
        download_model(str(save_pickle_only_pipeline(tmp_path / "pickle")))
    with pytest.raises(InputError, match=r"is flagged remote_code .*needs custom code"):
        download_model(str(save_remote_code_pipeline(tmp_path / "code")))


# -- scores -----------------------------------------------------------------------------------------


def test_clip_scores():
    from hubselect.metrics.clip_scores import clip_i, clip_t, dino_similarity

    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert clip_i(a, a) == pytest.approx(0.5)
    assert clip_t(a, a * 3) == pytest.approx(1.0)
    assert clip_t(a, -a) == pytest.approx(-1.0)
    assert dino_similarity(a[:1], np.array([[1.0, 1.0]])) == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ValueError):
        clip_t(a, a[:1])


# -- the zoo writer ---------------------------------------------------------------------------------


def _record(i: int) -> ProfileRecord:
    return ProfileRecord(f"org/m{i}", "org/d", 10.0 + i, method="lora", config_hash="c0ffee", metrics={"clip_i": 0.5})


def test_zoo_writer_folds_a_journal_left_by_a_crash_and_ignores_a_torn_line(tmp_path):
    from hubselect.profile.journal import JOURNAL_FILE

    writer = ZooWriter(tmp_path / "zoo")
    writer.write(_record(0))
    # A crash after the journal append but before the fold, and another in the middle of a write:
    line = json.dumps(_record(1).to_row()) + "\n"
    (tmp_path / "zoo" / JOURNAL_FILE).write_text(line + line[:40])
    reopened = ZooWriter(tmp_path / "zoo")
    assert reopened.has(_record(1).key) and reopened.has(_record(0).key)
    assert len(Zoo.load(tmp_path / "zoo").records) == 2
    assert (tmp_path / "zoo" / JOURNAL_FILE).stat().st_size == 0
    reopened.write(_record(1))  # the same key again: replaced, not duplicated
    assert len(Zoo.load(tmp_path / "zoo").records) == 2


def test_zoo_writer_keeps_failed_jobs_crash_safe_and_a_later_record_clears_one(tmp_path):
    from hubselect.profile.journal import JOURNAL_FILE
    from hubselect.zoo import FailedJob

    writer = ZooWriter(tmp_path / "zoo")
    failure = FailedJob(*_record(0).key, "model org/m0 cannot be loaded: ...", "r0", "s0", "2026-11-21T10:00:00+00:00")
    writer.write_failure(failure)
    assert list(Zoo.load(tmp_path / "zoo").failed_job_records()) == [failure]
    writer.write(_record(0))  # the job succeeded since
    assert writer.failed_job(failure.key) is None and Zoo.load(tmp_path / "zoo").failed_jobs.empty
    # A crash before the fold, with a record and then a failure of one key in the journal: the later wins.
    later = FailedJob(*_record(1).key, "tried again, and failed", "r1", "s0", "2026-11-28T10:00:00+00:00")
    (tmp_path / "zoo" / JOURNAL_FILE).write_text(json.dumps(_record(1).to_row()) + "\n" + json.dumps({"failed_job": later.to_row()}) + "\n")
    reopened = ZooWriter(tmp_path / "zoo")
    assert reopened.has(_record(1).key) and reopened.failed_job(later.key) == later
    assert (tmp_path / "zoo" / JOURNAL_FILE).stat().st_size == 0


def test_zoo_writer_refuses_a_zoo_with_another_score(tmp_path):
    Zoo(ZooMeta(score="accuracy", higher_is_better=True)).save(tmp_path / "zoo")
    with pytest.raises(InputError, match="scored by 'accuracy'.*profiles measure 'fid_after_finetune'"):
        ZooWriter(tmp_path / "zoo")


def test_pipelines_outside_the_stable_diffusion_family_are_refused_in_one_line(tmp_path):
    from hubselect.profile.job import load_pipeline

    with pytest.raises(InputError, match=r"^model org/xl is a StableDiffusionXLPipeline; the profiler fine-tunes Stable Diffusion-family"):
        load_pipeline(tmp_path, "org/xl", pipeline_class="StableDiffusionXLPipeline")


# -- GPU (mixed precision, peak memory) -----------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("recipe", [LoraRecipe(steps=3), DreamBoothRecipe(steps=3, learning_rate=1e-4), TextualInversionRecipe(steps=3)],
                         ids=lambda r: r.method)
def test_jobs_on_a_gpu_train_in_half_precision_and_report_peak_memory(inputs, recipe):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    record = run_job(_job(inputs, recipe, device="cuda"))
    assert record.details["device"].startswith("cuda") and record.details["precision"] in ("bfloat16", "float16")
    assert record.metrics["peak_memory_bytes"] > 0
    assert math.isfinite(record.score) and math.isfinite(record.metrics["clip_t"])
