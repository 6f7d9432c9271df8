"""Hub datasets: resolve a revision, find a split's files, and read only what a sample needs.

A sample of a Hub dataset is *streamed*, never downloaded whole:

- parquet shards are opened over :class:`huggingface_hub.HfFileSystem`, so pyarrow reads the
  footer and then only the row groups (and only the columns) the sample needs, through HTTP
  range requests;
- a repo of image files (the ``imagefolder`` layout) has only the sampled files downloaded, plus
  its small ``metadata.jsonl``/``metadata.csv``.

Which files hold a config and a split follows the ``datasets`` conventions: the card's
``configs:`` YAML when there is one, else one config, ``default``: the whole repo, split by
keywords in file or folder names (``train``, ``validation``/``valid``/``dev``/``val``,
``test``/``eval``), else everything is ``train``. A dataset in another format is read from the
Hub's automatic parquet conversion (``refs/convert/parquet``), with that conversion's configs.

Everything that touches the network in the dataset path is in this module.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from huggingface_hub.errors import HfHubHTTPError

from hubselect.errors import InputError
from hubselect.hub.client import hub_api, hub_errors, resolve_token

log = logging.getLogger(__name__)

#: Branch where the Hub keeps a parquet conversion of every public dataset.
PARQUET_CONVERSION = "refs/convert/parquet"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".ppm", ".pgm")
METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")

#: Split names and the keywords that mark their files (as in ``datasets.data_files``).
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "dev", "val"),
    "test": ("test", "testing", "eval", "evaluation"),
}


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    #: What the file holds, as the Hub lists it (:func:`~hubselect.data.fingerprint.hub_file_id`).
    oid: str | None = None


@dataclass(frozen=True)
class HubDatasetFiles:
    """The files of one config and split of a Hub dataset, at an exact commit."""

    repo_id: str
    #: Commit sha everything is read at (of ``refs/convert/parquet`` when ``converted``).
    revision: str
    config: str | None
    split: str
    parquet: list[HubFile] = field(default_factory=list)
    images: list[HubFile] = field(default_factory=list)
    metadata: list[HubFile] = field(default_factory=list)
    #: Read from the Hub's parquet conversion, not from the repo's own files.
    converted: bool = False
    #: Commit sha of the requested revision (differs from ``revision`` when ``converted``).
    source_revision: str = ""
    #: Rows of the split, when the card's ``dataset_info`` says (``datasets.push_to_hub`` writes it).
    num_rows: int | None = None

    @property
    def size(self) -> int:
        """Bytes of the split's data files (what a full download would fetch)."""
        return sum(f.size for f in self.parquet) or sum(f.size for f in self.images)

    @property
    def content(self) -> str | None:
        """What a sample of these files reads, as one hash of their paths and content ids (and of
        where they come from and the card's row count, which the sample reports): the same at
        another commit that changed none of them, a card edit say (``None``: an id not listed).

        A sample is a function of these and of its spec alone, so a profile or a fine-tuning
        result made at one commit is the result of another commit of the same content.
        """
        from hubselect.data.fingerprint import hub_files_hash

        files = [(f.path, f.oid) for f in (*self.parquet, *self.images, *self.metadata)]
        return hub_files_hash(files, converted=self.converted, num_rows=self.num_rows)


def dataset_revision(repo_id: str, revision: str | None = None, *, token: str | None = None) -> str:
    """The commit sha a branch, tag or sha of a dataset repo points at.

    >>> dataset_revision("org/pets")  # doctest: +SKIP
    '5d1e0c...'
    """
    with hub_errors(f"dataset {repo_id}"):
        return hub_api(token).dataset_info(repo_id, revision=revision).sha


