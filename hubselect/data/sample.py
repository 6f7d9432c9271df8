"""Read a seeded sample of N images (and their captions) from a Hub dataset, a folder or a parquet file.

The sample is drawn in a fixed, seeded order and grows until it holds ``n`` decodable images
or the dataset runs out; undecodable files are skipped and counted with their reason.

- **folder**: every image file (recursively; hidden folders skipped, symlinked ones followed) in a
  seeded random order.
- **parquet** (local file or Hub shards): row groups in a seeded random order, rows shuffled
  within each. Whole row groups are the unit of reading (parquet cannot fetch less), so a Hub
  sample costs a few row groups, not the dataset; the price is that a sample is clustered in
  a few row groups rather than spread over every row. A row may name its image by path
  instead of holding its bytes (beside a local file; in a Hub dataset, in its repo, downloaded
  for the sampled rows only); a link (``https://…``) is refused.
- **Hub imagefolder** (a repo of image files): the sampled files only.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import re
import stat
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice, zip_longest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from PIL import Image

from hubselect.data.fingerprint import content_hash
from hubselect.data.decode import (
    CORRUPT,
    DEFAULT_MAX_SIDE,
    MISSING,
    TOO_LARGE,
    TOO_SMALL,
    TRUNCATED,
    UNREADABLE,
    DecodedImage,
    Skip,
    decode_image,
)
from hubselect.data.refs import DEFAULT_MIN_IMAGES, DatasetRef, SampleSpec
from hubselect.errors import InputError

log = logging.getLogger(__name__)

#: File suffixes read as images in a folder (files with other suffixes are ignored, not skipped).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".avif"})

#: Column names tried, in order, when detecting the caption column.
CAPTION_COLUMNS = ("text", "caption", "captions", "prompt", "prompts", "sentence", "sentences", "description", "title", "alt_text", "label_text")

#: Column names tried, in order, for an image column that carries no ``datasets`` Image type.
IMAGE_COLUMNS = ("image", "images", "img", "jpg", "jpeg", "png", "webp", "picture", "photo", "pixel_values")

_FILE_COLUMNS = ("file_name", "file", "filename", "image_file", "path")

_METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")

#: Skip reasons that mean a file's bytes could not be decoded (the others are refusals).
_DECODE_FAILURES = frozenset({CORRUPT, TRUNCATED, UNREADABLE})


@dataclass
class DatasetSample:
    """A seeded sample of a dataset's images, ready for probes and statistics.

    ``images`` are 8-bit RGB (shrunk so the shorter side is at most ``spec.max_side``);
    ``sizes`` are their sizes before shrinking; ``skipped`` says which files were not usable
    and why.
    """

    dataset: str
    ref: DatasetRef
    revision: str
    spec: SampleSpec
    images: list[Image.Image] = field(default_factory=list)
    captions: list[str | None] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    #: Images (rows or files) in the dataset's split, when known without reading it all.
    total: int | None = None
    image_column: str | None = None
    caption_column: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: What a Hub dataset's sample was read from, by content (:attr:`HubDatasetFiles.content`):
    #: the same at a commit that changed no data file. ``None`` for a local dataset, whose
    #: ``revision`` already is a content hash.
    content: str | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def skip_counts(self) -> dict[str, int]:
        """Skipped images per reason, most frequent first."""
        return dict(Counter(s.reason for s in self.skipped).most_common())

    def skip_summary(self) -> str:
        """``'3 skipped: 2 corrupt, 1 truncated'`` (or ``'none skipped'``)."""
        if not self.skipped:
            return "none skipped"
        return f"{len(self.skipped)} skipped: " + ", ".join(f"{count} {reason}" for reason, count in self.skip_counts.items())


@dataclass(frozen=True)
class _Candidate:
    source: str
    data: bytes | str | os.PathLike | None
    caption: str | None


def load_dataset_sample(
    ref: str | os.PathLike | DatasetRef,
    n: int | None = None,
    seed: int = 0,
    *,
    spec: SampleSpec | None = None,
    split: str = "train",
    image_column: str | None = None,
    caption_column: str | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    max_side: int | None = DEFAULT_MAX_SIDE,
    token: str | None = None,
    progress: bool = True,
) -> DatasetSample:
    """A seeded sample of ``n`` decodable images of a Hub dataset, a folder or a parquet file.

    Images are shrunk so their shorter side is at most ``max_side`` (``None``: full size);
    ``spec``, when given, replaces ``n``, ``seed``, the columns and ``max_side``.

    Raises :class:`~hubselect.errors.InputError` (one line, with what to do) when the dataset
    holds no images or fewer than ``min_images`` decodable ones.

    >>> sample = load_dataset_sample("org/pets", n=64, seed=0)  # doctest: +SKIP
    >>> len(sample), sample.revision[:7], sample.skip_summary()  # doctest: +SKIP
    (64, '5d1e0c4', 'none skipped')
    """
    if not isinstance(ref, DatasetRef):  # a str or a path
        ref = DatasetRef.parse(str(ref), split=split)
    if spec is None:
        spec = SampleSpec(
            n=n if n is not None else SampleSpec.n,
            seed=seed,
            split=ref.split,
            config=ref.config,
            image_column=image_column,
            caption_column=caption_column,
            max_side=max_side,
        )
    check_sample_size(spec, min_images)
    if ref.kind == "folder":
        sample = _folder_sample(ref, spec, progress)
    elif ref.kind == "parquet":
        sample = _local_parquet_sample(ref, spec, progress)
    else:
        sample = _hub_sample(ref, spec, token, progress)
    _check_enough(sample, min_images)
    return sample


def dataset_revision(
    ref: str | os.PathLike | DatasetRef, *, token: str | None = None, image_column: str | None = None, progress: bool = False
) -> str:
    """The revision a sample of ``ref`` would be read at, without reading any image.

    A Hub commit sha; for a local folder or parquet file, a content hash (``local-…``) that is
    computed once per change of the files' sizes and modification times (with a progress bar
    when ``progress``: it reads every file). A parquet file's includes the image files its rows
    name by path, in the column a sample with ``image_column`` (``--image-column``; None:
    detected) reads.
    """
    if not isinstance(ref, DatasetRef):  # a str or a path
        ref = DatasetRef.parse(str(ref))
    if ref.kind == "hub":
        from hubselect.hub.datasets import dataset_revision as hub_revision

        return hub_revision(ref.location, ref.revision, token=token)
    path = Path(ref.location)
    if ref.kind == "parquet":
        return _local_parquet_revision(path, image_column, progress)
    return _folder_files(path).revision(path, progress)


def dataset_content(ref: DatasetRef, *, token: str | None = None) -> tuple[str, str | None]:
    """``(commit sha, content)`` of the files a sample of Hub dataset ``ref`` reads now
    (:attr:`DatasetSample.content`), without reading any of them: its file listing and card.

    Two commits of the same content (a card edit between them) give the same sample, so what
    was made from one needs no redoing at the other. Costs a few requests: asked only when a
    dataset's commit moved since it was profiled.

    >>> dataset_content(DatasetRef.parse("org/pets"))  # doctest: +SKIP
    ('5d1e0c...', 'files-9a4f...')
    """
    from hubselect.hub.datasets import dataset_files

    files = dataset_files(ref.location, revision=ref.revision, config=ref.config, split=ref.split, token=token)
    return files.source_revision or files.revision, files.content


# -- local folders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _FolderFiles:
    """What one walk of a dataset folder finds: images, imagefolder metadata, parquet files,
    files named like those that are not regular files (a FIFO, a socket, a device), and ``.txt``
    files (Kohya-style captions beside images, which are not read: only said to be unread)."""

    images: list[Path]
    metadata: list[Path]
    parquet: list[Path]
    irregular: list[Path]
    texts: list[Path]

    def revision(self, root: Path, progress: bool = False) -> str:
        """The folder's content hash: of what a sample reads, and of what it skips unread."""
        return content_hash(root, self.images + self.metadata + self.irregular, progress=progress)


