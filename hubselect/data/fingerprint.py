"""Content hashes of local files, used as the "revision" of local datasets and probes.

Hashing gigabytes on every run would be slow, so a content hash is stored against a cheap
fingerprint of the files (names, sizes, modification times) under ``CACHE_DIR/fingerprints``
and recomputed only when that fingerprint changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from hubselect import constants


def content_hash(root: str | Path, files: Iterable[str | Path], *, prefix: str = "local-") -> str:
    """``prefix`` + a sha256 over the files' paths (relative to ``root``) and contents.

    A file that cannot be read (a broken link, no permission) counts by its name, so a
    dataset holding one still has a revision; reading its sample skips that file.

    >>> content_hash("my-images", ["my-images/a.png"])  # doctest: +SKIP
    'local-4b039d47a14b40d02caa9ebc213455eee1ce1dba'
    """
    root = Path(root)
    files = sorted(Path(f) for f in files)
    listing = hashlib.sha256(prefix.encode())
    for file in files:
        try:
            stat = file.stat()
            state = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except OSError as exc:  # a broken link: the sample skips it, the revision still counts it
            state = f"unreadable\0{type(exc).__name__}"
        listing.update(f"{file.relative_to(root)}\0{state}\n".encode())
    cache = constants.CACHE_DIR / "fingerprints" / f"{listing.hexdigest()}.txt"
    try:
        return cache.read_text().strip()
    except OSError:
        pass
    content = hashlib.sha256()
    complete = True
    for file in files:
        content.update(f"{file.relative_to(root)}\0".encode())
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
