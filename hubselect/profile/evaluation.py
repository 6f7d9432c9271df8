"""How a fine-tuned model is scored: the evaluation config and the scorer.

A job reads a seeded sample of the dataset and holds part of it out. K images are generated
with fixed seeds from the held-out prompts — by the base model (the pre-fine-tuning score) and
by the fine-tuned model — and compared with the held-out real images:

- **FID** (after and before fine-tuning): the Fréchet distance between the probe features of
  the generated and the real images, through clean-fid's machinery
  (:func:`hubselect.metrics.frechet.extract_features`: clean resize, clean-fid's batch loop,
  clean-fid's Fréchet distance). With Inception-v3 as the probe this is FID proper; with
  another probe (CLIP by default) it is the same statistic in that probe's feature space, and
  every record names its extractor (``details.fid_extractor``). With a few dozen images FID is
  biased upwards and noisy: read it as a relative signal between models scored the same way,
  never as a number to compare with published FIDs.
- **CLIP-I**, **CLIP-T**, **DINO**: see :mod:`hubselect.metrics.clip_scores`.

The overfitting signal: at a few checkpoints during training, images are generated from
prompts that put the concept in new contexts ("… in a forest"); their CLIP-I against the real
images is *fidelity*, their CLIP-T against the context prompt is *editability*. The curve of
both is recorded; optionally training stops early once editability has fallen far below its
best (the model has started to ignore the prompt for the concept).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from hubselect.errors import InputError
from hubselect.profile.recipes import canonical_types

log = logging.getLogger(__name__)

#: Contexts appended to the concept prompt to test editability (as in textual inversion's and
#: DreamBooth's evaluations).
DEFAULT_CONTEXTS = ("in a forest", "on a beach", "in the snow", "at night in a city")


@dataclass(frozen=True)
class EvalConfig:
    """How a job samples, splits, generates and scores. All of it is part of the config hash.

    >>> EvalConfig(num_images=4, inference_steps=2).holdout_count(10)
    2
    """

    #: Images read from the dataset (seeded), for training and held out together.
    sample_size: int = 100
    #: Fraction of the sample held out for scoring (never trained on).
    holdout: float = 0.2
    #: Fewest decodable images a dataset needs (too few → the job fails with a one-line error).
    min_images: int = 8
    #: K: images generated per model (before and after fine-tuning), seeds ``seed .. seed+K-1``.
    num_images: int = 32
    inference_steps: int = 25
    guidance_scale: float = 7.5
    #: Images generated per model in one pipeline call.
    generation_batch: int = 8
    contexts: tuple[str, ...] = DEFAULT_CONTEXTS
    #: Checkpoints along training where fidelity and editability are measured (0: none).
    curve_points: int = 4
    #: Images per checkpoint (spread over the contexts).
    curve_images: int = 4
    early_stop: bool = False
    #: Early stop once editability falls this far (relative) below its best so far.
    early_stop_drop: float = 0.1

    def __post_init__(self) -> None:
        canonical_types(self)
        object.__setattr__(self, "contexts", tuple(self.contexts))
        if not 0 < self.holdout < 1:
            raise InputError(f"the held-out fraction must be between 0 and 1, got {self.holdout}")
        if self.min_images < 3:
            raise InputError(f"min_images must be at least 3 (one to train on, two to score against), got {self.min_images}")
        if self.sample_size < self.min_images:
            raise InputError(f"the sample size ({self.sample_size}) is below min_images ({self.min_images})")
        if self.num_images < 2:
            raise InputError(f"FID needs at least 2 generated images, got num_images={self.num_images}")
        if self.inference_steps < 1 or self.generation_batch < 1:
            raise InputError("inference_steps and generation_batch must be at least 1")
        if self.curve_points < 0 or self.curve_images < 1:
            raise InputError("curve_points must be >= 0 and curve_images >= 1")
        if self.early_stop and (self.curve_points < 2 or not self.contexts):
            raise InputError("early stopping needs at least 2 curve points and some context prompts")

    def holdout_count(self, n: int) -> int:
        """Held-out images of a sample of ``n``: at least 2 (a covariance needs two), leaving at least 1 to train on."""
        return int(min(max(2, round(n * self.holdout)), n - 1))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["contexts"] = list(self.contexts)
        return data


def checkpoint_steps(steps: int, points: int) -> list[int]:
    """Steps at which the curve is measured: ``points`` evenly spaced, the last one at ``steps``.

    >>> checkpoint_steps(100, 4)
    [25, 50, 75, 100]
    >>> checkpoint_steps(3, 4)
    [1, 2, 3]
    """
    if points <= 0:
        return []
    return sorted({max(1, round(steps * (i + 1) / points)) for i in range(points)})


@dataclass
class ImageScores:
    """Scores of one set of generated images against the held-out real images."""

    fid: float
    clip_i: float | None = None
    clip_t: float | None = None
    dino: float | None = None


@dataclass
class RealReference:
    """The held-out real images as every scorer sees them (computed once per job)."""

    fid_features: np.ndarray
    embeddings: np.ndarray | None
    dino_embeddings: np.ndarray | None


@dataclass
class Scorer:
    """Scores generated images with the configured probes.

    ``probe`` extracts FID features (clean-fid pipeline) and, when it is a CLIP model, the image
    embeddings of CLIP-I/CLIP-T; ``text`` is CLIP's text tower when the probe has one;
    ``dino`` is an optional backbone for the DINO score.
    """

    probe: Any
    text: Any = None
    dino: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_clip(self) -> bool:
        return getattr(self.probe.ref, "kind", None) == "clip"

    def fid_features(self, images: Sequence) -> np.ndarray:
        from hubselect.metrics.frechet import extract_features

        return extract_features(list(images), self.probe.clean_fid_extractor(), batch_size=self.probe.batch_size, device=self.probe.device)

    def reference(self, images: Sequence) -> RealReference:
        return RealReference(
            fid_features=self.fid_features(images),
            embeddings=self.probe.embed(list(images)) if self.is_clip else None,
            dino_embeddings=self.dino.embed(list(images)) if self.dino is not None else None,
        )

    def score(self, images: Sequence, prompts: Sequence[str], real: RealReference) -> ImageScores:
        """FID, CLIP-I, CLIP-T and DINO of generated ``images`` (made from ``prompts``) against ``real``."""
        from hubselect.metrics.clip_scores import clip_i, clip_t, dino_similarity
        from hubselect.metrics.frechet import frechet_distance, frechet_stats

        generated = self.fid_features(images)
        extractor = self.probe.key
        fid = frechet_distance(frechet_stats(generated, extractor=extractor), frechet_stats(real.fid_features, extractor=extractor))
        scores = ImageScores(fid=fid)
        if self.is_clip:
            embeddings = self.probe.embed(list(images))
            scores.clip_i = clip_i(embeddings, real.embeddings)
            if self.text is not None:
                scores.clip_t = clip_t(embeddings, self.text.embed(list(prompts)))
        if self.dino is not None:
            scores.dino = dino_similarity(self.dino.embed(list(images)), real.dino_embeddings)
        return scores

    def fidelity_editability(self, images: Sequence, context_prompts: Sequence[str], real: RealReference) -> tuple[float | None, float | None]:
        """(CLIP-I vs the real images, CLIP-T vs the context prompts) of checkpoint images."""
        from hubselect.metrics.clip_scores import clip_i, clip_t

        if not self.is_clip:
            return None, None
        embeddings = self.probe.embed(list(images))
        fidelity = clip_i(embeddings, real.embeddings)
        editability = clip_t(embeddings, self.text.embed(list(context_prompts))) if self.text is not None else None
        return fidelity, editability


def load_scorer(probe_ref: Any, dino_ref: Any = None, *, device: str = "auto") -> Scorer:
    """Load the probes of a job (from local files: probe refs are resolved, and downloaded, before)."""
    from hubselect.metrics.clip_scores import load_text_tower

    probe = probe_ref.load(device=device)
    scorer = Scorer(probe)
    if scorer.is_clip:
        scorer.text, reason = load_text_tower(probe_ref.path, device=probe.device)
        if reason:
            scorer.notes.append(f"clip_t not computed: {reason}")
            log.info("CLIP-T not computed: %s", reason)
    else:
        scorer.notes.append(f"clip_i/clip_t not computed: the probe {probe_ref.id} is not a CLIP model")
    if dino_ref is not None:
        scorer.dino = dino_ref.load(device=device)
    return scorer


__all__ = ["DEFAULT_CONTEXTS", "EvalConfig", "ImageScores", "RealReference", "Scorer", "checkpoint_steps", "load_scorer"]
