"""Hub datasets: resolve a revision, find a split's files, and read only what a sample needs.

A sample of a Hub dataset is *streamed*, never downloaded whole:

- parquet shards are opened over :class:`huggingface_hub.HfFileSystem`, so pyarrow reads the
  footer and then only the row groups (and only the columns) the sample needs, through HTTP
  range requests;
- a repo of image files (the ``imagefolder`` layout) has only the sampled files downloaded, plus
  its small ``metadata.jsonl``/``metadata.csv``.

Which files hold a config and a split follows the ``datasets`` conventions: the card's
``configs:`` YAML when there is one (``data_files`` globs, ``data_dir`` folders), else one
config, ``default``: the whole repo, split by keywords in file or folder names (``train``,
``validation``/``valid``/``dev``/``val``, ``test``/``eval``), else everything is ``train``;
hidden files and folders are skipped. A split's data is its parquet shards, else its files in
another format ``datasets`` reads (webdataset ``.tar``, ``.jsonl``, ``.csv``, ``.arrow``...),
else its image files: images beside shards or archives are previews. A split in another format
is read from the Hub's automatic parquet conversion (``refs/convert/parquet``), with that
conversion's configs.

Everything that touches the network in the dataset path is in this module.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence

from huggingface_hub.errors import HfHubHTTPError

from hubselect.errors import HubError, InputError
from hubselect.hub.client import hub_api, hub_errors, is_commit, resolve_token

log = logging.getLogger(__name__)


#: Branch where the Hub keeps a parquet conversion of every public dataset.
PARQUET_CONVERSION = "refs/convert/parquet"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".ppm", ".pgm")
METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")

#: Formats ``datasets`` reads rows from that hubselect does not read itself (webdataset shards,
#: archives, Arrow, JSON Lines, CSV...): a split in one of them is read from the Hub's parquet
#: conversion, which ``datasets`` makes of it.
OTHER_DATA_SUFFIXES = frozenset({".tar", ".tgz", ".zip", ".arrow", ".lance", ".vortex", ".h5", ".hdf5", ".jsonl", ".ndjson", ".json", ".csv", ".tsv"})
#: Of those, the tables and zip archives: beside more images they are the images' notes or a
#: zip of them to download at once (no larger than they are), not the data (webdataset shards and Arrow files beside
#: images are the data, the images previews: each holds many rows).
TABLE_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".csv", ".tsv"})
BESIDE_IMAGES_SUFFIXES = TABLE_SUFFIXES | {".zip"}
#: Files ``datasets`` never takes for data.
IGNORED_FILES = ("README.md", "config.json", "dataset_info.json", "dataset_infos.json", "dataset_dict.json", "dummy_data.zip")

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
    #: With ``parquet``: the image files of the (source) repo, which rows may name by path
    #: instead of holding their bytes (read only when a sampled row names one; not the data).
    repo_images: list[HubFile] = field(default_factory=list)

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
        result made at one commit is the result of another commit of the same content. Parquet
        rows may name their image by its path in the repo, so parquet's content includes the
        repo's images (:attr:`repo_images`): which ones rows name is known only by reading them,
        so a preview image beside the shards counts too, and a new one redoes the work (the safe
        direction). A repo of parquet and no images hashes as before images counted: what was
        made from it stays current.
        """
        from hubselect.data.fingerprint import hub_files_hash

        files = [(f.path, f.oid) for f in (*self.parquet, *self.images, *self.metadata, *self.repo_images)]
        return hub_files_hash(files, converted=self.converted, num_rows=self.num_rows)


