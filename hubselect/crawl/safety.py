"""Whether a diffusers repo can be loaded without running anything from the repo.

Two things make a repo unsafe to load: pickled weights (``.bin``/``.ckpt``/``.pt``: unpickling runs
code) with no safetensors copy, and custom code (a ``.py`` file, a pipeline or component class
that diffusers/transformers do not ship, a ``custom_pipeline`` in the card). hubselect never passes
``trust_remote_code``; such repos are recorded with a flag and never loaded.

>>> pickle_only_components(frozenset({"unet/diffusion_pytorch_model.bin"}), ["unet"])
['unet']
"""

from __future__ import annotations

import functools
import importlib
import math
import importlib.util
from typing import Any, Mapping

from hubselect.hub.models import PICKLE_EXTENSIONS, files_under

#: What a crawl writes for a flag it does not raise (``safety_flag``, ``excluded_reason``, and
#: ``bench_error`` after a good benchmark): empty text, not None. A zoo merge (``zoo push``,
#: ``zoo pull --out``) keeps the older value where the newer row holds none, so None would leave
#: a gated repo's flag in the shared zoo after a recrawl found access granted at the same commit.
NOT_FLAGGED = ""

#: Libraries whose classes a model_index.json may name without custom code.
TRUSTED_LIBRARIES = ("diffusers", "transformers")


@functools.lru_cache(maxsize=None)
def library_exports(library: str) -> frozenset[str]:
    """Public names of a library (``dir()`` of its lazy module lists them without importing submodules)."""
    return frozenset(dir(importlib.import_module(library)))


def is_known_class(library: Any, class_name: Any) -> bool:
    """Whether ``library.class_name`` is shipped by diffusers or transformers."""
    if not isinstance(library, str) or not isinstance(class_name, str):
        return False
    if library in TRUSTED_LIBRARIES:
        return class_name in library_exports(library) or _resolves(library, class_name)
    # diffusers names its own pipeline sub-packages as libraries, e.g. ["stable_diffusion", "StableDiffusionSafetyChecker"].
    return library.isidentifier() and importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None


@functools.lru_cache(maxsize=None)
def _resolves(library: str, class_name: str) -> bool:
    """Whether the trusted ``library`` resolves ``class_name`` although ``dir()`` does not list it.

    transformers 5 serves the ``…TokenizerFast`` names of Flux's, SD3's, Sana's and Stable
    Cascade's tokenizers (``T5TokenizerFast``, ``GemmaTokenizerFast``, ``CLIPTokenizerFast``)
    as aliases its lazy module resolves on access; they are its own classes, not repo code.
    Looking one up imports a module of that library, never anything from the repo.
    """
    try:
        return isinstance(getattr(importlib.import_module(library), class_name, None), type)
    except Exception:  # a lazy import failing (a missing optional dependency) is not a class we can vouch for
        return False


def components_of(model_index: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Component name → (library, class) from ``model_index.json``; ``[null, null]`` entries are left out."""
    out = {}
    for name, value in model_index.items():
        if name.startswith("_") or not isinstance(value, (list, tuple)) or len(value) != 2:
            continue
        library, cls = value
        if library is None and cls is None:
            continue
        out[name] = (library, cls)
    return out


def remote_code_reasons(files: frozenset[str], model_index: Mapping[str, Any] | None, card: Mapping[str, Any] | None) -> list[str]:
    """Why loading this repo would need code from the repo itself (empty: it does not)."""
    reasons = []
    code = sorted(f for f in files if f.endswith(".py"))
    if code:
        reasons.append(f"ships Python code ({', '.join(code[:3])}{', ...' if len(code) > 3 else ''})")
    if card and card.get("custom_pipeline"):
        reasons.append(f"card names custom_pipeline {card['custom_pipeline']!r}")
    if model_index is not None:
        pipeline = model_index.get("_class_name")
        if not isinstance(pipeline, str) or pipeline not in library_exports("diffusers"):
            reasons.append(f"pipeline class {pipeline!r} is not a diffusers class")
        for name, (library, cls) in components_of(model_index).items():
            if not is_known_class(library, cls):
                reasons.append(f"component {name} is {library}.{cls}, not a diffusers/transformers class")
    return reasons


def pickle_only_components(files: frozenset[str], components: list[str]) -> list[str]:
    """Components whose weights exist only as pickles, never as safetensors."""
    out = []
    for name in components:
        under = files_under(files, name)
        if any(f.endswith(".safetensors") for f in under):
            continue
        if any(f.endswith(PICKLE_EXTENSIONS) for f in under):
            out.append(name)
    return out


def missing_configs(files: frozenset[str], model_index: Mapping[str, Any]) -> list[str]:
    """Config files diffusers needs to build a pipeline's components that the repo lacks: a
    weighted component's ``config.json``, a scheduler's ``scheduler_config.json``.

    >>> missing_configs(frozenset({"unet/diffusion_pytorch_model.safetensors"}), {"unet": ["diffusers", "UNet2DConditionModel"]})
    ['unet/config.json']
    """
    out = []
    for name, (_, cls) in components_of(model_index).items():
        under = files_under(files, name)
        if isinstance(cls, str) and cls.endswith("Scheduler"):
            needed = f"{name}/scheduler_config.json"
        elif any(f.endswith((".safetensors", *PICKLE_EXTENSIONS)) for f in under):
            needed = f"{name}/config.json"
        else:
            continue
        if needed not in files:
            out.append(needed)
    return out


def unsafe_reasons(files: frozenset[str], model_index: Mapping[str, Any] | None, card: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """(flag, reason) pairs: ``remote_code``, ``pickle_only`` and/or ``missing_config``. Empty
    means safe to load with safetensors.

    ``missing_config`` is not a danger, but such a repo cannot be loaded either: flagged from
    the file list like the others, it is kept out of profiling and benchmarks before any
    weights are fetched (diffusers would fail on it with a bare ``OSError``).
    """
    out = []
    code = remote_code_reasons(files, model_index, card)
    if code:
        out.append(("remote_code", "needs custom code: " + "; ".join(code)))
    if model_index is not None:
        pickles = pickle_only_components(files, list(components_of(model_index)))
        if pickles:
            out.append(("pickle_only", f"weights only as pickle files ({', '.join(pickles)}): loading them can run code"))
        missing = missing_configs(files, model_index)
        if missing:
            out.append(("missing_config", f"no {', '.join(missing)}: diffusers cannot build the pipeline without it"))
    return out


def is_profilable(features: Mapping[str, Any]) -> bool:
    """Whether a crawled model may be loaded (benchmarked, profiled): a pipeline, not flagged, weights seen.

    >>> is_profilable({"kind": "t2i", "excluded_reason": None, "total_params": 1.2e9})
    True
    >>> is_profilable({"kind": "t2i", "excluded_reason": "weights only as pickle files (unet)"})
    False
    """
    total = features.get("total_params")
    return (
        not features.get("excluded_reason")
        and features.get("kind", "t2i") == "t2i"
        and isinstance(total, (int, float))
        and not isinstance(total, bool)
        and math.isfinite(total)
        and total > 0
    )
