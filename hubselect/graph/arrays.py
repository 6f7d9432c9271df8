"""A zoo as dense arrays: the score matrix, the distance matrix and the feature tables.

Everything in :mod:`hubselect.graph` and :mod:`hubselect.rank` works on :class:`ZooArrays`
rather than on the zoo's long tables, so that building a graph, a fold or the pair features
is a handful of numpy operations even for thousands of models × hundreds of datasets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from hubselect.errors import InputError


@dataclass
class ZooArrays:
    """Scores, distances and features of one zoo (one fine-tuning method), indexed by position.

    - ``scores[i, j]``: mean score of ``models[i]`` on ``datasets[j]``; NaN where unknown.
      Only results scored with the probe of the method's results count (``Zoo.for_method``).
    - ``before[i, j]``: the score before fine-tuning, where records carry one (else None).
    - ``distances[a, b]``: dataset distance (symmetric, lower = closer); NaN where unknown, 0 on
      the diagonal. One probe's distances (``Zoo.for_probe``): the only one, or the one given.
    - ``model_features`` / ``dataset_features``: one row per model / dataset (same order),
      feature columns only; missing rows are all-NaN.

    >>> from hubselect.zoo import Zoo, ZooMeta, ProfileRecord
    >>> zoo = Zoo(ZooMeta(higher_is_better=False))
    >>> zoo.add_profiles([ProfileRecord("m1", "d1", 30.0), ProfileRecord("m2", "d1", 25.0)])
    >>> ZooArrays.from_zoo(zoo).scores.shape
    (2, 1)
    """

    models: list[str]
    datasets: list[str]
    scores: np.ndarray
    distances: np.ndarray
    higher_is_better: bool
    model_features: pd.DataFrame
    dataset_features: pd.DataFrame
    before: np.ndarray | None = None
    #: datasets whose records were hidden (leave-one-dataset-out targets)
    hidden: tuple[str, ...] = ()
    _dataset_index: dict[str, int] = field(default_factory=dict, repr=False)
    _model_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._dataset_index = {d: j for j, d in enumerate(self.datasets)}
        self._model_index = {m: i for i, m in enumerate(self.models)}

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_zoo(cls, zoo) -> "ZooArrays":
        """Dense arrays of a zoo that holds one fine-tuning method (see ``Zoo.for_method``), whose
        dataset distances are those of one probe (see ``Zoo.for_probe``: among several, the
        default probe's; a zoo whose distances name several others asks which)."""
        if len(zoo.methods) > 1:
            raise InputError(
                f"the zoo holds several methods ({', '.join(zoo.methods)}); choose one with --method "
                f"(in Python: zoo.for_method({zoo.methods[0]!r}))"
            )
        if zoo.records.empty:
            raise InputError("the zoo has no records; import fine-tuning results first (`hubselect zoo import`)")
        # Scores and distances measured through two probes are on two scales: never averaged.
        zoo = zoo.for_method(None).for_probe(None)
        models, datasets = zoo.model_ids, zoo.dataset_ids
        records = zoo.records
        scores = (
            records.assign(score=records["score"].astype(float))
            .pivot_table(index="model", columns="dataset", values="score", aggfunc="mean")
            .reindex(index=models, columns=datasets)
            .to_numpy(dtype=float)
        )
        before = None
        if "score_before" in records.columns:
            known = pd.to_numeric(records["score_before"], errors="coerce")
            if known.notna().any():
                before = (
                    records.assign(score_before=known)
                    .dropna(subset=["score_before"])
                    .pivot_table(index="model", columns="dataset", values="score_before", aggfunc="mean")
                    .reindex(index=models, columns=datasets)
                    .to_numpy(dtype=float)
                )
        distances = _distance_matrix(zoo.distances, datasets)
        return cls(
            models=list(models),
            datasets=list(datasets),
            scores=scores,
            distances=distances,
            higher_is_better=bool(zoo.meta.higher_is_better),
            model_features=_feature_table(zoo.models, "model", models),
            dataset_features=_feature_table(zoo.datasets, "dataset", datasets),
            before=before,
        )

    def without_records_of(self, datasets: Iterable[str]) -> "ZooArrays":
        """A copy in which every model→dataset result of ``datasets`` is hidden.

        The datasets stay nodes with their features and distances: this is the
        leave-one-dataset-out view of a target.
        """
        hidden = [self.dataset_index(d) for d in datasets]
        scores = self.scores.copy()
        scores[:, hidden] = np.nan
        before = None
        if self.before is not None:
            before = self.before.copy()
            before[:, hidden] = np.nan
        return replace(self, scores=scores, before=before, hidden=tuple(self.hidden) + tuple(datasets))

    def with_new_dataset(self, name: str, features: Mapping[str, object], distances: Mapping[str, float]) -> "ZooArrays":
        """A copy with one more dataset node (no records), e.g. a user's new dataset."""
        if name in self._dataset_index:
            raise InputError(f"dataset {name!r} is already in the zoo; give the new dataset another name")
        n = len(self.datasets)
        dist = np.full((n + 1, n + 1), np.nan)
        dist[:n, :n] = self.distances
        dist[n, n] = 0.0
        for other, value in distances.items():
            j = self._dataset_index.get(other)
            if j is not None:
                dist[n, j] = dist[j, n] = float(value)
        dataset_features = pd.concat([self.dataset_features, feature_row(self.dataset_features, features, name)])
        pad = np.full((len(self.models), 1), np.nan)
        return replace(
            self,
            datasets=self.datasets + [name],
            scores=np.hstack([self.scores, pad]),
            before=None if self.before is None else np.hstack([self.before, pad]),
            distances=dist,
            dataset_features=dataset_features,
        )

    # -- lookups ------------------------------------------------------------------------------

    def dataset_index(self, name: str) -> int:
        try:
            return self._dataset_index[name]
        except KeyError:
            raise InputError(f"dataset {name!r} is not in the zoo") from None

    def model_index(self, name: str) -> int:
        return self._model_index[name]

    @property
    def known(self) -> np.ndarray:
        """Boolean matrix: where a (model, dataset) score is known."""
        return ~np.isnan(self.scores)

    @property
    def profiled(self) -> np.ndarray:
        """Boolean per dataset: it has at least one (visible) record."""
        return self.known.any(axis=0)

    def fingerprint(self) -> str:
        """A short content hash of all the ranker learns from: scores, distances, and the model and
        dataset features (a local zoo's revision; the key of rankers built on the fly). A changed
        license or parameter count is another zoo to the learner, so it is another fingerprint.
        The throughput columns the learner leaves out (every ``bench_*`` column, and figures of
        different settings: :func:`~hubselect.rank.features.measurement_columns`) are not hashed:
        measuring a model again would otherwise make every ranker of the zoo stale.
        """
        # Imported here: hubselect.rank imports this module.
        from hubselect.rank.features import measurement_columns

        digest = hashlib.sha256()
        digest.update("\n".join(self.models).encode())
        digest.update(b"\x00")
        digest.update("\n".join(self.datasets).encode())
        digest.update(np.nan_to_num(self.scores, nan=-1e300).tobytes())
        digest.update(np.nan_to_num(self.distances, nan=-1e300).tobytes())
        for table in (self.model_features.drop(columns=sorted(measurement_columns(self.model_features))), self.dataset_features):
            digest.update(b"\x00")
            _hash_features(digest, table)
        return digest.hexdigest()[:16]


def _hash_features(digest, table: pd.DataFrame) -> None:
    """Feed a feature table (as :func:`_feature_table` makes it) to ``digest``: each column by
    name, in name order (the column order of a parquet file is no content), then its values,
    numbers as float64 bytes and text as UTF-8, missing values marked."""
    for column in sorted(table.columns, key=str):
        values = table[column]
        numeric = pd.api.types.is_float_dtype(values)
        digest.update(f"\x00{column}\x00{'n' if numeric else 't'}".encode())
        if numeric:
            digest.update(np.nan_to_num(values.to_numpy(dtype=float), nan=-1e300).tobytes())
        else:
            digest.update("\x1f".join("\x1e" if pd.isna(v) else str(v) for v in values).encode())


def _distance_matrix(table: pd.DataFrame, datasets: list[str]) -> np.ndarray:
    index = {d: j for j, d in enumerate(datasets)}
    n = len(datasets)
    matrix = np.full((n, n), np.nan)
    np.fill_diagonal(matrix, 0.0)
    if table.empty:
        return matrix
    pairs = table.assign(distance=table["distance"].astype(float)).groupby(["dataset_a", "dataset_b"], as_index=False)["distance"].mean()
    a = pairs["dataset_a"].map(index).to_numpy()
    b = pairs["dataset_b"].map(index).to_numpy()
    values = pairs["distance"].to_numpy(dtype=float)
    matrix[a, b] = values
    matrix[b, a] = values
    return matrix


def _feature_table(table: pd.DataFrame, id_column: str, ids: list[str]) -> pd.DataFrame:
    """Feature columns as the learner sees them: numbers and dates as floats, other text as str.

    A column of dates (ISO 8601 text, like a Hub model's ``created_at``) becomes days since
    1970-01-01 UTC: an order a tree can split (older / newer), where as text every model's
    timestamp would be a category of its own, i.e. the model's name under another column.
    """
    columns = [c for c in table.columns if c not in (id_column, "revision")]
    frame = table.set_index(id_column)[columns] if not table.empty else pd.DataFrame(columns=columns)
    frame = frame[~frame.index.duplicated(keep="last")].reindex(ids)
    out = {}
    for column in columns:
        values = frame[column]
        if not values.notna().any():
            continue
        numeric = _as_number(values)
        if numeric.notna().sum() == values.notna().sum():
            out[column] = numeric
        else:
            out[column] = values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v))
    return pd.DataFrame(out, index=pd.Index(ids, dtype=object))


