"""Profile a dataset with a probe, store the profile in a zoo, and find similar datasets.

A *profile* is what hubselect knows of a dataset: its features (image count, resolution,
aspect, captions), the Fréchet statistics of its probe embeddings (whose ``mu`` is the mean
embedding), and which images were skipped and why. It is keyed by
``(dataset revision, sample spec, probe id + revision)``:

- on disk, profiles are cached under ``CACHE_DIR/embeddings`` (the embeddings themselves, the
  features and the skip report), so a second profile of the same thing reads no image and runs
  no probe;
- in a zoo, a profile is a :class:`~hubselect.zoo.DatasetRecord` (features), two artefacts
  under ``artefacts/datasets/<probe>/`` (``<dataset>.npz``: float32 mu and upper-triangle
  sigma; ``<dataset>.json``: provenance) and :class:`~hubselect.zoo.DistanceRecord`\\ s to the
  zoo's other datasets profiled with the same probe.
"""

from __future__ import annotations

import hashlib
import json
import os
import logging
import re
import shlex
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from hubselect import __version__, constants
from hubselect.data.decode import decodes_alike
from hubselect.data.features import dataset_features
from hubselect.data.refs import DEFAULT_MIN_IMAGES, DatasetRef, SampleSpec
from hubselect.data.sample import DatasetSample, check_enough, check_sample_size, dataset_revision, load_dataset_sample
from hubselect.data.similarity import MAX_EXACT, cross_pairs, exact_distances, nearest, nearest_by_mean
from hubselect.errors import HubError, InputError
from hubselect.metrics.frechet import FrechetStats, frechet_stats
from hubselect.demo.paths import DEMO_PROBE_ID
from hubselect.probes import DEFAULT_PROBE, INCEPTION_ID, Probe, ProbeRef, pick_device, resolve_probe
from hubselect.probes.registry import probe_id
from hubselect.zoo import DatasetRecord, DistanceRecord, ProfileRecord, Zoo

log = logging.getLogger(__name__)

#: Version of the cached profile layout.
CACHE_FORMAT = 1
#: Version of the rule that picks which files of a Hub dataset a sample reads
#: (:func:`~hubselect.hub.datasets.dataset_files`): a cached profile of a Hub dataset made under
#: another rule may be of other files at the same commit (preview images beside webdataset
#: shards or a zip, read as the data until rule 2; the first of several configs, none of them
#: the card's default, read under the repo's bare name until rule 3), so it is not reused.
HUB_FILES_RULE = 3

#: Where a zoo keeps dataset profiles, under ``artefacts/``.
PROFILES_DIR = "datasets"

#: Skipped files named in a profile's report.
SKIP_EXAMPLES = 10


