"""Turn what a user typed as ZOO (a folder or a Hub dataset id) into a :class:`Zoo`."""

from __future__ import annotations

import re
from pathlib import Path

from hubselect.demo.paths import DEMO_ZOO
from hubselect.errors import InputError
from hubselect.zoo.store import META_FILE, Zoo

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def names_bundled_demo(ref: str) -> bool:
    """Whether ``ref`` opens the demo zoo bundled in the package: ``demo``, unless the current
    folder holds a zoo folder ``demo``.

    A path the user wrote wins: ``zoo import --out demo`` (or ``pull``, ``crawl``, ``dataset
    profile``) writes ``./demo``, and the next ``zoo show demo`` means that zoo, not the bundled
    one. Anything else at ``./demo`` (e.g. a ``hubselect demo --out demo`` run) is no zoo, so
    ``demo`` stays the bundled zoo there.

    >>> names_bundled_demo("demo")  # doctest: +SKIP
    True
    """
    return ref == DEMO_ZOO and not (Path(ref) / META_FILE).is_file()


def open_zoo(ref: str, *, token: str | None = None, option: str = "ZOO") -> Zoo:
    """Open a zoo from a local folder, from a Hub dataset repo ``org/name[@revision]``, or the
    bundled demo zoo (``demo``, see :func:`names_bundled_demo`).

    An empty ``ref`` (an unset shell variable) is refused, naming ``option``: as a path it is
    the current folder, opened if it holds a zoo and refused under a blank name if not.

    >>> open_zoo("", option="--zoo")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: --zoo is empty; pass a zoo folder, a Hub dataset id like org/name, or demo
    """
    if not ref.strip():
        raise InputError(f"{option} is empty; pass a zoo folder, a Hub dataset id like org/name, or demo")
    if names_bundled_demo(ref):
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