def dataset_revision(repo_id: str, revision: str | None = None, *, token: str | None = None) -> str:
    """The commit sha a branch, tag or sha of a dataset repo points at.

    Offline (``HF_HUB_OFFLINE=1``) the HF cache answers, as it does for a model or a zoo: a full
    commit sha is itself, and a branch or tag is the commit the last online call found. That
    call records it in the cache's ``refs/``, where huggingface_hub keeps the commit of each
    branch it downloaded by name (a sample reads files by sha, so nothing else would). A
    profile of that commit, in a zoo or in the embedding cache, is then served offline.

    >>> dataset_revision("org/pets")  # doctest: +SKIP
    '5d1e0c...'
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return _cached_revision(repo_id, revision)
    with hub_errors(f"dataset {repo_id}"):
        sha = hub_api(token).dataset_info(repo_id, revision=revision).sha
    _remember_revision(repo_id, revision, sha)
    return sha


def _cache_folder(repo_id: str) -> Path:
    """The HF cache's folder of a dataset repo (huggingface_hub's layout: ``refs/``, ``snapshots/``)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    with hub_errors(f"dataset {repo_id}"):  # an id that is none: the same one-line error as online
        return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="dataset")


def _remember_revision(repo_id: str, revision: str | None, sha: str) -> None:
    """Record in the HF cache that ``revision`` (default: main) of ``repo_id`` is commit ``sha``."""
    from huggingface_hub import constants

    name = revision or constants.DEFAULT_REVISION
    if name == sha:
        return
    folder = _cache_folder(repo_id)
    ref = folder / "refs" / name
    try:
        if ref.is_file() and ref.read_text() == sha:
            return
        # The commit's snapshot folder too (empty for a streamed dataset): `hf cache scan` calls
        # a ref to a commit without one a corrupted cache.
        (folder / "snapshots" / sha).mkdir(parents=True, exist_ok=True)
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref.with_name(f"{ref.name}.{os.getpid()}.tmp")
        tmp.write_text(sha)
        tmp.replace(ref)  # readers never see half a sha
    except OSError as exc:  # a read-only cache only costs offline use
        log.info("cannot record in the HF cache which commit %s@%s is (%s)", repo_id, name, exc)


def _cached_revision(repo_id: str, revision: str | None) -> str:
    """The commit ``revision`` of ``repo_id`` was at when last asked online (:func:`_remember_revision`)."""
    from huggingface_hub import constants

    if is_commit(revision):
        return revision
    name = revision or constants.DEFAULT_REVISION
    try:
        return (_cache_folder(repo_id) / "refs" / name).read_text().strip()
    except OSError:
        raise HubError(
            f"dataset {repo_id}: which commit {name} is at is not in the local cache, and HF_HUB_OFFLINE=1 is set: "
            f"run once with network access (or unset HF_HUB_OFFLINE), or name the commit ({repo_id}@SHA)"
        ) from None


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
        _remember_revision(repo_id, revision, sha)  # as dataset_revision does: this is the branch's commit too
        tree = [_hub_file(f) for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=sha, recursive=True) if hasattr(f, "size")]
        card = _card(api, repo_id, sha, tree)
        chosen = _card_config(card, repo_id, config)
        # The config read: the one asked for, the card's default, or the one config of a card
        # without `configs:`. The Hub's conversion and the card's row counts are keyed by it.
        name = chosen.name if chosen else config or "default"
        # Not the one config of a card without `configs:` ("default", the whole repo): perhaps one of the conversion's.
        undeclared = chosen is None and config not in (None, "default")
        other: list[HubFile] = []  # the split's data files in a format hubselect does not read
        if not undeclared:
            found, other = _select(repo_id, sha, tree, config, split, chosen)
            if found.parquet or found.images:
                return replace(found, num_rows=_card_num_rows(card, name, split), repo_images=_repo_images(found, tree))
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
            parquet = converted.get(name, {}).get(split)
            if parquet:
                return HubDatasetFiles(repo_id, converted_sha, config, split, parquet=sorted(parquet, key=lambda f: f.path),
                                       converted=True, source_revision=sha, repo_images=_repo_images(None, tree))
    if undeclared and name not in converted:
        names = ", ".join(sorted({"default", *converted}))
        raise InputError(f"dataset {repo_id} has no config {config!r} (its card declares none); choose one of: {names}")
    where = f"dataset {repo_id}" + (f" config {name!r}" if config or chosen else "")
    if other:
        raise InputError(_other_format_error(where, split, sha, other, _split_files(repo_id, tree, chosen)[split]))
    own = set() if undeclared else _splits_present(repo_id, tree, chosen)
    splits = sorted(own | set(converted.get(name, {})))
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


