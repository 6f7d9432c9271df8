"""The job grid: models × datasets × methods, minus what the zoo already holds.

:func:`profile_grid` is the Python entry point (``hubselect profile`` is a thin layer over it):

1. expand the grid into :class:`~hubselect.profile.job.ProfileJob`\\ s, each keyed by
   ``(model, dataset, method, config_hash)``;
2. skip every job whose key the zoo already holds (the config hash covers the recipe, the
   evaluation, the probes and the seed, so a changed setting is a new job, and a rerun does
   nothing) — unless the record held was made from another model or dataset revision (other
   files than the commit a Hub repo is at now holds, the content of a local folder or file:
   :class:`SourceRevisions`), split or columns (:func:`rerun_reason`): then the job runs and its
   record replaces the old one. A record made at another commit of the same files (a card edit
   since) is the job's result: it is moved to that commit (:meth:`SourceRevisions.follow`). A
   split other than the one the zoo's profile of a Hub dataset was made on (before it has one,
   its results) is refused up front (:func:`refuse_other_split`), and so is a Hub dataset no
   job could read a sample of as given: a card with several configs and no default, no such
   config or split, a repo not found or gated (:func:`unreadable_datasets`);
3. run the rest on an executor (local or Ray), writing each record into the zoo as soon as it
   finishes (:class:`~hubselect.profile.journal.ZooWriter`: a crash loses at most the jobs in
   flight), and each failure too (:class:`~hubselect.zoo.FailedJob`: the revisions it was tried
   at, why, and how many times it failed there), which :func:`lacking_jobs` reads to try models
   never tried first, and to leave out a job that failed :data:`FAILED_TRIES` times;
4. summarise: total, done, skipped, failed (with one-line reasons).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from hubselect.errors import HubselectError, InputError, RepoUnavailable, check_whole
from hubselect.profile.evaluation import EvalConfig
from hubselect.profile.executors import Executor, JobOutcome, make_executor
from hubselect.profile.job import ProfileJob, model_key
from hubselect.profile.journal import ZooWriter, check_meta
from hubselect.profile.recipes import Recipe, check_overrides, make_recipe, parse_methods
from hubselect.zoo import FailedJob, ProfileRecord

log = logging.getLogger(__name__)


@dataclass
class GridSummary:
    """What a grid run did. ``records`` are the new records, in the order they finished."""

    zoo: str
    executor: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    #: Jobs whose key the zoo held, run again because their record was made from other
    #: inputs: reason (see :func:`rerun_reason`) → count. Their new records replace the old.
    reruns: dict[str, int] = field(default_factory=dict)
    #: Skipped jobs whose record was made at another commit of the same files (a card edit since),
    #: now moved to the commit their model and dataset are at (:meth:`SourceRevisions.follow`).
    moved: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    records: list[ProfileRecord] = field(default_factory=list)
    seconds: float = 0.0
    pull_request: str | None = None
    #: Models ``--zoo-models`` left for a run with room: their jobs failed before (see :func:`lacking_jobs`).
    held_back: list[str] = field(default_factory=list)
    #: Jobs ``--zoo-models`` left out: they failed :data:`FAILED_TRIES` times at the revisions they read now.
    failing_left_out: list[FailedJob] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "zoo": self.zoo,
            "executor": self.executor,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "reruns": self.reruns,
            "moved": self.moved,
            "failed": len(self.failed),
            "failures": self.failed,
            "held_back": len(self.held_back),
            "held_back_models": self.held_back,
            "failing_left_out": [
                {"model": f.model, "dataset": f.dataset, "method": f.method, "attempts": f.attempts, "reason": f.error}
                for f in self.failing_left_out
            ],
            "seconds": round(self.seconds, 2),
            "records": [
                {
                    "model": r.model,
                    "dataset": r.dataset,
                    "method": r.method,
                    "config_hash": r.config_hash,
                    "fid_after_finetune": r.score,
                    "fid_before_finetune": r.score_before,
                    "clip_i": r.metrics.get("clip_i"),
                    "clip_t": r.metrics.get("clip_t"),
                    "dino": r.metrics.get("dino"),
                    "train_seconds": r.metrics.get("train_seconds"),
                }
                for r in self.records
            ],
            "pull_request": self.pull_request,
        }


def _split_list(value: str | os.PathLike | Sequence[str | os.PathLike], what: str) -> list[str]:
    # A local model or dataset may be a path, as its str: one alone is one item (a comma in a folder's name stays).
    values = value.split(",") if isinstance(value, str) else [value] if isinstance(value, os.PathLike) else value
    items = [os.fspath(v).strip() if isinstance(v, os.PathLike) else v.strip() for v in values]
    items = list(dict.fromkeys(v for v in items if v))
    if not items:
        raise InputError(f"no {what} given; pass a comma-separated list")
    return items


def refuse_shared_keys(what: str, inputs: Iterable[tuple[str, str, str]]) -> None:
    """Refuse two different ``what`` (models, datasets) that would share one key in the zoo.

    ``inputs`` are ``(as given, key, source)``. A zoo holds one result per key, so profiling
    both would silently keep one of them (or mix their weights under ``--weights-dir``); the
    same source given twice (``m/sd,./m/sd``) is just a duplicate.

    >>> refuse_shared_keys("models", [("a/sd", "sd", "/x/a/sd"), ("b/sd", "sd", "/x/b/sd")])
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: models a/sd and b/sd are both named 'sd' in the zoo (a local folder or file is keyed by its name); rename one of them
    """
    seen: dict[str, tuple[str, str]] = {}
    for given, key, source in inputs:
        first = seen.setdefault(key, (given, source))
        if first[1] == source:
            continue
        if Path(source).is_absolute():
            fix = "(a local folder or file is keyed by its name); rename one of them"
        else:
            fix = "(a zoo keeps one result per model and dataset, whatever the revision); profile one revision per run"
        raise InputError(f"{what} {first[0]} and {given} are both named {key!r} in the zoo {fix}")


def refuse_other_folders(jobs: Sequence[ProfileJob], zoo: Any, revisions: SourceRevisions) -> None:
    """Refuse a local model or dataset named like another folder or file the zoo holds results
    made from, when that one is still there and its content was another.

    As within one run (:func:`refuse_shared_keys`), the two would share one name in the zoo: a
    run of the second would replace some of the first's results and keep the others, one name
    standing for two datasets. A folder made from the same content (a copy), or one that is no
    longer there (moved, or replaced by a new version), is the same model or dataset: its
    records are rerun when its content changed (:func:`rerun_reason`).

    >>> refuse_other_folders(plan_jobs("org/sd", "b/pets", probe="./clip"), Zoo.load("my-zoo"), SourceRevisions())  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: dataset b/pets is named 'pets' in the zoo, which holds results made from another folder of that name (/x/a/pets); rename one of them
    """
    if zoo is None or zoo.records.empty:
        return
    made_from: dict[tuple[str, str], dict[str, set]] = {}  # (what, key) → local source → revisions
    for record in zoo.profile_records():
        details = record.details or {}
        for what, key, source, revision in (
            ("model", record.model, details.get("model_ref"), record.model_revision),
            ("dataset", record.dataset, details.get("dataset_ref"), record.dataset_revision),
        ):
            if source and Path(source).is_absolute():
                made_from.setdefault((what, key), {}).setdefault(source, set()).add(revision)
    checked = set()
    for job in jobs:
        for what, given, key, source, now in (
            ("model", job.model, job.model_id, job.model_source, revisions.model),
            ("dataset", job.dataset, job.dataset_key, job.dataset_source, revisions.dataset),
        ):
            if (what, source) in checked:
                continue
            checked.add((what, source))
            for other, held in made_from.get((what, key), {}).items():
                if other != source and Path(other).exists() and now(job) not in held:
                    kind = "file" if Path(other).is_file() else "folder"
                    raise InputError(
                        f"{what} {given} is named {key!r} in the zoo, which holds results made from another {kind} of that name ({other}); rename one of them"
                    )


def refuse_adapters(models: Iterable[str], zoo: Any) -> None:
    """Refuse a model the zoo records as a LoRA adapter (``crawl --kind lora``), before anything
    is fetched: its jobs could only fail (it is no pipeline to fine-tune), and leave failed jobs
    in the zoo. The base model the crawl read from the adapter's card is what to profile.

    >>> refuse_adapters(["org/lora-ink"], Zoo.load("my-zoo"))  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: model org/lora-ink is a LoRA adapter in the zoo, not a pipeline to fine-tune; profile the model it adapts instead: --models org/sd-ink
    """
    if zoo is None:
        return
    adapters = set(zoo.adapter_ids)
    for model in models:
        key = model_key(model)[0]
        if key not in adapters:
            continue
        bases = zoo.models.loc[zoo.models["model"] == key, "base_model"] if "base_model" in zoo.models.columns else []
        base = next((b for b in bases if isinstance(b, str) and b.strip()), None)
        instead = f"profile the model it adapts instead: --models {base}" if base else "profile the pipeline it adapts instead (its card names no base model)"
        raise InputError(f"model {model} is a LoRA adapter in the zoo, not a pipeline to fine-tune; {instead}")


def refuse_other_split(datasets: Iterable[tuple[str, Any]], zoo: Any) -> None:
    """Refuse to profile a Hub dataset on another split than the zoo's profile of it (``dataset
    profile``'s, with any probe) was made on, or, before it has one, than the zoo's fine-tuning
    results of it (of any method) were made on. ``datasets`` are ``(name in the zoo, DatasetRef)``.

    A zoo keys a dataset by its name, not its split: the results would replace those of the
    profile's split, or sit beside another method's results of other images, and the graph,
    ``evaluate`` and ``recommend`` would read one profile's distances and features for results
    of other images. ``dataset profile`` refuses the same mismatch from the other side
    (:func:`~hubselect.data.profile.check_results_split`). Moving a dataset to another split
    starts with its profile (``dataset profile --force``); its results are then redone here
    ("split changed").

    >>> refuse_other_split([("org/pets", DatasetRef.parse("org/pets", split="test"))], Zoo.load("my-zoo"))  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: the zoo's profile of org/pets was made on split 'train', and its fine-tuning results must be of that split: pass --split train, or move org/pets to split 'test' first (`hubselect dataset profile org/pets --split test --force --probe openai/clip-vit-base-patch32` into this zoo profiles it again), then rerun this: its results are redone on 'test'
    """
    from hubselect.data.profile import zoo_profiles

    hub = [(name, ref) for name, ref in datasets if ref.kind == "hub"]  # a folder or parquet file is read whole
    if zoo is None or not hub:
        return
    profiled_on: dict[str, dict[str, str]] = {}  # dataset -> probe -> split
    for entry in zoo_profiles(zoo):
        split = (entry.provenance.get("spec") or {}).get("split")
        if split is not None:
            profiled_on.setdefault(entry.dataset, {})[entry.probe] = split
    for name, ref in hub:
        if name not in profiled_on:
            _refuse_other_results_split(name, ref, zoo)
            continue
        behind = {probe: split for probe, split in sorted(profiled_on[name].items()) if split != ref.split}
        if not behind:
            continue
        others = sorted(set(behind.values()))
        splits = " and ".join(repr(split) for split in others)
        # Each probe's profile is moved on its own: name every one still on the other split.
        moves = " and ".join(_move_to_split(name, ref, probe) for probe in behind)
        raise InputError(
            f"the zoo's profile of {name} was made on split {splits}, and its fine-tuning results must be of that split: "
            f"pass --split {others[0]}, or move {name} to split {ref.split!r} first ({moves} into this zoo "
            f"profile{'s' if len(behind) == 1 else ''} it again), then rerun this: its results are redone on {ref.split!r}"
        )


def _refuse_other_results_split(name: str, ref: Any, zoo: Any) -> None:
    """:func:`refuse_other_split` for a dataset the zoo holds no profile of: its results, of
    every method, are of the split the first of them were made on, until it is moved."""
    from hubselect.data.profile import default_probe, results_by_split, zoo_probes

    made_on = results_by_split(zoo, name)
    if not made_on or list(made_on) == [ref.split]:
        return
    if len(made_on) == 1:
        keep, splits = f"pass --split {next(iter(made_on))}, or ", f"split {next(iter(made_on))!r}"
    else:  # no split keeps them all (a zoo written before this check, or merged from two)
        keep, splits = "", "splits " + " and ".join(f"{split!r} ({', '.join(methods)})" for split, methods in made_on.items())
    try:
        default_probe(zoo)  # `dataset profile` picks the zoo's probe itself
        probes: list[str | None] = [None]
    except InputError:  # the zoo's datasets were profiled with a local probe, or several: name them
        probes = list(zoo_probes(zoo))
    moves = " and ".join(_move_to_split(name, ref, probe) for probe in probes)
    raise InputError(
        f"the zoo's fine-tuning results of {name} were made on {splits}, and all its results must be of one split: "
        f"{keep}move {name} to split {ref.split!r} first ({moves} into this zoo profile{'s' if len(probes) == 1 else ''} it there), "
        f"then rerun this: its results are redone on {ref.split!r}"
    )


def _move_to_split(name: str, ref: Any, probe: str | None) -> str:
    """The ``dataset profile`` that moves ``name`` to ``ref``'s split, profiling it with ``probe``
    (None: the one ``dataset profile`` picks)."""
    again = shlex.quote(ref.name + (f"@{ref.revision}" if ref.revision else "")) + (f" --name {shlex.quote(name)}" if name != ref.name else "")
    # A local probe is stored as local:NAME; its folder is what --probe takes.
    option = "" if probe is None else f" --probe <the {probe.removeprefix('local:')} folder>" if probe.startswith("local:") else f" --probe {probe}"
    return f"`hubselect dataset profile {again} --split {ref.split} --force{option}`"


def unreadable_datasets(
    datasets: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    split: str = "train",
    zoo: Any = None,
    revisions: SourceRevisions | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """The Hub datasets of ``datasets`` no job could read a sample of as given, each (as given)
    with its one-line reason: a card with several configs and none the default (named without
    ``:config``), no such config, no data files for ``split``, a repo the Hub does not have or
    does not let the token read (:meth:`SourceRevisions.unreadable`: one listing of its files
    and card per dataset).

    Asked before any job runs: a job downloads its model before it reads its dataset, so each
    model of the grid would be fetched, then fail on the dataset and be noted as a failed job.
    :func:`plan_jobs` refuses the first; ``profile --zoo-models`` leaves them out (a third-party
    card that gains a config must not stop a weekly refresh of the others) and fails once the
    others ran. A Hub that cannot tell now (offline, down) is left to the jobs, as before.

    A zoo may hold results or a profile under the bare id of a repo it now refuses: an earlier
    hubselect read its first config without asking, or the card had one config then. The reason
    says so, and how to go on (:class:`~hubselect.hub.datasets.NoDefaultConfig`).

    >>> unreadable_datasets("org/pets,org/cars", zoo=Zoo.load("my-zoo"))  # doctest: +SKIP
    {'org/pets': "dataset org/pets: its card has several configs (cats, dogs) and none is the default; pick one as org/pets:CONFIG, e.g. org/pets:cats"}
    """
    from hubselect.data.refs import DatasetRef
    from hubselect.hub.datasets import NoDefaultConfig

    revisions = revisions or SourceRevisions()
    out = {}
    for given in _split_list(datasets, "datasets"):
        ref = DatasetRef.parse(given, split=split)
        error = revisions.unreadable(ref, token=token) if ref.kind == "hub" else None
        if error is None:
            continue
        out[given] = str(error)
        if isinstance(error, NoDefaultConfig) and error.first is not None and zoo is not None:
            out[given] += _held_under_bare_name(zoo, ref.name, error.first)
    return out


def _held_under_bare_name(zoo: Any, name: str, first: str) -> str:
    """What to add to the refusal of ``name`` (a repo of several configs, none the default) where
    the zoo holds results or a profile under that name: made from the one config read then, which
    is its ``first`` where an earlier hubselect read it without asking, or the card's only config
    then where the card gained others since (the refusal cannot tell which without reading the
    card at their commit). The old rows are left where they are: nothing here removes a result."""
    from hubselect.data.profile import zoo_profiles

    held = []
    if not zoo.records.empty and name in set(zoo.records["dataset"]):
        held.append("results")
    if any(entry.dataset == name for entry in zoo_profiles(zoo)):
        held.append("profile")
    if not held:
        return ""
    again = f"--datasets {name}:{first}" + (f", and `hubselect dataset profile {name}:{first}` for its profile" if "profile" in held else "")
    return (f"; the zoo holds {' and '.join(held)} of {name} under the bare name, made from the one config hubselect read then "
            f"(an earlier hubselect read the first, {first}, without asking; or the card had one config then): to go on, profile "
            f"{name}:CONFIG anew with the config they were made from (for {first}: {again}); the old rows stay under {name}")


def records_probe(zoo: Any, spec: str) -> str:
    """``spec`` (the default probe) pinned at the revision most of the zoo's results were
    scored with, when they name that Hub probe; else ``spec`` as it is.

    A job's config hash names its probe's exact revision, so a result scored at another revision
    is not the job's, and would be redone. A zoo's results may have been scored at another
    revision than its datasets were profiled at (a probe repo's main moved in between, say by a
    card edit, before hubselect pinned probes): following the results keeps their jobs done.
    """
    from hubselect.demo.paths import DEMO_PROBE_ID
    from hubselect.probes.registry import INCEPTION_ID, probe_id

    hub_id = probe_id(spec)
    records = getattr(zoo, "records", None)
    if hub_id is None or hub_id in (DEMO_PROBE_ID, INCEPTION_ID) or records is None or records.empty:
        return spec
    counts: dict[str, int] = {}
    for record in zoo.profile_records():
        details = record.details or {}
        if details.get("probe") == hub_id and details.get("probe_revision"):
            counts[details["probe_revision"]] = counts.get(details["probe_revision"], 0) + 1
    if not counts:
        return spec
    return f"{hub_id}@{max(counts, key=lambda revision: (counts[revision], revision))}"


def results_probe(zoo: Any, methods: Iterable[str]) -> str | None:
    """The id of the probe the zoo's results of ``methods`` were scored with
    (:meth:`~hubselect.zoo.Zoo.results_probe`); None where none of them names one.

    The jobs of a grid share one probe, so methods whose results were scored with different
    probes are profiled in separate runs.

    >>> results_probe(Zoo.load("my-zoo"), ["lora"])  # doctest: +SKIP
    'clean-fid/inception-v3'
    """
    if zoo is None or zoo.records.empty:
        return None
    scored = {method: probe for method in methods if (probe := zoo.results_probe(method)) is not None}
    if len(set(scored.values())) > 1:
        each = "; ".join(f"its {method} results were scored with {probe}" for method, probe in scored.items())
        raise InputError(f"the zoo's results were scored with several probes ({each}); profile one method per run (--methods)")
    return next(iter(scored.values()), None)


def refuse_other_probe(zoo: Any, methods: Iterable[str], probe: str) -> None:
    """Refuse to score results of ``methods`` with ``probe`` (its id) in a zoo whose results of
    one of them were scored with another probe.

    A FID is a distance in its probe's feature space (the same run is 246 through Inception
    and 8.1 through CLIP): the zoo would hold one method's results on two scales, and a ranking
    can only read one of them (:meth:`~hubselect.zoo.Zoo.for_method` leaves the others out).

    >>> refuse_other_probe(Zoo.load("my-zoo"), ["lora"], "openai/clip-vit-base-patch32")  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: the zoo's lora results were scored with clean-fid/inception-v3, not openai/clip-vit-base-patch32, and scores from two probes are not comparable; leave --probe out (or pass --probe inception), or profile into another zoo (--zoo)
    """
    if zoo is None or zoo.records.empty:
        return
    for method in methods:
        scored = zoo.results_probe(method)
        if scored is not None and scored != probe:
            use = "pass the folder of that probe with --probe" if scored.startswith("local:") else f"leave --probe out (or pass --probe {_option(scored)})"
            raise InputError(
                f"the zoo's {method} results were scored with {scored}, not {probe}, and scores from two probes are not comparable; "
                f"{use}, or profile into another zoo (--zoo)"
            )


def _option(probe: str) -> str:
    """The ``--probe`` value of the probe whose id is ``probe`` (not a local one: that takes its folder)."""
    from hubselect.probes.registry import INCEPTION_ID

    return "inception" if probe == INCEPTION_ID else probe


def plan_jobs(
    models: str | os.PathLike | Sequence[str | os.PathLike],
    datasets: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    methods: str | Sequence[str] | None = None,
    recipes: Mapping[str, Recipe] | None = None,
    recipe_overrides: Mapping[str, Any] | None = None,
    evaluation: EvalConfig | None = None,
    probe: str | os.PathLike | Any = None,
    dino_probe: str | os.PathLike | Any = None,
    seed: int = 0,
    split: str = "train",
    image_column: str | None = None,
    caption_column: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    deterministic: bool = True,
    weights_dir: str | None = None,
    token: str | None = None,
    zoo: Any = None,
    revisions: SourceRevisions | None = None,
) -> list[ProfileJob]:
    """Expand models × datasets × methods into jobs (models outermost, in the order given).

    ``recipes`` gives a recipe per method; other methods get their defaults changed by
    ``recipe_overrides``. ``probe`` and ``dino_probe`` are ``--probe`` values (resolved here, so
    every job carries the exact probe revision its config hash names) or resolved refs.
    ``probe`` defaults to the probe the zoo's results of the methods were scored with, at the
    revision most of them were (:func:`results_probe`), and another is refused
    (:func:`refuse_other_probe`); for a zoo without results, to the probe its datasets were
    profiled with (:func:`~hubselect.data.profile.default_probe`). A Hub dataset no job could
    read a sample of is refused before anything is fetched (:func:`unreadable_datasets`, asked
    through ``revisions``, which a caller may share with :func:`run_grid`).

    >>> jobs = plan_jobs("org/a,org/b", "org/x", methods="lora", probe="./clip")  # doctest: +SKIP
    >>> [j.describe() for j in jobs]  # doctest: +SKIP
    ['org/a × org/x (lora)', 'org/b × org/x (lora)']
    """
    from hubselect.data.profile import default_probe
    from hubselect.data.refs import DatasetRef
    from hubselect.probes import resolve_probe
    from hubselect.probes.registry import probe_id

    check_whole("seed", seed, 0, 2**32 - 1)  # each job's sample refuses another (SampleSpec)
    model_list, dataset_list = _split_list(models, "models"), _split_list(datasets, "datasets")
    refuse_shared_keys("models", ((m, *model_key(m)) for m in model_list))
    refuse_adapters(model_list, zoo)
    refs = [(d, DatasetRef.parse(d, split=split)) for d in dataset_list]
    refuse_shared_keys("datasets", ((d, ref.name, str(ref)) for d, ref in refs))
    revisions = revisions or SourceRevisions()
    # A dataset no sample can be read from first: moving it to a split it lacks is no way forward.
    unreadable = unreadable_datasets(dataset_list, split=split, zoo=zoo, revisions=revisions, token=token)
    if unreadable:  # before the probes are fetched, and long before a model is
        raise InputError(next(iter(unreadable.values())))
    refuse_other_split(((ref.name, ref) for _, ref in refs), zoo)
    method_names = parse_methods(methods if methods is not None else (list(recipes) if recipes else None))
    check_overrides(method_names, recipe_overrides)
    chosen = {m: (recipes or {}).get(m) or make_recipe(m, recipe_overrides) for m in method_names}
    evaluation = evaluation or EvalConfig()
    scored_with = results_probe(zoo, method_names)
    if probe is None:
        if scored_with is not None and scored_with.startswith("local:"):
            raise InputError(f"the zoo's results were scored with a local probe ({scored_with}); pass that probe's folder with --probe PATH")
        probe = records_probe(zoo, scored_with or default_probe(zoo))
    elif isinstance(probe, (str, os.PathLike)) and probe_id(probe) is not None:
        # Told by the spec where it can be: refused before the probe is fetched (Inception's weights, a gated repo).
        refuse_other_probe(zoo, method_names, probe_id(probe))
    probe_ref = resolve_probe(probe, token=token) if isinstance(probe, (str, os.PathLike)) else probe
    refuse_other_probe(zoo, method_names, probe_ref.id)
    dino_ref = resolve_probe(dino_probe, token=token) if isinstance(dino_probe, (str, os.PathLike)) else dino_probe
    jobs = []
    for model in model_list:
        for dataset in dataset_list:
            for method in method_names:
                jobs.append(
                    ProfileJob(
                        model=model,
                        dataset=dataset,
                        recipe=chosen[method],
                        evaluation=evaluation,
                        probe=probe_ref,
                        dino_probe=dino_ref,
                        seed=seed,
                        split=split,
                        image_column=image_column,
                        caption_column=caption_column,
                        device=device,
                        threads=threads,
                        deterministic=deterministic,
                        weights_dir=weights_dir,
                        token=token,
                    )
                )
    refuse_other_folders(jobs, zoo, revisions)
    return jobs


#: Crawl flags that make a model unloadable whatever the token (gated models may be accessible).
UNSAFE_FLAGS = ("pickle_only", "remote_code", "missing_config")


def existing_zoo(zoo_dir: str | Path) -> Any:
    """The zoo in ``zoo_dir`` if there is one (read only, for planning), else ``None``.

    A zoo scored by something other than FID is refused here, before planning downloads probes.
    """
    from hubselect.zoo import Zoo
    from hubselect.zoo.store import META_FILE

    folder = Path(zoo_dir)
    if not (folder / META_FILE).is_file():
        return None
    zoo = Zoo.load(folder)
    check_meta(zoo, str(folder))
    return zoo


def flagged_models(zoo: Any) -> dict[str, str]:
    """Models the zoo's crawl flagged unloadable (pickle-only weights, custom code, a missing config): id → reason."""
    frame = getattr(zoo, "models", None)
    if frame is None or frame.empty or "safety_flag" not in frame.columns:
        return {}
    out = {}
    for row in frame.to_dict("records"):
        flag = row.get("safety_flag")
        if flag in UNSAFE_FLAGS:
            out[row["model"]] = f"{flag}: {row.get('excluded_reason') or 'flagged by the crawl'}"
    return out


