"""Recommend models to fine-tune on a dataset: the client's whole path, as one library call.

1. open the zoo (a folder, a Hub dataset id, or ``demo``) and its ranker (``--ranker``, the one
   published beside the zoo, or one built on the fly and cached);
2. sample the dataset and embed the sample with the probe the zoo's datasets were profiled
   with (embeddings are cached by dataset revision, sample and probe);
3. match: Fréchet distances to the zoo's most similar profiled datasets;
4. rank the zoo's candidate models for the dataset, and explain each with the evidence: how it
   did on those similar datasets.

>>> result = recommend("./my-images", zoo="demo", top_k=3)  # doctest: +SKIP
>>> [(r.rank, r.model) for r in result.recommendations]  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import numbers
import os
import re
import shlex
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hubselect import constants
from hubselect.bench.throughput import BENCH_PREFIX, SETTING_COLUMNS, describe_settings, figure_settings, named_settings
from hubselect.data.refs import DEFAULT_MIN_IMAGES
from hubselect.errors import HubselectError, InputError, check_whole
from hubselect.zoo.records import ADAPTER_KIND, PARAMETER_COLUMNS
from hubselect.zoo.store import Zoo, ZooMeta

log = logging.getLogger(__name__)

#: Images sampled from the dataset (the zoo's datasets are profiled with samples of this size).
DEFAULT_SAMPLE = 500
#: Profiled datasets a new dataset is matched against (exact Fréchet distances).
MATCH_NEIGHBOURS = 10
#: Suffix of the model repo a zoo's ranker is published to, beside the zoo's dataset repo.
RANKER_REPO_SUFFIX = "-ranker"


@dataclass(frozen=True)
class Evidence:
    """How a recommended model did on one of the dataset's most similar profiled datasets."""

    dataset: str
    distance: float
    score: float


@dataclass(frozen=True)
class Recommendation:
    """One ranked model.

    ``score`` is the predicted score in the zoo's units (e.g. FID), the similarity-weighted mean
    of the model's results on the most similar profiled datasets; ``score_low``..``score_high``
    is the range those results span. ``ranker_score`` is the ranker's calibrated output, which
    orders the list: about the model's expected min–max normalised score on the dataset (1 = as
    good as the best profiled model, 0 = as bad as the worst; higher is better, whatever the
    zoo's direction). ``throughput`` is images/s as measured with ``throughput_settings``
    (``device``, ``dtype``, ``steps``, ``resolution``, ``batch``): two figures measured with
    different settings are not comparable (:func:`throughput_note`).
    """

    rank: int
    model: str
    score: float | None
    score_low: float | None
    score_high: float | None
    ranker_score: float
    parameters: int | None = None
    throughput: float | None = None
    license: str | None = None
    evidence: tuple[Evidence, ...] = ()
    throughput_settings: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evidence"] = [asdict(e) for e in self.evidence]
        return data


