"""The zoo: a folder of parquet tables plus ``zoo.json``.

Layout of a zoo folder (and of its Hub dataset repo)::

    zoo.json            schema version, score name and direction, provenance
    models.parquet      model, revision, <feature columns>
    datasets.parquet    dataset, revision, <feature columns>
    records.parquet     model, dataset, method, config_hash, score, score_before, ...
    distances.parquet   dataset_a, dataset_b, distance, probe
    failed_jobs.parquet model, dataset, method, config_hash, model_revision, dataset_revision, error, failed_at, attempts
    artefacts/...       files attached to facts, e.g. a dataset's Fréchet statistics
    README.md           the dataset card (only in a pushed repo)

Tables are held as pandas DataFrames so that zoos of thousands of models stay fast; typed
records go in and come out through ``add_*`` and ``*_records``. Every ``add_*`` upserts by the
record's key, so merging two zoos never duplicates a fact.

Two ways of upserting, for two kinds of writer:

- ``add_*`` replaces a row whole. Its writer holds the complete record: the crawler's None
  clears an ``excluded_reason`` a new commit no longer earns, and a recrawl at a new commit drops
  the throughput measured at the old one (a re-read at the same commit carries it over); bench
  and profile start from the row they replace.
- :meth:`Zoo.merge` (``zoo import --out``, ``zoo pull --out``, ``zoo push``) fills the
  ``models`` and ``datasets`` rows column by column: a bundle's ``models.csv`` naming a model's
  ``family`` must not wipe its crawled license or measured throughput. Values the incoming row
  holds replace the zoo's; columns it lacks, or holds as missing, keep the zoo's values. A row
  read at another revision than the zoo's replaces it whole: the old row's facts describe a
  commit that is no longer current, unless both rows say when their commits were made (the
  crawl's ``last_modified``) and the zoo's is the later: then the zoo's row stays whole, as the
  incoming one is a stale copy (pulled before a recrawl elsewhere). A merge carries values,
  not their absence, so a writer that clears a value says so with one: the crawl writes an
  empty ``excluded_reason`` (its ``NOT_FLAGGED``), which replaces a gated repo's old reason
  once access is granted. Records and distances are single facts and are replaced whole (a new
  score with an old run's ``score_before`` would be neither run). Of two different records of
  one key, the merge keeps the one whose run finished later (``details["finished_at"]``, which
  profiling writes), whichever zoo holds it. A record that says when it finished is later than
  one that does not: those were made before hubselect noted the time, so the first pushes
  after an upgrade revert nothing redone since. Two records that finished at the same time are
  one run whose copy was moved to a new commit by a card edit (``follow``): the copy made at
  the commits the merged model and dataset rows name stays, as those rows are kept by their
  own dates (dataset rows have none, and a model may have no row: there a stale copy undoes the
  move, which the next ``profile`` run makes again for a few lookups). Otherwise ``other``'s wins (two imported results, or two made before hubselect
  noted the time, merge as they always did).

So no writer silently undoes another's later work: two maintainers pull a zoo, one redoes a
model's results at its new commit and pushes, the other pushes its older copy afterwards, and
the Hub keeps the redone results and the recrawled model row. The rows a merge kept so are
counted in :attr:`Zoo.kept_later`, which ``zoo push`` and ``zoo pull --out`` report.

Failed jobs are the profiler's memory of a job that made no record (:class:`FailedJob`), kept in
the zoo because a scheduled refresh runs on a fresh machine each time and only the zoo goes from
one run to the next. They are not facts about a model: their own table, never a feature column.
They are replaced whole by key, like records, and a record is the later word on its key: adding
one (a job that succeeds now) drops the key's failure, and so do ``other``'s records in
:meth:`Zoo.merge` (the later copy; ``self``'s records leave ``other``'s failures alone, as a
failure there is the later attempt), unless that record was made at the revisions the failure
names (a stale copy of a job that has succeeded since), or finished before the failure first
failed (a copy pulled before the model moved to a commit its job fails at). A failure at the revisions its key already failed at counts
one more attempt on its row (``attempts``), which keeps when it first failed there (``failed_at``) and takes the
later error: the zoo changes, and is pushed, so that the next refresh on a fresh machine knows to leave out a job
that failed twice at the revisions it would read (``profile --zoo-models``). Of two copies of one failure at the
same revisions, :meth:`Zoo.merge` keeps the larger count: a copy pulled before a retry does not reopen it. Of two
failures of one key at other revisions, it keeps the one that first failed later (``failed_at``), whichever zoo
holds it: a copy pulled before the model's new commit does not reset the count at that commit.

Artefacts are files too large or too structured for a table cell (a covariance matrix). They
are named by their path under ``artefacts/``, held as a file path or as bytes until saved, read
only when asked for, and upserted by name like records.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hubselect.errors import HubselectError, InputError
from hubselect.paths import WRITE_CHECK_PREFIX, check_can_create_in
from hubselect.zoo.records import ADAPTER_KIND, SCHEMA_VERSION, DatasetRecord, DistanceRecord, FailedJob, ModelRecord, ProfileRecord

log = logging.getLogger(__name__)

META_FILE = "zoo.json"
#: Held by every process writing a zoo folder while it reads, changes and saves the zoo.
LOCK_FILE = ".zoo.lock"

#: Folder of a zoo (and of its Hub repo) that holds the artefacts.
ARTEFACTS_DIR = "artefacts"

RECORD_COLUMNS = [
    "model",
    "dataset",
    "method",
    "config_hash",
    "score",
    "score_before",
    "model_revision",
    "dataset_revision",
    "metrics",
    "details",
]
DISTANCE_COLUMNS = ["dataset_a", "dataset_b", "distance", "probe"]
FAILED_JOB_COLUMNS = ["model", "dataset", "method", "config_hash", "model_revision", "dataset_revision", "error", "failed_at", "attempts"]
#: The key of a profile record, and of a failed job.
JOB_KEY = ["model", "dataset", "method", "config_hash"]

#: table name -> (leading columns, key columns)
TABLES: dict[str, tuple[list[str], list[str]]] = {
    "models": (["model", "revision"], ["model"]),
    "datasets": (["dataset", "revision"], ["dataset"]),
    "records": (RECORD_COLUMNS, JOB_KEY),
    "distances": (DISTANCE_COLUMNS, ["dataset_a", "dataset_b", "probe"]),
    "failed_jobs": (FAILED_JOB_COLUMNS, JOB_KEY),
}


@dataclass
class ZooMeta:
    """What ``zoo.json`` holds: how to read the score, and where the zoo came from."""

    score: str = "score"
    higher_is_better: bool = True
    schema_version: int = SCHEMA_VERSION
    description: str = ""
    #: Hub dataset repo and commit sha this zoo was pulled from (None for a local zoo).
    repo: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``: the score's direction, for people."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def to_json(self) -> str:
        data = asdict(self)
        # Provenance describes a copy, not the zoo: a pushed zoo.json never names itself.
        data.pop("repo")
        data.pop("revision")
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str, *, repo: str | None = None) -> "ZooMeta":
        """``repo``: the Hub dataset repo ``text`` was downloaded from, where a hand edit is fixed
        (the HF cache's copy is replaced by the next download)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HubselectError(f"{where}: zoo.json is not valid JSON ({exc.msg}); re-create or re-pull the zoo") from None
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise HubselectError(
                f"{where}: zoo schema version {version!r} is not supported (this hubselect reads version "
                f"{SCHEMA_VERSION}); upgrade hubselect with `pip install -U hubselect` or re-import the zoo"
            )
        direction = data.get("higher_is_better", True)
        if not isinstance(direction, bool):
            # A hand edit ("false", 0): read by truthiness, the zoo would rank the wrong way round.
            fix = "write true (a score like accuracy) or false (one like FID), without quotes"
            if repo is not None:
                # `hubselect zoo push` reads the repo's zoo.json first, and would refuse it the same way.
                fix = f"fix zoo.json in the dataset repo {repo} ({fix}) and upload it, e.g. `hf upload {repo} zoo.json --repo-type dataset`"
            raise HubselectError(f"{where}: zoo.json's higher_is_better is {json.dumps(direction)}, not true or false; {fix}")
        known = {f for f in cls.__dataclass_fields__ if f not in ("repo", "revision")}
        return cls(**{k: v for k, v in data.items() if k in known})


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in TABLES[table][0]})


