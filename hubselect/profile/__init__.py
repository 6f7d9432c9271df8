"""The profiler: fine-tune model × dataset pairs and score them (the matching graph's model→dataset edges).

Recipes (:mod:`~hubselect.profile.recipes`: ``lora``, ``dreambooth``, ``textual-inversion``),
training (:mod:`~hubselect.profile.training`), generation and evaluation
(:mod:`~hubselect.profile.evaluation`: FID before/after, CLIP-I, CLIP-T, DINO, the overfitting
curve), one job (:mod:`~hubselect.profile.job`), and the idempotent, crash-safe job grid
(:mod:`~hubselect.profile.grid`) on a local or Ray executor (:mod:`~hubselect.profile.executors`).

>>> from hubselect.profile import profile_grid
>>> summary = profile_grid("org/sd-a,org/sd-b", "org/pets,org/cars", "my-zoo", methods="lora")  # doctest: +SKIP
>>> summary.done, summary.skipped, summary.failed  # doctest: +SKIP
(4, 0, [])
"""

from hubselect.profile.evaluation import EvalConfig
from hubselect.profile.executors import JobOutcome, LocalExecutor, RayExecutor, make_executor
from hubselect.profile.grid import GridSummary, plan_jobs, profile_grid, push_grid, run_grid
from hubselect.profile.job import ProfileJob, run_job
from hubselect.profile.journal import PROFILE_SCORE, ZooWriter
from hubselect.profile.recipes import (
    METHODS,
    DreamBoothRecipe,
    LoraRecipe,
    Recipe,
    TextualInversionRecipe,
    config_hash,
    make_recipe,
    parse_methods,
)

__all__ = [
    "METHODS",
    "PROFILE_SCORE",
    "DreamBoothRecipe",
    "EvalConfig",
    "GridSummary",
    "JobOutcome",
    "LocalExecutor",
    "LoraRecipe",
    "ProfileJob",
    "RayExecutor",
    "Recipe",
    "TextualInversionRecipe",
    "ZooWriter",
    "config_hash",
    "make_executor",
    "make_recipe",
    "parse_methods",
    "plan_jobs",
    "profile_grid",
    "push_grid",
    "run_grid",
    "run_job",
]