def beyond_the_recipes(zoo: Any) -> dict[str, str]:
    """The zoo's crawled pipelines whose class the recipes cannot fine-tune yet (SDXL, SD3, Flux:
    :func:`~hubselect.profile.training.fine_tunable`): id → pipeline class.

    ``--zoo-models`` leaves them out: each try would fail (after downloading their configs), be
    noted as a failed job, and turn every weekly refresh red. A model whose class the crawl did
    not record is not among them (its job tells).
    """
    from hubselect.profile.training import fine_tunable

    classes = {r.model: r.features.get("pipeline_class") for r in zoo.model_records() if r.features.get("kind", "t2i") == "t2i"}
    known = {c for c in classes.values() if isinstance(c, str) and c}
    refused = {c for c in known if not fine_tunable(c)}
    return {model: c for model, c in sorted(classes.items()) if c in refused}


def profilable_models(zoo: Any) -> list[str]:
    """The zoo's models a profiler may load (crawled pipelines, not flagged, weights seen: see
    :func:`~hubselect.crawl.safety.is_profilable`) and fine-tune (not :func:`beyond_the_recipes`),
    most downloaded first.

    Read through :meth:`Zoo.model_records`, which turns the NaN of a missing text cell into
    ``None``: under pandas 3 a missing ``excluded_reason`` is a NaN, and NaN is truthy.

    >>> profilable_models(Zoo.load("my-zoo"))  # doctest: +SKIP
    ['org/sd-a', 'org/sd-b']
    """
    from hubselect.crawl.safety import is_profilable

    unsupported = beyond_the_recipes(zoo)
    rows = [r for r in zoo.model_records() if is_profilable(r.features) and r.model not in unsupported]
    downloads = {r.model: r.features.get("downloads") for r in rows}
    return sorted(downloads, key=lambda m: (-(downloads[m] if isinstance(downloads[m], (int, float)) else 0), m))