@dataclass
class Recommendations:
    """What :func:`recommend` returns; ``to_dict()`` is the CLI's ``--format json`` document."""

    dataset: dict[str, Any]
    zoo: dict[str, Any]
    ranker: dict[str, Any]
    score: dict[str, Any]
    recommendations: list[Recommendation]
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "zoo": self.zoo,
            "ranker": self.ranker,
            "score": self.score,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "notices": self.notices,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def recommend(
    dataset: str | os.PathLike,
    *,
    zoo: str | os.PathLike | Zoo | None = None,
    ranker: Any = None,
    top_k: int = 10,
    method: str | None = None,
    mode: str = "fast",
    max_params: float | None = None,
    license: str | Sequence[str] | None = None,
    probe: str | os.PathLike | None = None,
    n: int = DEFAULT_SAMPLE,
    min_images: int = DEFAULT_MIN_IMAGES,
    seed: int = 0,
    split: str = "train",
    image_column: str | None = None,
    caption_column: str | None = None,
    token: str | None = None,
    progress: bool = False,
) -> Recommendations:
    """Rank the zoo's models for ``dataset`` (a Hub dataset id, an image folder or a parquet file).

    ``zoo`` defaults to ``HUBSELECT_ZOO``, else ``demo``, the bundled demo zoo (unless ``./demo`` is a
    zoo folder: :func:`~hubselect.zoo.resolve.names_bundled_demo`). ``ranker`` is a
    :class:`~hubselect.rank.Ranker`, a ranker folder or a Hub model id; by default the ranker
    published beside the zoo is used, or one is built from the zoo (and cached) where none is
    published or the published one was built for another ``method``, probe or zoo (a notice
    says why). A sample with
    fewer than ``min_images`` decodable images is an :class:`~hubselect.errors.InputError`.

    >>> result = recommend("org/my-dataset", zoo="org/zoo", top_k=5)  # doctest: +SKIP
    >>> result.recommendations[0].model  # doctest: +SKIP
    'org/sd-model-a'
    """
    from hubselect.data.profile import profile_dataset, similar_in_zoo, why_not_compared
    from hubselect.rank import NewDataset

    top_k, max_params, n, min_images, seed = _check_arguments(dataset, zoo, top_k, max_params, license, n, min_images, seed)
    if mode not in ("fast", "faithful"):
        raise InputError(f"--mode must be fast or faithful, got {mode!r}")
    if max_params is not None and math.isnan(max_params):  # NaN compares false: it would filter nothing
        raise InputError("--max-params must be a number of parameters, e.g. 1e9, got nan")
    timings: dict[str, float] = {}
    notices: list[str] = []

    started = time.perf_counter()
    zoo_obj, zoo_label, bundled = _open_zoo(zoo, token)
    if zoo_obj.records.empty:
        raise InputError(
            f"zoo {zoo_label} holds no fine-tuning results, so there is nothing to rank; "
            "use a zoo with results (e.g. --zoo demo) or add some with `hubselect profile`"
        )
    methods = zoo_obj.methods
    zoo_obj = zoo_obj.for_method(method)
    probe_ref = _matching_probe(zoo_obj, zoo_label, probe, token)
    # How to build this query's ranker, for advice that works as printed: with the method asked
    # for, and the probe where the zoo's distances were measured with several (build's default).
    build = _build_command(zoo_label, method, probe_ref.id if len(zoo_obj.distance_probes) > 1 else None)
    # The dataset's distances to the zoo's are measured through this probe: the graph's must be too.
    zoo_obj = zoo_obj.for_probe(probe_ref.id)
    # Computed only where needed (a local zoo, a ranker to check by content, a ranker to build):
    # it builds the zoo's arrays, ~0.1 s on 1,000 × 1,000, which a Hub zoo with a published ranker never needs.
    fingerprint = functools.cache(functools.partial(_fingerprint, zoo_obj))
    ranker_obj, ranker_info = _ranker_for(
        zoo_obj, zoo_label, bundled, fingerprint, ranker, method, token, notices, probe=probe_ref.id, methods=methods, build=build,
        progress=progress,
    )
    timings["load"] = time.perf_counter() - started

    # Before the dataset is read: a filter that leaves no model fails in a second, not after the sample.
    candidates = candidate_models(zoo_obj, ranker_obj.arrays, max_params=max_params, licenses=_licenses(license), notices=notices)
    profile = profile_dataset(
        dataset,
        probe=probe_ref,
        n=n,
        min_images=min_images,
        seed=seed,
        split=split,
        image_column=image_column,
        caption_column=caption_column,
        token=token,
        progress=progress,
    )
    for phase in ("fetch", "decode", "probe_load", "probe"):
        timings[phase] = profile.timings.get(phase, 0.0)
    if not profile.computed:
        notices.append("dataset embeddings read from the cache (same revision, sample and probe)")

    started = time.perf_counter()
    neighbours = similar_in_zoo(zoo_obj, profile.stats, profile.probe, k=MATCH_NEIGHBOURS, progress=progress)
    timings["match"] = time.perf_counter() - started
    if not neighbours:
        raise HubselectError(f"the dataset cannot be matched: {why_not_compared(zoo_obj, zoo_label, profile.probe)}")

    started = time.perf_counter()
    predictions = ranker_obj.predict(
        NewDataset(profile.dataset, profile.features, dict(neighbours)), mode=mode, models=candidates, top=top_k
    )
    timings["rank"] = time.perf_counter() - started
    if not ranker_obj.ensemble.uses_learner and ranker_obj.kernel_prior.label() == "average_best":
        # Otherwise the order and the predicted column (from the nearest datasets) seem to contradict each other.
        notices.append(
            "this ranker orders models by their mean result over all the zoo's datasets (average_best: on this zoo, its "
            "inner cross-validation found neither similarity weighting nor a learner better), while the predicted "
            f"{zoo_obj.meta.score} comes from the datasets most similar to yours, so the two can disagree"
        )

    features = _model_features(zoo_obj)
    recommendations = [_recommendation(p, features.get(p.model, {})) for p in predictions]
    return Recommendations(
        dataset={
            "dataset": profile.dataset,
            "revision": profile.revision,
            # A Hub dataset's split (None for a folder or a file): test and train share the id and revision.
            "split": profile.spec.split if profile.source == "hub" else None,
            "images": profile.images,
            "skipped": sum(profile.skipped.values()),
            "skip_reasons": profile.skipped,
            "probe": profile.probe.id,
            "nearest": [{"dataset": d, "distance": dist} for d, dist in neighbours[:5]],
        },
        zoo={"repo": zoo_label, "revision": _zoo_revision(zoo_obj, fingerprint)},
        ranker={**ranker_info, "mode": mode, "method": zoo_obj.methods[0] if zoo_obj.methods else None},
        score={"name": zoo_obj.meta.score, "higher_is_better": bool(zoo_obj.meta.higher_is_better)},
        recommendations=recommendations,
        notices=notices,
        timings=timings,
    )


