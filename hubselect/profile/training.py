"""Training loops of the three recipes on a Stable Diffusion-family pipeline (UNet + one CLIP text encoder).

One loop, three ways of choosing what trains:

- ``lora``: a peft ``LoraConfig`` adapter on the UNet's attention projections; saved with
  diffusers' ``save_lora_weights``.
- ``dreambooth``: every UNet weight; optional prior preservation on class images the base model
  generates before training.
- ``textual-inversion``: one new row of the text encoder's token embedding; every other row is
  restored after each step (as diffusers' example does), so nothing else changes.

The loss is the standard diffusion loss: noise a latent at a random timestep and regress the
scheduler's target — the noise (``epsilon``), the velocity (``v_prediction``) or the clean
latent (``sample``), per the model's scheduler config.

Deterministic for a seed: all randomness (batch order, VAE posterior samples, noise,
timesteps) comes from one CPU ``torch.Generator``, so the same job gives the same numbers in any
process (local or Ray) with the same torch thread count. Frozen work is done once: the VAE
posterior of every training image, and (for ``lora``/``dreambooth``) the text embedding of every
prompt, are computed before the first step.

Mixed precision on a GPU (``bf16`` where supported, else ``fp16`` with a gradient scaler):
frozen modules are held in half precision, trained weights in float32, and the forward pass runs
under ``torch.autocast``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from hubselect.errors import InputError
from hubselect.profile.recipes import DreamBoothRecipe, LoraRecipe, Recipe, TextualInversionRecipe

log = logging.getLogger(__name__)

#: Images encoded by the VAE (and prompts by the text encoder) per forward pass while caching.
ENCODE_BATCH = 8


@dataclass
class TrainResult:
    """What a training run did and cost."""

    steps: int
    train_seconds: float
    peak_memory_bytes: int | None
    losses: list[float] = field(default_factory=list)
    #: Training seconds elapsed at the end of each step (checkpoint evaluations excluded); each
    #: step ends by reading its loss, which waits for the GPU, so these are real step times.
    step_seconds: list[float] = field(default_factory=list)
    stopped_early_at: int | None = None

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.train_seconds if self.train_seconds > 0 else float("nan")

    def steady_steps_per_second(self, warmup: int) -> float:
        """Steps per second after the first ``warmup`` steps (kernel selection, allocator growth)."""
        if len(self.step_seconds) <= warmup:
            return float("nan")
        first = self.step_seconds[warmup - 1] if warmup > 0 else 0.0
        return (len(self.step_seconds) - warmup) / (self.step_seconds[-1] - first)

    @property
    def final_loss(self) -> float | None:
        """Mean loss over the last tenth of the steps (a single step's loss is noise)."""
        if not self.losses:
            return None
        tail = self.losses[-max(1, len(self.losses) // 10) :]
        return float(sum(tail) / len(tail))


def resolve_precision(mixed_precision: str, device: Any):
    """The half-precision dtype to train with on ``device``, or ``None`` for full precision.

    >>> import torch
    >>> resolve_precision("auto", torch.device("cpu")) is None
    True
    """
    import torch

    if mixed_precision == "no" or getattr(device, "type", str(device)) != "cuda":
        if mixed_precision in ("fp16", "bf16") and getattr(device, "type", str(device)) != "cuda":
            log.info("mixed precision %s is for GPUs; training in float32 on %s", mixed_precision, device)
        return None
    if mixed_precision == "bf16" or (mixed_precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def autocast(device: Any, dtype) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on a GPU with ``dtype``; nothing otherwise."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def fine_tunable(pipeline_class: str | None) -> bool:
    """Whether the loops train a pipeline of this class (``model_index.json``'s ``_class_name``,
    the crawl's ``pipeline_class``): Stable Diffusion-family pipelines, a UNet and one CLIP text
    encoder (SD 1.x/2.x and their fine-tunes), not SDXL, SD3 or Flux yet.

    >>> fine_tunable("StableDiffusionPipeline"), fine_tunable("StableDiffusionXLPipeline")
    (True, False)
    """
    import diffusers

    cls = getattr(diffusers, str(pipeline_class), None) if pipeline_class else None
    return isinstance(cls, type) and issubclass(cls, diffusers.StableDiffusionPipeline)


def check_fine_tunable(pipeline_class: str | None, model: str) -> None:
    """Refuse, in one line, a pipeline class the loops do not train (:func:`fine_tunable`)."""
    if not fine_tunable(pipeline_class):
        raise InputError(
            f"model {model} is a {pipeline_class}; the profiler fine-tunes Stable Diffusion-family pipelines "
            "(UNet + one CLIP text encoder, e.g. SD 1.x/2.x) so far"
        )


def check_pipeline(pipe: Any, model: str) -> None:
    """Refuse pipelines the loops do not train, in one line."""
    from diffusers import StableDiffusionPipeline

    if not isinstance(pipe, StableDiffusionPipeline):
        raise InputError(
            f"model {model} is a {type(pipe).__name__}; the profiler fine-tunes Stable Diffusion-family pipelines "
            "(UNet + one CLIP text encoder, e.g. SD 1.x/2.x) so far"
        )


def image_tensor(images: Sequence, resolution: int):
    """RGB images → ``(n, 3, resolution, resolution)`` in [-1, 1]: shorter side resized, centre-cropped."""
    import torch
    from torchvision import transforms

    transform = transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ]
    )
    return torch.stack([transform(image.convert("RGB")) for image in images])


def native_resolution(pipe: Any) -> int:
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def training_scheduler(pipe: Any):
    """A DDPM scheduler with the pipeline scheduler's noise schedule and prediction type."""
    from diffusers import DDPMScheduler

    config = {k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")}
    return DDPMScheduler.from_config(config)


class _Method:
    """What trains, and how the text embeddings of a batch are made; one subclass per recipe."""

    cache_text = True
    #: The pipeline component trained in full (kept in float32), if any.
    full_precision: str | None = None

    def __init__(self, pipe: Any, recipe: Recipe, device: Any, weight_dtype) -> None:
        self.pipe, self.recipe, self.device, self.weight_dtype = pipe, recipe, device, weight_dtype

    def setup(self) -> list:
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every optimiser step."""

    def save(self, folder: Path) -> Path:
        raise NotImplementedError


class _Lora(_Method):
    recipe: LoraRecipe

    def setup(self) -> list:
        import torch
        from peft import LoraConfig

        unet = self.pipe.unet
        unet.requires_grad_(False)
        unet.add_adapter(
            LoraConfig(
                r=self.recipe.rank,
                lora_alpha=self.recipe.lora_alpha,
                lora_dropout=self.recipe.lora_dropout,
                init_lora_weights="gaussian",
                target_modules=list(self.recipe.target_modules),
            )
        )
        if self.weight_dtype is not None:
            from diffusers.training_utils import cast_training_params

            # The frozen base stays in half precision; the adapter trains in float32.
            cast_training_params(unet, dtype=torch.float32)
        params = [p for p in unet.parameters() if p.requires_grad]
        if not params:
            raise InputError(f"lora: no module of the UNet matches {', '.join(self.recipe.target_modules)}; check target_modules")
        return params

    def save(self, folder: Path) -> Path:
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        folder.mkdir(parents=True, exist_ok=True)
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.pipe.unet))
        StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
        return folder / LORA_WEIGHTS


class _DreamBooth(_Method):
    recipe: DreamBoothRecipe
    full_precision = "unet"

    def setup(self) -> list:
        unet = self.pipe.unet
        unet.requires_grad_(True)
        return list(unet.parameters())

    def save(self, folder: Path) -> Path:
        target = folder / "unet"
        self.pipe.unet.save_pretrained(str(target), safe_serialization=True)
        return target


class _TextualInversion(_Method):
    recipe: TextualInversionRecipe
    cache_text = False
    full_precision = "text_encoder"

    def setup(self) -> list:
        import torch

        tokenizer, encoder = self.pipe.tokenizer, self.pipe.text_encoder
        token = self.recipe.token
        tokenizer.add_tokens([token])
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise InputError(f"textual-inversion: the placeholder {token!r} does not become a single token; choose another")
        self.token_id = ids[0]
        initializer = self.recipe.initializer or self.recipe.class_word
        init_ids = tokenizer.encode(initializer, add_special_tokens=False)
        if self.token_id in init_ids:
            # The recipe refuses a placeholder spelled inside its initializer; this tokenizer still reads one there.
            raise InputError(
                f"textual-inversion: the tokenizer reads the placeholder {token!r} inside the initializer {initializer!r}, "
                "whose embedding it would start from; choose another placeholder (e.g. the default '<hubselect-concept>')"
            )
        if not init_ids:
            raise InputError(f"textual-inversion: the initializer {initializer!r} has no tokens")
        embeddings = encoder.get_input_embeddings()
        if self.token_id >= embeddings.num_embeddings:
            encoder.resize_token_embeddings(len(tokenizer))
            embeddings = encoder.get_input_embeddings()
        encoder.requires_grad_(False)
        embeddings.weight.requires_grad_(True)
        with torch.no_grad():
            embeddings.weight[self.token_id] = embeddings.weight[init_ids].mean(dim=0)
        self.original = embeddings.weight.detach().clone()
        self.keep = torch.ones(embeddings.num_embeddings, dtype=torch.bool, device=self.original.device)
        self.keep[self.token_id] = False
        self.embeddings = embeddings
        return [embeddings.weight]

    def after_step(self) -> None:
        import torch

        with torch.no_grad():
            self.embeddings.weight[self.keep] = self.original[self.keep]

    @property
    def learned_embedding(self):
        return self.embeddings.weight[self.token_id].detach()

    def save(self, folder: Path) -> Path:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "learned_embeds.safetensors"
        save_file({self.recipe.token: self.learned_embedding.float().cpu().contiguous()[None]}, str(target))
        return target


_METHODS: dict[type, type[_Method]] = {LoraRecipe: _Lora, DreamBoothRecipe: _DreamBooth, TextualInversionRecipe: _TextualInversion}

#: The file ``save_lora_weights`` writes (and ``load_lora_weights`` needs named when offline).
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


class Trainer:
    """Fine-tunes ``pipe`` in place with ``recipe``.

    >>> trainer = Trainer(pipe, LoraRecipe(steps=10), device=torch.device("cpu"), seed=0)  # doctest: +SKIP
    >>> result = trainer.train(images, prompts)  # doctest: +SKIP
    >>> trainer.save(Path("out"))  # doctest: +SKIP
    """

    def __init__(self, pipe: Any, recipe: Recipe, *, device: Any, seed: int = 0, model_content: str | None = None) -> None:
        import torch

        self.pipe, self.recipe, self.device, self.seed = pipe, recipe, device, seed
        #: What the pipeline's files hold (a content hash or commit sha): prior-preservation class
        #: images are cached under it (``None``: generated for every run).
        self.model_content = model_content
        self.weight_dtype = resolve_precision(recipe.mixed_precision, device)
        self.resolution = recipe.resolution or native_resolution(pipe)
        self.generator = torch.Generator().manual_seed(seed)
        self.scheduler = training_scheduler(pipe)
        prediction = self.scheduler.config.prediction_type
        if prediction not in ("epsilon", "v_prediction", "sample"):
            raise InputError(f"the model's scheduler predicts {prediction!r}; the profiler trains epsilon, v_prediction and sample models")
        self.method = _METHODS[type(recipe)](pipe, recipe, device, self.weight_dtype)
        #: The run so far (losses grow as it trains; checkpoint callbacks may read it).
        self.result = TrainResult(steps=0, train_seconds=0.0, peak_memory_bytes=None)

    def place(self) -> None:
        """Move the pipeline to the device with the precision policy: frozen modules in half
        precision on a GPU, what trains in float32 (LoRA's frozen base UNet is half precision
        too: only its adapter trains). Generation before training uses the same placement."""
        if self.weight_dtype is not None:
            for name in ("vae", "text_encoder", "unet"):
                if name != self.method.full_precision:
                    getattr(self.pipe, name).to(dtype=self.weight_dtype)
        self.pipe.to(self.device)

    # -- frozen work, done once ---------------------------------------------------------------

    def _encode_latents(self, pixels):
        """VAE posterior mean and std of every image (the VAE is frozen: sample from them per step)."""
        import torch

        vae = self.pipe.vae
        means, stds = [], []
        with torch.no_grad(), autocast(self.device, self.weight_dtype):
            for start in range(0, len(pixels), ENCODE_BATCH):
                batch = pixels[start : start + ENCODE_BATCH].to(self.device, dtype=vae.dtype)
                dist = vae.encode(batch).latent_dist
                means.append(dist.mean.float())
                stds.append(dist.std.float())
        return torch.cat(means), torch.cat(stds)

    def _token_ids(self, prompts: Sequence[str]):
        tokenizer = self.pipe.tokenizer
        return tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids

    def _encode_text(self, ids):
        return self.pipe.text_encoder(ids.to(self.device))[0]

    def _latents(self, mean, std):
        import torch

        noise = torch.randn(mean.shape, generator=self.generator).to(self.device)
        latents = mean + std * noise
        config = self.pipe.vae.config
        if getattr(config, "shift_factor", None) is not None:
            latents = latents - config.shift_factor
        return latents * config.scaling_factor

    # -- the loop -----------------------------------------------------------------------------

    def train(
        self,
        images: Sequence,
        prompts: Sequence[str],
        *,
        checkpoints: Sequence[int] = (),
        on_checkpoint: Callable[[int], bool] | None = None,
    ) -> TrainResult:
        """Run ``recipe.steps`` optimiser steps on ``images`` captioned by ``prompts``.

        At every step in ``checkpoints``, ``on_checkpoint(step)`` is called with the models in
        eval mode; returning True stops training there (early stop). Its time is not counted in
        ``train_seconds``.
        """
        import torch
        import torch.nn.functional as F
        from diffusers.optimization import get_scheduler

        if len(images) != len(prompts) or not images:
            raise ValueError("training needs one prompt per image, and at least one image")
        pipe, recipe, device = self.pipe, self.recipe, self.device
        cuda = device.type == "cuda"
        self.place()
        for module in (pipe.vae, pipe.text_encoder, pipe.unet):
            module.requires_grad_(False)

        prior = isinstance(recipe, DreamBoothRecipe) and recipe.prior_preservation
        class_images = self._class_images() if prior else []
        params = self.method.setup()
        trained = pipe.text_encoder if isinstance(self.method, _TextualInversion) else pipe.unet
        if recipe.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
            if isinstance(self.method, _TextualInversion):
                pipe.text_encoder.gradient_checkpointing_enable()

        mean, std = self._encode_latents(image_tensor(images, self.resolution))
        ids = self._token_ids(prompts)
        if prior:
            class_mean, class_std = self._encode_latents(image_tensor(class_images, self.resolution))
            class_ids = self._token_ids([recipe.class_prompt])
        text_cache = None
        if self.method.cache_text:
            with torch.no_grad(), autocast(device, self.weight_dtype):
                unique, index = torch.unique(ids, dim=0, return_inverse=True)
                encoded = torch.cat([self._encode_text(unique[i : i + ENCODE_BATCH]) for i in range(0, len(unique), ENCODE_BATCH)])
            text_cache = (encoded, index)
            if prior:
                with torch.no_grad(), autocast(device, self.weight_dtype):
                    class_text = self._encode_text(class_ids)

        optimizer = torch.optim.AdamW(
            params,
            lr=recipe.learning_rate,
            betas=(recipe.adam_beta1, recipe.adam_beta2),
            weight_decay=recipe.adam_weight_decay,
            eps=recipe.adam_epsilon,
        )
        lr_schedule = get_scheduler(
            "constant_with_warmup" if recipe.lr_warmup_steps else "constant",
            optimizer=optimizer,
            num_warmup_steps=recipe.lr_warmup_steps,
        )
        scaler = torch.amp.GradScaler("cuda") if cuda and self.weight_dtype == torch.float16 else None
        timesteps_total = self.scheduler.config.num_train_timesteps
        prediction = self.scheduler.config.prediction_type
        alphas = self.scheduler.alphas_cumprod.to(device)
        self.scheduler.alphas_cumprod = alphas  # add_noise / get_velocity index it on the latents' device

        checkpoints = sorted(set(int(s) for s in checkpoints if 0 < s <= recipe.steps))
        result = self.result = TrainResult(steps=0, train_seconds=0.0, peak_memory_bytes=None)
        order: list[int] = []
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        trained.train()
        paused = 0.0
        start = time.perf_counter()
        for step in range(1, recipe.steps + 1):
            batch = []
            while len(batch) < recipe.batch_size:
                if not order:
                    order = torch.randperm(len(images), generator=self.generator).tolist()
                batch.append(order.pop())
            index = torch.tensor(batch)
            latents = self._latents(mean[index], std[index])
            if text_cache is not None:
                hidden = text_cache[0][text_cache[1][index.to(text_cache[1].device)]]
            else:
                with autocast(device, self.weight_dtype):
                    hidden = self._encode_text(ids[index])
            if prior:
                class_index = torch.randint(len(class_images), (len(batch),), generator=self.generator)
                latents = torch.cat([latents, self._latents(class_mean[class_index], class_std[class_index])])
                if text_cache is not None:
                    class_hidden = class_text.expand(len(batch), -1, -1)
                else:
                    class_hidden = self._encode_text(class_ids.expand(len(batch), -1))
                hidden = torch.cat([hidden, class_hidden.to(hidden.dtype)])
            noise = torch.randn(latents.shape, generator=self.generator).to(device)
            timesteps = torch.randint(0, timesteps_total, (len(latents),), generator=self.generator).to(device)
            noisy = self.scheduler.add_noise(latents, noise, timesteps)
            if prediction == "epsilon":
                target = noise
            elif prediction == "v_prediction":
                target = self.scheduler.get_velocity(latents, noise, timesteps)
            else:
                target = latents
            with autocast(device, self.weight_dtype):
                model_pred = pipe.unet(noisy, timesteps, hidden).sample
            if prior:
                pred, pred_prior = model_pred.float().chunk(2)
                tgt, tgt_prior = target.float().chunk(2)
                loss = F.mse_loss(pred, tgt) + recipe.prior_loss_weight * F.mse_loss(pred_prior, tgt_prior)
            else:
                loss = F.mse_loss(model_pred.float(), target.float())
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
                optimizer.step()
            lr_schedule.step()
            optimizer.zero_grad(set_to_none=True)
            self.method.after_step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise InputError(f"{recipe.method}: the loss became {value} at step {step}; lower the learning rate")
            result.losses.append(value)
            result.step_seconds.append(time.perf_counter() - start - paused)
            result.steps = step
            if step in checkpoints and on_checkpoint is not None:
                if cuda:
                    torch.cuda.synchronize(device)
                paused_at = time.perf_counter()
                trained.eval()
                stop = on_checkpoint(step)
                trained.train()
                paused += time.perf_counter() - paused_at
                if stop and step < recipe.steps:
                    result.stopped_early_at = step
                    break
        if cuda:
            torch.cuda.synchronize(device)
            result.peak_memory_bytes = int(torch.cuda.max_memory_allocated(device))
        result.train_seconds = time.perf_counter() - start - paused
        trained.eval()
        if recipe.gradient_checkpointing:
            pipe.unet.disable_gradient_checkpointing()
        return result

    def save(self, folder: Path) -> Path:
        """Save what was trained: LoRA weights (``save_lora_weights``), the UNet, or the learned embedding."""
        return self.method.save(Path(folder))

    def _class_images(self) -> list:
        """Class images for prior preservation, drawn by the base model before training (cached:
        :mod:`~hubselect.profile.class_images`)."""
        from hubselect.profile.class_images import class_images

        return class_images(self.pipe, self.recipe, model_content=self.model_content, seed=self.seed, resolution=self.resolution,
                            device=self.device, dtype=self.weight_dtype)


__all__ = ["LORA_WEIGHTS", "TrainResult", "Trainer", "autocast", "check_pipeline", "image_tensor", "native_resolution", "resolve_precision"]
