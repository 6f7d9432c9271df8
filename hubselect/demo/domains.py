"""Procedural image domains: shapes, glyphs, stripes, checkers, dots, gradients, clouds, static, scenes.

Each *domain* draws one kind of picture; a *palette* gives it its colours. A demo dataset is
one domain in one palette (plus a few knobs), so two datasets of one domain in related
palettes look alike and two datasets of different domains do not — the structure a real Hub
zoo has (pets vs. cars vs. paintings), at 32 px. Every image comes with a caption drawn from
the domain's and the palette's words, so text conditioning means something.

Everything is numpy on a seeded generator: the same call gives the same pixels everywhere.

>>> import numpy as np
>>> image, caption = draw("shapes", np.random.default_rng(0), palette="warm")
>>> image.size, caption.split()[0]
((32, 32), 'a')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

#: Colours of each palette, 0..255 RGB; the first one is the usual background.
PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "warm": ((250, 226, 190), (220, 60, 30), (245, 150, 20), (180, 30, 60), (250, 200, 40)),
    "cool": ((205, 230, 245), (20, 70, 160), (30, 150, 170), (90, 60, 170), (60, 190, 120)),
    "mono": ((245, 245, 245), (15, 15, 15), (90, 90, 90), (160, 160, 160), (40, 40, 40)),
    "neon": ((12, 8, 30), (255, 40, 200), (40, 255, 140), (40, 200, 255), (250, 250, 40)),
    "pastel": ((250, 245, 235), (245, 180, 190), (180, 215, 245), (200, 240, 200), (240, 220, 160)),
    "earth": ((225, 210, 180), (110, 80, 40), (70, 110, 50), (160, 110, 60), (60, 60, 40)),
    "night": ((10, 15, 45), (230, 230, 250), (70, 60, 140), (25, 40, 90), (250, 220, 120)),
}

_PALETTE_WORDS = {
    "warm": ["warm", "orange", "red", "sunny"],
    "cool": ["cool", "blue", "teal", "icy"],
    "mono": ["black", "white", "grey", "ink"],
    "neon": ["neon", "glowing", "pink", "electric"],
    "pastel": ["pastel", "soft", "pale", "light"],
    "earth": ["earthy", "brown", "olive", "muted"],
    "night": ["dark", "night", "starry", "deep"],
}


def _colour(palette: str, index: int, rng: np.random.Generator, jitter: float = 12.0) -> np.ndarray:
    colours = PALETTES[palette]
    base = np.array(colours[index % len(colours)], dtype=np.float32)
    return base + rng.normal(0, jitter, 3)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x / (size - 1), y / (size - 1)


def _canvas(size: int, colour: np.ndarray) -> np.ndarray:
    return np.broadcast_to(colour, (size, size, 3)).astype(np.float32).copy()


# -- the domains ---------------------------------------------------------------------------------


def _shapes(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    array = _canvas(size, _colour(palette, 0, rng))
    words = []
    for _ in range(int(rng.integers(1, 4))):
        kind = ["circle", "square", "triangle"][int(rng.integers(3))]
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = rng.uniform(0.12, 0.3) * (0.6 + 0.8 * knob)
        if kind == "circle":
            inside = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        elif kind == "square":
            inside = (np.abs(x - cx) < r) & (np.abs(y - cy) < r)
        else:
            inside = (y - cy < r) & (y - cy > -r) & (np.abs(x - cx) < (y - cy + r) / 2)
        array[inside] = _colour(palette, 1 + int(rng.integers(4)), rng)
        words.append(kind)
    return array, ["a", "picture", "of", "a", *words, "shape"]


# Glyph strokes join points of a 3×3 lattice, like the strokes of a letter.
_ANCHORS = [(0.25 + 0.25 * i, 0.2 + 0.3 * j) for j in range(3) for i in range(3)]


def _glyphs(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    array = _canvas(size, _colour(palette, 0, rng))
    ink = _colour(palette, 1, rng)
    width = 0.05 + 0.05 * knob
    for _ in range(int(rng.integers(2, 5))):
        a, b = rng.choice(len(_ANCHORS), 2, replace=False)
        (x0, y0), (x1, y1) = _ANCHORS[a], _ANCHORS[b]
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        distance = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
        array[distance < width] = ink
    return array, ["a", "letter", "glyph", "in", "ink", "stroke"]


def _stripes(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    angle = rng.uniform(0, np.pi)
    period = (0.08 + 0.25 * knob) * rng.uniform(0.8, 1.25)
    phase = (x * np.cos(angle) + y * np.sin(angle)) / period + rng.uniform(0, 1)
    band = (np.floor(phase) % 2)[..., None]
    array = np.where(band > 0, _colour(palette, 1, rng), _colour(palette, 2 + int(rng.integers(3)), rng))
    return array, ["a", "striped", "pattern", "of", "lines"]


def _checker(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    cell = (0.08 + 0.2 * knob) * rng.uniform(0.8, 1.25)
    board = ((np.floor(x / cell + rng.uniform(0, 1)) + np.floor(y / cell + rng.uniform(0, 1))) % 2)[..., None]
    array = np.where(board > 0, _colour(palette, 1, rng), _colour(palette, 0, rng))
    return array, ["a", "checkerboard", "tile", "grid"]


def _dots(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    spacing = (0.12 + 0.18 * knob) * rng.uniform(0.85, 1.2)
    ox, oy = rng.uniform(0, spacing, 2)
    fx = ((x + ox) % spacing) / spacing - 0.5
    fy = ((y + oy) % spacing) / spacing - 0.5
    inside = (fx**2 + fy**2 < 0.09)[..., None]
    array = np.where(inside, _colour(palette, 1 + int(rng.integers(4)), rng), _colour(palette, 0, rng))
    return array, ["a", "polka", "dot", "pattern"]


def _gradients(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    a, b = _colour(palette, 1 + int(rng.integers(4)), rng), _colour(palette, 1 + int(rng.integers(4)), rng)
    if rng.uniform() < 0.2 + 0.6 * knob:
        angle = rng.uniform(0, 2 * np.pi)
        t = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle) + 0.5
        kind = "linear"
    else:
        cx, cy = rng.uniform(0.2, 0.8, 2)
        t = np.hypot(x - cx, y - cy) * 1.4
        kind = "radial"
    t = np.clip(t, 0, 1)[..., None]
    return a * (1 - t) + b * t, ["a", "smooth", kind, "gradient"]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise: a coarse random grid, bilinearly upsampled (clouds, marble)."""
    coarse = rng.uniform(0, 1, (cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image), 0, 1)


