"""Fine-tuning recipes: typed configs with explicit hyperparameters and defaults drawn from practice.

Each recipe is a frozen dataclass that validates itself in ``__post_init__`` and serialises with
:meth:`Recipe.to_dict`. Three methods:

- ``lora`` (the default): rank-decomposition matrices on the denoiser's attention projections
  (peft ``LoraConfig`` on ``to_q``/``to_k``/``to_v``/``to_out.0``), everything else frozen.
  Defaults follow diffusers' LoRA training examples: rank 4, learning rate 1e-4, constant
  schedule, AdamW with weight decay 1e-2, gradient clipping at 1.0, 500 steps.
- ``dreambooth``: the whole denoiser is fine-tuned on an instance prompt holding a rare
  identifier token ("a photo of sks <class>"), with an optional prior-preservation loss on class
  images the base model generates. Defaults follow practitioners' reports: DreamBooth overfits
  quickly, so a low learning rate (1e-6) and ~200 steps; prior preservation off (it rarely
  helps with few instance images, and costs a generation pass).
- ``textual-inversion``: one new token embedding is learned, everything else frozen. Defaults
  follow diffusers' textual inversion example: learning rate 5e-4, 3000 steps, the embedding
  initialised from the class word.

The recipe decides how a training image is captioned (:meth:`Recipe.prompt`): the dataset's
caption when the recipe uses captions and the image has one, else the template
``"a photo of {token} {class_word}"``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import re
import string
import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Mapping

from hubselect.errors import InputError

#: Fine-tuning methods, in the order ``--methods`` lists them.
METHODS = ("lora", "dreambooth", "textual-inversion")

#: The method used when none is given.
DEFAULT_METHOD = "lora"

#: ``mixed_precision`` values: ``auto`` is bf16 on a GPU that supports it, else fp16 on a GPU,
#: and full precision on a CPU (CPU autocast is slower than float32 for these models).
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")

#: Bump when a change in training or evaluation code changes results for the same config.
PROFILE_CODE_VERSION = 1

#: Recipe fields that change what a job costs (memory, time), not its numbers: :func:`config_hash`
#: hashes them as their defaults, so a result made with or without them is one result, as one
#: made on another device is. Gradient checkpointing recomputes activations in the backward
#: pass: the same losses and weights (bit for bit on CPU).
COST_ONLY_FIELDS = ("gradient_checkpointing",)

_SPACES = re.compile(r"\s+")

#: The fields a caption template may name (:meth:`Recipe.prompt` fills them).
TEMPLATE_FIELDS = ("token", "class_word")


def template_fields(method: str, what: str, template: str, allowed: tuple[str, ...]) -> set[str]:
    """The fields ``template`` names, once it is sure to format with ``allowed`` filled in; a
    one-line :class:`InputError` naming the template otherwise.

    Checked when a recipe is built: a template that cannot be formatted would fail in every
    job, after the model and dataset were read and the "before" images generated.

    >>> template_fields("lora", "template", "a photo of {token} {foo}", TEMPLATE_FIELDS)
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: lora: the template 'a photo of {token} {foo}' names {foo}; it may name {token} and {class_word}
    """
    try:
        named = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        unknown = next((name for name in named if name not in allowed), None)
        if unknown is None:
            template.format(**dict.fromkeys(allowed, "word"))  # a format spec a word cannot take ({token:d})
    except (ValueError, TypeError) as exc:
        raise InputError(f"{method}: the {what} {template!r} cannot be formatted ({exc}); write a literal brace as {{{{ or }}}}") from None
    if unknown is not None:
        may = " and ".join(f"{{{name}}}" for name in allowed)
        raise InputError(f"{method}: the {what} {template!r} names {{{unknown}}}; it may name {may}")
    return set(named)


@dataclass(frozen=True)
class Recipe:
    """What every recipe shares: the optimisation schedule, precision, and how images are captioned."""

    method: ClassVar[str] = ""

    steps: int = 500
    learning_rate: float = 1e-4
    batch_size: int = 1
    #: Training (and generation) resolution in pixels; ``None`` is the model's native one.
    resolution: int | None = None
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = False
    #: Use the dataset's captions where images have them (else the template).
    use_captions: bool = True
    template: str = "a photo of {token} {class_word}"
    token: str = "sks"
    class_word: str = "object"

    def __post_init__(self) -> None:
        canonical_types(self, f"{self.method}: ")
        if self.steps < 1:
            raise InputError(f"{self.method}: steps must be at least 1, got {self.steps}")
        if not 0 < self.learning_rate < math.inf:  # nan and inf too: every step's loss would be nan
            raise InputError(f"{self.method}: the learning rate must be a positive, finite number, got {self.learning_rate}")
        if self.batch_size < 1:
            raise InputError(f"{self.method}: the batch size must be at least 1, got {self.batch_size}")
        if self.resolution is not None and (self.resolution < 8 or self.resolution % 8):
            raise InputError(f"{self.method}: the resolution must be a multiple of 8 (>= 8), got {self.resolution}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise InputError(f"{self.method}: mixed precision {self.mixed_precision!r} is not one of: {', '.join(MIXED_PRECISION)}")
        if not self.class_word.strip():
            # Found here, before any job: textual inversion would fail on it only after loading
            # the model (an embedding initialised from no token), the others prompt with no noun.
            raise InputError(f"{self.method}: the class word is blank; pass a noun with --class-word (e.g. dog), or leave it out for 'object'")
        if not template_fields(self.method, "template", self.template, TEMPLATE_FIELDS):
            raise InputError(f"{self.method}: the caption template needs {{token}} or {{class_word}}, got {self.template!r}")
        if self.lr_warmup_steps < 0 or self.max_grad_norm <= 0:
            raise InputError(f"{self.method}: warmup steps must be >= 0 and max_grad_norm > 0")

    def prompt(self, caption: str | None = None, *, learned: bool = True) -> str:
        """The prompt for one image: its caption, or the template.

        ``learned=False`` leaves out the learned token (for the base model, which does not know
        it, and for CLIP, which scores prompt fidelity on plain words).

        >>> LoraRecipe().prompt(None)
        'a photo of sks object'
        >>> LoraRecipe().prompt(None, learned=False)
        'a photo of object'
        >>> LoraRecipe().prompt("a red bus")
        'a red bus'
        """
        if self.use_captions and caption:
            return caption
        text = self.template.format(token=self.token if learned else "", class_word=self.class_word)
        return _SPACES.sub(" ", text).strip()

    def to_dict(self) -> dict[str, Any]:
        """Every hyperparameter, and the method name."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return {"method": self.method, **data}


