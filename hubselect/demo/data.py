"""The demo's datasets: small captioned image sets, each one domain in one palette.

Some are near each other (two palettes of one domain, two domains of one family) and some
far apart, as on the Hub. They are written the way ``datasets.push_to_hub`` writes a dataset
(``data/train-00000-of-00001.parquet`` with the ``datasets`` Image feature, and a card), or as
an image folder with ``metadata.jsonl`` captions (what a user points ``hubselect recommend``
at).

>>> spec = DEMO_DATASETS[0]
>>> write_parquet_dataset("/tmp/shapes-warm", spec, n=8)  # doctest: +SKIP
PosixPath('/tmp/shapes-warm')
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubselect.demo.domains import DOMAINS, draw


@dataclass(frozen=True)
class DemoDataset:
    """A dataset of the demo: ``domain`` drawn in ``palette`` with a domain-specific ``knob``."""

    name: str
    domain: str
    palette: str
    knob: float = 0.5
    seed: int = 0

    @property
    def description(self) -> str:
        return f"{DOMAINS[self.domain].name} ({DOMAINS[self.domain].family}) in the {self.palette} palette"

    def rows(self, n: int, *, size: int = 32) -> list[tuple[object, str]]:
        """``n`` (PIL image, caption) pairs; the same ``n`` always gives the same images."""
        rng = np.random.default_rng([self.seed, 7919])
        return [draw(self.domain, rng, palette=self.palette, knob=self.knob, size=size) for _ in range(n)]


#: The zoo's datasets: six clusters of four. A cluster is one kind of picture in neighbouring
#: palettes, so its datasets look alike (and are near under the probe); clusters are far
#: apart. What wins after fine-tuning depends on the domain *and* the palette, so a dataset's
#: nearest neighbour is good evidence, and its whole neighbourhood better evidence.
DEMO_DATASETS: tuple[DemoDataset, ...] = (
    DemoDataset("shapes-warm", "shapes", "warm", 0.6, seed=101),
    DemoDataset("shapes-small", "shapes", "warm", 0.2, seed=102),
    DemoDataset("shapes-big", "shapes", "warm", 0.9, seed=103),
    DemoDataset("shapes-earth", "shapes", "earth", 0.5, seed=104),
    DemoDataset("glyphs-ink", "glyphs", "mono", 0.5, seed=105),
    DemoDataset("glyphs-thin", "glyphs", "mono", 0.1, seed=106),
    DemoDataset("glyphs-bold", "glyphs", "mono", 0.9, seed=107),
    DemoDataset("glyphs-pastel", "glyphs", "pastel", 0.4, seed=108),
    DemoDataset("stripes-fine", "stripes", "cool", 0.1, seed=109),
    DemoDataset("stripes-wide", "stripes", "cool", 0.5, seed=110),
    DemoDataset("stripes-broad", "stripes", "cool", 0.8, seed=111),
    DemoDataset("stripes-pastel", "stripes", "pastel", 0.3, seed=112),
    DemoDataset("checker-small", "checker", "mono", 0.2, seed=113),
    DemoDataset("checker-mono", "checker", "mono", 0.5, seed=114),
    DemoDataset("checker-big", "checker", "mono", 0.8, seed=115),
    DemoDataset("checker-pastel", "checker", "pastel", 0.5, seed=116),
    DemoDataset("gradients-sunset", "gradients", "warm", 0.5, seed=117),
    DemoDataset("gradients-radial", "gradients", "warm", 0.1, seed=118),
    DemoDataset("gradients-linear", "gradients", "warm", 0.9, seed=119),
    DemoDataset("gradients-earth", "gradients", "earth", 0.6, seed=120),
    DemoDataset("scenes-night", "scenes", "night", 0.5, seed=121),
    DemoDataset("scenes-moon", "scenes", "night", 0.9, seed=122),
    DemoDataset("scenes-flat", "scenes", "night", 0.1, seed=123),
    DemoDataset("clouds-night", "clouds", "night", 0.5, seed=124),
)

#: Datasets that are *not* in the zoo: what a user brings to ``hubselect recommend``.
HELD_OUT_DATASETS: tuple[DemoDataset, ...] = (
    DemoDataset("my-checkerboards", "checker", "mono", 0.65, seed=201),
    DemoDataset("my-sunsets", "gradients", "warm", 0.3, seed=202),
)


def _parquet_bytes(rows: list[tuple[object, str]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"image": {"_type": "Image"}, "text": {"dtype": "string", "_type": "Value"}}
    schema = pa.schema(
        [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), pa.field("text", pa.string())],
        metadata={"huggingface": json.dumps({"info": {"features": features}})},
    )
    records = []
    for index, (image, caption) in enumerate(rows):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        records.append({"image": {"bytes": buffer.getvalue(), "path": f"{index:05d}.png"}, "text": caption})
    sink = io.BytesIO()
    # Small row groups: a Hub sample reads whole row groups, so they keep a sample spread out.
    pq.write_table(pa.Table.from_pylist(records, schema=schema), sink, row_group_size=8)
    return sink.getvalue()


def dataset_card(spec: DemoDataset, n: int) -> str:
    from huggingface_hub import DatasetCardData

    metadata = DatasetCardData(
        license="cc0-1.0",
        task_categories=["text-to-image"],
        tags=["hubselect-demo", "synthetic", spec.domain],
        pretty_name=spec.name,
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
    )
    return (
        "---\n" + metadata.to_yaml() + "\n---\n\n"
        + f"# {spec.name}\n\n{n} procedurally generated 32 px images with captions: {spec.description}. "
        + "Part of the hubselect demo zoo.\n"
    )


def write_parquet_dataset(path: str | os.PathLike, spec: DemoDataset, *, n: int) -> Path:
    """Write ``spec`` as a Hub-ready dataset folder: one parquet shard and a card."""
    folder = Path(path)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(_parquet_bytes(spec.rows(n)))
    (folder / "README.md").write_text(dataset_card(spec, n), encoding="utf-8")
    return folder


def write_image_folder(path: str | os.PathLike, spec: DemoDataset, *, n: int) -> Path:
    """Write ``spec`` as an image folder (PNG files and ``metadata.jsonl`` captions)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (image, caption) in enumerate(spec.rows(n)):
        name = f"{spec.name}-{index:03d}.png"
        image.save(folder / name, format="PNG", optimize=True)
        lines.append(json.dumps({"file_name": name, "text": caption}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


__all__ = ["DEMO_DATASETS", "HELD_OUT_DATASETS", "DemoDataset", "dataset_card", "write_image_folder", "write_parquet_dataset"]
