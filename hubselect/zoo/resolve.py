"""Turn what a user typed as ZOO (a folder or a Hub dataset id) into a :class:`Zoo`."""

from __future__ import annotations

import re
from pathlib import Path

from hubselect.errors import InputError
from hubselect.zoo.store import META_FILE, Zoo

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def open_zoo(ref: str, *, token: str | None = None) -> Zoo:
    """Open a zoo from a local folder, from a Hub dataset repo ``org/name[@revision]``, or the
    bundled demo zoo (``demo``).

    >>> open_zoo("./my-zoo")  # doctest: +SKIP
    """
    if ref == "demo":
        from hubselect.demo import load_demo_zoo

        return load_demo_zoo()
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / META_FILE).is_file():
            raise InputError(f"{ref} is a folder but not a zoo (no {META_FILE}); create one with `hubselect zoo import`")
        return Zoo.load(path)
    if path.exists():
        raise InputError(f"{ref} is a file, not a zoo; pass a zoo folder (holding {META_FILE}) or a Hub dataset id like org/name")
    if _REPO_ID.match(ref):
        repo_id, _, revision = ref.partition("@")
        return Zoo.pull(repo_id, revision=revision or None, token=token)
    raise InputError(f"zoo {ref!r} not found: pass a zoo folder or a Hub dataset id like org/name")