@dataclass(frozen=True)
class LoraRecipe(Recipe):
    """LoRA on the denoiser's attention projections (the default method).

    >>> LoraRecipe(rank=8).to_dict()["lora_alpha"]
    8
    """

    method: ClassVar[str] = "lora"

    rank: int = 4
    #: ``None``: equal to the rank (a LoRA scale of 1), as diffusers' examples set it.
    lora_alpha: int | None = None
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rank < 1:
            raise InputError(f"lora: the rank must be at least 1, got {self.rank}")
        if self.lora_alpha is None:
            object.__setattr__(self, "lora_alpha", self.rank)
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if not self.target_modules:
            raise InputError("lora: name at least one target module")


@dataclass(frozen=True)
class DreamBoothRecipe(Recipe):
    """Full fine-tuning of the denoiser on an instance prompt with a rare identifier token."""

    method: ClassVar[str] = "dreambooth"

    steps: int = 200
    learning_rate: float = 1e-6
    use_captions: bool = False
    prior_preservation: bool = False
    prior_loss_weight: float = 1.0
    num_class_images: int = 100
    class_template: str = "a photo of {class_word}"
    #: Inference steps used to generate the class images.
    class_inference_steps: int = 25

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prior_preservation and self.num_class_images < 1:
            raise InputError("dreambooth: prior preservation needs num_class_images >= 1")
        # The base model, which does not know the identifier token, draws the class images.
        template_fields(self.method, "class template", self.class_template, ("class_word",))

    @property
    def class_prompt(self) -> str:
        return _SPACES.sub(" ", self.class_template.format(class_word=self.class_word)).strip()