def _check_arguments(dataset: Any, zoo: Any, top_k: Any, max_params: Any, license: Any, n: Any, min_images: Any, seed: Any) -> tuple:
    """Refuse an argument of the wrong type or out of range before anything is read; the numbers
    as Python's own ``(top_k, max_params, n, min_images, seed)`` (a numpy integer is one, but
    neither JSON nor the caches take it).

    The CLI's options are checked by click; from Python, ``top_k=2.5`` or ``max_params="1B"``
    would otherwise fail as a TypeError from deep inside, some only after the whole sample was
    read and embedded. The messages name the parameters as Python callers write them.
    """
    if not isinstance(dataset, (str, os.PathLike)):
        raise InputError(f"dataset must be a Hub dataset id, an image folder or a .parquet file (a str or a path), got {dataset!r}")
    if zoo is not None and not isinstance(zoo, (str, os.PathLike, Zoo)):
        raise InputError(f"zoo must be a zoo folder, a Hub dataset id, 'demo' or a Zoo, got {zoo!r}")
    for name, value, low, high in (("top_k", top_k, 1, None), ("n", n, 1, None), ("min_images", min_images, 2, None), ("seed", seed, 0, 2**32 - 1)):
        check_whole(name, value, low, high)
    if max_params is not None and (isinstance(max_params, bool) or not isinstance(max_params, numbers.Real)):
        raise InputError(f"max_params must be a number of parameters, e.g. 1e9, or None, got {max_params!r}")
    if license is not None and not (isinstance(license, str) or (isinstance(license, Sequence) and all(isinstance(x, str) for x in license))):
        raise InputError(f"license must be license names, comma-separated or as a list (e.g. 'mit,apache-2.0'), got {license!r}")
    if license is not None and not _licenses(license):  # e.g. an unset variable: not "any license", which None means
        raise InputError(f"license names no license, got {license!r}; pass license names (e.g. 'mit,apache-2.0'), or None for any license")
    return int(top_k), None if max_params is None else float(max_params), int(n), int(min_images), int(seed)


# -- the zoo, the probe, the ranker ---------------------------------------------------------------


def _open_zoo(zoo: str | os.PathLike | Zoo | None, token: str | None) -> tuple[Zoo, str, bool]:
    """The zoo, its label for messages, and whether it is the bundled demo zoo (whose ranker ships with it)."""
    from hubselect.zoo.resolve import names_bundled_demo, open_zoo

    if isinstance(zoo, Zoo):
        return zoo, zoo.meta.repo or "(in memory)", False
    if zoo is None and not constants.DEFAULT_ZOO.strip():  # set but empty: not "unset", which means demo
        raise InputError("HUBSELECT_ZOO is empty; set it to a zoo folder, a Hub dataset id or demo (or unset it for demo), or pass --zoo")
    # An empty --zoo (an unset shell variable) is refused by open_zoo, not taken for "not given".
    ref = os.fspath(zoo) if zoo is not None else constants.DEFAULT_ZOO
    opened = open_zoo(ref, token=token, option="--zoo")
    return opened, opened.meta.repo or ref, names_bundled_demo(ref)