def feature_row(table: pd.DataFrame, features: Mapping[str, object], name: str) -> pd.DataFrame:
    """One dataset's features as a row of ``table``: numeric (and date) columns as floats, text as str."""
    row = {}
    for column in table.columns:
        value = features.get(column)
        if pd.api.types.is_float_dtype(table[column]):
            single = pd.Series([value], dtype=object)
            number = _as_number(single)  # a date as days
            if isinstance(value, str) and number.isna().all():  # a number given as text ("24") as that number
                number = pd.to_numeric(single, errors="coerce").astype(float)
            row[column] = number
        else:
            row[column] = pd.Series([None if value is None else str(value)], dtype=object)
    return pd.DataFrame({c: v.to_numpy() for c, v in row.items()}, index=pd.Index([name], dtype=object), columns=list(table.columns))


#: An ISO 8601 date, optionally with a time: ``2026-11-21`` or ``2026-11-21T05:36:37.594+00:00``.
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"


def _as_number(values: pd.Series) -> pd.Series:
    """Floats for numbers, days since 1970-01-01 UTC for ISO 8601 dates; NaN for anything else.

    Text is never read as a number (``"16,32"`` stays text); a date without a zone is taken as UTC.

    >>> _as_number(pd.Series(["1970-01-02", "1970-01-01T12:00:00+00:00", None])).tolist()
    [1.0, 0.5, nan]
    """
    if _is_text(values):
        text = values.dropna().astype(str)
        if not text.str.fullmatch(_ISO_DATE).all():
            return pd.Series(np.nan, index=values.index, dtype=float)
        stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        days = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
        return days.reindex(values.index).astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _is_text(values: pd.Series) -> bool:
    return any(isinstance(v, str) for v in values.dropna().head(50))


def normalise_minmax(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Per-dataset (column) min–max normalised score in [0, 1], 1 = best; NaN stays NaN.

    A dataset whose known scores are all equal gets 1.0 for every known model (all are best).
    """
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(np.isnan(scores), np.inf, scores), axis=0)
        hi = np.nanmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
        span = hi - lo
        out = (scores - lo) / span if higher_is_better else (hi - scores) / span
    flat = ~(span > 0)
    out[:, flat] = np.where(np.isnan(scores[:, flat]), np.nan, 1.0)
    return out


def normalise_rank(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Per-dataset rank of each known score as a fraction in (0, 1]: best = 1, worst = 1/n.

    Ties share their average rank. Invariant to any monotone transform of the score, so an
    FID column with a few failed runs at 300 and an accuracy column at 0.9 ± 0.01 give the
    same spread of values.
    """
    frame = pd.DataFrame(scores if higher_is_better else -scores)
    ranks = frame.rank(axis=0, method="average", na_option="keep").to_numpy(dtype=float)
    counts = np.sum(~np.isnan(scores), axis=0).astype(float)
    with np.errstate(all="ignore"):
        return ranks / counts