@dataclass
class DatasetProfile:
    """A dataset seen through a probe: features, Fréchet statistics, and the skip report."""

    dataset: str
    revision: str
    spec: SampleSpec
    probe: ProbeRef
    features: dict[str, Any]
    stats: FrechetStats
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)
    source: str = ""
    #: False when the profile came from the embedding cache (no image read, no forward pass).
    computed: bool = True
    details: dict[str, Any] = field(default_factory=dict)
    #: Wall seconds of this call's phases (fetch, decode, probe_load, probe); not persisted.
    timings: dict[str, float] = field(default_factory=dict)
    #: The sample's files by content (:attr:`DatasetSample.content`; ``None``: a local dataset,
    #: or a profile made before it was stored): another commit of the same content is this revision.
    content: str | None = None
    #: Where a local dataset was read from (its folder or .parquet file, absolute; ``None``: a
    #: Hub dataset, which its name locates): two folders named ``train`` are two datasets.
    location: str | None = None

    @property
    def mean_embedding(self) -> np.ndarray:
        return self.stats.mu

    @property
    def images(self) -> int:
        return int(self.features["images"])

    def skip_summary(self) -> str:
        total = sum(self.skipped.values())
        if not total:
            return "none skipped"
        return f"{total} skipped: " + ", ".join(f"{count} {reason}" for reason, count in self.skipped.items())

    def provenance(self) -> dict[str, Any]:
        """What the zoo stores beside the statistics: enough to tell whether a re-profile is needed."""
        return {
            "dataset": self.dataset,
            "revision": self.revision,
            "content": self.content,
            "location": self.location,
            "source": self.source,
            "spec": self.spec.to_dict(),
            "probe": self.probe.id,
            "probe_revision": self.probe.revision,
            "embedding_dim": self.stats.dim,
            "images": self.images,
            "skipped": self.skipped,
            "skipped_examples": self.skipped_examples,
            "details": self.details,
            "hubselect": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def profile_dataset(
    ref: str | os.PathLike | DatasetRef,
    *,
    probe: str | os.PathLike | ProbeRef | Probe = DEFAULT_PROBE,
    n: int = SampleSpec.n,
    seed: int = 0,
    split: str = "train",
    image_column: str | None = None,
    caption_column: str | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    name: str | None = None,
    token: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    cache: bool = True,
    progress: bool = False,
) -> DatasetProfile:
    """Sample a dataset, embed the sample with a probe, and summarise both.

    A cached profile of the same dataset revision, sample spec and probe revision is returned
    without reading images or running the probe (``computed`` is then False).

    >>> profile = profile_dataset("org/pets", probe="openai/clip-vit-base-patch32", n=500)  # doctest: +SKIP
    >>> profile.stats.dim, profile.skip_summary()  # doctest: +SKIP
    (512, 'none skipped')
    """
    if not isinstance(ref, DatasetRef):  # a str or a path
        ref = DatasetRef.parse(str(ref), split=split)
    spec = SampleSpec(n=n, seed=seed, split=ref.split, config=ref.config, image_column=image_column, caption_column=caption_column)
    check_sample_size(spec, min_images)
    if device != "auto" and not isinstance(probe, Probe):
        pick_device(device)  # a bad --device is an error even where the cache spares loading the probe
    loaded = probe if isinstance(probe, Probe) else None
    probe_ref = probe.ref if isinstance(probe, Probe) else probe if isinstance(probe, ProbeRef) else resolve_probe(probe, token=token)
    revision = dataset_revision(ref, token=token, image_column=image_column, progress=progress)
    if ref.kind == "hub":
        # Read the sample at the sha just resolved, even if the branch moves meanwhile.
        ref = DatasetRef(ref.kind, ref.location, ref.config, revision, ref.split)
    dataset = ref.zoo_name(name)
    key = _cache_key(ref, revision, spec, probe_ref)
    if cache:
        cached = _read_cache(key, dataset, probe_ref, spec)
        if cached is None:  # one decoded by version 1 holds this sample, unless it refused a JPEG as too large
            older = _read_cache(_cache_key(ref, revision, replace(spec, decode_version=1), probe_ref), dataset, probe_ref, spec)
            cached = older if older is not None and decodes_alike(1, older.skipped) else None
        if cached is not None:
            # The key is the sample, not the floor it must clear: a cached one is held to it too.
            check_enough(ref, spec, min_images, cached.images, cached.skipped, image_column=cached.details.get("image_column"))
            log.info("profile of %s @ %s with %s read from the cache", dataset, revision[:12], probe_ref.id)
            cached.location = _location(ref)  # keyed by content alone: made from wherever it was then
            return cached
    from huggingface_hub import constants as hf_constants

    if ref.kind == "hub" and hf_constants.HF_HUB_OFFLINE:
        # Only hubselect's cache can stand in for the Hub: the HF cache keeps neither a repo's
        # file listing nor the parquet rows a sample streams.
        why = "no profile of it with this sample and probe is cached" if cache else "the embedding cache is bypassed"
        raise HubError(
            f"dataset {ref.name} @ {revision[:12]}: {why}, and sampling it needs the Hub (HF_HUB_OFFLINE=1 is set): "
            "run once with network access, or unset HF_HUB_OFFLINE"
        )
    sample = load_dataset_sample(ref, spec=spec, min_images=min_images, token=token, progress=progress)
    timings = dict(sample.details.get("timings", {}))
    started = time.perf_counter()
    if loaded is None:
        loaded = probe_ref.load(device=device, batch_size=batch_size)
    timings["probe_load"] = time.perf_counter() - started
    started = time.perf_counter()
    embeddings = loaded.embed(sample.images, batch_size=batch_size, progress=progress)
    timings["probe"] = time.perf_counter() - started
    profile = profile_from_sample(sample, embeddings, probe_ref, name=dataset)
    profile.timings = timings
    if cache:
        _write_cache(key, profile, embeddings)
    return profile


def profile_from_sample(sample: DatasetSample, embeddings: np.ndarray, probe: ProbeRef, *, name: str | None = None) -> DatasetProfile:
    """The profile of an already loaded sample and its embeddings (pure: no I/O)."""
    return DatasetProfile(
        dataset=name or sample.dataset,
        revision=sample.revision,
        spec=sample.spec,
        probe=probe,
        features=dataset_features(sample),
        stats=frechet_stats(embeddings, extractor=probe.key),
        skipped=sample.skip_counts,
        skipped_examples=[str(s) for s in sample.skipped[:SKIP_EXAMPLES]],
        source=sample.details.get("source", sample.ref.kind),
        details={k: v for k, v in sample.details.items() if k not in ("source", "timings")}
        | {"image_column": sample.image_column, "caption_column": sample.caption_column},
        content=sample.content,
        location=_location(sample.ref),
    )


def _location(ref: DatasetRef) -> str | None:
    return None if ref.kind == "hub" else ref.location


# -- the embedding cache ------------------------------------------------------------------------


def _cache_key(ref: DatasetRef, revision: str, spec: SampleSpec, probe: ProbeRef) -> str:
    # Local datasets are identified by their content hash alone, so a moved folder still hits.
    identity = {
        "format": CACHE_FORMAT,
        "dataset": ref.location if ref.kind == "hub" else ref.kind,
        "revision": revision,
        "spec": spec.to_dict(),
        "probe": probe.key,
    }
    if ref.kind == "hub":
        identity["files_rule"] = HUB_FILES_RULE
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def _cache_file(key: str):
    return constants.CACHE_DIR / "embeddings" / f"{key}.npz"


def _write_cache(key: str, profile: DatasetProfile, embeddings: np.ndarray) -> None:
    path = _cache_file(key)
    meta = profile.provenance() | {"features": profile.features, "source": profile.source}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, embeddings=embeddings.astype(np.float32), meta=np.array(json.dumps(meta, default=str)))
        tmp.replace(path)
    except OSError as exc:  # a read-only or full cache only costs speed
        log.warning("cannot write the embedding cache %s (%s)", path, exc)