def _matching_probe(zoo: Zoo, zoo_label: str, probe: str | None, token: str | None):
    """The probe the zoo's datasets were profiled with, resolved at the revision they were
    profiled at (:func:`~hubselect.data.profile.pin_probe`: also for ``probe`` naming the zoo's
    Hub probe without a revision); a different ``probe``, or a revision none of them was
    profiled at, is an error (before the dataset is read).
    """
    from hubselect.data.profile import how_to_profile, pin_probe, why_not_compared, zoo_probes, zoo_profiles
    from hubselect.probes import resolve_probe
    from hubselect.probes.registry import probe_id

    probes = zoo_probes(zoo)
    if not probes:
        raise InputError(
            f"zoo {zoo_label} holds no dataset profiles, so a dataset cannot be matched to it; "
            f"{how_to_profile(zoo, zoo_label)}"
        )
    if probe is not None:
        # Told by the spec where it can be, so that a probe the zoo was not profiled with is
        # refused as such, not after a download that fails (Inception's weights, a gated repo).
        wanted = probe_id(probe) or resolve_probe(probe, token=token).id
        if wanted not in probes:
            raise InputError(
                f"probe mismatch: zoo {zoo_label} was profiled with {', '.join(probes)}, not {wanted}; "
                "rerun without --probe, or with the zoo's probe"
            )
        spec = pin_probe(zoo, probe)
    elif len(probes) > 1:
        raise InputError(f"zoo {zoo_label} was profiled with several probes ({', '.join(probes)}); choose one with --probe")
    elif probes[0].startswith("local:"):
        raise InputError(
            f"zoo {zoo_label} was profiled with a local probe ({probes[0]}); pass that probe's folder with --probe PATH"
        )
    else:
        spec = pin_probe(zoo, probes[0])
    resolved = resolve_probe(spec, token=token)
    if not any(entry.probe_revision == resolved.revision for entry in zoo_profiles(zoo, resolved.id)):
        raise InputError(f"the dataset cannot be matched: {why_not_compared(zoo, zoo_label, resolved)}")
    return resolved


def _ranker_for(
    zoo: Zoo, zoo_label: str, bundled: bool, fingerprint: Callable[[], str], ranker: Any, method: str | None, token: str | None, notices: list[str],
    *, probe: str | None = None, methods: Sequence[str] = (), build: str = "`hubselect build ZOO --out DIR`", progress: bool = False,
):
    """The ranker, and where it came from. ``methods`` are the zoo's (``zoo`` holds ``method``'s
    results alone), ``build`` the command that builds this query's ranker, ``progress`` whether
    one built from the zoo shows a progress bar."""
    from hubselect.rank import Ranker

    instead = f"use a ranker built on this zoo ({build}), or leave --ranker out"
    if isinstance(ranker, Ranker):
        _check_ranker(ranker, "the given ranker", zoo, zoo_label, fingerprint, notices, probe=probe, methods=methods, instead=instead, rebuild=build)
        return ranker, {"source": "given"}
    if ranker is not None:
        folder = Path(str(ranker)).expanduser()
        if folder.exists():
            loaded = Ranker.load(folder)
            source = str(folder)
        else:
            from hubselect.hub.client import repo_id_problem
            from hubselect.hub.ranker_repo import pull_ranker

            problem = repo_id_problem(str(ranker))
            if problem:
                raise InputError(f"ranker {str(ranker)!r}: no such folder, and {problem}")
            loaded = Ranker.load(pull_ranker(str(ranker), token=token))
            source = str(ranker)
        _check_ranker(loaded, f"the ranker {source}", zoo, zoo_label, fingerprint, notices, probe=probe, methods=methods, instead=instead, rebuild=build)
        return loaded, {"source": source}
    if bundled:
        from hubselect.demo import bundled_paths

        return Ranker.load(bundled_paths().ranker), {"source": "demo (bundled)"}
    if zoo.meta.repo:
        from hubselect.hub.ranker_repo import pull_ranker, ranker_exists

        published = zoo.meta.repo + RANKER_REPO_SUFFIX
        if ranker_exists(published, token=token):
            loaded, problem = load_published_ranker(pull_ranker(published, token=token), published, zoo.meta.repo)
            if loaded is None:
                # Every user of the zoo would meet this error, and only whoever publishes the
                # ranker can mend it: rank as if none were published, and say why.
                notices.append(f"{problem}; until it is rebuilt and pushed again, a ranker built from zoo {zoo_label} ranks instead (cached for next time)")
                return _built_ranker(zoo, zoo_label, fingerprint, method, notices, announce=False, progress=progress), {"source": "built from the zoo"}
            unfit = _why_unfit(loaded, f"the published ranker {published}", zoo, zoo_label, probe=probe)
            if unfit is not None:
                # One ranker is published per zoo, built on one method's results and one probe's
                # distances: for another method or probe (or a zoo that has changed since), it is not
                # this query's ranker, and the user never chose it. Rank as if none were published.
                notices.append(f"{unfit[0]}: a ranker built from zoo {zoo_label} ranks instead (cached for next time)")
                return _built_ranker(zoo, zoo_label, fingerprint, method, notices, announce=False, progress=progress), {"source": "built from the zoo"}
            _note_revision(loaded, f"the published ranker {published}", zoo, fingerprint, notices, rebuild=build)
            return loaded, {"source": published}
    return _built_ranker(zoo, zoo_label, fingerprint, method, notices, progress=progress), {"source": "built from the zoo"}