#: How many times ``--zoo-models`` tries a job at the same model and dataset revisions: a second
#: try for a failure that may pass (the Hub down, a runner lost), then the job is left out until
#: its model or dataset moves (``--retry-failed`` runs it anyway).
FAILED_TRIES = 2


@dataclass
class LackingJobs:
    """What :func:`lacking_jobs` picked, the jobs whose records only move, the models it held
    back and the jobs it left out for failing."""

    jobs: list[ProfileJob]
    #: Models lacking results whose jobs all failed before at the revisions they are at now,
    #: left out by ``max_models`` (the models picked before them filled the run).
    held_back: list[str] = field(default_factory=list)
    #: Jobs of the models not picked whose record is their result, made at another commit of the
    #: same files (a card edit since): nothing to run, but :func:`run_grid` moves the record to
    #: the commits now (skipped, "moved"), as it does for ``--models``. Handed to it beside
    #: ``jobs``, so that the next run finds them current without asking what the files hold.
    moved: list[ProfileJob] = field(default_factory=list)
    #: The failures of the jobs left out whatever ``max_models``: each failed :data:`FAILED_TRIES`
    #: times at the revisions it would read now (unless ``retry_failed``).
    failing: list[FailedJob] = field(default_factory=list)


def lacking_jobs(
    jobs: Sequence[ProfileJob],
    writer: ZooWriter,
    *,
    max_models: int | None = None,
    revisions: SourceRevisions | None = None,
    retry_failed: bool = False,
) -> LackingJobs:
    """The jobs of at most ``max_models`` models that lack a result on one of their datasets ×
    methods, in three groups, each in job order: first the models with a job never tried (no
    record, and no failure at the revisions its model and dataset are at now), then those with a
    record :func:`rerun_reason` would redo, then those whose lacking jobs all failed before at
    the revisions they are at now (the zoo's :class:`~hubselect.zoo.FailedJob`\\ s). Their other
    jobs stay in (``run_grid`` skips them), so a dataset added to a grid is profiled for every
    model, and a job that failed once is tried again when a run has room.

    Missing results come first because a record made from older files is still a result: a
    weekly refresh capped by ``max_models`` must reach new models rather than spend its runs
    redoing the results of popular ones (a commit that changed none of the files a job reads, a
    card edit say, outdates nothing: :meth:`SourceRevisions.follow`). Failed jobs come last for
    the same reason: a job that failed at these
    revisions (weights cut short, a deleted repo, an architecture the profiler cannot train)
    most likely fails again, and tried first it would take a slot of every run, for ever. A new
    commit of its model or dataset is another try, so it counts as never tried. Only models
    with no job never tried, or with a failure, are looked up (:class:`SourceRevisions`).

    A job that failed :data:`FAILED_TRIES` times at the revisions it would read now is left out
    (``failing``), whatever room a run has: a model that cannot be fine-tuned at its commit
    would otherwise download its weights, fail and turn the refresh red every week until its
    third-party repo moves. ``retry_failed`` puts such jobs back, last, as failed jobs.

    A record found current at another commit of the same files is not lacking; the jobs of such
    records outside the models picked come back apart (``moved``), for :func:`run_grid` to move
    them: left out, they kept their old commits, and every later run asked again what the files
    hold.

    >>> lacking_jobs(plan_jobs(profilable_models(zoo), "org/pets,org/cars"), ZooWriter("my-zoo"), max_models=5).jobs  # doctest: +SKIP
    """
    revisions = revisions or SourceRevisions()
    by_model: dict[str, list[ProfileJob]] = {}
    for job in jobs:
        by_model.setdefault(job.model_id, []).append(job)
    held = {job.key: writer.get(job.key) for job in jobs}  # each looked up once, for every pass
    failed = {job.key: writer.failed_job(job.key) for job in jobs}
    followed: dict[tuple, ProfileRecord] = {}  # held records as SourceRevisions.follow moves them, of the jobs looked up
    redo: dict[tuple, bool] = {}  # whether rerun_reason redoes them, asked once per job for every pass

    def failed_now(job: ProfileJob) -> bool:
        return failed[job.key] is not None and failed[job.key].tried_at == revisions.tried_at(job)

    def outdated(job: ProfileJob) -> bool:
        if held[job.key] is None:
            return False
        if job.key not in followed:
            followed[job.key] = revisions.follow(job, held[job.key])
            redo[job.key] = revisions.rerun_reason(job, followed[job.key]) is not None
        return redo[job.key]

    def never_tried(job: ProfileJob) -> bool:
        return held[job.key] is None and not failed_now(job)

    def to_redo(job: ProfileJob) -> bool:
        return outdated(job) and not failed_now(job)

    def lacking(job: ProfileJob) -> bool:
        return held[job.key] is None or outdated(job)

    def given_up(job: ProfileJob) -> bool:
        return not retry_failed and failed_now(job) and failed[job.key].attempts >= FAILED_TRIES and lacking(job)

    def to_retry(job: ProfileJob) -> bool:
        return lacking(job) and not given_up(job)

    limit = len(by_model) if max_models is None else max_models
    chosen: list[str] = []
    for wanted in (never_tried, to_redo, to_retry):  # what is left to retry in the last pass failed before
        for model, own in by_model.items():
            if len(chosen) >= limit:
                break
            if model not in chosen and any(wanted(job) for job in own):
                chosen.append(model)
    held_back = [
        model for model, own in by_model.items()
        if model not in chosen and any(failed[job.key] is not None for job in own)
        and not any(never_tried(job) or to_redo(job) for job in own) and any(to_retry(job) for job in own)
    ]
    # Only records looked up above: a model past max_models costs no request this run.
    moved = [job for job in jobs if job.model_id not in chosen and job.key in followed
             and followed[job.key] != held[job.key] and not outdated(job)]
    failing = [failed[job.key] for job in jobs if given_up(job)]
    return LackingJobs([job for job in jobs if job.model_id in chosen and not given_up(job)], held_back, moved, failing)