def _folder_files(root: Path) -> _FolderFiles:
    """Walk ``root`` once, so that images and the metadata describing them come from the same folders.

    Hidden folders and files are skipped, as ``datasets`` skips them (a stale
    ``.ipynb_checkpoints/metadata.jsonl`` must not choose the caption column). Symlinked
    folders are followed, as a symlinked root folder is: a folder reached twice (a link to an
    ancestor, two links to one folder) is read once. A file that is not a regular one (a FIFO
    named ``x.png``) is set apart, never to be opened: a FIFO blocks ``open`` until something
    writes to it. A broken link stays where it is: reading it fails at once, and says why.
    """
    images, metadata, parquet, irregular, texts = [], [], [], [], []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if name in _METADATA_FILES:
                found = metadata
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                found = images
            elif path.suffix.lower() == ".parquet":
                found = parquet
            elif path.suffix.lower() == ".txt":
                found = texts
            else:
                continue
            (found if _regular_or_broken(path) else irregular).append(path)
    return _FolderFiles(sorted(images), sorted(metadata), sorted(parquet), sorted(irregular), sorted(texts))


def _regular_or_broken(path: Path) -> bool:
    """Whether ``path`` is a regular file (through links), or cannot be told (a broken link)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True


def _read_metadata(
    files: Sequence[Path], image_column: str | None = None, shown: Callable[[Path], str] = str
) -> tuple[dict[Path, dict[str, Any]], list[str]]:
    """Rows of imagefolder metadata ``files``, keyed by the image file they describe.

    As in ``datasets``, a row's image path is relative to the folder of its metadata file, and
    a file with no column of image paths is refused (read, it would be no captions at all).
    That column is ``image_column`` when given, else ``file_name``, ``*_file_name`` or a usual
    variant. ``shown`` names a file in errors (for a Hub dataset, its path in the repo rather
    than the temporary copy read here).
    """
    rows: dict[Path, dict[str, Any]] = {}
    columns: list[str] = []
    for file in files:
        records = _metadata_records(file, shown(file))
        names = list(dict.fromkeys(c for record in records for c in record))
        if image_column is not None:
            file_column = image_column if image_column in names else None
        else:
            usual = [c for c in _FILE_COLUMNS if c in names] + [c for c in names if c.endswith("_file_name")]
            file_column = usual[0] if usual else None
        if file_column is None and records:
            if image_column is not None:
                raise InputError(f"{shown(file)}: no column {image_column!r}; choose --image-column from: {', '.join(names)}")
            raise InputError(
                f"{shown(file)}: no 'file_name' column saying which image each row describes (columns: {', '.join(names)}); "
                "rename the column of image paths to file_name or name it with --image-column"
            )
        for record in records:
            name = record.get(file_column)
            if isinstance(name, str):
                rows[(file.parent / name).resolve()] = record
        columns.extend(c for c in names if c not in columns)
    return rows, columns


def _metadata_records(file: Path, shown: str) -> list[dict[str, Any]]:
    """The rows of one metadata file, read as ``datasets`` reads it: a UTF-8 BOM (Excel's
    "CSV UTF-8") is ignored, and a malformed file is an error naming the file and the line.
    """
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(file).to_pylist()
        except (OSError, ValueError) as exc:  # pyarrow's errors are subclasses of these
            raise InputError(f"{shown}: cannot read the metadata ({exc}); fix or remove the file") from None
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{shown}: cannot read the metadata ({exc}); fix or remove the file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{shown}, line {line}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    return _jsonl_records(text, shown) if file.suffix == ".jsonl" else _csv_records(text, shown)


def _jsonl_records(text: str, shown: str) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file: one per line, or spread over several lines (``datasets``
    reads those too), each error at its line and column in the file."""
    decoder = json.JSONDecoder()
    records = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at == len(text):
            return records
        try:
            record, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            # Some of json's messages end in "at" ("Invalid control character at"): said once.
            problem = exc.msg.removesuffix(" at")
            raise InputError(f"{shown}, line {exc.lineno}: not valid JSON ({problem} at column {exc.colno}); fix the line or remove the file") from None
        if not isinstance(record, dict):
            line = text.count("\n", 0, at) + 1
            raise InputError(f"{shown}, line {line}: not a JSON object; write one object per line, e.g. {{\"file_name\": \"a.png\", \"text\": \"...\"}}")
        records.append(record)
        at = end