@dataclass(frozen=True)
class TextualInversionRecipe(Recipe):
    """A new token embedding (the placeholder), everything else frozen."""

    method: ClassVar[str] = "textual-inversion"

    steps: int = 3000
    learning_rate: float = 5e-4
    use_captions: bool = False
    token: str = "<hubselect-concept>"
    #: Words whose mean token embedding initialises the placeholder (default: the class word).
    initializer: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.token or " " in self.token:
            raise InputError(f"textual-inversion: the placeholder token must be one word, got {self.token!r}")
        named = template_fields(self.method, "template", self.template, TEMPLATE_FIELDS)
        if "token" not in named:
            raise InputError("textual-inversion: the caption template must hold {token} (the learned embedding)")
        # The tokenizer reads the placeholder wherever its letters appear (case aside): inside the
        # initializer it leaves the embedding to start from the rest or from nothing, inside the
        # prompts' class word it turns that noun into the learned token too.
        if self.initializer:
            texts = [("initializer", self.initializer, "whose embedding it would start from", "initializer")]
            if "class_word" in named:
                texts.append(("class word", self.class_word, "which the prompts name beside it", "class word (--class-word)"))
        else:
            texts = [("class word", self.class_word, "whose embedding it would start from", "class word (--class-word)")]
        for what, text, role, other in texts:
            if self.token.lower() in text.lower():
                raise InputError(
                    f"textual-inversion: the placeholder token {self.token!r} is part of the {what} {text!r}, {role}; choose a placeholder "
                    f"that is not (e.g. the default {TextualInversionRecipe.token!r}), or another {other}"
                )


RECIPES: dict[str, type[Recipe]] = {cls.method: cls for cls in (LoraRecipe, DreamBoothRecipe, TextualInversionRecipe)}


