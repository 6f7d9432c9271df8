"""What a demo run builds and how hard it trains: one typed config, validated, JSON-serialisable.

>>> DemoConfig().models[:2]
('sd-tiny-geometric', 'sd-tiny-patterns')
>>> DemoConfig.small().datasets
('shapes-warm', 'stripes-fine', 'gradients-sunset', 'glyphs-ink')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from hubselect.errors import InputError


def _names(items) -> tuple[str, ...]:
    return tuple(item.name for item in items)


def _defaults() -> dict[str, tuple[str, ...]]:
    from hubselect.demo.data import DEMO_DATASETS, HELD_OUT_DATASETS
    from hubselect.demo.pretrain import DEMO_MODELS

    return {"models": _names(DEMO_MODELS), "datasets": _names(DEMO_DATASETS), "held_out": _names(HELD_OUT_DATASETS)}


@dataclass(frozen=True)
class DemoConfig:
    """A demo run: which models and datasets, and the pre-training, fine-tuning and scoring budget.

    Models and datasets are named from :data:`hubselect.demo.pretrain.DEMO_MODELS`,
    :data:`hubselect.demo.data.DEMO_DATASETS` and ``HELD_OUT_DATASETS``; empty means all.
    """

    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    #: Datasets left out of the zoo: the demo recommends models for them.
    held_out: tuple[str, ...] = ()
    #: Images per dataset (all of them are sampled: train + held out).
    images: int = 64
    #: Images per held-out example folder.
    example_images: int = 24
    #: Multiplies every model's pre-training steps (1: the shipped zoo's budget).
    pretrain_scale: float = 1.0
    lora_steps: int = 60
    lora_rank: int = 8
    learning_rate: float = 5e-3
    #: Classifier-free guidance when generating (1: none; the tiny models never learned an unconditional mode).
    guidance_scale: float = 1.0
    batch_size: int = 4
    #: Fraction of each dataset held out to score against (never trained on).
    holdout: float = 0.5
    #: K: images generated per model before and after fine-tuning.
    num_images: int = 32
    inference_steps: int = 4
    #: Fine-tune every model on the held-out datasets too, to check the recommendation.
    check_held_out: bool = True
    #: Worker processes (one torch thread each) for pre-training and profiling.
    workers: int = 2
    seed: int = 0
    #: The Hub namespace (user) the demo publishes to on its loopback Hub.
    namespace: str = "hubselect-demo"

    def __post_init__(self) -> None:
        defaults = _defaults()
        for name in ("models", "datasets", "held_out"):
            chosen = tuple(getattr(self, name)) or defaults[name]
            unknown = [c for c in chosen if c not in defaults[name]]
            if unknown:
                raise InputError(f"unknown demo {name.replace('_', '-')} {', '.join(unknown)}; choose from: {', '.join(defaults[name])}")
            object.__setattr__(self, name, tuple(dict.fromkeys(chosen)))
        if len(self.models) < 2 or len(self.datasets) < 3:
            raise InputError("a demo needs at least 2 models and 3 datasets (leave-one-dataset-out needs something to learn from)")
        if self.images < 8 or self.example_images < 8:
            raise InputError("demo datasets need at least 8 images each")
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        if not self.pretrain_scale > 0:
            raise InputError("pretrain_scale must be positive")

    @classmethod
    def small(cls, **overrides: Any) -> DemoConfig:
        """3 models × 4 datasets with a token budget: the whole pipeline in about a minute (tests)."""
        base: dict[str, Any] = {
            "models": ("sd-tiny-geometric", "sd-tiny-smooth16", "sd-tiny-noise"),
            "datasets": ("shapes-warm", "stripes-fine", "gradients-sunset", "glyphs-ink"),
            "held_out": ("my-checkerboards",),
            "images": 16,
            "example_images": 12,
            "pretrain_scale": 0.1,
            "lora_steps": 4,
            "num_images": 6,
            "inference_steps": 2,
            "holdout": 0.4,
            "check_held_out": False,
        }
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown demo setting(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def with_(self, **changes: Any) -> DemoConfig:
        return replace(self, **changes)


__all__ = ["DemoConfig"]