def dataset_files(
    repo_id: str,
    *,
    revision: str | None = None,
    config: str | None = None,
    split: str = "train",
    token: str | None = None,
) -> HubDatasetFiles:
    """Find the parquet shards or image files of ``config``/``split`` of a Hub dataset.

    As in ``datasets``, a repo whose card declares no ``configs:`` has one config, ``default``
    (the whole repo); a dataset read from the Hub's parquet conversion has that conversion's.

    >>> files = dataset_files("org/pets", split="train")  # doctest: +SKIP
    >>> files.revision, len(files.parquet)  # doctest: +SKIP
    ('5d1e0c...', 4)
    """
    api = hub_api(token)
    with hub_errors(f"dataset {repo_id}"):
        sha = api.dataset_info(repo_id, revision=revision).sha
        tree = [_hub_file(f) for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=sha, recursive=True) if hasattr(f, "size")]
        card = _card(api, repo_id, sha, tree)
        patterns = _card_data_files(card, repo_id, config)
        # Not the one config of a card without `configs:` ("default", the whole repo): perhaps one of the conversion's.
        undeclared = patterns is None and config not in (None, "default")
        if not undeclared:
            found = _select(repo_id, sha, tree, config, split, patterns)
            if found.parquet or found.images:
                return replace(found, num_rows=_card_num_rows(card, config, split))
        # Another format (webdataset, csv of URLs, a loading script...): use the Hub's conversion.
        try:
            converted_sha = api.dataset_info(repo_id, revision=PARQUET_CONVERSION).sha
        except HfHubHTTPError:  # no conversion branch (404): report what we looked for below
            converted_sha = None
        converted: dict[str, dict[str, list[HubFile]]] = {}  # config -> split -> files, from {config}/{split}/0000.parquet
        if converted_sha:
            for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=converted_sha, recursive=True):
                parts = f.path.split("/")
                if hasattr(f, "size") and f.path.endswith(".parquet") and len(parts) >= 3:
                    converted.setdefault(parts[0], {}).setdefault(parts[1].removeprefix("partial-"), []).append(_hub_file(f))
            parquet = converted.get(config or "default", {}).get(split)
            if parquet:
                return HubDatasetFiles(repo_id, converted_sha, config, split, parquet=sorted(parquet, key=lambda f: f.path),
                                       converted=True, source_revision=sha)
    if undeclared and config not in converted:
        names = ", ".join(sorted({"default", *converted}))
        raise InputError(f"dataset {repo_id} has no config {config!r} (its card declares none); choose one of: {names}")
    where = f"dataset {repo_id}" + (f" config {config!r}" if config else "")
    own = set() if undeclared else _splits_present(tree, patterns)
    splits = sorted(own | set(converted.get(config or "default", {})))
    if not splits:
        raise InputError(
            f"{where} has no parquet or image files at {sha[:12]}, and the Hub has no parquet conversion of it; "
            "hubselect reads parquet shards or image files"
        )
    configs = card.get("configs") or []
    another = f" or a config with {repo_id}:CONFIG" if len(configs) > 1 else ""
    raise InputError(
        f"{where} has no parquet or image files for split {split!r} at {sha[:12]}; "
        f"choose a split with --split (found: {', '.join(splits)}){another}"
    )


def _hub_file(entry) -> HubFile:
    """A file of a tree listing (a ``RepoFile``), with its content id."""
    from hubselect.data.fingerprint import hub_file_id

    return HubFile(entry.path, entry.size or 0, hub_file_id(entry))


def _card(api, repo_id: str, sha: str, tree: list[HubFile]) -> dict:
    """The card's YAML metadata ({} without a README or with an unreadable one)."""
    if not any(f.path == "README.md" for f in tree):
        return {}
    from huggingface_hub import DatasetCard, hf_hub_download

    try:
        return DatasetCard.load(hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=sha, token=api.token)).data.to_dict() or {}
    except Exception as exc:  # an unreadable card is not a reason to fail: fall back to conventions
        log.warning("cannot read the card of %s (%s); finding files by name", repo_id, exc)
        return {}