def _build_command(zoo_label: str, method: str | None, probe: str | None) -> str:
    """The ``hubselect build`` of the ranker of ``zoo_label``'s ``method`` results on ``probe``'s
    distances, as advice prints it; ``--method`` and ``--probe`` only where given (a zoo that
    holds several methods needs --method, one whose distances several probes measured may need --probe).

    >>> _build_command("org/zoo", "lora", None)
    '`hubselect build org/zoo --method lora --out DIR`'
    """
    options = (f" --method {method}" if method else "") + (f" --probe {shlex.quote(probe)}" if probe else "")
    return f"`hubselect build {shlex.quote(zoo_label)}{options} --out DIR`"


def load_published_ranker(folder: Path, repo_id: str, zoo_repo: str | None = None, *, build: str | None = None):
    """``(ranker, None)`` for the ranker published at ``repo_id`` (downloaded to ``folder``), or
    ``(None, why)`` where this hubselect cannot load it (an older format, a missing file).

    ``why`` names the repo, not the cache folder it was downloaded to (a path of no use to
    anyone), and keeps :meth:`Ranker.load`'s advice, to rebuild it: with the zoo's own repo
    ``zoo_repo`` for its ``ZOO`` (or ``build``, the build command that works on the zoo: with
    ``--method`` on one of several methods), and the push that publishes it again. ``recommend``
    then ranks with a ranker built from the zoo, and ``zoo ranker-status`` calls it stale.

    >>> ranker, why = load_published_ranker(pull_ranker("org/zoo-ranker"), "org/zoo-ranker")  # doctest: +SKIP
    """
    from hubselect.rank import Ranker

    try:
        return Ranker.load(folder), None
    except HubselectError as exc:
        detail = str(exc).replace(f"{folder}{os.sep}", "").replace(f"{folder}: ", "").replace(str(folder), repo_id)
        if zoo_repo:
            build = build or f"`hubselect build {zoo_repo} --out ranker`"
            detail = detail.replace("`hubselect build ZOO --out DIR`", f"{build} and `hubselect push ranker --repo {repo_id}`")
        return None, f"the published ranker {repo_id} cannot be loaded: {detail}"


def _check_ranker(
    ranker, name: str, zoo: Zoo, zoo_label: str, fingerprint: Callable[[], str], notices: list[str],
    *, probe: str | None = None, methods: Sequence[str] = (), instead: str, rebuild: str = "`hubselect build`",
) -> None:
    """Refuse a ranker the user chose that cannot rank for ``zoo`` (:func:`_why_unfit`), saying
    what to do ``instead``, or what the reason itself allows (the ranker's method, where the zoo,
    whose methods are ``methods``, holds its results; the ranker's probe); note one built on
    another revision of this zoo (it ranks by the results it was built on)."""
    unfit = _why_unfit(ranker, name, zoo, zoo_label, probe=probe)
    if unfit is not None:
        why, way = unfit
        if way == "method" and ranker.zoo_info.get("method") in methods:
            instead = f"pass --method {ranker.zoo_info['method']}, or {instead}"
        elif way == "probe":
            instead = f"pass that probe with --probe, or {instead}"
        raise InputError(f"{why}; {instead}")
    _note_revision(ranker, name, zoo, fingerprint, notices, rebuild=rebuild)


