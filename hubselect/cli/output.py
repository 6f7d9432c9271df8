"""Where command results go: stdout in ``human`` or ``json`` form; logs and progress on stderr."""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import click
from rich.console import Console
from rich.table import Table

from hubselect.jsonable import finite, json_default

log = logging.getLogger("hubselect")


@dataclass
class Output:
    """One place every command hands its result to.

    ``human`` prints tables for people; ``json`` prints exactly one JSON document on stdout.
    """

    format: str = "human"

    @property
    def human(self) -> bool:
        return self.format == "human"

    @property
    def console(self) -> Console:
        # A pipe or a file has no width: don't fold tables into 80 columns there.
        # No markup or emoji codes: the text printed holds names and paths (`cats[small]`, `zoo[/x]`,
        # `org/pets:cat:`) that would lose their brackets or fail as a tag; styles are asked for with `Text`.
        return Console(file=sys.stdout, soft_wrap=True, width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)

    def result(self, data: Any, human: Callable[[Console], None] | None = None) -> None:
        if self.format == "json":
            click.echo(json.dumps(finite(data), indent=2, default=json_default))
        elif human is not None:
            human(self.console)
        else:
            click.echo(json.dumps(finite(data), indent=2, default=json_default))

    def info(self, message: str) -> None:
        """A notice for people (stderr), silent in json mode."""
        if self.human:
            click.echo(message, err=True)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_format: str = "{:.3f}") -> Table:
    """A rich table whose float cells are formatted uniformly."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, float):
                cells.append("–" if not math.isfinite(cell) else numeric_format.format(cell))
            elif cell is None:
                cells.append("–")
            else:
                cells.append(str(cell))
        out.add_row(*cells)
    return out


def margins_table(margins: dict[str, dict[str, dict[str, float]]], labels: dict[str, str] | None = None) -> Table:
    """``method − baseline`` per metric (rows) and baseline (columns): the mean over targets, and
    its 95% interval below it (:func:`~hubselect.rank.metrics.margin_cells`; chance left out).
    ``labels``: a column's heading per baseline, where it is not the bare name
    (:func:`~hubselect.rank.evaluate.baseline_labels`)."""
    from hubselect.rank.metrics import MARGIN_METRICS, margin_cells

    cells = margin_cells(margins, sep="\n")
    out = Table(
        title="method − baseline: mean over targets [95% paired-bootstrap interval; containing 0: these targets cannot tell them apart]",
        title_justify="left",
        header_style="bold",
    )
    out.add_column("", no_wrap=True)
    for name in cells:
        out.add_column((labels or {}).get(name, name), overflow="fold")
    for i, metric in enumerate(MARGIN_METRICS):
        out.add_row(metric, *[row[i] for row in cells.values()])
    return out
