"""Content hashes of local files, used as the "revision" of local datasets and probes, and of
Hub files, which tell two commits of a repo holding the same files apart from two that do not.

Hashing gigabytes on every run would be slow, so a content hash is stored against a cheap
fingerprint of the files (names, sizes, modification times) under ``CACHE_DIR/fingerprints``
and recomputed only when that fingerprint changes. Hub files need no reading: the Hub lists
each file's content id (:func:`hub_files_hash`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from typing import Any, Iterable

from hubselect import constants


def content_hash(root: str | Path, files: Iterable[str | Path], *, prefix: str = "local-", progress: bool = False) -> str:
    """``prefix`` + a sha256 over the files' paths (relative to ``root``) and contents, with a
    progress bar of the bytes read when ``progress`` (a big folder's first hash reads it whole).

    A file outside ``root`` (a parquet row may name any file) counts by its path as given.
    A file that cannot be read (a broken link, no permission) counts by its name, so a
    dataset holding one still has a revision; reading its sample skips that file. So does a
    file that is not a regular one (a FIFO, a socket, a device), which is never opened: a FIFO
    would block ``open`` until something writes to it.

    >>> content_hash("my-images", ["my-images/a.png"])  # doctest: +SKIP
    'local-4b039d47a14b40d02caa9ebc213455eee1ce1dba'
    """
    root = Path(root)
    files = sorted(Path(f) for f in files)
    listing = hashlib.sha256(prefix.encode())
    irregular = set()
    for file in files:
        try:
            stat = file.stat()
            state = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except OSError as exc:  # a broken link: the sample skips it, the revision still counts it
            state = f"unreadable\0{type(exc).__name__}"
        else:
            if not S_ISREG(stat.st_mode):
                irregular.add(file)
                state = "not a regular file"
        listing.update(_encoded(f"{_name(file, root)}\0{state}\n"))
    cache = constants.CACHE_DIR / "fingerprints" / f"{listing.hexdigest()}.txt"
    try:
        return cache.read_text().strip()
    except OSError:
        pass
    content = hashlib.sha256()
    complete = True
    for file in _with_bar(files, progress):
        content.update(_encoded(f"{_name(file, root)}\0"))
        if file in irregular:
            content.update(b"not a regular file")
            continue
        try:
            with open(file, "rb") as handle:
                content.update(hashlib.file_digest(handle, "sha256").digest())
        except OSError as exc:
            content.update(f"unreadable\0{type(exc).__name__}".encode())
            # Making it readable (chmod, a fixed link) need not change the listing: hash it again next time.
            complete = False
    revision = f"{prefix}{content.hexdigest()[:40]}"
    if complete:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(revision)
        except OSError:  # a read-only cache only costs speed
            pass
    return revision


def _with_bar(files: list[Path], progress: bool) -> Iterator[Path]:
    """``files``, one by one, with a bar of their bytes on stderr once each is hashed."""
    from huggingface_hub.utils import tqdm

    def size(file: Path) -> int:
        try:
            return file.stat().st_size
        except OSError:
            return 0

    sizes = [size(file) for file in files] if progress else [0] * len(files)
    with tqdm(total=sum(sizes), desc=f"Hashing {len(files)} file{'s' if len(files) != 1 else ''}", unit="B", unit_scale=True, disable=not progress, leave=False) as bar:
        for file, n in zip(files, sizes):
            yield file
            bar.update(n)


def _name(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _encoded(text: str) -> bytes:
    """``text`` as the file system spells it: a name that is not UTF-8 (from an old zip, a Latin-1
    copy) reaches Python with surrogate escapes, which give back its bytes; UTF-8 names hash as before."""
    return text.encode("utf-8", "surrogateescape")


def hub_files_hash(files: Iterable[tuple[str, str | None]], **facts: Any) -> str | None:
    """``files-`` + a sha256 over Hub files' paths and content ids (and ``facts``, JSON values
    that decide what is read from them), or ``None`` when a file's content id is not known.

    A content id is what the Hub lists with a file (:func:`hub_file_id`): a commit that leaves
    the files alone (a card edit) gives the same hash, a changed or renamed file another.

    >>> hub_files_hash([("unet/config.json", "a1b2"), ("model_index.json", "c3d4")])
    'files-1a0a06c0ca1482c61b5036fd0e1109d081772bb6'
    """
    listing = sorted(files)
    if any(not oid for _, oid in listing):
        return None
    digest = hashlib.sha256(json.dumps([listing, facts], sort_keys=True).encode())
    return f"files-{digest.hexdigest()[:40]}"


def hub_file_id(entry: Any) -> str | None:
    """The content id of a file as the Hub lists it (a ``RepoFile`` of a tree listing, or a
    ``RepoSibling`` of a repo info asked with ``files_metadata``): the sha256 of an LFS file's
    content, else its git blob id (``None`` for a sibling listed without ``files_metadata``)."""
    return entry.lfs.sha256 if entry.lfs else entry.blob_id
