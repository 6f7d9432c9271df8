"""Dataset features: what a sample says about its dataset, as the zoo's ``datasets`` table stores it."""

from __future__ import annotations

from typing import Any

import numpy as np

from hubselect.data.sample import DatasetSample


def dataset_features(sample: DatasetSample) -> dict[str, Any]:
    """Scalar features of a dataset from a sample of it.

    - ``images``: decodable images in the sample; ``total_images``: in the split (when known);
      ``skipped``: undecodable files met while sampling;
    - ``width_mean``, ``height_mean``, ``megapixels_mean``: original resolution;
      ``aspect_mean``, ``aspect_std``, ``aspect_min``, ``aspect_max``: width / height;
    - ``caption_coverage``: share of images with a caption; ``caption_words_mean``,
      ``caption_words_std``, ``caption_chars_mean``: over images with a caption (None without).

    >>> dataset_features(sample)["aspect_mean"]  # doctest: +SKIP
    1.33
    """
    sizes = np.asarray(sample.sizes, dtype=np.float64).reshape(-1, 2)
    widths, heights = sizes[:, 0], sizes[:, 1]
    aspect = widths / heights if len(sizes) else np.zeros(0)
    captions = [c for c in sample.captions if c]
    words = np.asarray([len(c.split()) for c in captions], dtype=np.float64)
    chars = np.asarray([len(c) for c in captions], dtype=np.float64)

    def stat(values: np.ndarray, fn) -> float | None:
        return round(float(fn(values)), 4) if len(values) else None

    return {
        "images": len(sample),
        "total_images": sample.total,
        "skipped": len(sample.skipped),
        "width_mean": stat(widths, np.mean),
        "height_mean": stat(heights, np.mean),
        "megapixels_mean": stat(widths * heights / 1e6, np.mean),
        "aspect_mean": stat(aspect, np.mean),
        "aspect_std": stat(aspect, np.std),
        "aspect_min": stat(aspect, np.min),
        "aspect_max": stat(aspect, np.max),
        "caption_coverage": round(len(captions) / len(sample), 4) if len(sample) else 0.0,
        "caption_words_mean": stat(words, np.mean),
        "caption_words_std": stat(words, np.std),
        "caption_chars_mean": stat(chars, np.mean),
    }


__all__ = ["dataset_features"]
