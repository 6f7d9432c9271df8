"""Typed records of a zoo.

A zoo holds four kinds of facts, and a note of failed attempts, each a frozen record with a key:

- :class:`ModelRecord` — a candidate model and its features, keyed by ``model``.
- :class:`DatasetRecord` — a profiled (or merely known) dataset and its features, keyed by
  ``dataset``.
- :class:`ProfileRecord` — one model × dataset result (the matching graph's model→dataset
  edge): the zoo's score after fine-tuning, optionally the score before, other metrics, and
  everything needed to reproduce it. Keyed by ``(model, dataset, method, config_hash)``.
- :class:`DistanceRecord` — a dataset × dataset distance (lower = more similar), keyed by the
  unordered pair and the probe that measured it.
- :class:`FailedJob` — a profiling job that made no :class:`ProfileRecord`, and why; keyed like
  the record it failed to make. Not a fact about the model: no learner ever reads it.

Records carry the revision (commit sha) they were read at when they come from the Hub.
Features are free-form ``name -> number | text`` maps so any zoo in the import contract fits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Version of the on-disk layout (tables, columns, zoo.json). Bump on incompatible change.
SCHEMA_VERSION = 1

FeatureValue = float | int | str | bool | None

#: Names a parameter count goes by in zoo model tables (crawled zoos, imported bundles);
#: ``recommend --max-params`` reads the first of them a model has a number in.
PARAMETER_COLUMNS = ("total_params", "num_parameters", "parameters", "params")

#: The ``kind`` of a LoRA adapter in a zoo's model table (``crawl --kind lora``): a catalog
#: entry, not a model to fine-tune. It has no results and is never recommended, so model
#: selection leaves it out (:attr:`hubselect.zoo.Zoo.model_ids`).
ADAPTER_KIND = "lora"


def _clean_features(features: Mapping[str, Any] | None, reserved: set[str]) -> dict[str, FeatureValue]:
    out: dict[str, FeatureValue] = {}
    for name, value in (features or {}).items():
        if name in reserved:
            raise ValueError(f"feature name {name!r} is reserved; rename the column")
        if isinstance(value, float) and math.isnan(value):
            value = None
        out[str(name)] = value
    return out


@dataclass(frozen=True)
class ModelRecord:
    """A candidate model and its features.

    >>> ModelRecord("org/tiny-sd", revision="a1b2", features={"unet_params": 1.2e6}).key
    'org/tiny-sd'
    """

    model: str
    revision: str | None = None
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    RESERVED = {"model", "revision"}

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("a model record needs a model id")
        object.__setattr__(self, "features", _clean_features(self.features, self.RESERVED))

    @property
    def key(self) -> str:
        return self.model


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset and its features (e.g. image count, caption statistics, probe embedding).

    >>> DatasetRecord("org/pets", features={"images": 500}).key
    'org/pets'
    """

    dataset: str
    revision: str | None = None
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    RESERVED = {"dataset", "revision"}

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("a dataset record needs a dataset id")
        object.__setattr__(self, "features", _clean_features(self.features, self.RESERVED))

    @property
    def key(self) -> str:
        return self.dataset