def _repo_images(found: HubDatasetFiles | None, tree: list[HubFile]) -> list[HubFile]:
    """The repo's image files a split read from parquet (``found``; None: the conversion) may
    name by path: every image file of the repo, as a row's path is from the repo's root
    (:func:`download_file`), also in the conversion's rows; files in hidden folders are left
    out, as everywhere else. Empty for a split whose images are its data (hashed as such).
    """
    if found is not None and not found.parquet:
        return []
    return sorted((f for f in tree if _kind(f.path) == "image" and not _hidden(f.path)), key=lambda f: f.path)


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


def _card_num_rows(card: dict, config: str, split: str) -> int | None:
    infos = card.get("dataset_info") or []
    for info in infos if isinstance(infos, list) else [infos]:
        if not isinstance(info, dict) or info.get("config_name", "default") != config:
            continue
        for entry in info.get("splits") or []:
            if isinstance(entry, dict) and entry.get("name") == split and isinstance(entry.get("num_examples"), int):
                return entry["num_examples"]
    return None


class NoDefaultConfig(InputError):
    """A Hub dataset named without ``:config`` whose card has several configs and none is the
    default: :func:`dataset_files` refuses to guess, as ``datasets`` does.

    ``first`` is the card's first config: the one hubselect read under the repo's bare name
    before it refused, so a zoo made then may hold that config's results under the bare name
    (:func:`~hubselect.profile.grid.unreadable_datasets` says so).
    """

    def __init__(self, message: str, first: str | None = None) -> None:
        super().__init__(message)
        self.first = first


@dataclass(frozen=True)
class _ConfigFiles:
    """Where a config of the card's ``configs:`` keeps its files, as ``datasets`` reads the entry.

    ``name`` is the config's ``config_name``. ``data_dir`` is the config's folder ("": the whole
    repo). ``data_files`` are each split's glob patterns, relative to that folder; without them,
    splits are found by name inside the folder, as for a repo whose card declares no configs.
    """

    name: str
    data_dir: str = ""
    data_files: list[tuple[str, list[str]]] | None = None


def _card_config(card: dict, repo_id: str, config: str | None) -> _ConfigFiles | None:
    """Where ``config``'s files are, from the card's ``configs:`` YAML, or None without one.

    Without ``config``, the card's default, as ``datasets`` picks it: the config marked
    ``default: true`` or named ``default``, else the only one. Several configs and no default
    (or several defaults) is an :class:`InputError` naming them, as ``datasets`` refuses to
    guess: reading the first would profile one config under the repo's bare name.
    """
    configs = card.get("configs") or []
    if not configs:
        return None
    names = ", ".join(str(c.get("config_name")) for c in configs)
    if config is None:
        defaults = [entry for entry in configs if len(configs) == 1 or entry.get("default") or entry.get("config_name") == "default"]
        pick = f"pick one as {repo_id}:CONFIG, e.g. {repo_id}:{(defaults or configs)[0].get('config_name')}"
        if not defaults:
            raise NoDefaultConfig(f"dataset {repo_id}: its card has several configs ({names}) and none is the default; {pick}", str(configs[0].get("config_name")))
        if len(defaults) > 1:
            marked = ", ".join(str(c.get("config_name")) for c in defaults)
            raise InputError(f"dataset {repo_id}: its card marks several configs default ({marked}); {pick}")
        chosen = defaults[0]
    else:
        chosen = next((entry for entry in configs if entry.get("config_name") == config), None)
    if chosen is None:
        raise InputError(f"dataset {repo_id} has no config {config!r}; choose one of: {names}")
    name = str(chosen.get("config_name"))
    data_dir = str(chosen.get("data_dir") or "").strip("/")
    data_files = chosen.get("data_files")
    if data_files is None:
        return _ConfigFiles(name, data_dir)
    if isinstance(data_files, str):
        return _ConfigFiles(name, data_dir, [("train", [data_files])])
    out = []
    for item in data_files:
        if isinstance(item, dict):
            paths = item.get("path")
            out.append((str(item.get("split", "train")), [paths] if isinstance(paths, str) else list(paths or [])))
        else:
            out.append(("train", [str(item)]))
    return _ConfigFiles(name, data_dir, out)


