"""One profiling job: fine-tune one model on one dataset with one recipe, and score it.

:func:`run_job` is a plain function of a picklable :class:`ProfileJob` (so a Ray worker runs
exactly what the local executor runs) and returns a :class:`~hubselect.zoo.ProfileRecord`. It
reads the model (safetensors only, after the safety check) and the dataset sample through
``hubselect.hub`` / ``hubselect.data``; it never writes the zoo — the driver does.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hubselect.profile.evaluation import EvalConfig, Scorer, checkpoint_steps, load_scorer
from hubselect.profile.recipes import LoraRecipe, Recipe, config_hash

log = logging.getLogger(__name__)

#: Offsets that keep the seeds of the different image sets of a job apart.
_CURVE_SEED_OFFSET = 20_000


@dataclass(frozen=True)
class ProfileJob:
    """Everything one model × dataset × method run needs, resolved (probes) and picklable.

    ``model`` is a Hub model id (``org/name`` or ``org/name@revision``) or a local pipeline
    folder; ``dataset`` a Hub dataset id, an image folder or a parquet file (as
    :func:`hubselect.data.sample.load_dataset_sample` takes it).
    """

    model: str
    dataset: str
    recipe: Recipe
    evaluation: EvalConfig
    #: The resolved probe (:class:`hubselect.probes.ProbeRef`) that extracts FID features and CLIP embeddings.
    probe: Any
    dino_probe: Any = None
    seed: int = 0
    split: str = "train"
    image_column: str | None = None
    caption_column: str | None = None
    #: The dataset's name in the zoo (default: the Hub id, or the folder/file name).
    dataset_name: str | None = None
    device: str = "auto"
    #: torch CPU threads inside the job (``None``: torch's default). Equal thread counts give
    #: bit-equal results across executors.
    threads: int | None = None
    deterministic: bool = True
    #: Keep the trained weights under this folder (LoRA weights, the UNet, or the embedding).
    weights_dir: str | None = None
    token: str | None = field(default=None, repr=False, compare=False)

    @property
    def method(self) -> str:
        return self.recipe.method

    # What the model and dataset arguments name (a Hub id, or a folder or file: a look at the
    # disk) is read once per job, as its key is: planning a refresh of a large zoo reads these
    # for tens of thousands of jobs, several times each.

    @functools.cached_property
    def model_id(self) -> str:
        """The model's key in the zoo: the Hub id without ``@revision``, or the folder's name."""
        return model_key(self.model)[0]

    @functools.cached_property
    def model_source(self) -> str:
        """What :attr:`model_id` stands for in this job: the Hub id as given, or the folder's absolute path."""
        return model_key(self.model)[1]

    @functools.cached_property
    def dataset_ref(self) -> Any:
        """The dataset argument, parsed (:class:`~hubselect.data.refs.DatasetRef`)."""
        from hubselect.data.refs import DatasetRef

        return DatasetRef.parse(self.dataset, split=self.split)

    @functools.cached_property
    def dataset_source(self) -> str:
        """What :attr:`dataset_key` stands for in this job: the Hub id as given, or the folder's (file's) absolute path."""
        return str(self.dataset_ref)

    @functools.cached_property
    def model_revision(self) -> str | None:
        """The revision asked for with ``org/name@revision`` (``None``: the main branch)."""
        if Path(self.model).expanduser().is_dir():
            return None
        return self.model.partition("@")[2] or None

    @functools.cached_property
    def dataset_key(self) -> str:
        return self.dataset_name or self.dataset_ref.name

    @property
    def config_hash(self) -> str:
        return _config_hash(
            self.recipe,
            self.evaluation,
            self.probe.key,
            self.dino_probe.key if self.dino_probe is not None else None,
            self.seed,
        )

    @functools.cached_property
    def key(self) -> tuple[str, str, str, str]:
        """The key of the record this job produces (model, dataset, method, config hash)."""
        return (self.model_id, self.dataset_key, self.method, self.config_hash)

    def describe(self) -> str:
        return f"{self.model_id} × {self.dataset_key} ({self.method})"


@functools.lru_cache(maxsize=256)
def _config_hash(recipe: Recipe, evaluation: EvalConfig, probe: str, dino_probe: str | None, seed: int) -> str:
    """:func:`~hubselect.profile.recipes.config_hash`, once per setting (the recipe and the
    evaluation are frozen): a grid's jobs share one per method, and each costs a deep copy,
    canonical JSON and a sha256 (a plan of 1000 models × 30 datasets spent most of its minutes here)."""
    return config_hash(recipe, evaluation, probe=probe, dino_probe=dino_probe, seed=seed)