def _card_num_rows(card: dict, config: str | None, split: str) -> int | None:
    infos = card.get("dataset_info") or []
    for info in infos if isinstance(infos, list) else [infos]:
        if not isinstance(info, dict) or info.get("config_name", "default") != (config or "default"):
            continue
        for entry in info.get("splits") or []:
            if isinstance(entry, dict) and entry.get("name") == split and isinstance(entry.get("num_examples"), int):
                return entry["num_examples"]
    return None


def _card_data_files(card: dict, repo_id: str, config: str | None) -> list[tuple[str, list[str]]] | None:
    """``(split, patterns)`` of ``config`` from the card's ``configs:`` YAML, or None without one."""
    configs = card.get("configs") or []
    if not configs:
        return None
    chosen = None
    for entry in configs:
        if config is None and (entry.get("default") or entry.get("config_name") == "default"):
            chosen = entry
        if config is not None and entry.get("config_name") == config:
            chosen = entry
    if chosen is None and config is None:
        chosen = configs[0]
    if chosen is None:
        names = ", ".join(str(c.get("config_name")) for c in configs)
        raise InputError(f"dataset {repo_id} has no config {config!r}; choose one of: {names}")
    data_files = chosen.get("data_files") or []
    if isinstance(data_files, str):
        return [("train", [data_files])]
    out = []
    for item in data_files:
        if isinstance(item, dict):
            paths = item.get("path")
            out.append((str(item.get("split", "train")), [paths] if isinstance(paths, str) else list(paths or [])))
        else:
            out.append(("train", [str(item)]))
    return out


def _tokens(path: str) -> set[str]:
    return set(re.split(r"[-._ /0-9]+", path.lower()))


def _split_of(path: str) -> str | None:
    tokens = _tokens(path)
    for split, keywords in SPLIT_KEYWORDS.items():
        if tokens & set(keywords):
            return split
    return None


def _splits_present(tree: list[HubFile], patterns: list[tuple[str, list[str]]] | None) -> set[str]:
    """The splits that have parquet or image files: of the card's config (``patterns``), or of the whole repo."""
    data = [f for f in tree if f.path.endswith(".parquet") or f.path.lower().endswith(IMAGE_SUFFIXES)]
    if patterns is not None:
        return {split for split, globs in patterns if any(fnmatch.fnmatch(f.path, g) for f in data for g in globs)}
    splits = {_split_of(f.path) for f in data}
    return {s for s in splits if s} or ({"train"} if data else set())


def _select(
    repo_id: str, sha: str, tree: list[HubFile], config: str | None, split: str, patterns: list[tuple[str, list[str]]] | None
) -> HubDatasetFiles:
    if patterns is not None:
        globs = [p for s, ps in patterns if s == split for p in ps]
        candidates = [f for f in tree if any(fnmatch.fnmatch(f.path, g) for g in globs)]
    else:
        data = [f for f in tree if f.path.endswith(".parquet") or f.path.lower().endswith(IMAGE_SUFFIXES)]
        candidates = tree  # the one config, "default", is the whole repo
        if any(_split_of(f.path) for f in data):
            candidates = [f for f in tree if _split_of(f.path) == split or Path(f.path).name in METADATA_FILES]
        elif split != "train":
            candidates = []
    parquet = sorted((f for f in candidates if f.path.endswith(".parquet") and Path(f.path).name not in METADATA_FILES), key=lambda f: f.path)
    images = sorted((f for f in candidates if f.path.lower().endswith(IMAGE_SUFFIXES)), key=lambda f: f.path)
    # imagefolder metadata describes the images in its folder and below.
    image_dirs = {Path(f.path).parent for f in images}
    metadata = [
        f for f in tree if Path(f.path).name in METADATA_FILES and any(d == Path(f.path).parent or Path(f.path).parent in d.parents for d in image_dirs)
    ]
    return HubDatasetFiles(repo_id, sha, config, split, parquet=parquet, images=images if not parquet else [],
                           metadata=metadata if not parquet else [], source_revision=sha)