def _tokens(path: str) -> set[str]:
    return set(re.split(r"[-._ /0-9]+", path.lower()))


def _split_of(path: str) -> str | None:
    tokens = _tokens(path)
    for split, keywords in SPLIT_KEYWORDS.items():
        if tokens & set(keywords):
            return split
    return None


def _glob(repo_id: str, pattern: str) -> Callable[[str], bool]:
    """Whether a repo path is one of the files the card's ``data_files`` glob ``pattern`` selects.

    The rules are those ``datasets`` resolves patterns by (fsspec's glob): ``*`` and ``?`` stay
    within a folder, ``**`` (a whole path component) is zero or more folders, ``[...]`` is a
    character class; and, as ``datasets`` then filters, hidden files and folders (``.x``) and
    ``__x`` folders count only where the pattern names them. (``fnmatch``'s ``*`` crosses
    folders: ``data/*.parquet`` took ``data/old/archive.parquet`` too.)

    >>> _glob("org/pets", "data/*.parquet")("data/old/archive.parquet")
    False
    """
    # Python 3.11 has no glob.translate; this is its copy with fsspec's settings (recursive,
    # hidden files included, "/" the only separator), the one fsspec's glob compiles patterns with.
    from fsspec.utils import glob_translate

    try:
        regex = re.compile(glob_translate(pattern))
    except (ValueError, re.error) as exc:
        raise InputError(f"dataset {repo_id}: the card's data_files pattern {pattern!r} is not a valid glob ({exc}); fix the card's configs") from None
    wanted = PurePosixPath(pattern)
    hidden = _count(wanted.parts, "."), _count(wanted.parent.parts, "__")

    def matches(path: str) -> bool:
        parts = PurePosixPath(path)
        return bool(regex.match(path)) and (_count(parts.parts, "."), _count(parts.parent.parts, "__")) == hidden

    return matches


def _hidden(path: str) -> bool:
    """Whether ``datasets`` skips ``path`` unless a pattern names it: in a hidden folder, a hidden file, or in a ``__x`` folder."""
    parts = PurePosixPath(path)
    return bool(_count(parts.parts, ".") or _count(parts.parent.parts, "__"))


def _count(parts: Sequence[str], prefix: str) -> int:
    """Path components starting with ``prefix`` (``.`` and ``..`` are not hidden)."""
    return sum(1 for part in parts if part.startswith(prefix) and set(part) != {"."})


def _in_folder(tree: list[HubFile], folder: str) -> list[tuple[HubFile, str]]:
    """The files under ``folder`` ("": the whole repo), each with its path relative to the folder."""
    if not folder:
        return [(f, f.path) for f in tree]
    return [(f, f.path[len(folder) + 1 :]) for f in tree if f.path.startswith(folder + "/")]


def _split_files(repo_id: str, tree: list[HubFile], chosen: _ConfigFiles | None) -> dict[str, list[HubFile]]:
    """The files of each split of a config (``chosen``; None: the one config of a card without ``configs:``).

    As ``datasets`` finds them: inside the config's folder (``data_dir``, else the whole repo),
    the files the card's ``data_files`` globs select; without globs, split keywords in file or
    folder names, or everything is ``train`` when no data file's name has one. Hidden files and
    folders (a notebook's ``.ipynb_checkpoints/``) are skipped unless a glob names them.
    """
    inside = _in_folder(tree, chosen.data_dir if chosen else "")
    if chosen is not None and chosen.data_files is not None:
        found: dict[str, list[HubFile]] = {}
        for split, globs in chosen.data_files:
            matchers = [_glob(repo_id, g) for g in globs]
            found.setdefault(split, []).extend(f for f, path in inside if any(matches(path) for matches in matchers))
        return found
    inside = [(f, path) for f, path in inside if not _hidden(path)]
    data = [(f, path) for f, path in inside if _kind(path) not in (None, "metadata")]
    if not any(_split_of(path) for _, path in data):
        return {"train": [f for f, _ in inside]} if data else {}
    found = {}
    for f, path in inside:
        if split := _split_of(path):
            found.setdefault(split, []).append(f)
    return found