def _csv_records(text: str, shown: str) -> list[dict[str, Any]]:
    """Rows of a metadata CSV as dicts; a short row's missing fields are None.

    Read as leniently as ``datasets`` reads it (``0.png,"Starry Night" by van Gogh`` is the
    caption ``Starry Night by van Gogh``), except where lenient reading is wrong data without a
    word, which is an error at its line:

    - a quote never closed swallows the rows after it into one caption, up to the end of the
      file or to the next quote (which then closes it): a quoted field that ends the file
      open, or that runs over a line starting like a row (an image file name and a comma);
    - fields beyond the header (an unquoted comma) would cut the caption at the comma.
    """
    lines = io.StringIO(text, newline="").readlines()
    unclosed = _unclosed_quote_line(text)
    reader = csv.reader(lines)
    header: list[str] | None = None
    records = []
    while True:
        line = reader.line_num + 1  # where the next row starts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field limit" in str(exc):
                problem = f"a field is longer than {csv.field_size_limit():,} characters (a quote never closed?); fix the row"
            else:
                problem = f"{exc}; fix the row"
            raise InputError(f"{shown}, line {line}: {problem}") from None
        open_here = unclosed is not None and line <= unclosed <= reader.line_num
        if open_here or any(_swallows_a_row(value) for value in row):
            raise InputError(
                f"{shown}, line {unclosed if open_here else line}: a quoted field starting in this row is never closed; "
                'close the quote (a quote inside a quoted field is written "")'
            )
        if not row:  # a blank line
            continue
        if header is None:
            header = row
            continue
        if any(value.strip() for value in row[len(header):]):
            raise InputError(
                f"{shown}, line {line}: {len(row)} fields where the header has {len(header)}; "
                'quote a field that holds a comma ("a, b")'
            )
        records.append(dict(zip_longest(header, row[: len(header)])))
    return records