def _why_unfit(ranker, name: str, zoo: Zoo, zoo_label: str, *, probe: str | None = None) -> tuple[str, str] | None:
    """Why ``ranker`` cannot rank for ``zoo`` (one method's results), with what differs
    (``"score"``, ``"method"``, ``"probe"`` or ``"zoo"``); None where it can.

    A ranker built on a zoo scored otherwise, on another method's results, on the dataset
    distances of another probe than ``probe`` (the one the new dataset is compared with the zoo's
    through) or on another zoo cannot."""
    info = ranker.zoo_info
    score = info.get("score", zoo.meta.score)
    higher = bool(info.get("higher_is_better", ranker.arrays.higher_is_better))
    if score != zoo.meta.score or higher != bool(zoo.meta.higher_is_better):
        scored = ZooMeta(score=score, higher_is_better=higher)
        return (
            f"{name} was built on a zoo scored by {score} ({scored.direction}), zoo {zoo_label} is scored by "
            f"{zoo.meta.score} ({zoo.meta.direction})"
        ), "score"
    built_method, zoo_method = info.get("method"), (zoo.methods[0] if zoo.methods else None)
    if built_method and zoo_method and built_method != zoo_method:
        return f"{name} was built on {built_method} results, not on zoo {zoo_label}'s {zoo_method} results", "method"
    built_probe = info.get("probe")  # rankers built before it was recorded do not say
    if probe is not None and built_probe and built_probe != probe:
        return (
            f"{name} was built on the dataset distances of probe {built_probe}, and the dataset is compared with the zoo's "
            f"through {probe}, on another scale"
        ), "probe"
    shared_models, shared_datasets = _shared(ranker, zoo)
    if not shared_models or not shared_datasets:
        return f"{name} was built on another zoo: it knows none of zoo {zoo_label}'s {'models' if not shared_models else 'datasets'}", "zoo"
    return None


def _shared(ranker, zoo: Zoo) -> tuple[set[str], set[str]]:
    """The zoo's models with results that the ranker has results of too, and the datasets both know."""
    # Known to the ranker: the models that had results when it was built. One it holds without
    # any (crawled, profiled since) is new to it, and candidate_models leaves it out.
    ranked = np.isfinite(ranker.arrays.scores).any(axis=1)
    shared_models = _profiled_models(zoo) & {model for model, has_results in zip(ranker.arrays.models, ranked) if has_results}
    return shared_models, set(zoo.dataset_ids) & set(ranker.arrays.datasets)


def _note_revision(ranker, name: str, zoo: Zoo, fingerprint: Callable[[], str], notices: list[str], *, rebuild: str = "`hubselect build`") -> None:
    """Note a ranker built on another revision of ``zoo``: it ranks by the results it was built on
    (``rebuild``: the build command that mends it, with --method and --probe where the zoo needs them)."""
    info = ranker.zoo_info
    if info.get("revision") and zoo.meta.revision:
        same = info["revision"] == zoo.meta.revision
    else:
        same = info.get("fingerprint") == fingerprint()
    if same:
        return
    built_on = info.get("revision") or f"local-{info.get('fingerprint', '?')}"
    unknown = len(_profiled_models(zoo) - _shared(ranker, zoo)[0])
    notices.append(
        f"{name} was built on zoo revision {_short(built_on)}, the zoo is at {_short(_zoo_revision(zoo, fingerprint))}: "
        "rankings use the results it was built on"
        + (f"; {unknown} of the zoo's models are new to it and not ranked" if unknown else "")
        + f" (rebuild it with {rebuild})"
    )


def ranker_staleness(ranker, name: str, zoo: Zoo, zoo_label: str, *, rebuild: str | None = None) -> str | None:
    """Why ``ranker`` is not built on ``zoo`` as it is now, as recommend words it (None: it is).

    A ranker recommend would not rank with (another score, method or zoo) is stale too; one
    built on another revision of the zoo gets recommend's notice. ``rebuild`` is the advice that
    mends either (the build and push commands): ``zoo`` is one method's view, so only the caller
    knows the build that works on the whole zoo (with ``--method`` where it holds several; a bare
    `hubselect build` is refused there). ``hubselect zoo ranker-status`` asks this.
    """
    unfit = _why_unfit(ranker, name, zoo, zoo_label)
    if unfit is not None:
        return f"{unfit[0]}; rebuild it with {rebuild or '`hubselect build`'}"
    notices: list[str] = []
    _note_revision(ranker, name, zoo, functools.cache(functools.partial(_fingerprint, zoo)), notices)
    if not notices:
        return None
    return re.sub(r"rebuild it with `hubselect build[^`]*`", lambda _: f"rebuild it with {rebuild}", notices[0]) if rebuild else notices[0]


