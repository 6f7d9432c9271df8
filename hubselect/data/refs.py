"""What a user types as DATASET, and what a sample of it is.

A dataset reference is one of:

- a Hub dataset id ``org/name``, optionally ``org/name:config`` and/or ``@revision``
  (``org/name:config@revision``); the split is a separate option (``--split``, default
  ``train``);
- a local folder of images, laid out like ``datasets``' imagefolder (captions, if any, in
  ``metadata.jsonl`` or ``metadata.csv`` with a ``file_name`` column);
- a local ``.parquet`` file (``datasets``' Image feature, or a column of encoded image bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from hubselect.data.decode import DECODE_VERSION, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, DEFAULT_MIN_SIDE, printable
from hubselect.errors import InputError, check_whole

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+?)(?::(?P<config>[\w.-]+))?(?:@(?P<revision>[\w./-]+))?$")

#: Default number of images in a sample.
DEFAULT_SAMPLE_SIZE = 500

#: Default minimum number of decodable images a sample needs.
DEFAULT_MIN_IMAGES = 8

#: The error for an empty DATASET (``Path("")`` is the current folder: a script with an unset
#: variable would profile whatever folder it runs in, recursively).
EMPTY_DATASET = "DATASET is empty; pass a folder of images (. for the current folder), a .parquet file or a Hub dataset id"


@dataclass(frozen=True)
class DatasetRef:
    """A parsed DATASET argument.

    >>> DatasetRef.parse("org/pets:cats@v1.0", split="test")
    DatasetRef(kind='hub', location='org/pets', config='cats', revision='v1.0', split='test')
    """

    kind: Literal["hub", "folder", "parquet"]
    location: str
    config: str | None = None
    revision: str | None = None
    split: str = "train"

    @classmethod
    def parse(cls, text: str | os.PathLike, *, split: str = "train") -> "DatasetRef":
        text = os.fspath(text) if isinstance(text, os.PathLike) else text  # a folder or a file, as a path
        if not text.strip():
            raise InputError(EMPTY_DATASET)
        path = Path(text).expanduser()
        if path.is_dir():
            return cls("folder", str(path.resolve()), split=split)
        if path.is_file():
            if path.suffix.lower() != ".parquet":
                raise InputError(f"{text} is a file but not a .parquet file; pass a folder of images, a .parquet file or a Hub dataset id")
            return cls("parquet", str(path.resolve()), split=split)
        match = _HUB_ID.match(text)
        if match and not text.startswith((".", "/", "~")):
            return cls("hub", match["repo"], match["config"], match["revision"], split)
        raise InputError(
            f"dataset {text!r} not found: pass a folder of images, a .parquet file, or a Hub dataset id like org/name[:config][@revision]"
        )

    @property
    def name(self) -> str:
        """The dataset's default key in a zoo: the Hub id (with its config), or the file/folder name
        (a name that is not UTF-8 spelled with its bytes, ``caf\\xe9``: a zoo table holds text only)."""
        if self.kind == "hub":
            return self.location + (f":{self.config}" if self.config else "")
        return printable(Path(self.location).stem if self.kind == "parquet" else Path(self.location).name)

    def zoo_name(self, name: str | None = None) -> str:
        """``name`` if given (a blank one is an :class:`InputError`), else :attr:`name`.

        >>> DatasetRef("hub", "org/pets").zoo_name()
        'org/pets'
        """
        if name is None:
            return self.name
        if not name.strip():
            raise InputError(f"--name is blank; name the dataset, or leave --name out to use {self.name!r}")
        return name

    def __str__(self) -> str:
        if self.kind == "hub":
            return self.name + (f"@{self.revision}" if self.revision else "")
        return self.location


@dataclass(frozen=True)
class SampleSpec:
    """Everything that decides which images a sample holds and how they are decoded.

    Two samples with the same dataset revision and the same spec hold the same images, which
    is what keys the embedding cache and makes ``dataset profile`` idempotent.
    """

    n: int = DEFAULT_SAMPLE_SIZE
    seed: int = 0
    split: str = "train"
    config: str | None = None
    image_column: str | None = None
    caption_column: str | None = None
    max_side: int | None = DEFAULT_MAX_SIDE
    min_side: int = DEFAULT_MIN_SIDE
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_version: int = DECODE_VERSION

    def __post_init__(self) -> None:
        check_whole("n", self.n, 1)
        # As --seed: random.Random takes -1 for 1 (the same images, recorded as another sample).
        check_whole("seed", self.seed, 0, 2**32 - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["DEFAULT_MIN_IMAGES", "DEFAULT_SAMPLE_SIZE", "EMPTY_DATASET", "DatasetRef", "SampleSpec"]