#: A line that starts like a metadata row: an image file name, then a comma.
_ROW_START = re.compile(r"^[^,\n\"]+(" + "|".join(re.escape(s) for s in sorted(IMAGE_SUFFIXES)) + r")\s*,", re.IGNORECASE)


def _swallows_a_row(value: str) -> bool:
    """Whether a field read over several lines holds a line that starts like a row of its own."""
    return "\n" in value and any(_ROW_START.match(part) for part in value.splitlines()[1:])


#: What the csv module's reading turns on: quotes, delimiters, line ends (``\r\n`` as one).
_CSV_SPECIAL = re.compile(r'"|,|\r\n|\n|\r')


def _unclosed_quote_line(text: str) -> int | None:
    """The line where a quoted field opens that is still open at the end of ``text``, or None.

    Follows the csv module's (lenient) reading: a quote opens a quoted field only at a field's
    start, ``""`` inside one is a quote, and after the closing quote the field goes on
    unquoted, where a quote is just a character (``12" vinyl``). Only the special characters
    are visited, so a large file costs about one regex pass.
    """
    quoted, line, opened = False, 1, 0
    field_start, resume = 0, 0  # where the current unquoted field starts; where to go on after a ""
    for match in _CSV_SPECIAL.finditer(text):
        at, token = match.start(), match.group()
        if at < resume:
            continue
        if quoted:
            if token == '"':
                if text.startswith('"', at + 1):
                    resume = at + 2
                else:
                    quoted = False
            elif token != ",":
                line += 1
        elif token == '"':
            if at == field_start:
                quoted, opened = True, line
        else:
            if token != ",":
                line += 1
            field_start = match.end()
    return opened if quoted else None


def _folder_sample(ref: DatasetRef, spec: SampleSpec, progress: bool) -> DatasetSample:
    root = Path(ref.location)
    found = _folder_files(root)
    files = found.images
    if not files and found.parquet:
        # A downloaded Hub dataset (data/train-0000i-of-0000k.parquet): the parquet path reads it.
        count = f"{len(found.parquet)} parquet file{'' if len(found.parquet) == 1 else 's'}"
        raise InputError(
            f"no image files in {root}, but it holds {count}; pass one .parquet file (e.g. {found.parquet[0]}) "
            "or the dataset's Hub id (which reads every file)"
        )
    if not files:
        raise InputError(
            f"no image files in {root} (looked for {', '.join(sorted(s.lstrip('.') for s in IMAGE_SUFFIXES))}); "
            "pass a folder that holds images"
        )
    file_column = spec.image_column  # the metadata column of image paths, when the user names it
    metadata, columns = _read_metadata(found.metadata, file_column)
    caption_column = _pick_caption_column(
        {c: "string" for c in columns if c not in _FILE_COLUMNS and c != file_column}, spec.caption_column, str(root)
    )
    _warn_unread_captions(metadata.values(), caption_column, str(root))
    beside = {f.with_suffix("") for f in files if not (caption_column and _caption((metadata.get(f.resolve()) or {}).get(caption_column)))}
    unread = [t for t in found.texts if t.with_suffix("") in beside]
    if unread:
        log.warning("%s: %d .txt file%s beside images %s not read as captions; write them into a metadata.jsonl "
                    "with file_name and text columns (read as datasets' imagefolder reads it)",
                    root, len(unread), "s" if len(unread) > 1 else "", "were" if len(unread) > 1 else "was")
    order = list(files)
    random.Random(spec.seed).shuffle(order)
    candidates = (
        _Candidate(str(f.relative_to(root)), f, _caption((metadata.get(f.resolve()) or {}).get(caption_column)) if caption_column else None)
        for f in order
    )
    sample = DatasetSample(
        dataset=ref.name,
        ref=ref,
        revision=found.revision(root, progress),
        spec=spec,
        total=len(files),
        image_column=file_column or ("file_name" if metadata else None),
        caption_column=caption_column,
        details={"source": "folder"},
        skipped=[Skip(str(f.relative_to(root)), UNREADABLE, "not a regular file: a pipe, socket or device") for f in found.irregular],
    )
    _collect(sample, candidates, progress)
    return sample