def model_key(model: str) -> tuple[str, str]:
    """``(key in the zoo, source)`` of a MODEL argument: a Hub id's key drops ``@revision``, a
    local folder's key is its name (so two folders of one name, or two revisions of one id,
    share a key while their sources differ).

    >>> model_key("org/sd@abc123")
    ('org/sd', 'org/sd@abc123')
    """
    path = Path(model).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        return resolved.name, str(resolved)
    return model.partition("@")[0], model


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose code decides a profile's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("hubselect", "torch", "diffusers", "peft", "transformers", "clean-fid", "numpy", "huggingface_hub"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@contextlib.contextmanager
def reproducible(seed: int, *, threads: int | None, deterministic: bool, cuda: bool) -> Iterator[None]:
    """Seed every generator, fix the thread count, and (optionally) ask torch for deterministic kernels."""
    import random

    import torch

    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        if cuda:
            # cuBLAS needs this to be deterministic; it must be set before its first call.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=True)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence diffusers' and transformers' loading bars and notices (restored afterwards)."""
    from diffusers.utils import logging as df_logging
    from transformers.utils import logging as hf_logging

    saved = [(lib, lib.get_verbosity(), lib.is_progress_bar_enabled()) for lib in (df_logging, hf_logging)]
    for lib, _, _ in saved:
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, verbosity, bars in saved:
            lib.set_verbosity(verbosity)
            if bars:
                lib.enable_progress_bar()


def load_pipeline(folder: Path, model: str, *, pipeline_class: str | None = None):
    """A Stable Diffusion-family pipeline from a local snapshot (safetensors only, float32, no safety checker).

    A snapshot diffusers cannot load (weights cut off after their header, say) is a one-line
    error naming ``model``, as ``hubselect bench`` words it (:func:`~hubselect.hub.snapshots.loading_pipeline`).
    """
    import diffusers

    from hubselect.hub.snapshots import loading_pipeline
    from hubselect.profile.training import check_fine_tunable, check_pipeline

    check_fine_tunable(pipeline_class, model)
    with quiet_loading(), loading_pipeline(folder, model):
        # Loaded in float32 (the default): training casts the frozen parts to half precision on a GPU.
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            str(folder), use_safetensors=True, local_files_only=True, safety_checker=None, requires_safety_checker=False
        )
    check_pipeline(pipe, model)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _split(n: int, holdout: int, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) indices of a sample of ``n``: a seeded permutation, held-out first."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    return sorted(order[holdout:]), sorted(order[:holdout])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "--" for c in text)


