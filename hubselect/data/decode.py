"""Decode real-world image files into RGB images, or say why not.

Real datasets hold corrupt and truncated files, CMYK JPEGs, palette and grayscale PNGs, 16-bit
scans, images with an alpha channel or an EXIF rotation, tiny thumbnails and the odd
decompression bomb. :func:`decode_image` turns each into an 8-bit RGB :class:`PIL.Image.Image`
the way a person would see it, or into a :class:`Skip` with a short reason, so a run can report
"3 skipped: 2 corrupt, 1 truncated" instead of crashing on file 4,812.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from hubselect.errors import InputError

#: Bump when decoding changes which images are kept or how they look (it keys the embedding cache).
#: 2: a JPEG is held to the pixel limit at the size it is read at (:func:`_draft`), not the size
#: it stores, so a 108 MP photo is kept (see :func:`decodes_alike` for samples of version 1).
DECODE_VERSION = 2

#: Images that decode to more pixels than this are refused as possible decompression bombs
#: (PIL's own limit; a big JPEG decodes at up to 1/8 of its width and height).
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485

#: Images whose shorter side is below this many pixels carry no usable content.
DEFAULT_MIN_SIDE = 8

#: Decoded images are shrunk so that their shorter side is at most this (probes resize to
#: 224–299 px anyway; it bounds memory at ~400 MB for 500 images). ``None`` keeps full size.
DEFAULT_MAX_SIDE = 512

#: Skip reasons, as reported to users.
CORRUPT = "corrupt"
TRUNCATED = "truncated"
TOO_LARGE = "decompression bomb"
TOO_SMALL = "too small"
UNREADABLE = "unreadable"
MISSING = "missing"

ImageSource = Union[bytes, str, os.PathLike]


@dataclass(frozen=True)
class Skip:
    """Why an image was not used: a short ``reason`` (one of the constants above) and detail."""

    source: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{printable(self.source)}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


def printable(name: str) -> str:
    r"""``name`` with the bytes of a file name that is not UTF-8 spelled out: Python holds them as
    surrogate escapes, which no terminal, JSON result or zoo table can carry.

    >>> printable(os.fsdecode(b"caf\xe9.png"))
    'caf\\xe9.png'
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image ready for a probe, and the size it had before any shrinking."""

    image: Image.Image
    width: int
    height: int


def decode_image(
    data: ImageSource,
    *,
    source: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> DecodedImage | Skip:
    """Decode ``data`` (encoded bytes or a file path) into an 8-bit RGB image, or a :class:`Skip`.

    Truncated files are skipped, never padded with grey (PIL's ``LOAD_TRUNCATED_IMAGES`` is
    left alone).

    Orientation follows the EXIF tag; transparency is composited on white; 16-bit and float
    images are scaled to 8 bits rather than clipped; CMYK uses the embedded ICC profile when
    there is one.

    ``max_pixels`` bounds the pixels decoded: a JPEG is read at the smallest scale that keeps
    ``max_side`` (:func:`_draft`), so a photo of several times the limit passes where a PNG of
    its size is refused. PIL's own ``DecompressionBombWarning`` for such an image is left to the
    caller's warning filters (:func:`~hubselect.data.sample.load_dataset_sample` ignores it):
    filters are process-wide, and changing them from decoding threads races.

    >>> decoded = decode_image(Path("cat.jpg").read_bytes(), source="cat.jpg")  # doctest: +SKIP
    >>> decoded.image.mode, decoded.width  # doctest: +SKIP
    ('RGB', 640)
    """
    if not isinstance(data, (bytes, str, os.PathLike)):
        raise InputError(f"data must be an image file's bytes or its path, got {data!r}")
    name = source or (str(data) if not isinstance(data, bytes) else "<bytes>")
    if isinstance(data, bytes) and not data:
        return Skip(name, CORRUPT, "empty file")
    try:
        stream = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")
    except FileNotFoundError:
        return Skip(name, MISSING, "broken link" if os.path.islink(data) else "file not found")
    except OSError as exc:
        return Skip(name, UNREADABLE, exc.strerror or type(exc).__name__)
    with stream:
        if not isinstance(data, bytes) and os.fstat(stream.fileno()).st_size == 0:
            return Skip(name, CORRUPT, "empty file")
        try:
            image = _open(stream)
            width, height = image.size
            _draft(image, max_side)
            # Before anything else reads pixels: a PNG's EXIF can sit after its image data.
            if image.width * image.height > max_pixels:
                read_at = f" (read at {image.width}x{image.height})" if image.size != (width, height) else ""
                return Skip(name, TOO_LARGE, f"{width}x{height} px{read_at} is over the {max_pixels:,} px limit")
            if _rotated(image):
                width, height = height, width
            if min(width, height) < min_side:
                return Skip(name, TOO_SMALL, f"{width}x{height} px, need at least {min_side} px a side")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return Skip(name, TOO_LARGE, str(exc).split(".")[0])
        except UnidentifiedImageError:
            return Skip(name, CORRUPT, "not a readable image file")
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # PIL reports truncation as OSError("image file is truncated ...") and broken
            # headers or streams as OSError/SyntaxError/ValueError, depending on the codec.
            message = str(exc) or type(exc).__name__
            reason = TRUNCATED if "truncated" in message.lower() or isinstance(exc, EOFError) else CORRUPT
            return Skip(name, reason, message.splitlines()[0][:120])
        try:
            rgb = to_rgb(image)
        except Exception as exc:  # an exotic mode PIL cannot convert
            return Skip(name, CORRUPT, f"cannot convert mode {image.mode}: {exc}"[:120])
        # width and height are the stored size (EXIF-upright), before any draft or shrink.
        return DecodedImage(shrink(rgb, max_side), width, height)


def _open(stream) -> Image.Image:
    """``Image.open(stream)``, but a JPEG is opened by its own plugin: ``Image.open`` holds every
    image to PIL's pixel limit by the size it stores (refusing twice the limit outright, so a
    200 MP photo), and a JPEG is held to ``max_pixels`` at the size it is read at instead."""
    if stream.read(3) == b"\xff\xd8\xff":
        stream.seek(0)
        try:
            return JpegImagePlugin.jpeg_factory(stream)
        except (SyntaxError, IndexError, TypeError, struct.error):  # a broken header: as Image.open reports it
            pass
    stream.seek(0)
    return Image.open(stream)


def decodes_alike(version: int | None, skipped: Mapping[str, int]) -> bool:
    """Whether a sample decoded by decoding ``version``, which skipped ``skipped`` files (count
    per reason), holds the images this version would decode.

    Version 1 differs only in the JPEGs it refused as decompression bombs: a sample of it that
    refused none is this version's, and its profile is kept (not made again on an upgrade).

    >>> decodes_alike(1, {"corrupt": 2}), decodes_alike(1, {"decompression bomb": 1})
    (True, False)
    """
    return version == DECODE_VERSION or (version == 1 and not skipped.get(TOO_LARGE))


def _rotated(image: Image.Image) -> bool:
    """Whether the EXIF orientation turns the image by 90° (width and height swap)."""
    try:
        return image.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:
        return False


def _draft(image: Image.Image, max_side: int | None) -> None:
    # JPEG can decode at 1/2, 1/4 or 1/8 scale for almost nothing; ask for the smallest scale
    # that keeps the shorter side >= max_side, so big photos decode fast. Orientation is
    # applied after, so the requested box is square.
    if max_side and image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        scale = min(image.size) / max_side
        if scale >= 2:
            image.draft(image.mode, (image.size[0] / scale, image.size[1] / scale))


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB as a person would see ``image``: EXIF-upright, alpha on white, high bit depth scaled.

    >>> to_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0))
    (255, 255, 255)
    """
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    try:
        upright = ImageOps.exif_transpose(image)
        image = upright if upright is not None else image
    except Exception:  # a broken EXIF block must not cost the image
        pass
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), mode), "L").convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "P":
        return image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit or float pixel values to 0..255 (``convert('L')`` would clip them).

    The mode says the range, not the pixels: a dark 16-bit scan (all values below 256) stays
    dark. Integer modes are 16-bit data (``I`` is how PIL opens 16-bit PNGs and TIFFs too), scaled
    by their own maximum only beyond that; float images are 0..1, 0..255 or 16-bit by their values.

    >>> int(_to_uint8(np.full((2, 2), 255, np.uint16), "I;16")[0, 0])
    1
    >>> int(_to_uint8(np.full((2, 2), 0.5, np.float32), "F")[0, 0])
    128
    """
    array = array.astype(np.float64)
    high = float(array.max()) if array.size else 0.0
    if mode != "F":
        scale = max(65535.0, high)
    elif high <= 1.0 and (not array.size or array.min() >= 0):
        scale = 1.0  # float images in 0..1
    elif high <= 255:
        scale = 255.0
    else:
        scale = max(65535.0, high)
    return np.clip(np.rint(array / scale * 255.0), 0, 255).astype(np.uint8)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # a damaged profile: fall back to the plain conversion
            pass
    return image.convert("RGB")


def shrink(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` scaled down (never up) so its shorter side is at most ``max_side``."""
    if not max_side or min(image.size) <= max_side:
        return image
    scale = max_side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)

__all__ = [
    "CORRUPT",
    "DECODE_VERSION",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_SIDE",
    "MISSING",
    "TOO_LARGE",
    "TOO_SMALL",
    "TRUNCATED",
    "UNREADABLE",
    "DecodedImage",
    "Skip",
    "decode_image",
    "decodes_alike",
    "shrink",
    "to_rgb",
]
