"""Can a path the user named be written? Checked before long work, so a typo costs seconds, not a run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hubselect.errors import InputError

#: How the folder :func:`check_can_create_in` makes and removes at once begins: a writer of the
#: same folder may see it meanwhile.
WRITE_CHECK_PREFIX = ".hubselect-write-check-"


def check_can_create_in(folder: str | os.PathLike, shown: str) -> None:
    """Raise :class:`InputError` unless entries can be created in ``folder`` or, where it does not
    exist yet, in the folders that will be created for it.

    ``shown`` starts the message: the option and the path the user gave. The test is a real one
    (a temporary folder made and removed at once): permissions, read-only and virtual file
    systems (``/proc``) all answer it as the real write would.

    >>> check_can_create_in("/proc/reports", "--json /proc/reports/x.json")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: --json /proc/reports/x.json: cannot create files in /proc (No such file or directory); pass a path in a folder you can write to
    """
    start = Path(folder)
    existing = next((p for p in (start, *start.parents) if os.path.lexists(p)), Path("."))
    if not existing.is_dir():
        raise InputError(f"{shown}: {existing} is a file, not a folder; pass a path in a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=WRITE_CHECK_PREFIX, dir=existing))
    except OSError as exc:
        raise InputError(f"{shown}: cannot create files in {existing} ({exc.strerror or exc}); pass a path in a folder you can write to") from None


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """The file ``option`` names, once it is sure to be writable (missing parent folders are created
    by the writer); an :class:`InputError` otherwise.

    >>> check_writable_file("", "--json")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: --json is empty; pass a file to write, e.g. --json report.json
    """
    if not str(path):
        raise InputError(f"{option} is empty; pass a file to write, e.g. {option} report.json")
    target = Path(path)
    shown = f"{option} {target}"
    if target.is_dir():
        raise InputError(f"{shown} is a folder; pass a file name, e.g. {option} {target / 'report.json'}")
    if target.is_file():
        try:  # append mode: tests the permission without touching the content
            with open(target, "ab"):
                pass
        except OSError as exc:
            raise InputError(f"{shown}: cannot write it ({exc.strerror or exc}); pass a path you can write to") from None
    elif not target.exists():  # a device or a pipe (/dev/stdout) is written as it is
        check_can_create_in(target.parent, shown)
    return target