@dataclass(frozen=True)
class ProfileRecord:
    """One fine-tuning result: how ``model`` scored on ``dataset`` with ``method``.

    ``score`` is the zoo's score (its name and direction live in the zoo's metadata, e.g.
    ``fid_after_finetune``, lower is better). ``score_before`` is the same score before
    fine-tuning, when known. ``metrics`` holds other measured numbers (CLIP-I, CLIP-T, DINO,
    train seconds, ...); ``details`` holds what reproduces the run (recipe config, probe,
    library versions, seed, the checkpoint curve) and when it finished (:attr:`finished_at`).

    >>> r = ProfileRecord("org/m", "org/d", score=31.5, method="lora", config_hash="9f2c")
    >>> r.key
    ('org/m', 'org/d', 'lora', '9f2c')
    """

    model: str
    dataset: str
    score: float
    method: str = "default"
    config_hash: str = ""
    score_before: float | None = None
    model_revision: str | None = None
    dataset_revision: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model or not self.dataset:
            raise ValueError("a profile record needs a model and a dataset")
        score = float(self.score)
        if not math.isfinite(score):
            raise ValueError(f"score for ({self.model}, {self.dataset}) is not a finite number: {self.score!r}")
        object.__setattr__(self, "score", score)
        if self.score_before is not None:
            before = float(self.score_before)
            object.__setattr__(self, "score_before", before if math.isfinite(before) else None)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.dataset, self.method, self.config_hash)

    @property
    def finished_at(self) -> str | None:
        """When the run that made this result finished (ISO 8601, UTC, to the second), as
        ``details["finished_at"]`` says; ``None`` for an imported result or one made before
        hubselect noted it. Of two copies of one key, a merge keeps the later.

        >>> ProfileRecord("org/m", "org/d", 31.5, details={"finished_at": "2026-01-08T09:30:00+00:00"}).finished_at
        '2026-01-08T09:30:00+00:00'
        """
        return (self.details or {}).get("finished_at")

    def to_row(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "method": self.method,
            "config_hash": self.config_hash,
            "score": self.score,
            "score_before": self.score_before,
            "model_revision": self.model_revision,
            "dataset_revision": self.dataset_revision,
            "metrics": json.dumps(dict(self.metrics), sort_keys=True),
            "details": json.dumps(dict(self.details), sort_keys=True, default=str),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ProfileRecord":
        def text(name: str) -> str | None:
            value = row.get(name)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

        before = row.get("score_before")
        return cls(
            model=row["model"],
            dataset=row["dataset"],
            score=row["score"],
            method=text("method") or "default",
            config_hash=text("config_hash") or "",
            score_before=None if before is None or (isinstance(before, float) and math.isnan(before)) else before,
            model_revision=text("model_revision"),
            dataset_revision=text("dataset_revision"),
            metrics=json.loads(text("metrics") or "{}"),
            details=json.loads(text("details") or "{}"),
        )


@dataclass(frozen=True)
class DistanceRecord:
    """How far apart two datasets are (lower = more similar), as measured by ``probe``.

    The pair is unordered: ``DistanceRecord("b", "a", 1.0)`` and ``DistanceRecord("a", "b",
    1.0)`` have the same key.

    >>> DistanceRecord("b", "a", 2.5).key
    ('a', 'b', '')
    """

    dataset_a: str
    dataset_b: str
    distance: float
    probe: str = ""

    def __post_init__(self) -> None:
        if self.dataset_a == self.dataset_b:
            raise ValueError(f"a distance needs two different datasets, got {self.dataset_a!r} twice")
        distance = float(self.distance)
        if not math.isfinite(distance) or distance < 0:
            raise ValueError(f"distance between {self.dataset_a!r} and {self.dataset_b!r} must be >= 0, got {self.distance!r}")
        a, b = sorted((self.dataset_a, self.dataset_b))
        object.__setattr__(self, "dataset_a", a)
        object.__setattr__(self, "dataset_b", b)
        object.__setattr__(self, "distance", distance)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset_a, self.dataset_b, self.probe)


@dataclass(frozen=True)
class FailedJob:
    """A profiling job that failed: the key of the :class:`ProfileRecord` it did not make, the
    model and dataset revisions it was tried at (``None``: not known), its one-line error (the
    last one), when it first failed at those revisions (ISO 8601, UTC), and how many times it
    failed at them (``attempts``; a zoo written before they were counted reads as 1).

    A scheduled refresh starts on a fresh machine each time, so this is the only memory of the
    attempts: it lets ``hubselect profile --zoo-models`` try models never tried before one that
    fails at the revisions it is at now (corrupt weights, a deleted repo), and leave a job out
    once it has failed there twice, instead of spending a slot of every run on it.

    >>> FailedJob("org/m", "org/d", "lora", "9f2c", "model org/m cannot be loaded: ...", "a1b2", "c3d4").tried_at
    ('a1b2', 'c3d4')
    """

    model: str
    dataset: str
    method: str
    config_hash: str
    error: str
    model_revision: str | None = None
    dataset_revision: str | None = None
    failed_at: str | None = None
    attempts: int = 1

    def __post_init__(self) -> None:
        if not self.model or not self.dataset:
            raise ValueError("a failed job needs a model and a dataset")
        if self.attempts < 1:
            raise ValueError(f"a failed job failed at least once, not {self.attempts!r} times")

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.dataset, self.method, self.config_hash)

    @property
    def tried_at(self) -> tuple[str | None, str | None]:
        """``(model revision, dataset revision)`` the job failed at."""
        return (self.model_revision, self.dataset_revision)

    def to_row(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "method": self.method,
            "config_hash": self.config_hash,
            "model_revision": self.model_revision,
            "dataset_revision": self.dataset_revision,
            "error": self.error,
            "failed_at": self.failed_at,
            "attempts": self.attempts,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "FailedJob":
        def text(name: str) -> str | None:
            value = row.get(name)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

        attempts = row.get("attempts")  # missing (None, or NaN beside counted rows) in a zoo written before it was counted
        return cls(
            model=row["model"],
            dataset=row["dataset"],
            method=text("method") or "default",
            config_hash=text("config_hash") or "",
            error=text("error") or "",
            model_revision=text("model_revision"),
            dataset_revision=text("dataset_revision"),
            failed_at=text("failed_at"),
            attempts=1 if attempts is None or (isinstance(attempts, float) and math.isnan(attempts)) else int(attempts),
        )
