"""Pictures of a zoo: the models × datasets score matrix as a PNG heatmap."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hubselect.zoo.store import Zoo

#: Past this many rows or columns the heatmap shows the best-covered ones only.
MAX_MODELS = 60
MAX_DATASETS = 40


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def score_heatmap(zoo: Zoo, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Draw the zoo's score matrix (models × datasets; blank where not profiled) to ``path``.

    Each dataset's column is min–max normalised, worst (0) to best (1) whatever the score's
    direction. Large zoos are cut to the
    :data:`MAX_MODELS` models and :data:`MAX_DATASETS` datasets with the most records, and the
    title (drawn, and the PNG's ``Title``) says how many of how many it shows. Results
    rankings leave out (scored with another probe: :meth:`Zoo.score_matrix`) are left out here
    too, without a warning: the zoo card beside the picture counts them.

    >>> score_heatmap(Zoo.load("my-zoo"), "coverage.png")  # doctest: +SKIP
    PosixPath('coverage.png')
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    matrix = zoo.score_matrix(warn=False)
    if matrix.empty:
        raise ValueError("the zoo has no records to draw")
    models, datasets = matrix.shape
    if len(matrix.columns) > MAX_DATASETS:
        matrix = matrix[matrix.notna().sum(axis=0).sort_values(ascending=False).index[:MAX_DATASETS]]
    if len(matrix.index) > MAX_MODELS:
        matrix = matrix.loc[matrix.notna().sum(axis=1).sort_values(ascending=False).index[:MAX_MODELS]]
    # A cut picture passes for the whole zoo unless it says so.
    shown = [f"{n} of {total} {what}" for n, total, what in zip(matrix.shape, (models, datasets), ("models", "datasets")) if n < total]
    title = title or f"{zoo.meta.score} after fine-tuning, per dataset ({zoo.meta.direction}; grey = not profiled)"
    if shown:
        title += f"\nshowing {' and '.join(shown)}, those with the most results"
    # Best models first: order rows by their mean per-dataset rank.
    ranks = matrix.rank(axis=0, ascending=not zoo.meta.higher_is_better)
    matrix = matrix.loc[ranks.mean(axis=1).sort_values().index]

    # Score ranges differ a lot between datasets: colour each column by its own min–max, so
    # the picture shows which models win where, not which datasets are easy.
    values = matrix.to_numpy(dtype=float)
    low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    span = np.where(high > low, high - low, 1.0)
    values = (values - low) / span
    if not zoo.meta.higher_is_better:
        values = 1.0 - values
    rows, cols = values.shape
    # Room for the tick labels and the colour bar even for a handful of models.
    fig, ax = plt.subplots(figsize=(min(max(6.0, 2.0 + 0.45 * cols), 22), min(max(4.0, 1.5 + 0.22 * rows), 24)), dpi=110)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_xticks(range(cols), [_short(c) for c in matrix.columns], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(rows), [_short(m, 36) for m in matrix.index], fontsize=6 if rows > 30 else 7)
    ax.set_xlabel("dataset")
    ax.set_ylabel("model (best on average first)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).set_label("1 = best on the dataset, 0 = worst")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, metadata={"Title": title})
    plt.close(fig)
    return out
