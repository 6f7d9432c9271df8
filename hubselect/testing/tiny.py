"""Tiny image encoders and synthetic image datasets, built locally and deterministically.

Nothing can be downloaded where hubselect is developed and tested, so probes and datasets are
made here: a tiny random CLIP vision tower (with its image processor), a tiny DINOv2 backbone,
and folders or parquet shards of synthetic images in a few visually distinct *styles* (so that
datasets of one style are near each other and far from the others under any probe), including
the awkward files real datasets hold (corrupt, truncated, CMYK, 16-bit PNG).

Every builder is deterministic for a given seed: the same call writes byte-identical files.

>>> probe_dir = tiny_clip_vision("/tmp/tiny-clip")  # doctest: +SKIP
>>> folder = write_image_folder("/tmp/pets", n=40, style="warm", corrupt=3, cmyk=1, png16=1)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

#: Styles of synthetic images; each is visually distinct from the others.
STYLES = ("warm", "cool", "mono", "noise")

#: Words captions are drawn from, per style.
_WORDS = {
    "warm": ["a", "warm", "sunset", "with", "orange", "red", "glow", "circles", "over", "the", "sea"],
    "cool": ["a", "cool", "blue", "striped", "pattern", "of", "ice", "and", "water"],
    "mono": ["a", "black", "and", "white", "checkerboard", "tile", "grid"],
    "noise": ["random", "static", "noise", "texture"],
}


# -- probes -------------------------------------------------------------------------------------


def tiny_clip_vision(path: str | Path, seed: int = 0, *, projection_dim: int = 16) -> Path:
    """Save a tiny random ``CLIPVisionModelWithProjection`` and its ``CLIPImageProcessor`` at ``path``.

    32 px input, 8 px patches, 2 layers, ``projection_dim``-dimensional image embeddings; it
    loads and embeds in milliseconds on CPU.
    """
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    path = Path(path)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=projection_dim,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(config).eval()
    model.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def tiny_dinov2(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random ``Dinov2Model`` (a backbone with a pooled output) and its image processor."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    path = Path(path)
    config = Dinov2Config(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Dinov2Model(config).eval()
    model.save_pretrained(path)
    BitImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return path


def fake_inception_weights(folder: str | Path, seed: int = 0) -> Path:
    """Write a stand-in for clean-fid's ``inception-2015-12-05.pt`` into ``folder``.

    It has the real file's TorchScript interface (``base.layers`` maps a 299 px batch to 2048
    features) but is a pooling + linear layer, not Inception: it exercises the plumbing of
    ``--probe inception`` (file lookup, clean resize, batching) where the real weights cannot be
    downloaded. Use ``HUBSELECT_INCEPTION_DIR=folder``.
    """
    import torch

    class Layers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(3, 2048)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x.mean(dim=(2, 3)))

    class Base(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = Layers()

        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            return self.layers(x)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    import warnings

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, and it is the file's format
        torch.manual_seed(seed)
        torch.jit.script(Base()).save(str(folder / "inception-2015-12-05.pt"))
    return folder


# -- images -------------------------------------------------------------------------------------


def style_image(style: str, rng: np.random.Generator, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """One synthetic RGB image of ``style`` (``width, height = size``)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if style == "warm":
        t = (x / max(width - 1, 1) + rng.uniform(-0.2, 0.2)).clip(0, 1)
        array = np.stack([200 + 55 * t, 60 + 120 * t, 20 + 30 * (1 - t)], axis=-1)
        for _ in range(rng.integers(1, 4)):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, min(width, height) / 2)
            inside = (x - cx) ** 2 + (y - cy) ** 2 < r**2
            array[inside] = [255, 220, 60]
    elif style == "cool":
        period = rng.uniform(4, 12)
        stripes = (np.sin((y + rng.uniform(0, 10)) * 2 * np.pi / period) > 0)[..., None]
        array = np.where(stripes, [20, 80, 200], [150, 220, 240]).astype(np.float32)
    elif style == "mono":
        cell = int(rng.integers(3, 10))
        board = ((x // cell + y // cell) % 2)[..., None]
        array = np.repeat(board * 255.0, 3, axis=-1)
    elif style == "noise":
        array = rng.uniform(0, 255, (height, width, 3))
    else:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    array = array + rng.normal(0, 6, array.shape)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def style_caption(style: str, rng: np.random.Generator) -> str:
    words = _WORDS[style]
    return " ".join(rng.choice(words, size=int(rng.integers(3, 9))))


def png16_bytes(array: np.ndarray) -> bytes:
    """A 16-bit PNG (grayscale for 2-D ``array``, RGB for H×W×3) of a ``uint16`` array.

    PIL cannot write 16-bit RGB PNGs, and real datasets hold them (scans, renders), so the
    file is assembled by hand: signature, IHDR, one IDAT, IEND.
    """
    array = np.asarray(array, dtype=">u2")
    height, width = array.shape[:2]
    color_type = 2 if array.ndim == 3 else 0
    rows = array.reshape(height, -1).tobytes()
    stride = len(rows) // height
    raw = b"".join(b"\x00" + rows[i * stride : (i + 1) * stride] for i in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _sizes(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(40, 97)), int(rng.integers(40, 97))


def write_image_folder(
    path: str | Path,
    n: int = 40,
    *,
    style: str = "warm",
    seed: int = 0,
    captions: bool = True,
    corrupt: int = 0,
    cmyk: int = 0,
    png16: int = 0,
    near_duplicate_of: str | Path | None = None,
) -> Path:
    """Write an imagefolder of ``n`` files (``metadata.jsonl`` captions when ``captions``).

    Of the ``n`` files, ``corrupt`` are broken (random bytes, a truncated PNG, an empty file, in
    turn), ``cmyk`` are CMYK JPEGs and ``png16`` are 16-bit PNGs (grayscale then RGB); the rest
    are PNG/JPEG images of ``style``. With ``near_duplicate_of``, the images of that folder are
    re-encoded as slightly brightened JPEGs instead (a near-duplicate dataset).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    metadata = []
    if near_duplicate_of is not None:
        source = Path(near_duplicate_of)
        for file in sorted(p for p in source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
            try:
                with Image.open(file) as image:
                    image.load()
                    from PIL import ImageEnhance

                    copy = ImageEnhance.Brightness(image.convert("RGB")).enhance(1.05)
            except Exception:
                continue
            name = file.stem + ".jpg"
            (path / name).write_bytes(encode(copy, "JPEG", quality=90))
            metadata.append({"file_name": name, "text": style_caption(style, rng)})
    else:
        broken = [_random_bytes, _truncated_png, _empty]
        for i in range(n):
            name = f"img_{i:04d}"
            if i < corrupt:
                name += ".png" if broken[i % 3] is _truncated_png else ".jpg"
                (path / name).write_bytes(broken[i % 3](rng, style))
            elif i < corrupt + cmyk:
                name += ".jpg"
                (path / name).write_bytes(encode(style_image(style, rng, _sizes(rng)).convert("CMYK"), "JPEG", quality=92))
            elif i < corrupt + cmyk + png16:
                name += ".png"
                rgb = np.asarray(style_image(style, rng, _sizes(rng)), dtype=np.uint16) * 257
                gray = rgb.mean(axis=-1).astype(np.uint16)
                (path / name).write_bytes(png16_bytes(gray if (i - corrupt - cmyk) % 2 == 0 else rgb))
            else:
                fmt = "PNG" if i % 2 else "JPEG"
                name += ".png" if fmt == "PNG" else ".jpg"
                (path / name).write_bytes(encode(style_image(style, rng, _sizes(rng)), fmt))
            metadata.append({"file_name": name, "text": style_caption(style, rng)})
    if captions:
        with open(path / "metadata.jsonl", "w", encoding="utf-8") as out:
            for row in metadata:
                out.write(json.dumps(row) + "\n")
    return path


def _random_bytes(rng: np.random.Generator, style: str) -> bytes:
    return rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()


def _truncated_png(rng: np.random.Generator, style: str) -> bytes:
    data = encode(style_image(style, rng, (64, 64)), "PNG")
    return data[: len(data) // 2]


def _empty(rng: np.random.Generator, style: str) -> bytes:
    return b""


def image_rows(n: int, *, style: str = "warm", seed: int = 0, size: tuple[int, int] | None = None) -> Iterable[dict]:
    """``n`` rows ``{"image": {"bytes", "path"}, "text"}`` as the ``datasets`` Image feature stores them."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = style_image(style, rng, size or _sizes(rng))
        yield {"image": {"bytes": encode(image, "PNG"), "path": f"{i:06d}.png"}, "text": style_caption(style, rng)}


def write_parquet_shards(
    path: str | Path,
    n: int = 256,
    *,
    shards: int = 4,
    row_group_size: int = 16,
    style: str = "warm",
    seed: int = 0,
    size: tuple[int, int] | None = None,
    split: str = "train",
) -> list[Path]:
    """Write ``n`` image rows as ``data/{split}-0000i-of-0000k.parquet`` shards, the layout
    ``datasets.push_to_hub`` produces, with ``datasets`` features metadata (``image`` is an
    Image feature, ``text`` a string) and ``row_group_size`` rows per row group.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    (path / "data").mkdir(parents=True, exist_ok=True)
    features = {"image": {"_type": "Image"}, "text": {"dtype": "string", "_type": "Value"}}
    schema = pa.schema(
        [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), pa.field("text", pa.string())],
        metadata={"huggingface": json.dumps({"info": {"features": features}})},
    )
    rows = list(image_rows(n, style=style, seed=seed, size=size))
    written = []
    for index in range(shards):
        part = rows[index::shards]
        table = pa.Table.from_pylist(part, schema=schema)
        file = path / "data" / f"{split}-{index:05d}-of-{shards:05d}.parquet"
        pq.write_table(table, file, row_group_size=row_group_size)
        written.append(file)
    return written


__all__ = [
    "STYLES",
    "encode",
    "fake_inception_weights",
    "image_rows",
    "png16_bytes",
    "style_caption",
    "style_image",
    "tiny_clip_vision",
    "tiny_dinov2",
    "write_image_folder",
    "write_parquet_shards",
]