class _Curve:
    """Fidelity and editability at training checkpoints, and the early-stop rule.

    Images come from prompts that put the concept in new contexts ("… in a forest"):
    fidelity is their CLIP-I against the held-out real images, editability their CLIP-T
    against the context prompt without the learned token.
    """

    def __init__(self, job: ProfileJob, scorer: Scorer, real: Any, captions: list, generate_images, trainer) -> None:
        evaluation, recipe = job.evaluation, job.recipe
        self.evaluation, self.scorer, self.real = evaluation, scorer, real
        self.generate_images, self.trainer, self.describe = generate_images, trainer, job.describe()
        self.prompts: list[str] = []
        self.plain: list[str] = []
        for j in range(evaluation.curve_images if evaluation.contexts else 0):
            caption, context = captions[j % len(captions)], evaluation.contexts[j % len(evaluation.contexts)]
            self.prompts.append(f"{recipe.prompt(caption)} {context}")
            self.plain.append(f"{recipe.prompt(caption, learned=False)} {context}")
        self.seeds = [job.seed + _CURVE_SEED_OFFSET + j for j in range(len(self.prompts))]
        self.points: list[dict[str, Any]] = []
        self.best = float("-inf")

    def measure(self, step: int) -> bool:
        """Record one point; True when training should stop (editability fell too far)."""
        fidelity, editability = self.scorer.fidelity_editability(self.generate_images(self.prompts, self.seeds), self.plain, self.real)
        losses = self.trainer.result.losses
        window = losses[-max(1, len(losses) // 10) :]
        self.points.append({"step": step, "fidelity": fidelity, "editability": editability, "loss": float(np.mean(window)) if window else None})
        log.info("%s step %d: fidelity %s, editability %s", self.describe, step, fidelity, editability)
        if not self.evaluation.early_stop or editability is None:
            return False
        self.best = max(self.best, editability)
        return editability < self.best - self.evaluation.early_stop_drop * abs(self.best)


def run_job(job: ProfileJob, *, progress: bool = False):
    """Fine-tune ``job.model`` on ``job.dataset`` with ``job.recipe`` and score it; returns its
    :class:`~hubselect.zoo.ProfileRecord`.

    Raises :class:`~hubselect.errors.HubselectError` with a one-line message for what a user can
    fix (a flagged model, a dataset with too few images, an unsupported pipeline).

    >>> job = ProfileJob("org/sd-tiny", "org/pets", LoraRecipe(steps=20), EvalConfig(), probe=resolve_probe("./clip"))  # doctest: +SKIP
    >>> record = run_job(job)  # doctest: +SKIP
    >>> record.score, record.score_before  # doctest: +SKIP
    (41.2, 57.9)
    """
    import torch

    from hubselect.data.refs import DatasetRef
    from hubselect.data.sample import load_dataset_sample
    from hubselect.hub.snapshots import model_snapshot
    from hubselect.machine import cpu_description
    from hubselect.probes import pick_device
    from hubselect.profile.generation import generate
    from hubselect.profile.training import LORA_WEIGHTS, Trainer, check_fine_tunable, native_resolution
    from hubselect.zoo import ProfileRecord

    started = time.perf_counter()
    device = pick_device(job.device)
    recipe, evaluation, seed = job.recipe, job.evaluation, job.seed
    notes: list[str] = []

    # Cheap checks before expensive work: the model's safety, then the dataset's size.
    local = Path(job.model).expanduser().is_dir()
    # The pipeline class is checked before the weights are downloaded: an SDXL repo fails after model_index.json.
    snapshot = model_snapshot(job.model if local else job.model_id, job.model_revision, token=job.token,
                              accept=lambda pipeline_class: check_fine_tunable(pipeline_class, job.model_id))
    ref = DatasetRef.parse(job.dataset, split=job.split)
    sample = load_dataset_sample(
        ref,
        n=evaluation.sample_size,
        seed=seed,
        image_column=job.image_column,
        caption_column=job.caption_column,
        min_images=evaluation.min_images,
        token=job.token,
        progress=progress,
    )
    train_ids, held_ids = _split(len(sample), evaluation.holdout_count(len(sample)), seed)
    train_images = [sample.images[i] for i in train_ids]
    train_prompts = [recipe.prompt(sample.captions[i]) for i in train_ids]
    held_images = [sample.images[i] for i in held_ids]
    held_captions = [sample.captions[i] for i in held_ids]
    if recipe.use_captions and not any(sample.captions):
        notes.append(f"the dataset has no captions: prompts use the template {recipe.template!r}")

    with reproducible(seed, threads=job.threads, deterministic=job.deterministic, cuda=device.type == "cuda"), contextlib.ExitStack() as stack:
        scorer = load_scorer(job.probe, job.dino_probe, device=str(device))
        notes.extend(scorer.notes)
        real = scorer.reference(held_images)

        pipe = load_pipeline(snapshot.path, job.model_id, pipeline_class=snapshot.pipeline_class)
        resolution = recipe.resolution or native_resolution(pipe)
        # Class images depend on the model's content, not on the commit naming it (a card edit).
        trainer = Trainer(pipe, recipe, device=device, seed=seed, model_content=snapshot.content or snapshot.revision)
        dtype = trainer.weight_dtype

        def images_of(model_pipe, prompts: list[str], image_seeds: list[int]) -> list:
            return generate(
                model_pipe,
                prompts,
                seeds=image_seeds,
                steps=evaluation.inference_steps,
                guidance_scale=evaluation.guidance_scale,
                resolution=resolution,
                device=device,
                dtype=dtype,
                batch_size=evaluation.generation_batch,
            )

        # K prompts cycling over the held-out captions; the same seeds before and after.
        captions = [held_captions[i % len(held_captions)] for i in range(evaluation.num_images)]
        prompts_after = [recipe.prompt(c) for c in captions]
        prompts_plain = [recipe.prompt(c, learned=False) for c in captions]
        seeds = [seed + i for i in range(evaluation.num_images)]

        # Before fine-tuning: the base model, with prompts it understands (no learned token).
        trainer.place()
        before = scorer.score(images_of(pipe, prompts_plain, seeds), prompts_plain, real)

        curve = _Curve(job, scorer, real, held_captions, lambda prompts, s: images_of(pipe, prompts, s), trainer)
        if evaluation.early_stop and scorer.text is None:
            notes.append("early stop off: it needs CLIP-T (a probe with a text tower)")
        train = trainer.train(
            train_images,
            train_prompts,
            checkpoints=checkpoint_steps(recipe.steps, evaluation.curve_points) if curve.prompts else [],
            on_checkpoint=curve.measure,
        )

        # After fine-tuning: the weights as saved (kept under weights_dir, else in a temp folder).
        keep = Path(job.weights_dir) / _slug(job.model_id) / _slug(job.dataset_key) / f"{job.method}-{job.config_hash}" if job.weights_dir else None
        folder = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hubselect-weights-")))
        saved = trainer.save(folder)
        if isinstance(recipe, LoraRecipe):
            # Score what was saved: a fresh base pipeline with the adapter loaded the diffusers way.
            trainer.pipe = curve.generate_images = None
            pipe = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            tuned = load_pipeline(snapshot.path, job.model_id, pipeline_class=snapshot.pipeline_class)
            with quiet_loading():
                tuned.load_lora_weights(str(folder), weight_name=LORA_WEIGHTS)
            if dtype is not None:
                tuned.to(dtype=dtype)
            tuned.to(device)
        else:
            tuned = pipe
        after = scorer.score(images_of(tuned, prompts_after, seeds), prompts_plain, real)

    metrics = {
        "fid_after_finetune": after.fid,
        "fid_before_finetune": before.fid,
        "clip_i": after.clip_i,
        "clip_i_before": before.clip_i,
        "clip_t": after.clip_t,
        "clip_t_before": before.clip_t,
        "dino": after.dino,
        "dino_before": before.dino,
        "train_seconds": round(train.train_seconds, 4),
        "train_steps_per_second": round(train.steps_per_second, 4),
        "peak_memory_bytes": train.peak_memory_bytes,
        "final_loss": train.final_loss,
        "job_seconds": round(time.perf_counter() - started, 3),
    }
    details = {
        "config_hash": job.config_hash,
        "recipe": recipe.to_dict(),
        "evaluation": evaluation.to_dict(),
        "probe": job.probe.id,
        "probe_revision": job.probe.revision,
        "fid_extractor": job.probe.key,
        "dino_probe": job.dino_probe.key if job.dino_probe is not None else None,
        "seed": seed,
        "versions": library_versions(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_description(),
        "precision": str(dtype).removeprefix("torch.") if dtype is not None else "float32",
        "threads": job.threads or torch.get_num_threads(),
        "pipeline_class": snapshot.pipeline_class,
        "resolution": resolution,
        # Where the model and dataset were read from (a local folder's absolute path): a zoo
        # keys a local folder by its name, and a rerun tells another folder of that name by this.
        "model_ref": job.model_source,
        "dataset_ref": str(ref),
        "split": ref.split,
        # What was asked for, beside what it resolved to (the record's revisions, the columns
        # below): a rerun compares them to decide whether this record is its result.
        "requested": {
            "model_revision": job.model_revision,
            "dataset_revision": ref.revision,
            "image_column": job.image_column,
            "caption_column": job.caption_column,
        },
        "columns": {"image": sample.image_column, "caption": sample.caption_column},
        # What the model and dataset read hold, beside their commits: a rerun at another commit
        # of the same content (a card edit) finds this record current. None: a local folder or
        # file, whose revision already is its content hash.
        "content": {"model": snapshot.content, "dataset": sample.content},
        "sample": {
            "images": len(sample),
            "train": len(train_ids),
            "held_out": len(held_ids),
            "captioned": sum(1 for c in sample.captions if c),
            "skipped": sample.skip_counts,
        },
        "train_steps": train.steps,
        "stopped_early_at": train.stopped_early_at,
        "curve": curve.points,
        "notes": notes,
        "weights": str(saved) if keep else None,
        # When this result was made: of two copies of one job's record (two writers of a shared
        # zoo), a merge keeps the later (Zoo.merge), so a stale copy pushed last reverts nothing.
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return ProfileRecord(
        model=job.model_id,
        dataset=job.dataset_key,
        score=after.fid,
        method=job.method,
        config_hash=job.config_hash,
        score_before=before.fid,
        model_revision=snapshot.revision,
        dataset_revision=sample.revision,
        metrics=metrics,
        details=details,
    )


__all__ = ["ProfileJob", "library_versions", "load_pipeline", "model_key", "reproducible", "run_job"]