def run_grid(
    jobs: Sequence[ProfileJob],
    zoo_dir: str | Path,
    *,
    executor: str | Executor = "local",
    force: bool = False,
    progress: bool = True,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    writer: ZooWriter | None = None,
    revisions: SourceRevisions | None = None,
) -> GridSummary:
    """Run the jobs the zoo does not hold yet, writing each record as it finishes.

    ``revisions`` (shared with :func:`lacking_jobs`, so each source is looked up once) says
    what each job's model and dataset are at now, to tell whether a record held is its result.

    >>> summary = run_grid(jobs, "my-zoo", executor="ray")  # doctest: +SKIP
    >>> summary.done, summary.skipped, summary.failed  # doctest: +SKIP
    (3, 1, [])
    """
    from huggingface_hub.utils import tqdm

    started = time.perf_counter()
    writer = writer or ZooWriter(zoo_dir)
    runner = make_executor(executor) if isinstance(executor, str) else executor
    summary = GridSummary(zoo=str(zoo_dir), executor=runner.name, total=len(jobs))
    # Jobs built by hand (not by plan_jobs) are checked too, before any of them runs.
    refuse_shared_keys("models", ((j.model, j.model_id, j.model_source) for j in jobs))
    refuse_shared_keys("datasets", ((j.dataset, j.dataset_key, j.dataset_source) for j in jobs))
    refuse_other_split({j.dataset_key: j.dataset_ref for j in jobs}.items(), writer.zoo)
    revisions = revisions or SourceRevisions()
    refuse_other_folders(jobs, writer.zoo, revisions)
    refuse_adapters((j.model for j in jobs), writer.zoo)
    for method, probe in dict.fromkeys((job.method, job.probe.id) for job in jobs):
        refuse_other_probe(writer.zoo, [method], probe)
    flagged = flagged_models(writer.zoo)
    todo: list[ProfileJob] = []
    seen: set[tuple] = set()
    for job in jobs:
        key = job.key
        if key in seen:
            summary.total -= 1  # the same job listed twice
            continue
        seen.add(key)
        if not force:
            held = writer.get(key)
            current = revisions.follow(job, held) if held is not None else None
            reason = revisions.rerun_reason(job, current) if current is not None else None
            if current is not None and reason is None:
                summary.skipped += 1
                if current != held:  # the same result, named by the commits its files are at now
                    writer.write(current)
                    summary.moved += 1
                continue
            if reason is not None:
                summary.reruns[reason] = summary.reruns.get(reason, 0) + 1
        if job.model_id in flagged:
            # The crawl already found the model unsafe to load: fail without a request (nor a
            # FailedJob: the crawl's flag is the zoo's memory of it, and --zoo-models leaves it out).
            reason = f"model {job.model_id} is flagged {flagged[job.model_id]} (hubselect never runs repo code or unpickles weights)"
            summary.failed.append(_failure(job, reason))
            if on_outcome is not None:
                on_outcome(JobOutcome(job, None, reason))
            continue
        todo.append(job)
    log.info("%d jobs: %d to run%s, %d already in the zoo", summary.total, len(todo), describe_reruns(summary.reruns), summary.skipped)
    bar = tqdm(total=len(todo), desc="Profiling", unit="job", disable=not progress or not todo)
    with bar:
        for outcome in runner.run(todo):
            if outcome.record is not None:
                writer.write(outcome.record)  # durable before anything else happens
                summary.done += 1
                summary.records.append(outcome.record)
            else:
                summary.failed.append(_failure(outcome.job, outcome.error or "failed"))
                writer.write_failure(failed_job(outcome.job, outcome.error or "failed", revisions))
            bar.update(1)
            if on_outcome is not None:
                on_outcome(outcome)
    summary.seconds = time.perf_counter() - started
    return summary