def _read_cache(key: str, dataset: str, probe: ProbeRef, spec: SampleSpec) -> DatasetProfile | None:
    path = _cache_file(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            embeddings = data["embeddings"]
            meta = json.loads(str(data["meta"]))
    except Exception as exc:  # a damaged entry is recomputed
        log.warning("ignoring a damaged cache entry %s (%s)", path, exc)
        return None
    return DatasetProfile(
        dataset=dataset,
        revision=meta["revision"],
        spec=spec,
        probe=probe,
        features=meta["features"],
        stats=frechet_stats(embeddings, extractor=probe.key),
        skipped=meta.get("skipped", {}),
        skipped_examples=meta.get("skipped_examples", []),
        source=meta.get("source", ""),
        computed=False,
        details=meta.get("details", {}),
        content=meta.get("content"),
    )


# -- profiles in a zoo --------------------------------------------------------------------------


def _slug(text: str) -> str:
    readable = re.sub(r"[^\w.-]+", "_", text.replace("/", "--")).strip("_.") or "x"
    return f"{readable[:80]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def artefact_names(dataset: str, probe_id: str) -> tuple[str, str]:
    """Zoo artefact names of a dataset's statistics (``.npz``) and provenance (``.json``) for a probe."""
    base = f"{PROFILES_DIR}/{_slug(probe_id)}/{_slug(dataset)}"
    return f"{base}.npz", f"{base}.json"


@dataclass(frozen=True)
class ZooProfileEntry:
    """One stored profile of a zoo: who, with which probe, and where its artefacts are."""

    dataset: str
    provenance: dict[str, Any]
    stats_name: str

    @property
    def probe(self) -> str:
        return self.provenance["probe"]

    @property
    def probe_revision(self) -> str:
        return self.provenance["probe_revision"]

    def check_enough(self, ref: DatasetRef, spec: SampleSpec, min_images: int) -> None:
        """Hold this stored sample of ``ref`` to ``min_images`` as a new sample would be (same error)."""
        provenance = self.provenance
        check_enough(ref, spec, min_images, provenance.get("images", 0), provenance.get("skipped", {}),
                     image_column=provenance.get("details", {}).get("image_column"))


def zoo_profiles(zoo: Zoo, probe_id: str | None = None) -> list[ZooProfileEntry]:
    """The dataset profiles a zoo stores (of one probe, or of all)."""
    entries = []
    for name in zoo.artefact_names(f"{PROFILES_DIR}/"):
        if not name.endswith(".json"):
            continue
        with zoo.open_artefact(name) as handle:
            try:
                provenance = json.load(handle)
            except ValueError:
                log.warning("ignoring an unreadable profile %s in the zoo", name)
                continue
        if probe_id is not None and provenance.get("probe") != probe_id:
            continue
        stats_name = name[: -len(".json")] + ".npz"
        if zoo.has_artefact(stats_name):
            entries.append(ZooProfileEntry(provenance["dataset"], provenance, stats_name))
    return entries


def zoo_probes(zoo: Zoo) -> list[str]:
    """Ids of the probes a zoo's datasets were profiled with."""
    return sorted({entry.probe for entry in zoo_profiles(zoo)})


def how_to_profile(zoo: Zoo, label: str) -> str:
    """What to run to give ``zoo`` dataset profiles. ``dataset profile --zoo`` writes a folder,
    so a zoo read from the Hub is pulled into one, profiled there and pushed back.

    >>> how_to_profile(Zoo.pull("my-org/my-zoo"), "my-org/my-zoo")  # doctest: +SKIP
    'profile its datasets in a local copy and push it back: `hubselect zoo pull my-org/my-zoo --out DIR`, ...'
    """
    repo = zoo.meta.repo
    if repo:
        return (
            f"profile its datasets in a local copy and push it back: `hubselect zoo pull {repo} --out DIR`, "
            f"`hubselect dataset profile DATASET --zoo DIR`, `hubselect zoo push DIR --repo {repo}`"
        )
    return f"profile its datasets with `hubselect dataset profile DATASET --zoo {shlex.quote(label)}`"


def load_zoo_stats(zoo: Zoo, entry: ZooProfileEntry) -> FrechetStats:
    with zoo.open_artefact(entry.stats_name) as handle:
        return FrechetStats.load(handle)


def _zoo_mean(zoo: Zoo, entry: ZooProfileEntry) -> np.ndarray:
    with zoo.open_artefact(entry.stats_name) as handle, np.load(handle, allow_pickle=False) as data:
        return data["mu"]  # only this member of the archive is read


def stored_profile(zoo: Zoo, dataset: str, probe: ProbeRef) -> ZooProfileEntry | None:
    """The zoo's profile of ``dataset`` made with exactly this probe revision, if any."""
    for entry in zoo_profiles(zoo, probe.id):
        if entry.dataset == dataset and entry.probe_revision == probe.revision:
            return entry
    return None


def is_current(
    zoo: Zoo, dataset: str, revision: str, spec: SampleSpec, probe: ProbeRef, *, content: Callable[[], str | None] | None = None
) -> bool:
    """Whether the zoo already holds this dataset at ``revision`` profiled with ``spec`` and ``probe``.

    A profile made at another commit holding the same data files (a card edit since) is of
    this revision too: ``content()`` says what the files at ``revision`` hold
    (:func:`~hubselect.data.sample.dataset_content`), asked only for a profile that stored
    its own. Profiles stored before contents were are compared by commit.

    >>> is_current(zoo, "org/pets", sha, spec, probe, content=lambda: dataset_content(ref)[1])  # doctest: +SKIP
    True
    """
    entry = stored_profile(zoo, dataset, probe)
    if entry is None or not _same_sample(entry.provenance, spec):
        return False
    made_from = entry.provenance
    return made_from.get("revision") == revision or (
        content is not None and made_from.get("content") is not None and content() == made_from["content"]
    )


def _same_sample(made_from: dict[str, Any], spec: SampleSpec) -> bool:
    """Whether a stored profile's sample is the one ``spec`` draws: made with the same settings,
    and decoded alike (:func:`~hubselect.data.decode.decodes_alike`: by this decoding version, or
    by an older one that refused no image the way they differ)."""
    made_with = dict(made_from.get("spec") or {})
    version = made_with.pop("decode_version", None)
    wanted = spec.to_dict()
    wanted.pop("decode_version")
    return made_with == wanted and decodes_alike(version, made_from.get("skipped") or {})


def move_profile(zoo: Zoo, dataset: str, probe: ProbeRef, revision: str) -> None:
    """Say that ``dataset``'s profile with ``probe`` is of ``revision``, a commit holding the data
    files it was made from (:func:`is_current`): its provenance, and the zoo's dataset row.

    So the zoo names the commit its dataset is at now (``zoo show``), and the next run finds
    it current at once, without asking what the files hold.
    """
    entry = stored_profile(zoo, dataset, probe)
    if entry is None:  # removed meanwhile (the zoo is re-read under its lock)
        return
    _, provenance_name = artefact_names(dataset, probe.id)
    zoo.put_artefact(provenance_name, json.dumps({**entry.provenance, "revision": revision}, indent=2, sort_keys=True, default=str).encode())
    row = next((r for r in zoo.dataset_records() if r.dataset == dataset), None)
    if row is not None and row.revision == entry.provenance.get("revision"):
        zoo.add_datasets([DatasetRecord(dataset, revision, row.features)])


def stored_under(zoo: Zoo, dataset: str, probe_id: str) -> ZooProfileEntry | None:
    """The zoo's profile a new profile of ``dataset`` with probe ``probe_id`` replaces, at any
    revision of the probe (its artefacts have the same names), if any."""
    return next((entry for entry in zoo_profiles(zoo, probe_id) if entry.dataset == dataset), None)


def profile_changes(entry: ZooProfileEntry, profile: DatasetProfile) -> dict[str, list]:
    """What ``profile`` was made from that the stored ``entry`` it replaces was not, as
    ``{field: [before, after]}`` (``{}``: the same): the dataset revision, the sample's settings
    (split, config, n, seed, columns...), the probe revision and a local dataset's location.

    >>> profile_changes(stored_under(zoo, "org/pets", clip.id), test_split_profile)  # doctest: +SKIP
    {'split': ['train', 'test']}
    """
    before, after = entry.provenance, profile.provenance()
    changes = {key: [before.get(key), after[key]] for key in ("revision", "probe_revision") if before.get(key) != after[key]}
    if before.get("location") not in (None, after["location"]):  # a local dataset that moved (--force)
        changes["location"] = [before["location"], after["location"]]
    old_spec = before.get("spec") or {}
    changes |= {key: [old_spec.get(key), value] for key, value in after["spec"].items() if old_spec.get(key) != value}
    return changes


def results_splits(zoo: Zoo, dataset: str) -> list[str]:
    """The splits the zoo's fine-tuning results of ``dataset`` were made on, sorted (results
    that do not say their split, imported ones, are left out).

    >>> results_splits(Zoo.load("my-zoo"), "org/pets")  # doctest: +SKIP
    ['train']
    """
    return list(results_by_split(zoo, dataset))


def results_by_split(zoo: Zoo, dataset: str) -> dict[str, list[str]]:
    """The splits the zoo's fine-tuning results of ``dataset`` were made on, each with the
    methods of those results, sorted (results that do not say their split are left out).

    >>> results_by_split(Zoo.load("my-zoo"), "org/pets")  # doctest: +SKIP
    {'test': ['textual-inversion'], 'train': ['dreambooth', 'lora']}
    """
    records = zoo.records
    made_on: dict[str, set[str]] = {}
    # Only this dataset's rows are read as records: `profile` asks this for each dataset of a grid.
    for row in records[records["dataset"] == dataset].to_dict("records"):
        record = ProfileRecord.from_row(row)
        if "split" in (record.details or {}):
            made_on.setdefault(str(record.details["split"]), set()).add(record.method)
    return {split: sorted(methods) for split, methods in sorted(made_on.items())}


def check_location(zoo: Zoo, dataset: str, ref: DatasetRef, label: str) -> None:
    """Refuse to replace the zoo's profile of ``dataset`` with one of another local folder or
    file of the same name.

    Local datasets are named by their folder or file name, and names like ``train`` or
    ``images`` are shared by unrelated datasets: the one profiled first would be gone, and its
    fine-tuning results left beside another dataset's profile. A profile that says where it
    was read from is held to that place (``dataset profile --force`` skips this check: the
    dataset moved); a Hub dataset's, or one an older hubselect made, says nothing and is not.

    >>> check_location(zoo, "train", DatasetRef.parse("cars/train"), "my-zoo")  # doctest: +SKIP
    Traceback (most recent call last):
    hubselect.errors.InputError: zoo my-zoo holds a profile of train read from /data/pets/train, ...
    """
    if ref.kind == "hub":
        return
    for entry in zoo_profiles(zoo):
        was = entry.provenance.get("location")
        if entry.dataset == dataset and was is not None and was != ref.location:
            apart = f"{os.path.basename(os.path.dirname(ref.location)) or 'new'}-{dataset}"
            raise InputError(
                f"zoo {label} holds a profile of {dataset} read from {was}, not {ref.location}: profile this one under "
                f"another name with --name (e.g. --name {shlex.quote(apart)}), or, if it is the same dataset moved, replace the profile with --force"
            )


def check_results_split(zoo: Zoo, dataset: str, ref: DatasetRef, label: str) -> None:
    """Refuse to profile split ``ref.split`` of a Hub dataset under the name ``dataset`` when the
    zoo's fine-tuning results of ``dataset`` were all made on another split, or on several.

    A zoo keys a dataset by its name (the Hub id and config, or ``--name``), not by its split:
    the profile would replace the one of the split the results were measured on, and the
    distances and ``recommend``'s evidence would then describe other images than the results.
    A different split is a different dataset only under a different name. Results on two
    splits (a move to another split half done, or a zoo written before ``profile`` refused
    them) match no profile: the move is finished first. Results that do not say their split
    (imported ones) constrain nothing; a folder or parquet file is read whole.
    ``hubselect profile`` refuses the same mismatch from the other side, so a dataset moves to
    another split through its profile: ``dataset profile --force`` skips this check, and its
    results are then redone on the new split by ``hubselect profile --split``.
    """
    if ref.kind != "hub":
        return
    made_on = results_by_split(zoo, dataset)
    if not made_on or list(made_on) == [ref.split]:
        return
    if len(made_on) > 1:
        each = " and ".join(f"{split!r} ({', '.join(methods)})" for split, methods in made_on.items())
        raise InputError(
            f"zoo {label} holds fine-tuning results of {dataset} made on splits {each}, so its profile and results are of no one split: "
            f"move {dataset} to split {ref.split!r} with --force, then redo its results made on another split there "
            f"(`hubselect profile --models ... --datasets {shlex.quote(str(ref))} --split {ref.split} --zoo {shlex.quote(label)}`, which replaces them)"
        )
    (split,) = made_on
    raise InputError(
        f"zoo {label} holds fine-tuning results of {dataset} made on split {split!r}, so its profile must be of that split: "
        f"pass --split {split}, or profile split {ref.split!r} as another dataset with --name (e.g. --name {shlex.quote(f'{dataset}-{ref.split}')}), "
        f"or move {dataset} to split {ref.split!r} with --force, then redo its results there (hubselect profile ... --split {ref.split})"
    )


def similar_in_zoo(
    zoo: Zoo, stats: FrechetStats, probe: ProbeRef, *, k: int | None = 5, exclude: str | None = None, max_exact: int = MAX_EXACT,
    progress: bool = False,
) -> list[tuple[str, float]]:
    """Datasets of ``zoo`` nearest to ``stats`` (Fréchet distance in ``probe``'s space), nearest first.

    Only profiles made with the same probe revision are comparable; others are left out with a
    warning.

    >>> similar_in_zoo(zoo, profile.stats, profile.probe, k=3)  # doctest: +SKIP
    [('org/pets-2', 0.8), ('org/cats', 4.1), ('org/cars', 30.2)]
    """
    entries = {}
    stale = []
    for entry in zoo_profiles(zoo, probe.id):
        if entry.dataset == exclude:
            continue
        if entry.probe_revision != probe.revision:
            stale.append(entry.dataset)
            continue
        entries[entry.dataset] = entry
    if stale:
        log.warning(
            "%d dataset(s) were profiled with another revision of %s and are not compared (%s); re-profile them",
            len(stale), probe.id, ", ".join(stale[:5]),
        )
    means = {name: _zoo_mean(zoo, entry) for name, entry in entries.items()}
    means = {name: mu for name, mu in means.items() if mu.shape == stats.mu.shape}
    return nearest(stats, means, lambda name: load_zoo_stats(zoo, entries[name]), k=k, max_exact=max_exact, progress=progress)


def add_to_zoo(zoo: Zoo, profile: DatasetProfile, *, max_exact: int = MAX_EXACT) -> list[DistanceRecord]:
    """Store ``profile`` in ``zoo``: its DatasetRecord, artefacts, and distances to the zoo's
    other datasets profiled with the same probe (all of them up to ``max_exact``, else the
    ``max_exact`` nearest by mean embedding, which need not be the nearest by distance: see
    :mod:`hubselect.data.similarity`). Returns the distances added.
    """
    # The row is replaced whole: start from it, so that features the profile does not compute (a
    # bundle's datasets.csv columns) stay. The profile's own are always all there (None clears).
    previous = next((r.features for r in zoo.dataset_records() if r.dataset == profile.dataset), {})
    zoo.add_datasets([DatasetRecord(profile.dataset, profile.revision, {**previous, **profile.features})])
    stats_name, provenance_name = artefact_names(profile.dataset, profile.probe.id)
    zoo.put_artefact(stats_name, profile.stats.to_bytes())
    zoo.put_artefact(provenance_name, json.dumps(profile.provenance(), indent=2, sort_keys=True, default=str).encode())
    neighbours = similar_in_zoo(zoo, profile.stats, profile.probe, k=None, exclude=profile.dataset, max_exact=max_exact)
    distances = [DistanceRecord(profile.dataset, other, distance, probe=profile.probe.id) for other, distance in neighbours]
    zoo.add_distances(distances)
    return distances


def distances_apart(zoo: Zoo, one: Zoo, other: Zoo, *, max_exact: int = MAX_EXACT) -> list[tuple[ZooProfileEntry, ZooProfileEntry]]:
    """Pairs of datasets profiled apart whose distance ``zoo``, the merge of ``one`` and
    ``other``, lacks: of each probe and probe revision, the datasets only ``one`` holds a
    profile of with those only ``other`` holds (all of them up to ``max_exact``, else each
    one's ``max_exact`` nearest by mean embedding, from both sides, as :func:`add_to_zoo` picks
    them: :func:`~hubselect.data.similarity.cross_pairs`).

    :func:`add_to_zoo` sees only the zoo it writes to: datasets two writers profiled into their
    own zoos meet in a merged one (``zoo push``, ``zoo pull --out``) with no distance between
    them. Pairs within one side are never among these: its writer's zoo holds those it picked,
    so a zoo that meets a copy of itself, or one bringing no dataset it lacks, gets none.

    >>> [(a.dataset, b.dataset) for a, b in distances_apart(merged, w1, w2)]  # doctest: +SKIP
    [('org/cool', 'org/mono')]
    """
    def profiled(side: Zoo) -> set[tuple[str, str, str]]:
        return {(entry.dataset, entry.probe, entry.probe_revision) for entry in zoo_profiles(side)}

    in_one, in_other = profiled(one), profiled(other)
    if not in_one - in_other or not in_other - in_one:
        return []
    groups: dict[tuple[str, str], tuple[dict, dict]] = {}
    for entry in zoo_profiles(zoo):
        key = (entry.dataset, entry.probe, entry.probe_revision)
        if (key in in_one) != (key in in_other):
            groups.setdefault((entry.probe, entry.probe_revision), ({}, {}))[key in in_other][entry.dataset] = entry
    held = set(zip(zoo.distances["dataset_a"], zoo.distances["dataset_b"], zoo.distances["probe"].fillna("")))
    missing = []
    for (probe, _), (only_one, only_other) in sorted(groups.items()):
        if not only_one or not only_other:
            continue
        means = [{name: _zoo_mean(zoo, entry) for name, entry in side.items()} for side in (only_one, only_other)]
        entries = {**only_one, **only_other}
        missing.extend((entries[a], entries[b]) for a, b in sorted(cross_pairs(*means, max_exact)) if (a, b, probe) not in held)
    return missing


def missing_distances(zoo: Zoo, dataset: str, probe_id: str, *, max_exact: int = MAX_EXACT) -> list[tuple[ZooProfileEntry, ZooProfileEntry]]:
    """The pairs of ``dataset`` (its profile with ``probe_id``) and its nearest datasets that the
    zoo lacks, where it holds fewer distances of it than a zoo profiled in one place holds of
    every dataset; else none.

    Profiled in one place, every dataset has distances to at least ``min(others, max_exact)``
    datasets of its probe revision: :func:`add_to_zoo` gives each new profile its nearest
    profiled before it, all of them up to ``max_exact``. Fewer means datasets profiled apart
    met without them (a zoo merged by a hubselect that did not pair them); the pairs are then
    those :func:`add_to_zoo` would give it now (all, up to ``max_exact``, else its nearest by
    mean embedding). So a zoo profiled in one place never gains any, and once a dataset has
    them, asking again finds none.

    >>> [(a.dataset, b.dataset) for a, b in missing_distances(Zoo.load("merged"), "org/mono", "local:clip")]  # doctest: +SKIP
    [('org/cool', 'org/mono')]
    """
    entries = zoo_profiles(zoo, probe_id)
    mine = next((entry for entry in entries if entry.dataset == dataset), None)
    if mine is None:
        return []
    others = {entry.dataset: entry for entry in entries if entry.dataset != dataset and entry.probe_revision == mine.probe_revision}
    distances = zoo.distances[zoo.distances["probe"].fillna("") == mine.probe]
    partners = set(distances.loc[distances["dataset_a"] == dataset, "dataset_b"]) | set(distances.loc[distances["dataset_b"] == dataset, "dataset_a"])
    if len(partners & set(others)) >= min(len(others), max_exact):
        return []
    means = {name: _zoo_mean(zoo, entry) for name, entry in others.items()}
    (near,) = nearest_by_mean({dataset: _zoo_mean(zoo, mine)}, means, max_exact).values()
    return [tuple(sorted((mine, others[name]), key=lambda entry: entry.dataset)) for name in near if name not in partners]


def complete_distances(zoo: Zoo, pairs: list[tuple[ZooProfileEntry, ZooProfileEntry]], *, progress: bool = False) -> list[DistanceRecord]:
    """Add to ``zoo`` the distances of ``pairs`` of its dataset profiles (:func:`distances_apart`,
    :func:`missing_distances`), computed from the Fréchet statistics it stores: nothing is
    sampled or embedded again, and each is the distance :func:`add_to_zoo` computes. Returns
    the distances added.

    A merge of zoos profiled apart calls this (``zoo pull --out``, ``zoo push``), and so does
    ``dataset profile`` of a dataset the zoo holds already.

    >>> len(complete_distances(merged, distances_apart(merged, w1, w2), progress=True))  # doctest: +SKIP
    1
    """
    if not pairs:
        return []
    entries = {(entry.dataset, entry.probe): entry for pair in pairs for entry in pair}
    log.info("computing %d distance%s between datasets profiled apart", len(pairs), "s" if len(pairs) > 1 else "")
    computed = exact_distances(
        [((a.dataset, a.probe), (b.dataset, b.probe)) for a, b in pairs], lambda name: load_zoo_stats(zoo, entries[name]), progress=progress
    )
    distances = [DistanceRecord(a.dataset, b.dataset, distance, probe=a.probe) for (a, b), distance in zip(pairs, computed)]
    zoo.add_distances(distances)
    return distances


def zoo_probe_revision(zoo: Zoo, probe_id: str) -> str | None:
    """The revision of probe ``probe_id`` the zoo's datasets were profiled at (None: none was).

    A zoo profiled at several revisions of one probe (a probe repo whose main moved between two
    profiling runs) gets the revision most of its profiles share, on a tie the one profiled
    last: comparing a dataset with those profiles needs that very revision, and
    :func:`similar_in_zoo` warns about the profiles made at the others.
    """
    counts: dict[str, int] = {}
    newest: dict[str, str] = {}
    for entry in zoo_profiles(zoo, probe_id):
        revision = entry.probe_revision
        counts[revision] = counts.get(revision, 0) + 1
        newest[revision] = max(newest.get(revision, ""), str(entry.provenance.get("created", "")))
    return max(counts, key=lambda r: (counts[r], newest[r])) if counts else None


def pin_probe(zoo: Zoo | None, spec: str) -> str:
    """``spec`` pinned at the revision the zoo's datasets were profiled at, when it names one of
    the zoo's Hub probes without a revision (``org/clip`` → ``org/clip@<sha>``); else ``spec``.

    A Hub probe's revision is its repo's commit, which moves with every card edit, weights
    unchanged: resolved at main, the probe would no longer match the zoo's profiles, and
    comparing a dataset with them needs the revision they were made with. ``org/clip@main``
    follows the repo. The demo probe, Inception and local folders are identified by the
    content of their files: there is nothing to pin.

    >>> pin_probe(zoo, "openai/clip-vit-base-patch32")  # doctest: +SKIP
    'openai/clip-vit-base-patch32@3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268'
    """
    if zoo is None or probe_id(spec) != spec or spec in (DEMO_PROBE_ID, INCEPTION_ID):
        return spec
    revision = zoo_probe_revision(zoo, spec)
    return f"{spec}@{revision}" if revision else spec


def why_not_compared(zoo: Zoo, label: str, probe: ProbeRef) -> str:
    """Why no dataset of ``zoo`` was compared with one profiled with ``probe``, and what to do:
    mostly, the zoo's datasets were profiled with another revision of it.

    >>> why_not_compared(zoo, "org/zoo", ref)  # doctest: +SKIP
    "zoo org/zoo's datasets were profiled with org/clip at revision b8d4007039cf, not 77429b5ff515; leave --probe out ..."
    """
    revision = zoo_probe_revision(zoo, probe.id)
    if revision is None or revision == probe.revision:
        return f"no dataset of zoo {label} was profiled with {probe.id} at revision {probe.revision[:12]}; {how_to_profile(zoo, label)}"
    if pin_probe(zoo, probe.id) != probe.id:  # a Hub probe: any of its revisions can be fetched
        return (
            f"zoo {label}'s datasets were profiled with {probe.id} at revision {revision[:12]}, not {probe.revision[:12]}; "
            f"leave --probe out to use that revision, or pass --probe {probe.id}@{revision}"
        )
    return (
        f"zoo {label}'s datasets were profiled with another version of {probe.id} ({revision[:18]}, not {probe.revision[:18]}); "
        f"pass that version with --probe, or {how_to_profile(zoo, label)}"
    )


def default_probe(zoo: Zoo | None) -> str:
    """The probe to use with ``zoo`` when none is given: :data:`DEFAULT_PROBE` for a zoo without
    profiles, else the Hub probe its datasets were profiled with (:data:`DEFAULT_PROBE` among
    several), at the revision they were profiled at (:func:`pin_probe`).

    Comparing datasets needs the probe they were profiled with, so a zoo profiled with several
    probes, or with a local one, asks for ``--probe``.
    """
    probes = zoo_probes(zoo) if zoo is not None else []
    if not probes:
        return DEFAULT_PROBE
    if DEFAULT_PROBE in probes:
        return pin_probe(zoo, DEFAULT_PROBE)
    if len(probes) == 1 and not probes[0].startswith("local:"):
        return pin_probe(zoo, probes[0])
    raise InputError(f"the zoo's datasets were profiled with {', '.join(probes)}: choose one with --probe (a Hub id or the local folder)")


__all__ = [
    "DatasetProfile",
    "ZooProfileEntry",
    "add_to_zoo",
    "artefact_names",
    "check_location",
    "check_results_split",
    "complete_distances",
    "default_probe",
    "distances_apart",
    "how_to_profile",
    "is_current",
    "load_zoo_stats",
    "missing_distances",
    "move_profile",
    "pin_probe",
    "profile_dataset",
    "profile_changes",
    "profile_from_sample",
    "results_by_split",
    "results_splits",
    "similar_in_zoo",
    "stored_profile",
    "stored_under",
    "why_not_compared",
    "zoo_probe_revision",
    "zoo_probes",
    "zoo_profiles",
]