def _upsert(old: pd.DataFrame, new: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows of ``new`` replace rows of ``old`` with the same key, in their place; other rows
    are kept, and ``new``'s other rows follow. A zoo merged with a copy of part of itself
    (a folder pushed again) so keeps its files byte for byte, and the push commits nothing.

    >>> old = pd.DataFrame({"dataset_a": ["a", "c"], "dataset_b": ["b", "d"], "distance": [1.0, 2.0], "probe": ["", ""]})
    >>> new = pd.DataFrame({"dataset_a": ["e", "a"], "dataset_b": ["f", "b"], "distance": [3.0, 1.5], "probe": ["", ""]})
    >>> _upsert(old, new, "distances")[["dataset_a", "distance"]].values.tolist()
    [['a', 1.5], ['c', 2.0], ['e', 3.0]]
    """
    if new.empty:
        return old
    key = TABLES[table][1]
    if old.empty:
        merged = new
    else:
        merged = pd.concat([old, new], ignore_index=True)
    place = merged.groupby(key, sort=False, dropna=False).ngroup()
    merged = merged.drop_duplicates(subset=key, keep="last")
    merged = merged.iloc[place[merged.index].argsort(kind="stable")].reset_index(drop=True)
    leading = TABLES[table][0]
    return merged[leading + [c for c in merged.columns if c not in leading]]


#: Tables whose rows merge column by column (see the module docstring); the others, whole.
FEATURE_TABLES = ("models", "datasets")


def _fill_in(old: pd.DataFrame, new: pd.DataFrame, table: str) -> pd.DataFrame:
    """Values of ``new`` replace those of ``old`` with the same key, column by column; missing
    ones (a column ``new`` lacks, or a NaN / None in it) keep ``old``'s. A row of ``new`` read at
    another revision than ``old``'s row replaces it whole.

    >>> old = pd.DataFrame({"model": ["m1"], "revision": ["a"], "license": ["mit"]})
    >>> _fill_in(old, pd.DataFrame({"model": ["m1"], "revision": [None], "family": ["sd"]}), "models").to_dict("records")
    [{'model': 'm1', 'revision': 'a', 'license': 'mit', 'family': 'sd'}]
    """
    if new.empty or old.empty:
        return _upsert(old, new, table)
    (key,) = TABLES[table][1]
    old = old.set_index(key)
    new = new.drop_duplicates(subset=key, keep="last").set_index(key)
    both = old.index.intersection(new.index)
    before, after = old.loc[both, "revision"], new.loc[both, "revision"]
    moved = both[(before.notna() & after.notna() & (before != after)).to_numpy()]
    merged = new.combine_first(old.drop(moved))
    # combine_first sorts rows and columns: the zoo's order first, then what is new.
    rows = old.index.append(new.index.difference(old.index, sort=False))
    columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
    merged = merged.reindex(index=rows, columns=columns).rename_axis(key).reset_index()
    # Aligning rows turns the None of text columns into NaN: an all-missing revision column
    # would be saved as floats.
    text = merged.columns[merged.dtypes == object]
    merged[text] = merged[text].where(merged[text].notna(), None)
    leading = TABLES[table][0]
    return merged[leading + [c for c in merged.columns if c not in leading]]


def _made_when(rows: pd.DataFrame, table: str) -> np.ndarray:
    """When each row's fact was made, as UTC datetimes (NaT: not known): a record's run finished
    (``details["finished_at"]``), a model's or dataset's commit was made (``last_modified``), a
    failed job first failed at its revisions (``failed_at``)."""
    if table == "failed_jobs":
        values = rows["failed_at"]
    elif table == "records":
        def finished(details: Any) -> str | None:
            # Most details name no time (imported results): spare them a JSON parse.
            if not isinstance(details, str) or '"finished_at"' not in details:
                return None
            return json.loads(details).get("finished_at")

        values = rows["details"].map(finished)
    elif "last_modified" in rows.columns:
        values = rows["last_modified"]
    else:
        return np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]")
    when = pd.to_datetime(values.astype(object), utc=True, errors="coerce", format="ISO8601")
    return when.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")


def _held_later(old: pd.DataFrame, new: pd.DataFrame, table: str, *, current: dict[str, dict] | None = None) -> np.ndarray:
    """Which rows of ``new`` ``old`` holds a later copy of: another row of the same key (for
    models and datasets, read at another revision) made later than it, both saying when.

    A record that says when its run finished is later than one that does not (those were made
    before hubselect noted the time); of two that finished at the same time (a card edit moved
    one to the model's new commit, details unchanged), the later is the one made at the
    revisions the merged zoo's model and dataset rows name (``current``: column -> id ->
    revision), as those rows are kept by their own dates.

    Of two failures of one job at other revisions, the later is the one that first failed later
    (``failed_at``): a failure at a model's new commit comes after every first failure at the
    commits before it. The models table cannot tell: the job reads the commit the Hub is at
    when it runs, which the crawl may not have read yet. Two copies at the same revisions are
    one failure (:func:`_most_attempts` keeps its count).
    """
    later = np.zeros(len(new), dtype=bool)
    if old.empty or new.empty or (table in FEATURE_TABLES and "revision" not in new.columns):
        return later
    key = TABLES[table][1]

    def keys(frame: pd.DataFrame) -> list[tuple]:
        return list(zip(*(frame[column].astype(object).where(frame[column].notna(), None) for column in key)))

    held = {row_key: position for position, row_key in enumerate(keys(old))}  # the last row of a key, as _upsert keeps
    pairs = [(position, held[row_key]) for position, row_key in enumerate(keys(new)) if row_key in held]
    if not pairs:
        return later
    shared, rows = (np.array(side) for side in zip(*pairs))
    mine, theirs = old.iloc[rows], new.iloc[shared]
    if table in FEATURE_TABLES:
        before, after = mine["revision"].to_numpy(), theirs["revision"].to_numpy()
        differ = pd.notna(before) & pd.notna(after) & (before != after)
    else:
        # A record: another run, or the same run moved to another commit (a card edit: details
        # unchanged). A failed job: a failure at other revisions.
        differ = np.zeros(len(pairs), dtype=bool)
        for column in (["details"] if table == "records" else []) + ["model_revision", "dataset_revision"]:
            differ |= _texts(mine[column]) != _texts(theirs[column])
    at = np.flatnonzero(differ)
    if not len(at):
        return later
    mine, theirs = mine.iloc[at], theirs.iloc[at]
    mine_when, their_when = _made_when(mine, table), _made_when(theirs, table)
    # NaT compares False: of copies that do not say when, ``new`` wins (the rule before dates were noted).
    kept = mine_when > their_when
    if table == "records":
        timed = ~np.isnat(mine_when)
        kept |= timed & np.isnat(their_when)
        if current is not None:
            kept |= timed & (mine_when == their_when) & _at_current(mine, current) & ~_at_current(theirs, current)
    later[shared[at]] = kept
    return later


def _texts(column: pd.Series) -> np.ndarray:
    """A column's values as objects, missing ones as None (so two missing values compare equal)."""
    return column.astype(object).where(column.notna(), None).to_numpy()


def _at_current(records: pd.DataFrame, current: dict[str, dict]) -> np.ndarray:
    """Which records were made at the revisions ``current`` names for their model and dataset
    (``current``: ``model`` / ``dataset`` -> id -> revision; one it does not name matches)."""
    matches = np.ones(len(records), dtype=bool)
    for column, revisions in current.items():
        named = records[column].map(revisions).to_numpy()
        made_at = _texts(records[f"{column}_revision"])
        matches &= pd.isna(named) | (named == made_at)
    return matches


def describe_kept(kept: dict[str, int]) -> str:
    """:attr:`Zoo.kept_later` in words: ``2 results and 1 model row``.

    >>> describe_kept({"records": 2, "models": 1})
    '2 results and 1 model row'
    """
    names = {"records": "result", "models": "model row", "datasets": "dataset row", "failed_jobs": "failed job"}
    parts = [f"{kept[table]} {name}{'s' if kept[table] > 1 else ''}" for table, name in names.items() if kept.get(table)]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


def _without_keys(failed: pd.DataFrame, records: pd.DataFrame, *, same_revisions: bool = False, unless_later: bool = False) -> pd.DataFrame:
    """The failed jobs whose key no row of ``records`` holds (a record is the later word on its
    key); with ``same_revisions``, only rows made at the model and dataset revisions the failure
    names settle it (a job that succeeded where it failed). With ``unless_later``, a failure that
    first failed after the record of its key finished stays (both saying when): that record is a
    stale copy, pulled before the model moved to a commit its job fails at."""
    if failed.empty or records.empty:
        return failed
    columns = JOB_KEY + (["model_revision", "dataset_revision"] if same_revisions else [])

    def keys(frame: pd.DataFrame) -> pd.MultiIndex:
        return pd.MultiIndex.from_frame(frame[columns].astype(object).where(frame[columns].notna(), None))

    settled = keys(failed).isin(keys(records))
    if unless_later and settled.any():
        finished = dict(zip(keys(records), _made_when(records, "records")))
        failed_when = _made_when(failed, "failed_jobs")
        record_when = np.array([finished.get(key, np.datetime64("NaT")) for key in keys(failed)], dtype="datetime64[ns]")
        settled &= ~(failed_when > record_when)  # NaT compares False: a record that does not say when settles it
    return failed[~settled].reset_index(drop=True)


def _most_attempts(merged: pd.DataFrame, mine: pd.DataFrame) -> pd.DataFrame:
    """``merged``'s failed jobs (``other``'s copy where both zoos held a key) with the larger
    ``attempts`` of the two copies of a failure at the same revisions: a count only grows there,
    and a copy pulled before a retry (pushed last) must not lower it, or the job runs again."""
    if merged.empty or mine.empty:
        return merged
    counted = {f.key + f.tried_at: f.attempts for f in map(FailedJob.from_row, mine.to_dict("records"))}
    failures = [FailedJob.from_row(row) for row in merged.to_dict("records")]
    if not any(counted.get(f.key + f.tried_at, 0) > f.attempts for f in failures):
        return merged  # as it is, column types included
    return merged.assign(attempts=[max(f.attempts, counted.get(f.key + f.tried_at, 0)) for f in failures])


def _none_if_nan(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class Zoo:
    """Models, datasets, their fine-tuning results and the datasets' distances.

    >>> zoo = Zoo(ZooMeta(score="fid", higher_is_better=False))
    >>> zoo.add_profiles([ProfileRecord("m1", "d1", 30.0), ProfileRecord("m2", "d1", 25.0)])
    >>> zoo.summary()["records"]
    2
    """

    def __init__(
        self,
        meta: ZooMeta | None = None,
        *,
        models: pd.DataFrame | None = None,
        datasets: pd.DataFrame | None = None,
        records: pd.DataFrame | None = None,
        distances: pd.DataFrame | None = None,
        failed_jobs: pd.DataFrame | None = None,
        artefacts: dict[str, Path | bytes] | None = None,
    ) -> None:
        self.meta = meta or ZooMeta()
        self.models = models if models is not None else _empty("models")
        self.datasets = datasets if datasets is not None else _empty("datasets")
        self.records = records if records is not None else _empty("records")
        self.distances = distances if distances is not None else _empty("distances")
        self.failed_jobs = failed_jobs if failed_jobs is not None else _empty("failed_jobs")
        #: artefact name (a relative posix path under ``artefacts/``) -> file holding it, or its bytes
        self.artefacts: dict[str, Path | bytes] = dict(artefacts or {})
        #: Set by :meth:`merge` (not saved): table -> rows of the zoo merged into that it kept
        #: over ``other``'s copies of them, because they were made later.
        self.kept_later: dict[str, int] = {}

    # -- adding facts -------------------------------------------------------------------------

    def add_models(self, records: Iterable[ModelRecord]) -> None:
        rows = [{"model": r.model, "revision": r.revision, **r.features} for r in records]
        self.models = _upsert(self.models, pd.DataFrame(rows), "models")

    def update_models(self, values: dict[str, dict[str, Any]]) -> None:
        """Set some columns of rows the zoo holds (model -> {column: value}), leaving the rest
        of each row as it is, column types included: ``add_models`` replaces a row whole, and a
        :meth:`merge` turns an all-missing column into floats. Models it does not hold are left out.

        >>> zoo = Zoo()
        >>> zoo.add_models([ModelRecord("m1", "a", {"downloads": 1, "license": "mit"})])
        >>> zoo.update_models({"m1": {"downloads": 5}, "m2": {"downloads": 9}})
        >>> [(r.model, r.features["downloads"], r.features["license"]) for r in zoo.model_records()]
        [('m1', 5, 'mit')]
        """
        for model, columns in values.items():
            rows = self.models["model"] == model
            if rows.any():
                for column, value in columns.items():
                    self.models.loc[rows, column] = value

    def add_datasets(self, records: Iterable[DatasetRecord]) -> None:
        rows = [{"dataset": r.dataset, "revision": r.revision, **r.features} for r in records]
        self.datasets = _upsert(self.datasets, pd.DataFrame(rows), "datasets")

    def add_profiles(self, records: Iterable[ProfileRecord]) -> None:
        """Upsert results by key; each drops its key's failed job (the job has succeeded since)."""
        new = pd.DataFrame([r.to_row() for r in records], columns=RECORD_COLUMNS)
        self.records = _upsert(self.records, new, "records")
        self.failed_jobs = _without_keys(self.failed_jobs, new)

    def add_failed_jobs(self, failures: Iterable[FailedJob]) -> None:
        """Upsert failed jobs by key; a job that failed again at the revisions it failed at
        adds its attempts to the row's, keeping when it first failed there and taking the later
        error, so that ``profile --zoo-models`` can tell a job that keeps failing from one
        that failed once. A failure at other revisions replaces the row (a count starts again).

        >>> zoo = Zoo()
        >>> zoo.add_failed_jobs([FailedJob("m", "d", "lora", "c", "first", "r1", "r2", "2026-01-01")])
        >>> zoo.add_failed_jobs([FailedJob("m", "d", "lora", "c", "again", "r1", "r2", "2026-01-08")])
        >>> [(f.error, f.failed_at, f.attempts) for f in zoo.failed_job_records()]
        [('again', '2026-01-01', 2)]
        """
        held = {f.key: f for f in self.failed_job_records()}
        added: dict[tuple, FailedJob] = {}
        for failure in failures:
            before = added.get(failure.key) or held.get(failure.key)
            if before is not None and before.tried_at == failure.tried_at:
                failure = replace(failure, failed_at=before.failed_at or failure.failed_at, attempts=before.attempts + failure.attempts)
            added[failure.key] = failure
        rows = [f.to_row() for f in added.values()]
        self.failed_jobs = _upsert(self.failed_jobs, pd.DataFrame(rows, columns=FAILED_JOB_COLUMNS), "failed_jobs")

    def add_distances(self, records: Iterable[DistanceRecord]) -> None:
        rows = [{"dataset_a": r.dataset_a, "dataset_b": r.dataset_b, "distance": r.distance, "probe": r.probe} for r in records]
        self.distances = _upsert(self.distances, pd.DataFrame(rows, columns=DISTANCE_COLUMNS), "distances")

    # -- artefacts ----------------------------------------------------------------------------

    def put_artefact(self, name: str, data: bytes | str | os.PathLike) -> None:
        """Attach a file (its bytes, or a path read when the zoo is saved) as ``artefacts/<name>``.

        >>> zoo = Zoo()
        >>> zoo.put_artefact("datasets/clip/org--pets.json", b"{}")
        >>> zoo.artefact_names("datasets/")
        ['datasets/clip/org--pets.json']
        """
        self.artefacts[_artefact_name(name)] = data if isinstance(data, bytes) else Path(data)

    def has_artefact(self, name: str) -> bool:
        return name in self.artefacts

    def artefact_names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self.artefacts if n.startswith(prefix))

    def open_artefact(self, name: str) -> io.BufferedIOBase:
        """A binary file object of an artefact (close it, or use ``with``)."""
        try:
            data = self.artefacts[name]
        except KeyError:
            raise HubselectError(f"the zoo has no artefact {name!r}; re-profile or re-pull the zoo") from None
        return io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")

    # -- reading facts ------------------------------------------------------------------------

    def model_records(self) -> Iterator[ModelRecord]:
        for row in self.models.to_dict("records"):
            features = {k: _none_if_nan(v) for k, v in row.items() if k not in ModelRecord.RESERVED}
            yield ModelRecord(row["model"], _none_if_nan(row.get("revision")), features)

    def dataset_records(self) -> Iterator[DatasetRecord]:
        for row in self.datasets.to_dict("records"):
            features = {k: _none_if_nan(v) for k, v in row.items() if k not in DatasetRecord.RESERVED}
            yield DatasetRecord(row["dataset"], _none_if_nan(row.get("revision")), features)

    def profile_records(self) -> Iterator[ProfileRecord]:
        for row in self.records.to_dict("records"):
            yield ProfileRecord.from_row(row)

    def failed_job_records(self) -> Iterator[FailedJob]:
        for row in self.failed_jobs.to_dict("records"):
            yield FailedJob.from_row(row)

    def distance_records(self) -> Iterator[DistanceRecord]:
        for row in self.distances.to_dict("records"):
            yield DistanceRecord(row["dataset_a"], row["dataset_b"], row["distance"], _none_if_nan(row.get("probe")) or "")

    # Distinct values through Series.unique (vectorised): set(series) walks arrow-backed string
    # columns one Python object at a time, ~15 ms per 20k records, and these are read often.

    @property
    def model_ids(self) -> list[str]:
        """The models selection works on (the graph's model nodes, the learner's rows, the zoo's
        fingerprint): models with features and models with records, but not LoRA adapters.

        An adapter (``crawl --kind lora``) is neither fine-tuned nor recommended and has no
        results; as a node and a feature row it would change what the learner learns, and make
        a ranker stale, with every adapter crawled. A pipeline with no results yet is a model
        here: the learner ranks it from its features.
        """
        return sorted(_distinct(self.models["model"], self.records["model"]).difference(self.adapter_ids))

    @property
    def adapter_ids(self) -> list[str]:
        """The LoRA adapters the zoo catalogues: models whose ``kind`` is ``lora``."""
        if "kind" not in self.models.columns:
            return []
        return sorted(self.models.loc[self.models["kind"] == ADAPTER_KIND, "model"].unique())

    @property
    def dataset_ids(self) -> list[str]:
        """Every dataset node: with features, with records, or only in distances."""
        return sorted(_distinct(self.datasets["dataset"], self.records["dataset"], self.distances["dataset_a"], self.distances["dataset_b"]))

    @property
    def methods(self) -> list[str]:
        return sorted(_distinct(self.records["method"]))

    def results_by_method(self) -> dict[str, dict[str, Any]]:
        """Per method, the results a ranking of it reads (:meth:`for_method`'s): ``results`` and
        ``models`` count them, and ``rankable`` lists the datasets where two or more models have
        one, which a ranker is fitted on (``build`` needs one, leave-one-dataset-out ``evaluate``
        two). A ranker is built on one method: ``build --method X`` tells with this that X's
        results are too few, where the zoo's other methods' would do.

        >>> zoo = Zoo()
        >>> zoo.add_profiles([ProfileRecord("m1", "d1", 20.0, "lora"), ProfileRecord("m2", "d1", 21.0, "lora"),
        ...                   ProfileRecord("m1", "d1", 30.0, "dreambooth")])
        >>> zoo.results_by_method()["dreambooth"]
        {'results': 1, 'models': 1, 'rankable': []}
        """
        records = self._comparable(self.records[self.records["score"].notna()], warn=False)
        out = {}
        for method, results in records.groupby("method"):
            per_dataset = results.groupby("dataset")["model"].nunique()
            out[str(method)] = {
                "results": int(len(results)),
                "models": int(results["model"].nunique()),
                "rankable": sorted(str(d) for d in per_dataset.index[per_dataset >= 2]),
            }
        return out

    def for_method(self, method: str | None) -> "Zoo":
        """A view of this zoo whose records are those of one fine-tuning method, scored with the
        probe most of its results were scored with: results scored with another, or naming none
        (imported) beside results that name one, are left out, with a warning (see :meth:`_comparable`).

        ``None`` picks the only method, and fails when there are several.
        """
        methods = self.methods
        if method is None:
            if len(methods) > 1:
                raise InputError(f"the zoo holds several methods ({', '.join(methods)}); choose one with --method (method= in Python)")
        elif method not in methods:
            raise InputError(f"method {method!r} has no records in this zoo; choose one of: {', '.join(methods) or '(none)'}")
        records = self.records if method is None else self.records[self.records["method"] == method]
        comparable = self._comparable(records)
        if len(comparable) == len(self.records):
            return self
        return self._with(records=comparable.reset_index(drop=True))

    def results_probe(self, method: str) -> str | None:
        """The probe (image encoder) the zoo's results of ``method`` were scored with, by its id
        (``clean-fid/inception-v3``, ``openai/clip-vit-base-patch32``, ``local:clip``); None where
        none of them names one (imported results).

        A FID is a distance in one probe's feature space: the same run is 246 through Inception
        and 8.1 through CLIP, so results scored with two probes are not comparable. A zoo whose
        results of one method were scored with several (written by a hubselect whose ``profile``
        fell back on its default probe, or merged from another writer's zoo) has the one most of
        them were scored with, on a tie the one scored with first: :meth:`for_method` and
        :meth:`score_matrix` leave the others out, and ``profile`` refuses to add more of them.
        Results that name no probe count as a probe of their own there (their probe is unknown):
        where they are most of the method's, rankings read them alone, while this still names
        the probe the others were scored with, the one ``profile`` goes on with.

        >>> zoo = Zoo()
        >>> zoo.add_profiles([ProfileRecord("m1", "d1", 246.5, "lora", "c1", details={"probe": "clean-fid/inception-v3"}),
        ...                   ProfileRecord("m1", "d1", 8.1, "lora", "c2", details={"probe": "openai/clip-vit-base-patch32"})])
        >>> zoo.results_probe("lora")
        'clean-fid/inception-v3'
        """
        return _results_probes(self.records).get(method)

    def for_probe(self, probe: str | None) -> "Zoo":
        """A view of this zoo whose dataset distances are those one probe measured: ``probe`` is
        its id as the distances table names it, without a revision (``openai/clip-vit-base-patch32``,
        ``local:clip``; ``""`` for distances that name none, an imported bundle's).

        A Fréchet distance is measured in one probe's feature space, so distances from two probes
        are on two scales (two datasets 8.6 apart through one CLIP can be 17.0 apart through
        another): the matching graph reads one probe's, the one a new dataset is compared with
        the zoo's through. Pairs it did not measure are missing, as in a zoo profiled with it
        alone. ``None`` picks the zoo's only one, or ``openai/clip-vit-base-patch32`` among
        several (as ``dataset similar`` does), and fails otherwise.

        >>> zoo = Zoo()
        >>> zoo.add_distances([DistanceRecord("a", "b", 8.6, "local:clip"), DistanceRecord("a", "b", 17.0, "local:clip2")])
        >>> zoo.for_probe("local:clip").distances["distance"].tolist()
        [8.6]
        """
        from hubselect.probes.registry import DEFAULT_PROBE

        probes = self.distance_probes
        if probe is None:
            if len(probes) <= 1:
                return self
            if DEFAULT_PROBE not in probes:
                named = ", ".join(p or "none named (imported)" for p in probes)
                raise InputError(
                    f"the zoo's dataset distances were measured with several probes ({named}), whose distances are on "
                    f"different scales; choose one with --probe (in Python: zoo.for_probe({next(p for p in probes if p)!r}))"
                )
            probe = DEFAULT_PROBE
        if probes == [probe]:
            return self
        return self._with(distances=self.distances[self.distances["probe"].fillna("") == probe].reset_index(drop=True))

    @property
    def distance_probes(self) -> list[str]:
        """Ids of the probes the zoo's dataset distances were measured with (``""``: distances
        that name none, an imported bundle's)."""
        return sorted(_distinct(self.distances["probe"].fillna("")))

    def _with(self, **tables: pd.DataFrame) -> "Zoo":
        """A view of this zoo with some tables replaced."""
        current = {name: getattr(self, name) for name in TABLES}
        return Zoo(self.meta, **{**current, **tables}, artefacts=self.artefacts)

    def _comparable(self, records: pd.DataFrame, *, warn: bool = True) -> pd.DataFrame:
        """``records`` less those scored with another probe than most of their method's results,
        and a warning that says what was left out (``warn=False``: none, for a caller that counts
        them itself).

        Results that name no probe (imported ones: an imported FID's probe is unknown) are a
        group of their own: beside results scored with a known probe they are not comparable
        either (an imported Inception FID of 240 was averaged with a CLIP FID of 3.4 into 121.7).
        Results made by ``profile`` have always named their probe, so a profiled zoo loses none.
        """
        scored = _probes_of(records)
        kept = _results_probes(records, scored, unnamed=True)
        # "" stands for "no probe named" (groupby drops None).
        probes = scored.fillna("")
        elsewhere = probes != records["method"].map({method: probe or "" for method, probe in kept.items()}).fillna("")
        if not elsewhere.any():
            return records
        if warn:
            for (method, probe), count in probes[elsewhere].groupby([records.loc[elsewhere, "method"], probes[elsewhere]]).size().items():
                log.warning(
                    "left out %d %s result%s %s: the zoo's %s results %s, and scores from two probes are not comparable",
                    count, method, "s" if count > 1 else "", f"scored with {probe}" if probe else "that name no probe (imported)",
                    method, f"were scored with {kept.get(method)}" if kept.get(method) else "name no probe (imported)",
                )
        return records[~elsewhere]

    def score_matrix(self, *, warn: bool = True) -> pd.DataFrame:
        """Mean score per (model, dataset): models as rows, datasets as columns, NaN where unknown.

        Results a pair holds under several config hashes (other steps, sample sizes, seeds) are
        averaged; results scored with another probe than their method's (:meth:`results_probe`)
        are left out, with a warning (``warn=False``: without; :meth:`summary` counts them).
        """
        if self.records.empty:
            return pd.DataFrame(dtype=float)
        records = self._comparable(self.records, warn=warn)
        frame = records.assign(score=records["score"].astype(float))
        return frame.pivot_table(index="model", columns="dataset", values="score", aggfunc="mean")

    def summary(self) -> dict[str, Any]:
        """Counts and coverage, as ``hubselect zoo show`` prints them.

        ``models`` (and ``models_with_features``, ``coverage``) count the models selection works
        on (:attr:`model_ids`); the LoRA adapters the zoo catalogues are counted apart, under
        ``adapters``: a zoo whose every pipeline has a result on every dataset is covered whole.

        ``coverage`` is over models × datasets with records (the datasets a learner is trained
        on; ``datasets`` also counts those only profiled or in distances): the share of those
        pairs that hold a result of any method, ``pairs_with_results`` of them, each counted once
        however many methods or configurations it holds.

        ``records`` counts every result the zoo holds; ``records_left_out`` those scored with
        another probe than most of their method's, or naming none (imported) beside results
        that name one (see :meth:`_comparable`), which rankings leave out, and
        so does the score range (``score_min``, ``score_max``): FIDs of two probes are on two
        scales (2 through CLIP is 300 through Inception). ``score_min`` and ``score_max`` span
        every method; ``score_ranges`` gives each method's, as rankings read one method at a
        time (two methods may have been scored with two probes), and is what ``zoo show``
        prints where there are several.
        """
        models, datasets, adapters = self.model_ids, self.dataset_ids, self.adapter_ids
        with_records = sorted(set(self.records["dataset"]))
        pairs = self.records[self.records["model"].isin(models)].drop_duplicates(["model", "dataset"]).shape[0]
        comparable = self._comparable(self.records, warn=False)
        scores = comparable["score"].astype(float)
        return {
            "models": len(models),
            "adapters": len(adapters),
            "datasets": len(datasets),
            "datasets_with_records": len(with_records),
            "records": int(len(self.records)),
            "distances": int(len(self.distances)),
            "score": self.meta.score,
            "higher_is_better": bool(self.meta.higher_is_better),
            "methods": self.methods,
            "models_with_features": int(len(self.models)) - len(adapters),
            "datasets_with_features": int(len(self.datasets)),
            "coverage": round(pairs / (len(models) * len(with_records)), 4) if models and with_records else 0.0,
            "pairs_with_results": int(pairs),
            # Profiling jobs that made no record, and the models they are of (see FailedJob).
            "failed_jobs": int(len(self.failed_jobs)),
            "models_with_failed_jobs": len(_distinct(self.failed_jobs["model"])),
            "score_min": float(scores.min()) if len(scores) else None,
            "score_max": float(scores.max()) if len(scores) else None,
            # Per method, as rankings read them: two methods' results may be on two probes' scales.
            "score_ranges": {
                str(method): [float(group.min()), float(group.max())] for method, group in scores.groupby(comparable["method"]) if len(group)
            },
            "records_left_out": int(len(self.records) - len(comparable)),
            "schema_version": self.meta.schema_version,
            "repo": self.meta.repo,
            "revision": self.meta.revision,
        }

    # -- combining ----------------------------------------------------------------------------

    def merge(self, other: "Zoo") -> "Zoo":
        """A new zoo with the facts of both; ``other`` wins where both hold the same key, unless
        this zoo's copy says it was made later (see the module docstring).

        Model and dataset rows are merged column by column (see the module docstring): what
        ``other`` leaves missing in a row keeps this zoo's value. A record of ``other`` drops
        this zoo's failed job of its key: the job has succeeded since. Of two failures of one
        job, the one at the later revisions (first failed later) is kept, with the larger count
        of two at the same revisions.

        A record whose run finished later (``details["finished_at"]``; one that says when is
        later than one that does not; of one run, the copy at the merged rows' commits), and a
        model row read at a commit made later (``last_modified``), is kept over ``other``'s copy,
        which is stale; the merged zoo's :attr:`kept_later` counts them per table.

        >>> rerun = Zoo()
        >>> rerun.add_profiles([ProfileRecord("m1", "d1", 2.7, details={"finished_at": "2026-01-08T10:00:00+00:00"})])
        >>> stale = Zoo()
        >>> stale.add_profiles([ProfileRecord("m1", "d1", 2.6, details={"finished_at": "2026-01-01T10:00:00+00:00"})])
        >>> merged = rerun.merge(stale)
        >>> merged.records["score"].tolist(), merged.kept_later
        ([2.7], {'records': 1})

        A score name and direction describe records, so they clash only when both zoos hold
        some: a zoo with no records yet (``zoo pull --new-if-missing`` starts one scored as
        profiling scores) takes ``other``'s, and a zoo with records keeps its own when ``other``
        holds none.

        >>> empty = Zoo(ZooMeta(score="fid_after_finetune", higher_is_better=False))
        >>> scored = Zoo(ZooMeta(score="accuracy", higher_is_better=True))
        >>> scored.add_profiles([ProfileRecord("m1", "d1", 0.9)])
        >>> empty.merge(scored).meta.score
        'accuracy'
        """
        meta = replace(self.meta)
        if self.records.empty:
            meta = replace(meta, score=other.meta.score, higher_is_better=other.meta.higher_is_better)
        elif not other.records.empty and (other.meta.score, other.meta.higher_is_better) != (self.meta.score, self.meta.higher_is_better):
            # Two names of one score (an imported 'fid' beside profiled 'fid_after_finetune') is a naming matter.
            same_way = other.meta.higher_is_better == self.meta.higher_is_better
            raise HubselectError(
                f"cannot merge a zoo scored by {other.meta.score!r} ({other.meta.direction}) into one scored by "
                f"{self.meta.score!r} ({self.meta.direction}); "
                + (f"if they are the same score, name it {self.meta.score!r} (zoo import --score-name {self.meta.score}), else " if same_way else "")
                + "keep them in separate zoos (another --out folder or --repo)"
            )
        mine = {name: getattr(self, name) for name in TABLES}
        theirs = {name: getattr(other, name) for name in TABLES}
        kept = {}
        tables = {}
        # Model and dataset rows first: of two copies of a result made at once, the later is the
        # one at the commits the merged rows name.
        for name in (*FEATURE_TABLES, "records"):
            current = {column: dict(zip(tables[f"{column}s"][column], tables[f"{column}s"]["revision"]))
                       for column in ("model", "dataset")} if name == "records" else None
            later = _held_later(mine[name], theirs[name], name, current=current)
            if later.any():
                theirs[name] = theirs[name][~later].reset_index(drop=True)
                kept[name] = int(later.sum())
            tables[name] = (_fill_in if name in FEATURE_TABLES else _upsert)(mine[name], theirs[name], name)
        mine["failed_jobs"] = _without_keys(self.failed_jobs, theirs["records"], unless_later=True)
        # A failure at older revisions, pulled before the model moved and the job failed there
        # again, must not reset the count that leaves the job out (profile --zoo-models).
        later = _held_later(mine["failed_jobs"], theirs["failed_jobs"], "failed_jobs")
        if later.any():
            theirs["failed_jobs"] = theirs["failed_jobs"][~later].reset_index(drop=True)
            kept["failed_jobs"] = int(later.sum())
        tables["failed_jobs"] = _upsert(mine["failed_jobs"], theirs["failed_jobs"], "failed_jobs")
        tables["distances"] = _upsert(mine["distances"], theirs["distances"], "distances")
        merged = Zoo(meta, **tables, artefacts={**self.artefacts, **other.artefacts})
        merged.failed_jobs = _most_attempts(merged.failed_jobs, self.failed_jobs)
        # A failure of ``other``'s beside a record of ours for the same job at the same revisions
        # is a stale copy (two writers: one pulled the failure, the other's retry succeeded).
        merged.failed_jobs = _without_keys(merged.failed_jobs, merged.records, same_revisions=True)
        merged.kept_later = kept
        return merged

    def equals(self, other: "Zoo") -> bool:
        """Same facts (row order and provenance aside)."""
        if (self.meta.score, self.meta.higher_is_better) != (other.meta.score, other.meta.higher_is_better):
            return False
        for name, (_, key) in TABLES.items():
            a, b = getattr(self, name), getattr(other, name)
            if set(a.columns) != set(b.columns):
                return False
            a = a.sort_values(key).reset_index(drop=True)
            b = b.sort_values(key).reset_index(drop=True)[list(a.columns)]
            if not a.astype(object).where(a.notna(), None).equals(b.astype(object).where(b.notna(), None)):
                return False
        return True

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the zoo folder. Each file is replaced atomically; ``zoo.json`` goes last.

        Every table is converted before any is written: a table that cannot be stored leaves
        the folder as it was, not models from this save beside records from the last.
        """
        folder = Path(path)
        tables = {name: _table_for_parquet(getattr(self, name), name) for name in TABLES}
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            atomic_write(folder / f"{name}.parquet", lambda p, t=table: _write_parquet(t, p))
        # A dataset profile counts by its provenance (.json), which names the statistics (.npz) beside
        # it: the .json files go last, so that a save stopped between the two leaves the old
        # provenance, which a rerun does not take for this profile, never the new one over old statistics.
        for name, data in sorted(self.artefacts.items(), key=lambda item: item[0].endswith(".json")):
            target = folder / ARTEFACTS_DIR / name
            if isinstance(data, Path) and data.exists() and target.exists() and os.path.samefile(data, target):
                continue  # loaded from this folder and unchanged
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                atomic_write(target, lambda p, d=data: Path(p).write_bytes(d))
            else:
                atomic_write(target, lambda p, d=data: shutil.copyfile(d, p))
        atomic_write(folder / META_FILE, lambda p: Path(p).write_text(self.meta.to_json()))
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, *, repo: str | None = None) -> "Zoo":
        """Read a zoo folder written by :meth:`save` (or pulled from the Hub: ``repo``, the
        dataset repo of the HF cache's snapshot folder ``path``, which errors in zoo.json name)."""
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"path must be a zoo folder (a str or a path), got {path!r}")
        folder = Path(path)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise InputError(f"{folder} is not a zoo (no {META_FILE}); create one with `hubselect zoo import` or pull one")
        # A snapshot folder is named by its commit: the repo at that commit is what to fix.
        where = f"zoo {repo}@{folder.name}" if repo is not None else str(folder)
        meta = ZooMeta.from_json(meta_path.read_text(), where, repo=repo)
        tables = {}
        for name in TABLES:
            file = folder / f"{name}.parquet"
            if not file.exists():
                tables[name] = _empty(name)
                continue
            try:
                tables[name] = _table_from_parquet(pd.read_parquet(_read_parquet_source(file)), name)
            except Exception as exc:  # pyarrow raises many types for a damaged file
                raise HubselectError(f"{file}: cannot read the table ({exc}); re-pull or re-import the zoo") from None
        artefacts: dict[str, Path | bytes] = {}
        root = folder / ARTEFACTS_DIR
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                if file.is_file() and not file.name.startswith("."):
                    artefacts[file.relative_to(root).as_posix()] = file
        return cls(meta, **tables, artefacts=artefacts)

    def push(self, repo_id: str, *, token: str | None = None, private: bool = False, message: str | None = None) -> str:
        """Push to a Hub dataset repo, merging with what is there; returns the new commit sha."""
        from hubselect.hub.zoo_repo import push_zoo

        return push_zoo(self, repo_id, token=token, private=private, message=message)

    @classmethod
    def pull(cls, repo_id: str, revision: str | None = None, *, token: str | None = None) -> "Zoo":
        """Read a zoo from a Hub dataset repo through the HF cache."""
        from hubselect.hub.zoo_repo import pull_zoo

        return pull_zoo(repo_id, revision=revision, token=token)


def _distinct(*columns: pd.Series) -> set:
    return set().union(*(column.unique() for column in columns))


def _probes_of(records: pd.DataFrame) -> pd.Series:
    """The probe each record was scored with (its ``details["probe"]``), None where it names
    none (an imported result).

    Read from one record per config hash, which covers the probe: parsing every record's
    details takes ~15 µs each, 0.3 s for a zoo of 20,000 results, on every view of it.
    """
    def probe(details: Any) -> str | None:
        if not isinstance(details, str) or '"probe"' not in details:
            return None
        return json.loads(details).get("probe") or None

    hashes = records["config_hash"].astype(object).where(records["config_hash"].notna(), "")
    first = records[hashes != ""].drop_duplicates("config_hash")
    by_hash = dict(zip(first["config_hash"], first["details"].map(probe)))
    return pd.Series([by_hash[h] if h else probe(d) for h, d in zip(hashes, records["details"])], index=records.index, dtype=object)


def _results_probes(records: pd.DataFrame, probes: pd.Series | None = None, *, unnamed: bool = False) -> dict[str, str | None]:
    """Method → the probe its results were scored with (see :meth:`Zoo.results_probe`), for
    methods whose results name one; ``probes`` is :func:`_probes_of` ``records``.

    With ``unnamed``, results that name no probe count as a probe of their own, None, and every
    method is in the answer: the group of results rankings read (:meth:`Zoo._comparable`).
    """
    probes = _probes_of(records) if probes is None else probes
    counts: dict[str, dict[str | None, int]] = {}
    for method, probe in zip(records["method"], probes):
        if probe is not None or unnamed:
            counts.setdefault(method, {})
            counts[method][probe] = counts[method].get(probe, 0) + 1
    # max keeps the first of equal counts: on a tie, the probe scored with first.
    return {method: max(held, key=held.__getitem__) for method, held in counts.items()}


def _artefact_name(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or any(p.startswith(".") for p in parts):
        raise ValueError(f"artefact name {name!r} must be a relative path like 'datasets/probe/name.npz'")
    return "/".join(parts)


def _table_for_parquet(frame: pd.DataFrame, name: str) -> pa.Table:
    """The arrow table a zoo table is saved as; a column pyarrow cannot store is a one-line error."""
    # Object columns mixing None and numbers confuse pyarrow; let pandas infer real dtypes.
    frame = frame.infer_objects()
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = _one_type(frame[column])
    refused = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except refused:
        for column in frame.columns:  # name the column: pyarrow's message may not
            try:
                pa.array(frame[column], from_pandas=True)
            except refused as exc:
                raise HubselectError(
                    f"cannot save the zoo's {name} table: its column {column!r} cannot be stored ({exc}); "
                    "fix that column's values where they come from (a bundle's CSV file, a record's features) and run again"
                ) from None
        raise


def _one_type(values: pd.Series) -> pd.Series:
    """A column mixing numbers, text and flags as one type parquet can hold: numbers where every
    value reads as one (``10`` beside ``"24"``, ``True`` beside ``0``), else text (``10`` beside
    ``"many"`` is ``"10"``).

    Zoos mix them when a bundle's feature column is text where the zoo's was numeric (or a
    profile writes a number into a column a bundle filled with text). As text the column reads
    as categories (:func:`hubselect.graph.arrays._feature_table`), so no value is lost; once the
    text is replaced by numbers, the column is saved as numbers again.

    >>> _one_type(pd.Series([10, "many", None], dtype=object)).tolist()
    ['10', 'many', None]
    >>> _one_type(pd.Series([10, "24", None], dtype=object)).tolist()
    [10.0, 24.0, nan]
    """
    present = values.dropna()
    if present.map(_kind).nunique() <= 1:
        return values
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return numbers.reindex(values.index).astype(float)
    return values.map(_as_text, na_action="ignore").astype(object).where(values.notna(), None)


def _kind(value: Any) -> type:
    if isinstance(value, (bool, np.bool_)):
        return bool
    if isinstance(value, (int, float, np.number)):
        return float
    return type(value)


def _as_text(value: Any) -> str:
    # 20.0 (an integer column widened by a missing value) reads back as it was written: "20".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _write_parquet(table: pa.Table, path: str) -> None:
    """Write ``table`` to ``path`` through a file Python opens: pyarrow encodes a path it is given
    as UTF-8, which a folder named in another encoding (``caf\\xe9-zoo``, surrogate-escaped by
    Python) cannot be."""
    with open(path, "wb") as handle:
        pq.write_table(table, handle)


def _read_parquet_source(path: Path) -> pa.BufferReader:
    """The bytes of a parquet file as pyarrow reads them best: opened by Python, which names a
    non-UTF-8 folder as pyarrow cannot (see :func:`_write_parquet`), and copied into memory
    pyarrow owns. A Python file object given to pyarrow instead is released by one of its
    worker threads, which may happen while the interpreter exits: the process then aborted
    ("terminate called without an active exception", exit -6) after a command had finished.
    """
    sink = pa.BufferOutputStream()
    sink.write(path.read_bytes())
    return pa.BufferReader(sink.getvalue())


def _table_from_parquet(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    leading = TABLES[name][0]
    for column in leading:
        if column not in frame.columns:
            frame[column] = None
    return frame[leading + [c for c in frame.columns if c not in leading]]


@contextlib.contextmanager
def zoo_lock(folder: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on a zoo folder (POSIX ``flock``; a no-op where there is none).

    Not re-entrant: a process holding it must not take it again.
    """
    try:
        import fcntl
    except ImportError:  # Windows: single-writer only
        yield
        return
    # Read-only is enough for flock: a shared zoo folder's lock file, created by another user
    # with the usual 0644, must not stop the next writer.
    fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_zoo_folder(folder: str | os.PathLike, option: str = "--zoo", *, also: Iterable[str] = ()) -> None:
    """Refuse a path no zoo may be written to: a file, a folder holding things but no zoo, or a
    folder this process cannot create files in (nor, for a new one, the folders above it).

    Every command that writes a zoo calls it before its work: a folder it cannot write failed
    only at the save, after the download, the embedding or the crawl it was to keep.

    ``also``: names besides the lock that may sit in a folder that holds no zoo yet (a
    crawl state, a profiler's journal) without making it someone else's folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {folder} is a file; pass a folder (it is created if missing)")
    if folder.is_dir() and not (folder / META_FILE).is_file():
        # A zoo's own files without zoo.json (saved last) are a save cut short: the rerun completes it.
        allowed = {LOCK_FILE, ARTEFACTS_DIR, *(f"{name}.parquet" for name in TABLES), *also}
        if any(p.name not in allowed and not _transient(p.name) for p in folder.iterdir()):
            raise InputError(f"{option} {folder} is a folder but not a zoo (no {META_FILE}); pass an empty or new folder, or a zoo folder")
    # Each save writes its files beside the old ones and renames them in (atomic_write).
    check_can_create_in(folder, f"{option} {folder}")


def _transient(name: str) -> bool:
    """Whether ``name`` is another writer's passing entry in a zoo folder: a save's temporary
    file (:func:`atomic_write`), or the folder :func:`check_zoo_folder`'s write check makes and
    removes at once."""
    return name.startswith(WRITE_CHECK_PREFIX) or (name.startswith(".") and name.endswith(".tmp"))


def update_zoo(folder: str | os.PathLike, change: Callable[["Zoo"], "Zoo"], *, create: Callable[[], "Zoo"] | None = None) -> "Zoo":
    """Re-read the zoo in ``folder`` under its lock, apply ``change`` and save the zoo it returns.

    Every writer of a zoo folder goes through here or holds :func:`zoo_lock` itself, so that
    processes sharing a zoo (a crawl and a profiler, say) never drop each other's facts: each
    save starts from what is on disk, not from what the process read when it started.
    ``create`` makes the zoo of a folder that holds none yet (without it: an error).

    >>> update_zoo("my-zoo", lambda zoo: zoo.merge(other))  # doctest: +SKIP
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with zoo_lock(folder):
        zoo = Zoo.load(folder) if create is None or (folder / META_FILE).is_file() else create()
        changed = change(zoo)
        changed.save(folder)
    return changed


def merge_into(
    folder: str | os.PathLike, incoming: "Zoo", *, then: Callable[["Zoo", "Zoo", "Zoo"], object] | None = None
) -> tuple["Zoo", int | None]:
    """Merge ``incoming`` into the zoo in ``folder`` under its lock (a folder holding no zoo gets
    ``incoming``): the zoo saved, and how many records the folder held before (``None``: no zoo).
    ``then(merged, local, incoming)`` completes the merged zoo before it is saved, still under
    the lock (``zoo pull`` computes the distances between the datasets only the folder held and
    those only the pulled zoo held).

    >>> merged, held = merge_into("my-zoo", import_bundle("bundle/", higher_is_better=False))  # doctest: +SKIP
    """
    fresh = Zoo(replace(incoming.meta))
    held: int | None = None

    def merge(local: Zoo) -> Zoo:
        nonlocal held
        if local is not fresh:
            held = len(local.records)
        merged = local.merge(incoming)
        if then is not None:
            then(merged, local, incoming)
        return merged

    return update_zoo(folder, merge, create=lambda: fresh), held


def atomic_write(target: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Replace ``target`` by what ``write(path)`` writes to a temporary file beside it.

    Readers see the old file or the new one, never half of one. ``write`` creates the file, so
    it gets the permissions any new file gets (0666 less the umask): a zoo folder can be shared.

    >>> atomic_write("zoo/zoo.json", lambda path: Path(path).write_text("{}"))  # doctest: +SKIP
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, target)
    except PermissionError as exc:
        # Named by the file it was to replace: pyarrow names the temporary file, in its own words.
        raise PermissionError(exc.errno, os.strerror(exc.errno) if exc.errno else "Permission denied", str(target)) from exc
    finally:
        tmp.unlink(missing_ok=True)