class ParquetShards:
    """Parquet shards of a Hub dataset opened for range reads (pyarrow ``ParquetFile``\\ s).

    Opening reads each footer; :meth:`read_row_group` then fetches one row group's column
    chunks. Every read goes through ``hub_errors`` so network failures become one-line errors.

    >>> with ParquetShards(files) as shards:  # doctest: +SKIP
    ...     table = shards.read_row_group(0, 3, columns=["image", "text"])
    """

    def __init__(self, files: HubDatasetFiles, *, token: str | None = None) -> None:
        from huggingface_hub import HfFileSystem, constants

        self.files = files
        self._fs = HfFileSystem(token=resolve_token(token), endpoint=constants.ENDPOINT, skip_instance_cache=True)
        self._open: dict[int, object] = {}
        self._handles: list = []

    def __len__(self) -> int:
        return len(self.files.parquet)

    def name(self, index: int) -> str:
        return self.files.parquet[index].path

    def parquet_file(self, index: int):
        """The ``pyarrow.parquet.ParquetFile`` of shard ``index`` (reads its footer once)."""
        import pyarrow.parquet as pq

        if index not in self._open:
            shard = self.files.parquet[index]
            with hub_errors(f"dataset {self.files.repo_id} file {shard.path}"):
                # No read-ahead: pyarrow asks for exact byte ranges (footer, column chunks) and
                # a buffering file would fetch megabytes around each of them.
                handle = self._fs.open(
                    f"datasets/{self.files.repo_id}@{self.files.revision}/{shard.path}",
                    "rb",
                    block_size=2**20,
                    cache_type="none",
                    size=shard.size,
                )
                self._handles.append(handle)
                self._open[index] = pq.ParquetFile(handle, metadata=_read_footer(handle, shard.size))
        return self._open[index]

    def read_row_group(self, index: int, row_group: int, columns: Sequence[str]):
        with hub_errors(f"dataset {self.files.repo_id} file {self.name(index)}"):
            return self.parquet_file(index).read_row_group(row_group, columns=list(columns))

    def close(self) -> None:
        for handle in self._handles:
            try:
                handle.close()
            except Exception:
                pass
        self._handles.clear()
        self._open.clear()

    def __enter__(self) -> "ParquetShards":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Bytes read from a shard's end to find its footer in one request (most footers are smaller).
FOOTER_GUESS = 16 * 1024


def _read_footer(handle, size: int):
    """The parquet metadata of a remote file, fetched with one small range request (two for a big footer).

    pyarrow reads the last 64 KiB to find the footer; image shards' footers are a few KiB, and
    a sample opens one shard per row group it reads, so this saves most of a sample's overhead.
    """
    import io
    import struct

    import pyarrow.parquet as pq

    tail_size = min(size, FOOTER_GUESS)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    if len(tail) < 8 or tail[-4:] != b"PAR1":
        raise InputError(f"{handle.path} is not a parquet file (no PAR1 footer); check the dataset's files")
    length = struct.unpack("<I", tail[-8:-4])[0]
    if length + 8 > len(tail):
        handle.seek(size - 8 - length)
        tail = handle.read(length + 8 - len(tail)) + tail
    # A stand-in file holding only the footer: pyarrow parses the metadata from it, and the
    # column chunk offsets inside still point into the real file.
    return pq.read_metadata(io.BytesIO(b"PAR1" + tail[-(length + 8) :]))


def download_files(files: HubDatasetFiles, paths: Sequence[str], *, token: str | None = None) -> Iterator[tuple[str, Path]]:
    """Download ``paths`` of the dataset (through the HF cache), yielding ``(path, local file)``."""
    from huggingface_hub import hf_hub_download

    token = resolve_token(token)
    for path in paths:
        with hub_errors(f"dataset {files.repo_id} file {path}"):
            local = hf_hub_download(files.repo_id, path, repo_type="dataset", revision=files.revision, token=token)
        yield path, Path(local)


__all__ = [
    "PARQUET_CONVERSION",
    "HubDatasetFiles",
    "HubFile",
    "ParquetShards",
    "dataset_files",
    "dataset_revision",
    "download_files",
]
