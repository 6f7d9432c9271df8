"""Import a zoo from a bundle of CSV files (the contract in DESIGN.md).

- ``records.csv``: ``model,dataset,score`` (required; duplicate pairs are averaged), optionally
  ``score_before``; other columns are refused (:data:`RECORD_FILE_COLUMNS`). A model or
  dataset may name its revision (``org/m1@abc123``: ``org/m1`` at ``abc123``); in the other
  files, ids name none.
- ``models.csv``: ``model`` + feature columns (optional; not the :data:`RESERVED_COLUMNS`).
- ``datasets.csv``: ``dataset`` + feature columns (optional; not ``revision``).
- ``distances.csv``: ``dataset_a,dataset_b,distance`` (optional; symmetric, lower = closer; a
  pair given twice is averaged, its values within :data:`DISTANCE_TOLERANCE` of each other).

A CSV file named like one of these but misspelled (``distance.csv``) is refused; other CSV files are
not read (:func:`unread_files` names them, and ``zoo import`` says so).
Any problem is reported as one line naming the file and the row (as the line of the file the
row starts on, the header being line 1; a quoted field may span lines).
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
import math
import os
import statistics
from decimal import Decimal
from pathlib import Path

import pandas as pd

from hubselect.errors import InputError
from hubselect.zoo.records import PARAMETER_COLUMNS, DatasetRecord, DistanceRecord, ModelRecord, ProfileRecord
from hubselect.zoo.store import Zoo, ZooMeta


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        # newline="": a quoted field may hold line breaks (Excel's Alt+Enter), which the csv
        # module keeps; only \n, \r and \r\n end a line, never U+2028 or U+0085 in a name.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file (byte {exc.start}); export it as CSV") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty; it needs a header line with {', '.join(required)}")
    if "\x00" in text:
        raise InputError(f"{path}: contains NUL bytes, not a CSV file; export it as CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        # Each row with the file line it starts on (a quoted field may span lines).
        rows, start = [], 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: row {reader.line_num}: {exc}; export it as CSV") from None
    header = [h.strip() for h in rows[0][1]]
    missing = [c for c in required if c not in header]
    if missing:
        # A spreadsheet saved with a ';' or tab separator (as some locales do) has one long column.
        separator = next((name for mark, name in ((";", "';'"), ("\t", "tabs")) if any(mark in h for h in header)), None)
        hint = f"; the file must be comma-separated, and this one seems separated by {separator}" if separator else ""
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} in the header (found: {', '.join(header)}){hint}")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: duplicate column names in the header")
    # Blank lines, and the all-empty rows (",,") a spreadsheet leaves below its data, hold nothing.
    body = [(line, row) for line, row in rows[1:] if any(field.strip() for field in row)]
    for line, row in body:
        if len(row) != len(header):
            raise InputError(f"{path}: row {line} has {len(row)} fields, the header has {len(header)}")
    frame = pd.DataFrame([row for _, row in body], columns=header, dtype=object)
    # Keep the file's line numbers for error messages (blank rows were dropped above).
    frame.index = [line for line, _ in body]
    return frame


def _number(path: Path, line: int, column: str, value: str, *, allow_empty: bool = False) -> float | None:
    text = (value or "").strip()
    if not text:
        if allow_empty:
            return None
        raise InputError(f"{path}: row {line}: column {column!r} is empty; it needs a number")
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{path}: row {line}: column {column!r} is {text!r}, not a number") from None
    if not math.isfinite(number):
        raise InputError(f"{path}: row {line}: column {column!r} is {text!r}, not a finite number")
    return number


def _text(path: Path, line: int, column: str, value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{path}: row {line}: column {column!r} is empty")
    return text


def _id_and_revision(path: Path, line: int, column: str, value: str) -> tuple[str, str | None]:
    """A model or dataset id and the revision it names (``org/m1@abc123``: ``org/m1`` at
    ``abc123``), read as ``profile --models`` reads one: a zoo keys results by the id alone, and
    ``org/m1@abc123`` as an id would be a second model that never meets the crawled ``org/m1``.

    >>> _id_and_revision(Path("records.csv"), 2, "model", "org/m1@abc123")
    ('org/m1', 'abc123')
    """
    text = _text(path, line, column, value)
    ident, at, revision = (part.strip() for part in text.partition("@"))
    if at and not (ident and revision) or "@" in revision:
        raise InputError(f"{path}: row {line}: column {column!r} is {text!r}; write an id, optionally with one @REVISION (org/name@abc123)")
    return ident, revision or None


def _plain_id(path: Path, line: int, column: str, value: str) -> str:
    """A model or dataset id without a revision: features and distances are a model's or
    dataset's whatever its commit (the zoo's row names the commit a crawl read), and
    ``org/m1@abc123`` here would be a second model beside ``org/m1``."""
    text = _text(path, line, column, value)
    if "@" in text:
        raise InputError(
            f"{path}: row {line}: {column} {text!r} names a revision; write the id alone ({text.partition('@')[0].strip()}): "
            f"this file describes a {column.removesuffix('_a').removesuffix('_b')} whatever its revision"
        )
    return text


def _mean(values: list[float]) -> float:
    """The mean of finite numbers, itself finite (``sum()`` of two 1e308 is inf; this mean is exact).

    >>> _mean([1e308, 1e308])
    1e+308
    """
    return values[0] if len(values) == 1 else statistics.mean(values)


#: Multipliers of the suffixes a parameter count is often written with (``860M``, ``1.5B``).
COUNT_SUFFIXES = {"k": 10**3, "m": 10**6, "b": 10**9}


def _count(path: Path, line: int, column: str, value: str) -> int | float | None:
    """A parameter count: a plain number or one with a K, M or B suffix (any case); None if blank.

    Read exactly (``1.1M`` is 1100000, not 1100000.0000000002), an int where it is whole (and
    fits the int64 column it is stored in).
    """
    text = (value or "").strip()
    if not text:
        return None
    scale = COUNT_SUFFIXES.get(text[-1].lower(), 1)
    try:
        number = Decimal(text[:-1] if scale != 1 else text) * scale
    except ArithmeticError:  # decimal's InvalidOperation (not a number) and Overflow
        number = Decimal("NaN")
    if not number.is_finite() or number < 0 or not math.isfinite(float(number)):
        raise InputError(
            f"{path}: row {line}: column {column!r} is {text!r}, not a parameter count; "
            "write a number, optionally with K, M or B (860M, 1.5B)"
        )
    return int(number) if number == number.to_integral_value() and number < 2**63 else float(number)


def _features(path: Path, frame: pd.DataFrame, id_column: str) -> dict[str, dict[str, object]]:
    """Per-row feature maps; a column whose every value parses as a number becomes numeric.

    A model's parameter count (any of :data:`PARAMETER_COLUMNS`) must be a number: ``recommend
    --max-params`` compares it, and would drop a model whose count is text like ``860M``.
    """
    columns = [c for c in frame.columns if c != id_column]
    converted: dict[str, pd.Series] = {}
    for column in columns:
        if id_column == "model" and column in PARAMETER_COLUMNS:
            counts = pd.Series({line: _count(path, line, column, value) for line, value in frame[column].items()}, dtype=object)
            converted[column] = pd.to_numeric(counts)
            continue
        raw = frame[column].map(lambda v: (v or "").strip() or None)
        numeric = pd.to_numeric(raw, errors="coerce")
        converted[column] = numeric if numeric.notna().sum() == raw.notna().sum() else raw
    # Positional arrays, not converted[c][line]: a Series lookup per cell is slow on a large bundle.
    cells = {c: converted[c].to_numpy() for c in columns}
    out: dict[str, dict[str, object]] = {}
    for i, line in enumerate(frame.index):
        out[line] = {c: (None if pd.isna(cells[c][i]) else cells[c][i]) for c in columns}
    return out


#: The files a bundle may hold (records.csv required), in the order the contract lists them.
BUNDLE_FILES = ("records.csv", "models.csv", "datasets.csv", "distances.csv")


def unread_files(folder: str | Path) -> list[str]:
    """The CSV files in a bundle folder that the import does not read, by name.

    One whose name is close to a bundle file the folder lacks (``distance.csv`` beside no
    ``distances.csv``) is refused instead: it is a misspelling, and the zoo would be imported
    without its distances. Others (``records_lora.csv``: another method's results) are only
    named, for the caller to report; files that are not CSV (a README) are not named.
    """
    folder = Path(folder)
    present = {p.name for p in folder.iterdir()}
    unread = []
    for name in sorted(present):
        path = folder / name
        if name in BUNDLE_FILES or name.startswith(".") or not name.lower().endswith(".csv") or not path.is_file():
            continue
        usual = folder / name.lower()
        if name.lower() in BUNDLE_FILES and usual.exists() and path.samefile(usual):
            continue  # on a case-insensitive file system, Records.csv is records.csv
        close = difflib.get_close_matches(name.lower(), [n for n in BUNDLE_FILES if n not in present], n=1, cutoff=0.8)
        if close:
            raise InputError(
                f"{path}: not a bundle file (did you mean {close[0]}?); a bundle holds "
                f"{', '.join(BUNDLE_FILES[:-1])} and {BUNDLE_FILES[-1]}: rename it"
            )
        unread.append(name)
    return unread


def import_bundle(
    folder: str | Path,
    *,
    higher_is_better: bool,
    score_name: str = "score",
    method: str = "default",
) -> Zoo:
    """Read a bundle folder into a :class:`Zoo`.

    >>> zoo = import_bundle("hubselect/bundles/transfergraph-text", higher_is_better=True)  # doctest: +SKIP
    >>> zoo.summary()["records"]  # doctest: +SKIP
    1439
    """
    if not isinstance(higher_is_better, bool):
        # A string from a config file or an environment variable ("false") would be saved as
        # given and read as true by every consumer of the zoo, and of its pushed copy.
        raise InputError(
            f"higher_is_better must be True or False, got {higher_is_better!r}; "
            "pass True for a score like accuracy, False for one like FID"
        )
    if not isinstance(folder, (str, os.PathLike)):
        raise InputError(f"folder must be a bundle folder (a str or a path), got {folder!r}")
    for option, name, value, examples in (("--score-name", "score_name", score_name, ("accuracy", "fid")), ("--method", "method", method, ("full", "lora"))):
        if not isinstance(value, str):  # from Python: the CLI's options are str
            raise InputError(f"{name} must be a str (e.g. {examples[0]!r} or {examples[1]!r}), got {value!r}")
        if not value.strip():
            raise InputError(f"{option} is blank; name it, e.g. {examples[0]} or {examples[1]}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        # Most often the bundle's own records.csv, given for its folder.
        holder = f", e.g. {folder.parent}" if folder.name in BUNDLE_FILES else ""
        raise InputError(f"{folder} is a file, not a folder; a bundle is a folder of CSV files: pass the folder that holds records.csv{holder}")
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; pass the folder that holds records.csv")
    unread_files(folder)  # refuses a misspelled bundle file
    records_path = folder / "records.csv"
    if not records_path.is_file():
        raise InputError(f"{folder}: no records.csv; a bundle needs records.csv with columns model,dataset,score")

    zoo = Zoo(ZooMeta(score=score_name, higher_is_better=higher_is_better, description=f"imported from {folder.name}"))

    frame = _read_csv(records_path, ["model", "dataset", "score"])
    _refuse_unread_columns(records_path, frame)
    has_before = "score_before" in frame.columns
    sums: dict[tuple[str, str], list[float]] = {}
    befores: dict[tuple[str, str], list[float]] = {}
    # (model, dataset) -> the (model, dataset) revisions its first row names, that row, and its ids as written.
    revisions: dict[tuple[str, str], tuple[tuple[str | None, str | None], int, str]] = {}
    # Plain columns, not iterrows: a pandas Series per row was ~0.3 ms, minutes on a real zoo's bundle.
    befores_column = frame["score_before"] if has_before else itertools.repeat(None)
    for line, model_written, dataset_written, score, score_before in zip(
        frame.index, frame["model"], frame["dataset"], frame["score"], befores_column
    ):
        model, model_revision = _id_and_revision(records_path, line, "model", model_written)
        dataset, dataset_revision = _id_and_revision(records_path, line, "dataset", dataset_written)
        key, written = (model, dataset), f"{model_written.strip()} × {dataset_written.strip()}"
        at, first, first_written = revisions.setdefault(key, ((model_revision, dataset_revision), line, written))
        if at != (model_revision, dataset_revision):
            # Results at two commits are two models' (or datasets'): their mean is neither's.
            raise InputError(
                f"{records_path}: rows {first} and {line} give {model} × {dataset} at two revisions ({first_written}; {written}); "
                "a zoo holds one result per model and dataset: keep one revision's rows, or name the same revision on each"
            )
        sums.setdefault(key, []).append(_number(records_path, line, "score", score))
        if has_before:
            before = _number(records_path, line, "score_before", score_before, allow_empty=True)
            if before is not None:
                befores.setdefault(key, []).append(before)
    if not sums:
        raise InputError(f"{records_path}: no records; add at least one model,dataset,score row")
    zoo.add_profiles(
        ProfileRecord(
            model,
            dataset,
            score=_mean(scores),
            method=method,
            score_before=_mean(befores[(model, dataset)]) if (model, dataset) in befores else None,
            model_revision=revisions[(model, dataset)][0][0],
            dataset_revision=revisions[(model, dataset)][0][1],
            details={"runs": len(scores)} if len(scores) > 1 else {},
        )
        for (model, dataset), scores in sums.items()
    )

    models_path = folder / "models.csv"
    if models_path.is_file():
        zoo.add_models(_feature_records(models_path, "model", ModelRecord))

    datasets_path = folder / "datasets.csv"
    if datasets_path.is_file():
        zoo.add_datasets(_feature_records(datasets_path, "dataset", DatasetRecord))

    distances_path = folder / "distances.csv"
    if distances_path.is_file():
        zoo.add_distances(_distance_records(distances_path))
    return zoo


#: The columns ``records.csv`` is read from (the first three required).
RECORD_FILE_COLUMNS = ("model", "dataset", "score", "score_before")

#: What to do with a ``records.csv`` column the import does not read, where there is more to say
#: than to remove it.
UNREAD_COLUMN_HINTS = {
    "method": "a bundle holds the results of one method: import each method's rows as a bundle of their own with --method NAME",
    "model_revision": "write the revision in the model id instead (org/name@REVISION)",
    "dataset_revision": "write the revision in the dataset id instead (org/name@REVISION)",
}


def _refuse_unread_columns(path: Path, frame: pd.DataFrame) -> None:
    """Refuse ``records.csv`` columns the import does not read.

    Rows of one model and dataset are averaged as repeat runs, so a column that tells them apart
    (a ``method``, a ``seed``, a ``config_hash``) would be dropped and two kinds of result averaged
    into one score without a word, as a ``method`` column once was (lora 0.5 and full 0.9 became
    0.7). Unlike a CSV file the import does not read, a column sits in the rows it reads.
    """
    unread = [c for c in frame.columns if c not in RECORD_FILE_COLUMNS]
    if not unread:
        return
    hint = next(
        (UNREAD_COLUMN_HINTS[c.lower()] for c in unread if c.lower() in UNREAD_COLUMN_HINTS),
        "remove the column, or import the rows it tells apart as bundles of their own (one per method, with --method NAME)",
    )
    raise InputError(
        f"{path}: column{'s' if len(unread) > 1 else ''} {', '.join(map(repr, unread))} not read: records.csv holds "
        f"{', '.join(RECORD_FILE_COLUMNS[:-1])} and optionally {RECORD_FILE_COLUMNS[-1]}, and rows of one model and "
        f"dataset are averaged as repeat runs; {hint}"
    )


#: Feature columns hubselect itself gives a meaning to, and what it is. A crawl writes them; a
#: bundle column by such a name would quietly change what ``recommend`` and ``profile`` do (a
#: ``kind`` of ``lora`` hides a model from ``recommend``), so it must be renamed.
RESERVED_COLUMNS = {
    "model": {
        "revision": "the Hub commit the model was read at",
        "kind": "the kind of a crawled model (`recommend` never names a `lora` adapter)",
        "excluded_reason": "why the crawl excluded a model (`recommend` never names one with any text here)",
        "safety_flag": "the crawl's safety flag (`profile` refuses `pickle_only` and `remote_code` models)",
    },
    "dataset": {
        "revision": "the Hub commit the dataset was read at",
    },
}


def _feature_records(path: Path, id_column: str, record_type):
    frame = _read_csv(path, [id_column])
    for column, meaning in RESERVED_COLUMNS[id_column].items():
        if column in frame.columns:
            raise InputError(f"{path}: column {column!r} is reserved: hubselect reads it as {meaning}; rename the column")
    seen: dict[str, int] = {}
    for line, written in frame[id_column].items():
        ident = _plain_id(path, line, id_column, written)
        if ident in seen:
            raise InputError(f"{path}: row {line}: {id_column} {ident!r} already appears on row {seen[ident]}")
        seen[ident] = line
    features = _features(path, frame, id_column)
    records = []
    for line, written in frame[id_column].items():
        try:
            records.append(record_type(written.strip(), None, features[line]))
        except ValueError as exc:
            raise InputError(f"{path}: row {line}: {exc}") from None
    return records


#: How far apart (relative) two rows giving one distance may be: a rounding gap, as exporting with
#: four significant digits leaves; more is two different measurements, which averaging would hide.
DISTANCE_TOLERANCE = 1e-3


def _distance_records(path: Path) -> list[DistanceRecord]:
    frame = _read_csv(path, ["dataset_a", "dataset_b", "distance"])
    pairs: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for line, written_a, written_b, written in zip(frame.index, frame["dataset_a"], frame["dataset_b"], frame["distance"]):
        a = _plain_id(path, line, "dataset_a", written_a)
        b = _plain_id(path, line, "dataset_b", written_b)
        distance = _number(path, line, "distance", written)
        if distance < 0:
            raise InputError(f"{path}: row {line}: distance {distance} is negative; distances must be >= 0")
        if a == b:
            continue  # a dataset's distance to itself carries no information
        pairs.setdefault(tuple(sorted((a, b))), []).append((line, distance))
    # Both directions given: the bundle is symmetric by contract, so average any rounding gap.
    for (a, b), given in pairs.items():
        (low_line, low), (high_line, high) = min(given, key=lambda g: g[1]), max(given, key=lambda g: g[1])
        if not math.isclose(low, high, rel_tol=DISTANCE_TOLERANCE):
            first, second = sorted([(low_line, low), (high_line, high)])
            raise InputError(
                f"{path}: rows {first[0]} and {second[0]} give the distance between {a!r} and {b!r} as {first[1]:g} and "
                f"{second[1]:g}; a pair given twice (in either order) must agree within {DISTANCE_TOLERANCE:.1%}; remove the row that is wrong"
            )
    return [DistanceRecord(a, b, _mean([d for _, d in given])) for (a, b), given in pairs.items()]