def _splits_present(repo_id: str, tree: list[HubFile], chosen: _ConfigFiles | None) -> set[str]:
    """The splits of a config (``chosen``, or the repo's one config) that have data files."""
    return {split for split, files in _split_files(repo_id, tree, chosen).items() if any(_kind(f.path) not in (None, "metadata") for f in files)}


def _kind(path: str) -> str | None:
    """What a file is to a split: ``"parquet"``, ``"image"``, ``"metadata"`` (an imagefolder's
    captions), the suffix of a data format hubselect does not read (``".tar"``), or None (a card,
    a script, a caption ``.txt`` beside an image: not data)."""
    name = PurePosixPath(path).name
    if name in METADATA_FILES:
        return "metadata"
    if name in IGNORED_FILES:
        return None
    lower = name.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith(IMAGE_SUFFIXES):
        return "image"
    # Every suffix counts, as in datasets: shard.tar.gz is a tar, rows.jsonl.zst JSON Lines.
    return next((f".{s}" for s in lower.split(".")[1:] if f".{s}" in OTHER_DATA_SUFFIXES), None)


def _select(
    repo_id: str, sha: str, tree: list[HubFile], config: str | None, split: str, chosen: _ConfigFiles | None
) -> tuple[HubDatasetFiles, list[HubFile]]:
    """The parquet shards, or the image files and their metadata, that are the data of a split.

    When the split's data is in another format, no files, and (second) its data files in that
    format. What is data: parquet shards when there are any; else files of another format
    ``datasets`` reads (webdataset ``.tar``, ``.zip``, ``.arrow``, ``.jsonl``, ``.csv``...);
    else image files. Images beside shards or archives are previews (the card's illustrations,
    sample grids): each is one image, where each of those holds many rows; tables beside more
    images (a ``captions.csv``, a ``labels.json``) are notes on the images, which are the data.
    An imagefolder's ``metadata.csv`` describes its images and is not data of its own.
    """
    candidates = _split_files(repo_id, tree, chosen).get(split, [])
    kinds = [(f, _kind(f.path)) for f in candidates]
    parquet = sorted((f for f, kind in kinds if kind == "parquet"), key=lambda f: f.path)
    other = [] if parquet else sorted((f for f, kind in kinds if kind not in (None, "metadata", "parquet", "image")), key=lambda f: f.path)
    image_files = [f for f, kind in kinds if kind == "image"]
    if other and all(_kind(f.path) in BESIDE_IMAGES_SUFFIXES for f in other) and len(image_files) > len(other) and _zips_copy(other, image_files):
        # A few tables or zips among more images (a captions.csv not named metadata.csv, a
        # labels.json, an images.zip to download them at once): the images are the data, as
        # datasets reads the split (its most common file kind).
        tables = [f for f in other if _kind(f.path) in TABLE_SUFFIXES]
        advice = f"; if {tables[0].path} holds their captions, {_as_metadata(tables[0].path)}" if tables else ""
        log.warning("dataset %s: %s not read (the images are the data)%s", repo_id, ", ".join(f.path for f in other), advice)
        other = []
    if other:
        return HubDatasetFiles(repo_id, sha, config, split, source_revision=sha), other
    images = [] if parquet else sorted((f for f, kind in kinds if kind == "image"), key=lambda f: f.path)
    # imagefolder metadata describes the images in its folder and below (inside the config's folder).
    image_dirs = {Path(f.path).parent for f in images}
    metadata = [
        f
        for f, path in _in_folder(tree, chosen.data_dir if chosen else "")
        if Path(f.path).name in METADATA_FILES and not _hidden(path) and any(d == Path(f.path).parent or Path(f.path).parent in d.parents for d in image_dirs)
    ]
    return HubDatasetFiles(repo_id, sha, config, split, parquet=parquet, images=images, metadata=metadata, source_revision=sha), []