def parse_methods(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"lora,dreambooth"`` → ``["lora", "dreambooth"]``, refusing unknown names in one line.

    >>> parse_methods("lora, textual-inversion")
    ['lora', 'textual-inversion']
    """
    if text is None:
        return [DEFAULT_METHOD]
    items = text.split(",") if isinstance(text, str) else list(text)
    methods = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item not in RECIPES:
            raise InputError(f"unknown fine-tuning method {item!r}; choose from: {', '.join(METHODS)}")
        if item not in methods:
            methods.append(item)
    if not methods:
        raise InputError(f"no fine-tuning method given; choose from: {', '.join(METHODS)}")
    return methods


def make_recipe(method: str, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """The recipe of ``method`` with its defaults, changed by ``overrides`` that apply to it.

    Overrides a recipe does not have (``rank`` for DreamBooth) are ignored, so one set of
    command-line options can configure a grid of several methods (:func:`check_overrides`
    refuses one that no method of the grid has). ``None`` values mean "keep the default".

    >>> make_recipe("lora", {"steps": 10, "prior_preservation": True}).steps
    10
    """
    try:
        cls = RECIPES[method]
    except KeyError:
        raise InputError(f"unknown fine-tuning method {method!r}; choose from: {', '.join(METHODS)}") from None
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in (overrides or {}).items() if k in names and v is not None}
    return cls(**kwargs)


def check_overrides(methods: list[str] | tuple[str, ...], overrides: Mapping[str, Any] | None) -> None:
    """Refuse an override that applies to none of ``methods`` (``rank`` for a DreamBooth grid).

    :func:`make_recipe` drops what a recipe lacks, so that one set of options can configure a
    grid of methods; an option that no method of the grid has would silently do nothing (and
    the jobs would count as already in the zoo, as if it had been applied).

    >>> check_overrides(["lora"], {"prior_preservation": True})
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: --prior-preservation applies to dreambooth; add it to --methods or drop the option
    """
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        owners = [method for method in METHODS if name in {f.name for f in fields(RECIPES[method])}]
        if owners and not set(owners) & set(methods):
            what = "it" if len(owners) == 1 else "one of them"
            raise InputError(f"--{name.replace('_', '-')} applies to {', '.join(owners)}; add {what} to --methods or drop the option")


def with_overrides(recipe: Recipe, **overrides: Any) -> Recipe:
    """A copy of ``recipe`` with some fields changed (validated again)."""
    return replace(recipe, **overrides)


@functools.cache
def _typed_fields(cls: type) -> tuple[tuple[str, type], ...]:
    """The fields of dataclass ``cls`` annotated ``bool``, ``int`` or ``float`` (or that or ``None``)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        kinds = set(typing.get_args(hints[f.name]) or {hints[f.name]}) - {type(None)}
        if kinds in ({bool}, {int}, {float}):
            out.append((f.name, kinds.pop()))
    return tuple(out)


def canonical_types(settings: Any, label: str = "") -> None:
    """Make a frozen dataclass's flags bools, its whole-number fields ints and its real-number
    fields floats, in place.

    ``steps=500.0`` or ``early_stop=1`` (from a script, a YAML file, a numpy table) and the CLI's
    ``--steps 500`` or ``--early-stop`` are one setting, and the config hash of canonical JSON
    must say so ("500.0" and "500", "1" and "true" hash apart). A fraction for a whole number, a
    flag for a number or a number other than 0 or 1 for a flag is refused, with ``label`` before
    the field's name.
    """
    for name, kind in _typed_fields(type(settings)):
        value = getattr(settings, name)
        if value is None or type(value) is kind:
            continue
        flag = isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool is no number
        if kind is bool:
            if not flag and not (isinstance(value, numbers.Integral) and value in (0, 1)):
                raise InputError(f"{label}{name} must be True or False, got {value!r}")
        elif flag:
            raise InputError(f"{label}{name} must be a number, not {value!r}")
        elif not isinstance(value, numbers.Real):
            continue
        elif kind is int and not isinstance(value, numbers.Integral) and not float(value).is_integer():
            raise InputError(f"{label}{name} must be a whole number, got {value}")
        object.__setattr__(settings, name, kind(value))


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(recipe: Recipe, evaluation: Any, *, probe: str, dino_probe: str | None, seed: int) -> str:
    """A stable id of everything that decides a profile's numbers except the model and dataset
    (which are the record's key): the recipe (less its :data:`COST_ONLY_FIELDS`), the
    evaluation, the probes (id and revision), the seed and the profiler's code version. 16 hex
    digits of a sha256 of canonical JSON.

    >>> from hubselect.profile.evaluation import EvalConfig
    >>> h = config_hash(LoraRecipe(), EvalConfig(), probe="org/clip@abc", dino_probe=None, seed=0)
    >>> len(h), h == config_hash(LoraRecipe(), EvalConfig(), probe="org/clip@abc", dino_probe=None, seed=0)
    (16, True)
    """
    # As their defaults, not left out: the hashes of results made before stay the same.
    defaults = {f.name: f.default for f in fields(recipe) if f.name in COST_ONLY_FIELDS}
    payload = {
        "code_version": PROFILE_CODE_VERSION,
        "recipe": recipe.to_dict() | defaults,
        "evaluation": evaluation.to_dict(),
        "probe": probe,
        "dino_probe": dino_probe,
        "seed": int(seed),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]


__all__ = [
    "COST_ONLY_FIELDS",
    "DEFAULT_METHOD",
    "METHODS",
    "MIXED_PRECISION",
    "RECIPES",
    "TEMPLATE_FIELDS",
    "DreamBoothRecipe",
    "LoraRecipe",
    "Recipe",
    "TextualInversionRecipe",
    "canonical_json",
    "check_overrides",
    "config_hash",
    "make_recipe",
    "parse_methods",
    "template_fields",
    "with_overrides",
]