# -- parquet ------------------------------------------------------------------------------------


class _LocalShards:
    def __init__(self, paths: Sequence[Path]) -> None:
        import pyarrow.parquet as pq

        self.paths = list(paths)
        try:
            self._files = [pq.ParquetFile(p) for p in self.paths]
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"{self.paths[0]}: cannot read the parquet file ({exc}); check the file") from None

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index].name

    def parquet_file(self, index: int):
        return self._files[index]

    def read_row_group(self, index: int, row_group: int, columns: Sequence[str]):
        return self._files[index].read_row_group(row_group, columns=list(columns))


def _local_parquet_sample(ref: DatasetRef, spec: SampleSpec, progress: bool) -> DatasetSample:
    path = Path(ref.location)
    shards = _LocalShards([path])
    revision = _local_parquet_revision(path, spec.image_column, progress)
    sample = DatasetSample(dataset=ref.name, ref=ref, revision=revision, spec=spec, details={"source": "parquet"})
    _parquet_sample(sample, shards, spec, progress, locate=lambda name: path.parent / name)
    return sample


def _local_parquet_revision(path: Path, image_column: str | None, progress: bool = False) -> str:
    """The content hash of a local parquet file and of the image files its rows name by path:
    those are read beside it (:func:`_local_parquet_sample`), so they are its data too.

    Only the paths in the image column (the one a sample with ``image_column`` reads) are read:
    a column of paths, or the ``path`` of a ``datasets`` Image column, never its bytes. So a
    row that holds its image's bytes and names a file there counts that file too (the safe
    direction: a change to it redoes the work). The named files that are regular files count;
    one missing now counts when it appears. A parquet file whose rows name no file beside it
    (``datasets`` writes the original file's name) hashes as it did before named files counted:
    what was made from it stays current.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parquet = _LocalShards([path]).parquet_file(0)
    schema = parquet.schema_arrow
    column, _ = _detect_parquet_columns(schema, SampleSpec(image_column=image_column), path.name)
    kind = schema.field(column).type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        paths = parquet.read(columns=[column]).column(0)
    elif pa.types.is_struct(kind) and kind.get_field_index("path") >= 0:
        paths = pc.struct_field(parquet.read(columns=[f"{column}.path"]).column(0), "path")
    else:  # bytes only: no row names a file
        return content_hash(path.parent, [path], progress=progress)
    named = {path.parent / name for name in pc.unique(paths).to_pylist() if name and isinstance(name, str)}
    # os.path.isfile: a cell no file can have as its name (too long, a NUL in it) names none.
    return content_hash(path.parent, [path, *(file for file in named if os.path.isfile(file))], progress=progress)


def _parquet_sample(sample: DatasetSample, shards, spec: SampleSpec, progress: bool,
                    locate: Callable[[str], Path | None] | None = None, total: int | None = None) -> None:
    """Fill ``sample`` from parquet shards, opening a shard (reading its footer) only when it is sampled.

    Shards are visited in a seeded order, round-robin, taking one seeded random row group from
    each in turn: the sample spreads over as many shards as it needs row groups, and a dataset
    of thousands of shards costs a handful of footers, not thousands.

    A row may name its image by path instead of holding its bytes: ``locate`` gives the file
    (None: not there), called only for the rows the sample reads. A link (``https://…``) is
    refused: hubselect reads the images a dataset holds and downloads nothing from elsewhere.
    """
    rng = random.Random(spec.seed)
    shard_order = list(range(len(shards)))
    rng.shuffle(shard_order)
    schema = shards.parquet_file(shard_order[0]).schema_arrow
    image_column, caption_column = _detect_parquet_columns(schema, spec, shards.name(shard_order[0]))
    sample.image_column, sample.caption_column = image_column, caption_column
    columns = [image_column] + ([caption_column] if caption_column else [])
    remaining: dict[int, list[int]] = {}
    read = {"row_groups": 0, "rows": 0}

    def row_groups() -> Iterator[tuple[int, int]]:
        active = list(shard_order)
        while active:
            for shard in list(active):
                if shard not in remaining:
                    groups = list(range(shards.parquet_file(shard).num_row_groups))
                    rng.shuffle(groups)
                    remaining[shard] = groups
                if not remaining[shard]:
                    active.remove(shard)
                    continue
                yield shard, remaining[shard].pop()

    def candidates() -> Iterator[_Candidate]:
        import pyarrow as pa

        for shard, group in row_groups():
            try:
                table = shards.read_row_group(shard, group, columns)
            except (pa.ArrowException, OSError) as exc:
                # A damaged row group costs its rows, not the run (network errors are HubErrors).
                sample.skipped.append(Skip(f"{shards.name(shard)}[{group}]", UNREADABLE, f"row group: {exc}"[:120]))
                log.warning("skipped row group %d of %s (%s)", group, shards.name(shard), exc)
                continue
            read["row_groups"] += 1
            read["rows"] += table.num_rows
            images = table.column(image_column).to_pylist()
            captions = table.column(caption_column).to_pylist() if caption_column else [None] * len(images)
            rows = list(range(len(images)))
            rng.shuffle(rows)
            for row in rows:
                if link := _link(images[row]):
                    raise InputError(
                        f"{sample.ref}: column {image_column!r} holds links to images ({link[:80]}), not images; hubselect reads "
                        "the images stored in a dataset and does not download links: store the image bytes in the dataset "
                        "(e.g. a datasets Image column) or choose another --image-column"
                    )
                yield _Candidate(f"{shards.name(shard)}[{group}:{row}]", _image_data(images[row], locate), _caption(captions[row]))

    if len(shards) == 1 or total is None and len(shards) <= 8:
        # Counting the rows costs every footer: worth it for a few shards only.
        total = sum(shards.parquet_file(i).metadata.num_rows for i in range(len(shards)))
    sample.total = total
    if total == 0:
        raise InputError(f"{sample.ref}: the parquet data holds no rows; choose another split or file")
    _collect(sample, candidates(), progress)
    if sample.total is None and len(remaining) == len(shards):
        sample.total = sum(shards.parquet_file(i).metadata.num_rows for i in range(len(shards)))
    sample.details.update(read_row_groups=read["row_groups"], read_rows=read["rows"], shards=len(shards), opened_shards=len(remaining))


def _image_data(value: Any, locate: Callable[[str], Path | None] | None) -> bytes | Path | None:
    """Encoded bytes (or a local file, from ``locate``) from a parquet image cell in any of the usual forms."""
    if isinstance(value, dict):  # datasets' Image feature: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value and locate is not None:
        return locate(value)
    return None


#: A URL's scheme (``https://``, ``s3://``...).
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _link(value: Any) -> str | None:
    """The URL a parquet image cell holds instead of an image (a string, or a ``datasets`` Image's path), or None."""
    if isinstance(value, dict) and not value.get("bytes"):
        value = value.get("path")
    return value if isinstance(value, str) and _URL.match(value) else None


def _hf_features(schema) -> dict[str, Any]:
    metadata = schema.metadata or {}
    raw = metadata.get(b"huggingface")
    if not raw:
        return {}
    try:
        return json.loads(raw).get("info", {}).get("features", {}) or {}
    except (ValueError, AttributeError):
        return {}


def _detect_parquet_columns(schema, spec: SampleSpec, where: str) -> tuple[str, str | None]:
    import pyarrow as pa

    names = list(schema.names)
    features = _hf_features(schema)
    if spec.image_column is not None:
        if spec.image_column not in names:
            raise InputError(f"{where}: no column {spec.image_column!r}; choose --image-column from: {', '.join(names)}")
        image_column = spec.image_column
    else:
        typed = [c for c in names if isinstance(features.get(c), dict) and features[c].get("_type") == "Image"]

        def binary_like(c: str) -> bool:
            t = schema.field(c).type
            return pa.types.is_binary(t) or pa.types.is_large_binary(t) or (
                pa.types.is_struct(t) and any(t.field(i).name == "bytes" for i in range(t.num_fields))
            )

        def text(c: str) -> bool:  # paths of the image files, by name only: any text column could be captions
            return pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type)

        # Matched case-insensitively, read by the file's own spelling ("Image" is read as "Image").
        by_name = [n for c in IMAGE_COLUMNS for n in names if n.lower() == c and (binary_like(n) or text(n))]
        binary = [c for c in names if binary_like(c)]
        found = typed or by_name or binary
        if not found:
            raise InputError(f"{where}: no image column found (columns: {', '.join(names)}); name it with --image-column")
        image_column = found[0]
    strings = {}
    for name in names:
        t = schema.field(name).type
        if name == image_column:
            continue
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            strings[name] = "string"
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_string(t.value_type):
            strings[name] = "list"
    return image_column, _pick_caption_column(strings, spec.caption_column, where)


def _pick_caption_column(strings: Mapping[str, str], wanted: str | None, where: str) -> str | None:
    if wanted is not None:
        if wanted not in strings:
            raise InputError(f"{where}: no text column {wanted!r}; choose --caption-column from: {', '.join(strings) or '(none)'}")
        return wanted
    lowered = {c.lower(): c for c in strings}
    for name in CAPTION_COLUMNS:
        if name in lowered:
            return lowered[name]
    return None


def _warn_unread_captions(records: Iterable[Mapping[str, Any]], caption_column: str | None, where: str) -> None:
    """Say which captions the one caption column read leaves out: those of metadata rows (from
    another metadata file, in a nested folder) that hold theirs in another usual column."""
    if caption_column is None:  # no row holds a usual caption column
        return
    elsewhere = Counter(
        next(c for c in record if c.lower() in CAPTION_COLUMNS and _caption(record[c]))
        for record in records
        if _caption(record.get(caption_column)) is None and any(c.lower() in CAPTION_COLUMNS and _caption(record[c]) for c in record)
    )
    for column, count in elsewhere.items():
        log.warning("%s: %d image%s captions are in metadata column %r, not %r as the others': they are not read; "
                    "name the caption column alike in every metadata file", where, count, "s'" if count > 1 else "'s", column, caption_column)


def _caption(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# -- Hub ----------------------------------------------------------------------------------------


def _hub_sample(ref: DatasetRef, spec: SampleSpec, token: str | None, progress: bool) -> DatasetSample:
    from hubselect.hub.datasets import ParquetShards, dataset_files

    files = dataset_files(ref.location, revision=ref.revision, config=ref.config, split=ref.split, token=token)
    sample = DatasetSample(
        dataset=ref.name,
        ref=ref,
        revision=files.source_revision or files.revision,
        spec=spec,
        details={"source": "hub", "data_bytes": files.size, "files_revision": files.revision, "converted": files.converted},
        content=files.content,
    )
    if files.parquet:
        from hubselect.hub.datasets import download_file

        def locate(path: str) -> Path | None:
            """A row's image named by its path in the repo, downloaded when the row is sampled.

            Only what looks like an image file is asked for: a caption column named by mistake
            must not cost a request per row.
            """
            return download_file(files, path, token=token) if Path(path).suffix.lower() in IMAGE_SUFFIXES else None

        with ParquetShards(files, token=token) as shards:
            _parquet_sample(sample, shards, spec, progress, locate=locate, total=files.num_rows)
        return sample
    _hub_imagefolder_sample(sample, files, spec, token, progress)
    return sample


def _hub_imagefolder_sample(sample: DatasetSample, files, spec: SampleSpec, token: str | None, progress: bool) -> None:
    import tempfile

    from hubselect.hub.datasets import download_files

    metadata: dict[str, dict[str, Any]] = {}
    columns: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hubselect-meta-") as tmp:
        copies = []
        for path, local in download_files(files, [f.path for f in files.metadata], token=token):
            # Read the metadata as if the repo were a local folder: same rules, same errors.
            target = Path(tmp) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Path(local).read_bytes())
            copies.append(target)
        rows, columns = _read_metadata(
            sorted(copies), spec.image_column, lambda copy: f"hf://datasets/{files.repo_id}/{copy.relative_to(tmp).as_posix()}"
        )
        root = Path(tmp).resolve()
        metadata = {str(p.relative_to(root)): row for p, row in rows.items()}
    caption_column = _pick_caption_column(
        {c: "string" for c in columns if c not in _FILE_COLUMNS and c != spec.image_column}, spec.caption_column, sample.ref.location
    )
    _warn_unread_captions(metadata.values(), caption_column, f"dataset {files.repo_id}")
    order = [f.path for f in files.images]
    random.Random(spec.seed).shuffle(order)
    sample.total = len(order)
    sample.image_column = spec.image_column or ("file_name" if metadata else None)
    sample.caption_column = caption_column

    def candidates() -> Iterator[_Candidate]:
        # Download lazily, in the sample's order, so only the files the sample uses are fetched.
        for path, local in download_files(files, order, token=token):
            caption = _caption((metadata.get(path) or {}).get(caption_column)) if caption_column else None
            yield _Candidate(path, local, caption)

    _collect(sample, candidates(), progress)


# -- decoding -----------------------------------------------------------------------------------


def _collect(sample: DatasetSample, candidates: Iterator[_Candidate], progress: bool) -> None:
    """Decode candidates in order until the sample holds ``spec.n`` images or they run out."""
    from huggingface_hub.utils import tqdm

    spec = sample.spec
    workers = max(1, min(8, os.cpu_count() or 1))
    bar = tqdm(total=min(spec.n, sample.total or spec.n), desc=f"Reading {sample.dataset}", unit="img", disable=not progress, leave=False)
    # Wall time reading candidates (fetching bytes) vs decoding them, for latency reports.
    timings = sample.details.setdefault("timings", {"fetch": 0.0, "decode": 0.0})
    # PIL warns of an image over its pixel limit, which decode_image refuses (or reads at a JPEG's
    # draft scale) itself. Filters are process-wide: set here, once for all decoding threads, as
    # threads setting and restoring them each let the warning through to stderr.
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubselect-decode") as pool, bar:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        while len(sample.images) < spec.n:
            need = spec.n - len(sample.images)
            # Exactly what is missing: one more candidate could cost one more row group.
            started = time.perf_counter()
            batch = list(islice(candidates, need))
            timings["fetch"] += time.perf_counter() - started
            if not batch:
                break
            started = time.perf_counter()
            results = list(pool.map(lambda c: _decode(c, spec), batch))
            timings["decode"] += time.perf_counter() - started
            for candidate, result in zip(batch, results):
                if isinstance(result, Skip):
                    sample.skipped.append(result)
                    log.info("skipped %s", result)
                    continue
                if len(sample.images) >= spec.n:
                    break
                sample.images.append(result.image)
                sample.sizes.append((result.width, result.height))
                sample.captions.append(candidate.caption)
                sample.sources.append(candidate.source)
                bar.update(1)


def _decode(candidate: _Candidate, spec: SampleSpec) -> DecodedImage | Skip:
    if candidate.data is None:
        return Skip(candidate.source, "missing", "no image bytes in the row")
    return decode_image(
        candidate.data, source=candidate.source, max_pixels=spec.max_pixels, min_side=spec.min_side, max_side=spec.max_side
    )


def _check_enough(sample: DatasetSample, min_images: int) -> None:
    check_enough(sample.ref, sample.spec, min_images, len(sample), sample.skip_counts, image_column=sample.image_column)


def check_sample_size(spec: SampleSpec, min_images: int) -> None:
    """Refuse a sample size below ``min_images`` before anything is read: no sample could pass."""
    if spec.n < min_images:
        raise InputError(f"--n {spec.n} is below --min-images {min_images}; raise --n to at least {min_images} or lower --min-images")


def check_enough(
    ref: DatasetRef, spec: SampleSpec, min_images: int, images: int, skipped: Mapping[str, int], *, image_column: str | None = None
) -> None:
    """Raise an :class:`InputError` when a sample of ``ref`` holds fewer than ``min_images`` usable images.

    ``skipped`` counts the files left out per reason (``DatasetSample.skip_counts``, as a cached
    profile also stores them); the message says why they were left out and what would help.

    >>> check_enough(ref, SampleSpec(), 8, 0, {"too small": 12})  # doctest: +SKIP
    InputError: ...: none of the 12 images read is usable (12 skipped: 12 too small); a profile needs at least 8: use images at least 8 px a side
    """
    check_sample_size(spec, min_images)
    if images >= min_images:
        return
    seen = images + sum(skipped.values())
    summary = f"{sum(skipped.values())} skipped: " + ", ".join(f"{count} {reason}" for reason, count in skipped.items())
    if seen == 0:
        detail = "it holds no images"
    elif not skipped:
        detail = f"it holds only {images} image{'' if images == 1 else 's'}"
    elif set(skipped) <= _DECODE_FAILURES:
        detail = f"none of the {seen} images read could be decoded ({summary})" if images == 0 else (
            f"only {images} of {seen} images read could be decoded ({summary})")
    else:
        detail = f"none of the {seen} images read is usable ({summary})" if images == 0 else (
            f"only {images} of {seen} images read are usable ({summary})")
    fixes = []
    for reason in skipped:
        if reason == TOO_SMALL:
            fix = f"use images at least {spec.min_side} px a side"
        elif reason == TOO_LARGE:
            fix = (f"use images of at most {spec.max_pixels:,} px as read (JPEGs are read at up to 1/8 of their width and height; "
                   "larger ones are refused as possible decompression bombs)")
        elif reason == MISSING and ref.kind == "folder":
            fix = "fix or remove the broken links"
        elif reason == MISSING and image_column:
            fix = f"check --image-column (column {image_column!r} holds no images, or names image files the dataset does not have)"
        else:
            fix = "add images"
        if fix not in fixes:
            fixes.append(fix)
    fixes = fixes or ["add images"]
    if images >= 2:  # the least --min-images accepts: below that, lowering it cannot help
        fixes.append("lower --min-images")
    advice = fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + " or " + fixes[-1]
    raise InputError(f"{ref}: {detail}; a profile needs at least {min_images}: {advice}")


__all__ = ["DatasetSample", "check_enough", "check_sample_size", "dataset_content", "dataset_revision", "load_dataset_sample"]