def _as_metadata(path: str) -> str:
    """How a table of captions beside images becomes their imagefolder metadata, which is read as
    ``metadata.csv`` (comma-separated), ``metadata.jsonl`` (one JSON object per line) or
    ``metadata.parquet``: a CSV or JSON Lines file only needs the name; a ``.json`` file (an
    array, or an object keyed by file name) or a ``.tsv`` file renamed so would not parse.

    >>> _as_metadata("captions.json")
    'convert it to metadata.jsonl, one JSON object per line with a file_name column (e.g. {"file_name": "a.png", "text": "..."})'
    """
    suffix = _kind(path)
    if suffix == ".csv":
        return "name it metadata.csv"
    if suffix in (".jsonl", ".ndjson"):
        return "name it metadata.jsonl"
    if suffix == ".tsv":
        return "convert it to metadata.csv, comma-separated with a file_name column"
    return 'convert it to metadata.jsonl, one JSON object per line with a file_name column (e.g. {"file_name": "a.png", "text": "..."})'


def _zips_copy(other: list[HubFile], images: list[HubFile]) -> bool:
    """Whether the zip archives among ``other`` can be no more than a copy of ``images`` (their
    bytes at most the images' and the zip's headers): a download-at-once zip beside an image folder.
    A zip larger than the images beside it holds data of its own (the images are then samples of
    it), and is read as another format, from the Hub's parquet conversion.

    >>> _zips_copy([HubFile("all.zip", 9_000)], [HubFile(f"{i}.png", 1_000) for i in range(9)])
    True
    >>> _zips_copy([HubFile("all.zip", 40_000)], [HubFile(f"{i}.png", 1_000) for i in range(9)])
    False
    """
    zipped = sum(f.size for f in other if _kind(f.path) == ".zip")
    return zipped <= 1.1 * sum(f.size for f in images) + 256 * len(images)  # a zip's headers: ~100 bytes a member


def _other_format_error(where: str, split: str, sha: str, other: list[HubFile], split_files: list[HubFile]) -> str:
    """The refusal of a split in a format hubselect does not read (``other``: its data files), with no conversion to read instead."""
    counts = Counter(_kind(f.path) for f in other)
    suffix = counts.most_common(1)[0][0]
    example = next(f.path for f in other if _kind(f.path) == suffix)
    more = f" and {len(other) - 1} more" if len(other) > 1 else ""
    advice = "push it as parquet (datasets' push_to_hub writes parquet shards) or as image files"
    if len(other) == 1 and suffix in (".csv", ".jsonl") and any(_kind(f.path) == "image" for f in split_files):
        # An imagefolder whose table of captions is not named metadata.csv/.jsonl.
        advice += f"; if its images are the data and {example} their captions, name it metadata{suffix}"
    return (
        f"{where}: split {split!r} is in {suffix} files ({example}{more}) at {sha[:12]}, which hubselect does not read, "
        f"and the Hub has no parquet conversion of it; {advice}"
    )


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


def download_file(files: HubDatasetFiles, path: str, *, token: str | None = None) -> Path | None:
    """One file of the dataset's repo, by its path from the repo's root (through the HF cache); None when there is no such file.

    For parquet rows that name their image by its path in the repo (a ``datasets`` Image with
    ``bytes: null``, or a string column) instead of holding its bytes: one request per image,
    made only for the rows a sample reads.

    >>> download_file(files, "images/0001.png")  # doctest: +SKIP
    PosixPath('.../snapshots/5d1e0c.../images/0001.png')
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    relative = PurePosixPath(path.removeprefix("./"))
    if not relative.parts or relative.is_absolute() or ".." in relative.parts:
        return None  # not a path inside the repo (an absolute path of the machine the dataset was built on)
    # Paths are the source repo's, also in rows of the Hub's parquet conversion.
    revision = files.source_revision or files.revision
    with hub_errors(f"dataset {files.repo_id} file {relative}"):
        try:
            return Path(hf_hub_download(files.repo_id, str(relative), repo_type="dataset", revision=revision, token=resolve_token(token)))
        except RemoteEntryNotFoundError:
            return None


__all__ = [
    "PARQUET_CONVERSION",
    "HubDatasetFiles",
    "HubFile",
    "NoDefaultConfig",
    "ParquetShards",
    "dataset_files",
    "dataset_revision",
    "download_file",
    "download_files",
]