def _clouds(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    t = _smooth_noise(rng, size, 2 + round(4 * knob))[..., None]
    a, b = _colour(palette, 0, rng), _colour(palette, 1 + int(rng.integers(4)), rng)
    return a * (1 - t) + b * t, ["soft", "cloudy", "marbled", "texture"]


def _static(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    colours = np.array(PALETTES[palette], dtype=np.float32)
    block = 1 + round(2 * knob)
    cells = rng.integers(len(colours), size=(size // block + 1, size // block + 1))
    index = np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[:size, :size]
    return colours[index] + rng.normal(0, 20, (size, size, 3)), ["random", "static", "noise", "pixels"]


def _scenes(rng: np.random.Generator, size: int, palette: str, knob: float) -> tuple[np.ndarray, list[str]]:
    x, y = _grid(size)
    horizon = rng.uniform(0.45, 0.75)
    sky_top, sky_low = _colour(palette, 0, rng), _colour(palette, 2, rng)
    t = np.clip(y / horizon, 0, 1)[..., None]
    array = sky_top * (1 - t) + sky_low * t
    hills = horizon + (0.02 + 0.1 * knob) * np.sin(x * rng.uniform(4, 9) + rng.uniform(0, 6))
    array[y > hills] = _colour(palette, 3, rng)
    cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.1, horizon - 0.15), rng.uniform(0.05, 0.08) + 0.06 * knob
    array[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = _colour(palette, 4, rng)
    return array, ["a", "landscape", "with", "hills", "and", "a", "sun" if palette != "night" else "moon"]


@dataclass(frozen=True)
class Domain:
    """A kind of picture: a drawing function, and a family it belongs to (what looks alike)."""

    name: str
    family: str
    draw: Callable[[np.random.Generator, int, str, float], tuple[np.ndarray, list[str]]] = field(repr=False)


#: The domains; ``family`` groups the ones that share low-level statistics.
DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("shapes", "geometric", _shapes),
        Domain("glyphs", "geometric", _glyphs),
        Domain("stripes", "periodic", _stripes),
        Domain("checker", "periodic", _checker),
        Domain("dots", "periodic", _dots),
        Domain("gradients", "smooth", _gradients),
        Domain("clouds", "smooth", _clouds),
        Domain("scenes", "smooth", _scenes),
        Domain("static", "noisy", _static),
    )
}


def draw(domain: str, rng: np.random.Generator, *, palette: str = "warm", knob: float = 0.5, size: int = 32) -> tuple[Image.Image, str]:
    """One ``size``×``size`` RGB image of ``domain`` in ``palette``, and its caption.

    ``knob`` in [0, 1] moves a domain-specific scale (shape size, stripe period, dot spacing,
    noise grain), so two datasets of one domain can differ in more than colour.
    """
    try:
        spec = DOMAINS[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r}; choose one of: {', '.join(DOMAINS)}") from None
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; choose one of: {', '.join(PALETTES)}")
    array, words = spec.draw(rng, size, palette, float(knob))
    array = array + rng.normal(0, 4, array.shape)  # a little sensor noise: no two images are equal
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")
    colour = str(rng.choice(_PALETTE_WORDS[palette]))
    caption = " ".join(["a", colour, *words[1:]] if words[0] == "a" else [colour, *words])
    return image, caption


def draw_mix(mix: dict[str, float], rng: np.random.Generator, *, size: int = 32, palettes: tuple[str, ...] | None = None) -> tuple[Image.Image, str]:
    """One image from a mix of domains (``{domain: weight}``) in a random palette."""
    names = sorted(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    domain = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    palette = str(rng.choice(list(palettes or PALETTES)))
    return draw(domain, rng, palette=palette, knob=float(rng.uniform()), size=size)


__all__ = ["DOMAINS", "PALETTES", "Domain", "draw", "draw_mix"]