_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class SourceRevisions:
    """What each model and dataset source of a grid is at now, looked up once per source: the
    commit sha a Hub repo's branch or tag points at (one request; none for a job that names a
    sha, which says it all), or a local folder's or file's content hash (``local-…``, kept
    against the files' sizes and times, so the job itself computes it again for free).

    Only jobs the zoo holds a record or a failure of are looked up, and jobs that fail (the
    revisions a :class:`~hubselect.zoo.FailedJob` was tried at). A source that cannot be
    (offline, the Hub down) is ``None``, with a warning: its records are judged by the revision
    they were asked for, as before revisions were compared. What a Hub repo's files hold is
    looked up only for a record made at another commit (:meth:`follow`).

    >>> revisions = SourceRevisions()  # doctest: +SKIP
    >>> revisions.rerun_reason(job, writer.get(job.key))  # doctest: +SKIP
    'dataset content changed'
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Any] = {}

    def model(self, job: ProfileJob) -> str | None:
        from hubselect.hub.snapshots import model_revision

        if job.model_revision is not None and _SHA.match(job.model_revision.lower()):
            return None
        local = Path(job.model_source).is_absolute()
        return self._look_up("model", job.model_source, lambda: model_revision(
            job.model_source if local else job.model_id, job.model_revision, token=job.token))

    def dataset(self, job: ProfileJob) -> str | None:
        from hubselect.data.sample import dataset_revision

        ref = job.dataset_ref
        if ref.revision is not None and _SHA.match(ref.revision.lower()):
            return None
        return self._look_up("dataset", _dataset_source(ref, job.image_column),
                             lambda: dataset_revision(ref, token=job.token, image_column=job.image_column))

    def model_content(self, job: ProfileJob) -> tuple[str, str | None] | None:
        """``(commit sha, content)`` of the files the job's Hub model holds at the commit it reads
        now (:func:`~hubselect.hub.snapshots.model_content`, one request per source); ``None``
        for a local folder, or when it cannot be told."""
        from hubselect.hub.snapshots import model_content

        if Path(job.model_source).is_absolute():
            return None
        revision = self.model(job) or job.model_revision
        return self._look_up("model files", f"{job.model_id}@{revision}", lambda: model_content(job.model_id, revision, token=job.token),
                             unknown="cannot tell what its files hold now", then="a record made at another commit is redone")

    def dataset_content(self, job: ProfileJob) -> tuple[str, str | None] | None:
        """``(commit sha, content)`` of the data files a sample of the job's Hub dataset reads at
        the commit it reads now (:func:`~hubselect.data.sample.dataset_content`: its file listing
        and card, once per source); ``None`` for a local folder or file, or when it cannot be told."""
        from hubselect.data.sample import dataset_content

        ref = job.dataset_ref
        if ref.kind != "hub":
            return None
        pinned = _pinned(ref, self.dataset(job) or ref.revision)
        # A card or files no sample can be read from as asked (several configs and no default, no
        # such config or split) is the dataset's fault, not the Hub's: its job could only fail.
        return self._look_up("dataset files", f"{pinned} {ref.split}", lambda: dataset_content(pinned, token=job.token),
                             unknown="cannot tell what its data files hold now", then="a record made at another commit is redone",
                             refuse=(InputError,))

    def unreadable(self, ref: Any, *, token: str | None = None) -> InputError | None:
        """The :class:`~hubselect.errors.InputError` a sample of Hub dataset ``ref`` (a
        :class:`~hubselect.data.refs.DatasetRef`) fails with, from its file listing and card
        (:func:`~hubselect.data.sample.dataset_content`), asked once per dataset, or the Hub's
        :class:`~hubselect.errors.RepoUnavailable` (not found, gated); ``None``
        when one can be read, or when the Hub cannot tell now (offline, down), quietly: the jobs tell.

        >>> SourceRevisions().unreadable(DatasetRef.parse("org/pets"))  # doctest: +SKIP
        NoDefaultConfig('dataset org/pets: its card has several configs (cats, dogs) and none is the default; ...')
        """
        from hubselect.data.sample import dataset_content

        key = ("readable", f"{ref} {ref.split}")
        if key not in self._known:
            try:
                commit, content = dataset_content(ref, token=token)
                self._known[key] = None
                # What the run asks next (:meth:`dataset`, :meth:`dataset_content`), answered by
                # the same listing: not asked again, and not at another commit.
                self._known.setdefault(("dataset", _dataset_source(ref)), commit)
                self._known.setdefault(("dataset files", f"{_pinned(ref, commit)} {ref.split}"), (commit, content))
            except (InputError, RepoUnavailable) as exc:  # the Hub's answer too: not found, gated
                self._known[key] = exc
            except HubselectError as exc:
                log.debug("dataset %s: cannot tell now whether a sample can be read (%s); its jobs tell", ref, exc)
                self._known[key] = None
        return self._known[key]

    def follow(self, job: ProfileJob, record: ProfileRecord) -> ProfileRecord:
        """``record`` moved to the commits the job reads now of its Hub model and dataset, where it
        was made at another commit of the same files (a card edit since): it is the job's result,
        and the zoo then names the commits its sources are at (``zoo show``), and finds it
        current without asking again. Else ``record`` as it is.

        What the files hold (:meth:`model_content`, :meth:`dataset_content`) is asked only for a
        record made at another commit than the job reads, that stored what its own files held
        (``details["content"]``): older records are compared by commit, as they always were.
        """
        details = record.details or {}
        made_of = details.get("content") or {}
        requested = details.get("requested")
        ref = job.dataset_ref
        if ref.kind == "hub" and details.get("split", "train") != ref.split:
            return record  # of other files than the job's split, whatever the commits: redone (rerun_reason)
        moved, asked_now = {}, {}
        for what, asked, made_from, now, content in (
            ("model", job.model_revision, record.model_revision, self.model, self.model_content),
            ("dataset", ref.revision, record.dataset_revision, self.dataset, self.dataset_content),
        ):
            name = f"{what}_revision"
            if made_of.get(what) is None or _same_revision(asked, made_from, now(job), requested, name):
                continue
            files = content(job)
            if files is not None and files[1] == made_of[what]:
                moved[name], asked_now[name] = files[0], asked
        if not moved:
            return record
        if requested is not None:  # it answers what the job asks for now (another branch or tag, say, at the same files)
            details = {**details, "requested": {**requested, **asked_now}}
        return replace(record, **moved, details=details)

    def rerun_reason(self, job: ProfileJob, record: ProfileRecord) -> str | None:
        """:func:`rerun_reason` with what the job's model and dataset are at now, of ``record``
        as :meth:`follow` moves it."""
        return rerun_reason(job, self.follow(job, record), model_revision=self.model(job), dataset_revision=self.dataset(job))

    def tried_at(self, job: ProfileJob) -> tuple[str | None, str | None]:
        """``(model revision, dataset revision)`` a run of ``job`` reads now: the sha it names,
        else what the source is at (``None``: not known). A :class:`~hubselect.zoo.FailedJob`
        is stored with these, and compared with them on later runs."""

        def sha(revision: str | None) -> str | None:  # what model() and dataset() leave to the job
            return revision if revision is not None and _SHA.match(revision.lower()) else None

        return (self.model(job) or sha(job.model_revision), self.dataset(job) or sha(job.dataset_ref.revision))

    def _look_up(
        self,
        what: str,
        source: str,
        look_up: Callable[[], Any],
        *,
        unknown: str = "cannot tell which revision it is at now",
        then: str = "its records count as done if made from the revision asked for",
        refuse: tuple[type[HubselectError], ...] = (),
    ) -> Any:
        """``look_up()``, once per ``(what, source)``; a failure is a warning and ``None``, but for
        those of ``refuse``, raised: a wrong input is no Hub that cannot tell."""
        if (what, source) not in self._known:
            try:
                self._known[what, source] = look_up()
            except refuse:
                raise
            except HubselectError as exc:
                log.warning("%s %s: %s (%s); %s", what.split()[0], source, unknown, exc, then)
                self._known[what, source] = None
        return self._known[what, source]


def _dataset_source(ref: Any, image_column: str | None = None) -> str:
    """How :class:`SourceRevisions` names a dataset source: its location and the revision asked
    for, and for a local parquet file the ``--image-column`` whose files its revision counts."""
    column = f" --image-column {image_column}" if ref.kind == "parquet" and image_column else ""
    return ref.location + (f"@{ref.revision}" if ref.revision else "") + column


def _pinned(ref: Any, revision: str | None) -> Any:
    """``ref`` (a :class:`~hubselect.data.refs.DatasetRef`) at ``revision``."""
    from hubselect.data.refs import DatasetRef

    return DatasetRef(ref.kind, ref.location, ref.config, revision, ref.split)


def _same_revision(asked: str | None, made_from: str | None, now: str | None, requested: Mapping[str, Any] | None, name: str) -> bool:
    """Whether a record made from revision ``made_from`` (asked for as ``requested[name]``) is
    made from what the job reads now: the sha ``asked`` names, else ``now`` (what the source is
    at: a Hub sha, a content hash), else, when that is not known, the revision ``asked`` (``None``: main)."""
    if asked is not None and _SHA.match(asked.lower()) and made_from:
        return made_from.lower().startswith(asked.lower())
    if now is not None and made_from:
        return made_from == now
    if requested is None:
        # A record written before requests were stored cannot tell which branch or tag it was
        # asked for. Runs that name none (nearly all) count it as done, as they always did, so
        # that existing zoos are not rerun whole; a run naming a branch or tag runs again.
        return asked is None
    return (requested.get(name) or "main") == (asked or "main")


def _same_column(asked: str | None, requested: Mapping[str, Any] | None, used: str | None, name: str) -> bool:
    """Whether a record that read column ``used`` (asked for as ``requested[name]``) read the column ``asked`` now (``None``: detected)."""
    if asked is None:
        # Detection is a function of the dataset revision. A record written before requests
        # were stored most likely detected its columns too: counted as done, as it always was.
        return requested is None or requested.get(name) is None
    # The column read: asking for the column detection picked is the same sample. Or the one
    # asked for: a reader that ignores the option (a Hub image folder) records what it read instead.
    return used == asked or (requested is not None and requested.get(name) == asked)


def rerun_reason(job: ProfileJob, record: ProfileRecord, *, model_revision: str | None = None, dataset_revision: str | None = None) -> str | None:
    """Why ``record``, held under ``job.key``, is not ``job``'s result (``None``: it is).

    The key leaves out the revisions, the split and the columns (a zoo keeps one result per
    model × dataset × method × config), so a job whose record was made from other ones is new
    work, whose record replaces the old one. ``model_revision`` and ``dataset_revision`` are
    what the job's sources are at now (:class:`SourceRevisions`; ``None``: not known): a Hub
    repo asked for without a sha whose branch moved, or a local folder whose content changed,
    is another revision.

    >>> job = ProfileJob("org/sd@5e6f7a8", "org/pets", LoraRecipe(), EvalConfig(), probe=clip)  # doctest: +SKIP
    >>> rerun_reason(job, replace(record, model_revision="1a2b3c4..."))  # doctest: +SKIP
    'model revision changed'
    """
    details = record.details or {}
    requested = details.get("requested")
    ref = job.dataset_ref
    # Only Hub datasets have splits (a folder or a parquet file is read whole, whatever --split says).
    # Asked first: another split is other files, whatever the commits (a record at an older commit
    # of the same files cannot be followed to this split's, and would read "revision changed").
    if ref.kind == "hub" and details.get("split", "train") != ref.split:
        return "split changed"
    if not _same_revision(job.model_revision, record.model_revision, model_revision, requested, "model_revision"):
        return _changed("model", details.get("model_ref"), job.model_source)
    if not _same_revision(ref.revision, record.dataset_revision, dataset_revision, requested, "dataset_revision"):
        return _changed("dataset", details.get("dataset_ref"), str(ref))
    columns = details.get("columns") or {}
    if not (
        _same_column(job.image_column, requested, columns.get("image"), "image_column")
        and _same_column(job.caption_column, requested, columns.get("caption"), "caption_column")
    ):
        return "columns changed"
    return None


def _changed(what: str, made_from: str | None, source: str) -> str:
    """The rerun reason of a model or dataset ``source`` now at another revision than the
    record made from ``made_from`` (``None``: a record that does not say)."""
    if not Path(source).is_absolute():
        return f"{what} revision changed"
    if made_from is not None and made_from != source:
        # The folder (file) the record was made from is no longer there: refuse_other_folders refuses one that is.
        return f"another {what} {'file' if Path(source).is_file() else 'folder'} with the same name"
    return f"{what} content changed"


def describe_reruns(reruns: Mapping[str, int]) -> str:
    """``' (3 rerun: 1 model revision changed, 2 split changed)'``, or ``''`` when nothing reruns.

    >>> describe_reruns({"split changed": 1})
    ' (1 rerun: split changed)'
    """
    if not reruns:
        return ""
    if len(reruns) == 1:
        (reason, count), = reruns.items()
        return f" ({count} rerun: {reason})"
    return f" ({sum(reruns.values())} rerun: {', '.join(f'{count} {reason}' for reason, count in reruns.items())})"


def _failure(job: ProfileJob, reason: str) -> dict[str, str]:
    return {"model": job.model_id, "dataset": job.dataset_key, "method": job.method, "reason": reason}


def failed_job(job: ProfileJob, reason: str, revisions: SourceRevisions) -> FailedJob:
    """The zoo's note that ``job`` failed now, with ``reason``, at the revisions it read (:meth:`SourceRevisions.tried_at`)."""
    model_revision, dataset_revision = revisions.tried_at(job)
    return FailedJob(*job.key, error=reason, model_revision=model_revision, dataset_revision=dataset_revision,
                     failed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def profile_grid(
    models: str | os.PathLike | Sequence[str | os.PathLike],
    datasets: str | os.PathLike | Sequence[str | os.PathLike],
    zoo_dir: str | Path,
    *,
    methods: str | Sequence[str] | None = None,
    executor: str | Executor = "local",
    force: bool = False,
    progress: bool = True,
    push_to: str | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    **plan: Any,
) -> GridSummary:
    """Profile every model × dataset × method into the zoo folder ``zoo_dir``; the Python API
    of ``hubselect profile``. ``plan`` takes :func:`plan_jobs`' keyword arguments (``recipes``,
    ``recipe_overrides``, ``evaluation``, ``probe``, ``dino_probe``, ``seed``, ``device``, ``threads``,
    ``token``, ...). With ``push_to``, the new records are offered to that zoo repo on the Hub as
    a pull request (``summary.pull_request`` is its URL).

    >>> summary = profile_grid("org/sd-a,org/sd-b", "org/pets,org/cars", "my-zoo",
    ...                        recipe_overrides={"steps": 200}, probe="openai/clip-vit-base-patch32")  # doctest: +SKIP
    >>> summary.done, summary.skipped  # doctest: +SKIP
    (4, 0)
    """
    if push_to:
        from hubselect.hub.client import check_repo_id
        from hubselect.hub.contribute import check_zoo_repo

        # Not after hours of fine-tuning: the id, then (one request) that the zoo repo is there.
        check_repo_id(push_to, "push_to", owner=True)
        check_zoo_repo(push_to, token=plan.get("token"))
    revisions = SourceRevisions()  # each source looked up once, for the plan and the run
    jobs = plan_jobs(models, datasets, methods=methods, zoo=existing_zoo(zoo_dir), revisions=revisions, **plan)
    writer = ZooWriter(zoo_dir)
    summary = run_grid(jobs, zoo_dir, executor=executor, force=force, progress=progress, on_outcome=on_outcome, writer=writer,
                       revisions=revisions)
    if push_to:
        summary.pull_request = push_grid(jobs, writer, push_to, token=plan.get("token"))
    return summary


def push_grid(jobs: Sequence[ProfileJob], writer: ZooWriter, repo_id: str, *, token: str | None = None) -> str | None:
    """Offer the zoo's records of these jobs (run now or before) to ``repo_id`` as a pull request; its URL."""
    from hubselect.hub.contribute import contribute_profiles

    keys = {job.key for job in jobs}
    records = [r for r in writer.zoo.profile_records() if r.key in keys] if not writer.zoo.records.empty else []
    if not records:
        return None
    return contribute_profiles(records, repo_id, token=token).url


def unique_records(records: Iterable[ProfileRecord]) -> list[ProfileRecord]:
    """Records with distinct keys (the last one of each key wins)."""
    return list({r.key: r for r in records}.values())


__all__ = ["FAILED_TRIES", "GridSummary", "LackingJobs", "SourceRevisions", "describe_reruns", "existing_zoo", "failed_job", "flagged_models", "lacking_jobs", "plan_jobs", "profilable_models", "profile_grid", "push_grid", "beyond_the_recipes", "refuse_adapters", "refuse_other_folders", "refuse_other_probe", "refuse_other_split", "refuse_shared_keys", "rerun_reason", "results_probe", "run_grid", "unique_records", "unreadable_datasets"]
