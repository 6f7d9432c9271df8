"""Crash-safe, idempotent writing of profile records into a zoo folder.

The profiler's work is expensive, so a finished job must never be lost or redone. Each
finished record goes through two steps:

1. **Journal** — it is appended as one JSON line to ``<zoo>/profiles.journal.jsonl`` and the
   file is ``fsync``\\ ed. From this point on the record survives a SIGKILL (or a power cut).
   An append is one ``write`` on a file opened with ``O_APPEND``; a torn last line (a crash
   mid-write) fails to parse and is ignored, so a half-written record is never read back.
2. **Fold** — the journal is merged into the zoo's tables (``Zoo.add_profiles`` upserts by
   record key, so folding twice never duplicates), the zoo is saved (each file replaced
   atomically, then fsynced), and only then is the journal emptied.

Why a journal and not just ``Zoo.save`` after each job: saving rewrites whole tables, so the
durability point of a record would be "some rename inside a multi-file save", and two profiler
processes sharing a zoo would each load, add and save — the later save silently dropping the
other's records. The journal makes the durability point one fsynced append, and folding
happens under the zoo folder's lock (:func:`hubselect.zoo.zoo_lock`, which every writer of a
zoo folder takes, crawls included) and re-reads the zoo from disk, so concurrent writers never
lose each other's records. A run killed between the two steps leaves records in the journal;
the next run (or any :class:`ZooWriter`) folds them first.

A failed job (:class:`~hubselect.zoo.FailedJob`) takes the same two steps, as a journal line of
its own (``{"failed_job": {...}}``); lines are folded in the order they were written, so a
record and a failure of one key end as whichever came last.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from hubselect.errors import InputError
from hubselect.zoo import FailedJob, ProfileRecord, Zoo, ZooMeta
from hubselect.zoo.store import META_FILE, check_zoo_folder, zoo_lock

log = logging.getLogger(__name__)

JOURNAL_FILE = "profiles.journal.jsonl"

#: What a zoo of profiles measures: FID after fine-tuning, lower is better.
PROFILE_SCORE = "fid_after_finetune"
PROFILE_HIGHER_IS_BETTER = False


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(folder: str | os.PathLike) -> list[ProfileRecord]:
    """The records in a zoo folder's journal; a torn (partly written) line is skipped."""
    return [entry for entry in _journal_entries(folder) if isinstance(entry, ProfileRecord)]


def _journal_entries(folder: str | os.PathLike) -> Iterator[ProfileRecord | FailedJob]:
    """The records and failed jobs in a zoo folder's journal, in the order they were written."""
    path = Path(folder) / JOURNAL_FILE
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n"):
                log.warning("%s: line %d was cut short by a crash; ignoring it", path, number)
                continue
            try:
                row = json.loads(line)
                yield FailedJob.from_row(row["failed_job"]) if "failed_job" in row else ProfileRecord.from_row(row)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s: line %d is not a record (%s); ignoring it", path, number, exc)


def check_meta(zoo: Zoo, where: str) -> None:
    """Refuse a zoo scored by something other than FID after fine-tuning."""
    if zoo.meta.score != PROFILE_SCORE or bool(zoo.meta.higher_is_better) != PROFILE_HIGHER_IS_BETTER:
        raise InputError(
            f"{where} is scored by {zoo.meta.score!r} ({zoo.meta.direction}), but profiles measure "
            f"{PROFILE_SCORE!r} (lower is better); profile into another zoo folder"
        )


def _positions(frame) -> dict[tuple[str, str, str, str], int]:
    """The position of the last row of each key in a records or failed-jobs table: a scan of the
    table per key took minutes to look up every job of a grid of 30,000."""
    if frame.empty:
        return {}
    keys = zip(*(frame[name].tolist() for name in ("model", "dataset", "method", "config_hash")))
    return {key: position for position, key in enumerate(keys)}