def _built_ranker(
    zoo: Zoo, zoo_label: str, fingerprint: Callable[[], str], method: str | None, notices: list[str], *, announce: bool = True, progress: bool = False,
):
    """Fit a ranker on the zoo, cached by the zoo's content so the next call reuses it.

    ``announce``: say, when it fits one, that no ranker is published (False: the caller said
    what is wrong with the one that is). ``progress``: show a bar while it fits (minutes on a
    large zoo)."""
    from hubselect.rank import Ranker, RankerConfig
    from hubselect.rank.ranker import fit_progress_bar

    key = hashlib.sha256(json.dumps([fingerprint(), method, RankerConfig().to_dict()], sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = constants.CACHE_DIR / "rankers" / key
    if (folder / "ranker.json").is_file():
        try:
            return Ranker.load(folder)
        except HubselectError as exc:
            log.warning("ignoring a cached ranker that cannot be read (%s)", exc)
    if announce:
        notices.append(
            f"no ranker is published beside zoo {zoo_label}: built one from the zoo (cached for next time; "
            "publish one with `hubselect build` and `hubselect push`)"
        )
    with fit_progress_bar(progress) as advance:
        ranker = Ranker.fit(zoo, progress=advance)
    if folder.exists() and not (folder / "ranker.json").is_file():
        shutil.rmtree(folder)  # a save killed midway; it is only a cache (Ranker.save refuses such folders)
    ranker.save(folder)
    return ranker


def _fingerprint(zoo: Zoo) -> str:
    from hubselect.graph.arrays import ZooArrays

    return ZooArrays.from_zoo(zoo).fingerprint()


def _zoo_revision(zoo: Zoo, fingerprint: Callable[[], str]) -> str:
    """The zoo's commit sha, or for a local zoo ``local-`` + its content fingerprint."""
    return zoo.meta.revision or f"local-{fingerprint()}"


def _short(revision: str) -> str:
    return revision[:18] if revision.startswith("local-") else revision[:12]


def _profiled_models(zoo: Zoo) -> set[str]:
    """Models with at least one result in ``zoo``."""
    records = zoo.records
    return set(records.loc[records["score"].notna(), "model"].unique())


# -- candidates and output ------------------------------------------------------------------------


def _licenses(license: str | Sequence[str] | None) -> set[str] | None:
    """The license names asked for, lowercased (None: any license; an empty set names none)."""
    if license is None:
        return None
    items = license.split(",") if isinstance(license, str) else list(license)
    return {item.strip().lower() for item in items if item.strip()}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _model_features(zoo: Zoo) -> dict[str, dict[str, Any]]:
    if zoo.models.empty:
        return {}
    return {row["model"]: row for row in zoo.models.to_dict("records")}


def _parameters(features: dict[str, Any]) -> float | None:
    for column in PARAMETER_COLUMNS:
        value = _number(features.get(column))
        if value is not None:
            return value
    return None


def candidate_models(
    zoo: Zoo, arrays, *, max_params: float | None = None, licenses: set[str] | None = None, notices: list[str] | None = None
) -> list[str]:
    """The models a recommendation may name: profiled on at least one dataset (in ``zoo``, and in
    ``arrays``, the ranker's zoo), not flagged unsafe, not an adapter, and within ``max_params``
    and ``licenses`` when given.

    A model whose parameter count is unknown cannot be shown to fit ``max_params``, so it is left
    out; ``notices`` (when given) says so, since a model dropping out of a ranking unexplained
    reads as the ranker ruling it out.
    """
    features = _model_features(zoo)
    profiled = np.isfinite(arrays.scores).any(axis=1)
    in_zoo = _profiled_models(zoo)
    eligible = []
    for index, model in enumerate(arrays.models):
        row = features.get(model, {})
        if profiled[index] and model in in_zoo and row.get("kind") != ADAPTER_KIND and not _text(row.get("excluded_reason")):
            eligible.append(model)
    if not eligible:
        raise InputError("the zoo has no profiled model to recommend; add results with `hubselect profile`")
    out, unsized = [], []
    for model in eligible:
        row = features.get(model, {})
        # The license first: the note on unknown sizes counts only models nothing else leaves out.
        if licenses is not None and (_text(row.get("license")) or "").lower() not in licenses:
            continue
        if max_params is not None:
            params = _parameters(row)
            if params is None:
                unsized.append(model)
                continue
            if params > max_params:
                continue
        out.append(model)
    if unsized and notices is not None:
        named = ", ".join(unsized[:3]) + (", ..." if len(unsized) > 3 else "")
        notices.append(
            f"--max-params left out {len(unsized)} model(s) whose parameter count is unknown ({named}); "
            "drop --max-params to include them"
        )
    if not out:
        raise InputError(f"no model of the zoo passes {_why_none_passes(eligible, features, max_params, licenses)}")
    return out


def _why_none_passes(models: list[str], features: dict[str, dict[str, Any]], max_params: float | None, licenses: set[str] | None) -> str:
    """Which of the filters given leave none of ``models`` (each with what the zoo's models have
    instead), and what to loosen; where each leaves some alone, how many, and that they do not meet.

    Naming a filter that leaves models would send the user loosening the wrong one.

    >>> _why_none_passes(models, features, 3e5, {"mit"})  # doctest: +SKIP
    "--license mit (the models' licenses: apache-2.0), while --max-params 300000 alone leaves 3 models; loosen --license"
    """
    filters = {}  # the option as given: (models it alone leaves, what the zoo offers instead)
    if max_params is not None:
        sizes = [p for p in (_parameters(features.get(m, {})) for m in models) if p is not None]
        offer = f"the smallest model has {short_count(min(sizes))} parameters" if sizes else "no model states its parameter count"
        filters[f"--max-params {max_params:.15g}"] = (sum(size <= max_params for size in sizes), offer)
    if licenses is not None:
        stated = [(_text(features.get(m, {}).get("license")) or "").lower() for m in models]
        found = sorted(set(stated) - {""})
        offer = f"the models' licenses: {', '.join(found)}" if found else "no model states a license"
        filters[f"--license {','.join(sorted(licenses))}"] = (sum(name in licenses for name in stated), offer)

    def count(left: int) -> str:
        return f"{left} model{'' if left == 1 else 's'}"

    empty = [name for name, (left, _) in filters.items() if not left]
    if not empty:
        alone = ", ".join(f"{name} alone leaves {count(left)}" for name, (left, _) in filters.items())
        return f"{' and '.join(filters)} together: {alone}, but no model passes both; loosen either"
    said = " nor ".join(f"{name} ({filters[name][1]})" for name in empty)
    others = [f"{name} alone leaves {count(left)}" for name, (left, _) in filters.items() if left]
    if len(filters) == 1:
        return f"{said}; loosen the filter"
    if others:
        return f"{said}, while {', '.join(others)}; loosen {empty[0].split()[0]}"
    return f"{said}; loosen both"


def short_count(value: float) -> str:
    """``1.5B``, ``263.8k``, ``12``: a count (parameters, images) for people.

    >>> short_count(263_766)
    '263.8k'
    """
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:g}"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def throughput_note(recommendations: Sequence[Recommendation]) -> str | None:
    """One line saying which of ``recommendations``' images/s figures were measured with which
    settings, where they were not all measured with one; ``None`` where they were.

    A figure at 2 steps and 16 px on a CPU beside one at 20 steps and 512 px on a GPU reads as a
    model hundreds of times slower than the other, which it need not be.

    >>> throughput_note(result.recommendations)  # doctest: +SKIP
    'images/s measured with different settings, not comparable: #1, #3 on cpu (x86_64, 2 threads), float32, 2 steps, 16 px, batch 1; #2 on ...'
    """
    groups: dict[str, list[str]] = {}
    for r in recommendations:
        if r.throughput is not None:
            settings = tuple((r.throughput_settings or {}).get(c.removeprefix(BENCH_PREFIX)) for c in SETTING_COLUMNS)
            groups.setdefault(describe_settings(settings), []).append(f"#{r.rank}")
    if len(groups) < 2:
        return None
    said = "; ".join(f"{', '.join(ranks)} on {settings}" for settings, ranks in groups.items())
    return f"images/s measured with different settings, not comparable: {said}"


def _recommendation(prediction, features: dict[str, Any]) -> Recommendation:
    params = _parameters(features)
    settings = figure_settings(features)
    return Recommendation(
        rank=prediction.rank,
        model=prediction.model,
        score=_number(prediction.expected_score),
        score_low=_number(prediction.expected_low),
        score_high=_number(prediction.expected_high),
        ranker_score=float(prediction.score),
        parameters=int(params) if params is not None else None,
        throughput=_number(features.get("throughput_images_per_s")),
        license=_text(features.get("license")),
        evidence=tuple(Evidence(d, float(dist), float(s)) for d, dist, s in prediction.evidence),
        throughput_settings=None if settings is None else named_settings(settings),
    )