class ZooWriter:
    """Writes profile records into a zoo folder, one at a time, crash-safe and idempotent.

    >>> writer = ZooWriter("my-zoo")  # doctest: +SKIP
    >>> writer.has(("org/m", "org/d", "lora", "9f2c..."))  # doctest: +SKIP
    False
    >>> writer.write(record)  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        check_zoo_folder(self.folder, also=(JOURNAL_FILE,))
        self.folder.mkdir(parents=True, exist_ok=True)
        #: Each table's row positions by key (:func:`_positions`) and its columns, made again once a fold replaced it.
        self._rows: dict[str, tuple[Any, dict, dict]] = {}
        with zoo_lock(self.folder):
            self.zoo = self._fold()

    def _row_of(self, table: str, key: tuple[str, str, str, str]) -> dict | None:
        """The last row of the zoo's ``table`` (``records`` or ``failed_jobs``) under a job's ``key``, or ``None``."""
        frame = getattr(self.zoo, table)
        if table not in self._rows or self._rows[table][0] is not frame:
            self._rows[table] = (frame, _positions(frame), {name: frame[name].array for name in frame.columns})
        _, positions, columns = self._rows[table]
        position = positions.get(key)
        return None if position is None else {name: values[position] for name, values in columns.items()}

    def _load(self) -> Zoo:
        if (self.folder / META_FILE).is_file():
            zoo = Zoo.load(self.folder)
            check_meta(zoo, str(self.folder))
            return zoo
        return Zoo(ZooMeta(score=PROFILE_SCORE, higher_is_better=PROFILE_HIGHER_IS_BETTER, description="created by hubselect profile"))

    def _fold(self) -> Zoo:
        """Merge the journal into the tables, save, then empty the journal (call under the lock)."""
        zoo = self._load()
        pending = list(_journal_entries(self.folder))
        journal = self.folder / JOURNAL_FILE
        if pending or not (self.folder / META_FILE).is_file():
            # In runs of one kind, in order: the later of a record and a failure of one key wins.
            for failed, entries in itertools.groupby(pending, key=lambda entry: isinstance(entry, FailedJob)):
                (zoo.add_failed_jobs if failed else zoo.add_profiles)(list(entries))
            zoo.save(self.folder)
            for name in ("records.parquet", "failed_jobs.parquet", META_FILE):
                _fsync_path(self.folder / name)
            _fsync_path(self.folder)
        if journal.exists() and journal.stat().st_size:
            with open(journal, "r+b") as handle:
                handle.truncate(0)
                os.fsync(handle.fileno())
        return zoo

    def keys(self) -> set[tuple[str, str, str, str]]:
        """Keys of the records the zoo holds (as of the last fold)."""
        return {r.key for r in self.zoo.profile_records()} if not self.zoo.records.empty else set()

    def has(self, key: tuple[str, str, str, str]) -> bool:
        """Whether the zoo holds a record under ``key`` (as of the last fold)."""
        return self.get(key) is not None

    def get(self, key: tuple[str, str, str, str]) -> ProfileRecord | None:
        """The record the zoo holds under ``key`` (as of the last fold), or ``None``."""
        row = self._row_of("records", key)
        return None if row is None else ProfileRecord.from_row(row)

    def failed_job(self, key: tuple[str, str, str, str]) -> FailedJob | None:
        """The failure the zoo holds under ``key`` (as of the last fold), or ``None``."""
        row = self._row_of("failed_jobs", key)
        return None if row is None else FailedJob.from_row(row)

    def write(self, record: ProfileRecord) -> None:
        """Make ``record`` durable (journal + fsync), then fold it into the zoo's tables."""
        self._append(record.to_row())

    def write_failure(self, failure: FailedJob) -> None:
        """Make ``failure`` durable (journal + fsync), then fold it into the zoo's failed jobs."""
        self._append({"failed_job": failure.to_row()})

    def _append(self, row: dict) -> None:
        line = json.dumps(row, sort_keys=True, default=str) + "\n"
        with zoo_lock(self.folder):
            fd = os.open(self.folder / JOURNAL_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self.zoo = self._fold()

    def write_all(self, records: Iterable[ProfileRecord]) -> None:
        for record in records:
            self.write(record)


__all__ = ["JOURNAL_FILE", "PROFILE_HIGHER_IS_BETTER", "PROFILE_SCORE", "ZooWriter", "check_meta", "read_journal"]
