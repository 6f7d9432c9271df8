"""A ranker folder ⇄ a Hub model repo with a model card."""

from __future__ import annotations

import json
import logging
import math
import shlex
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download

from hubselect.errors import HubError, HubselectError, InputError
from hubselect.hub.client import check_private, check_repo_id, check_revision_arg, endpoint, hub_api, hub_errors, resolve_token
from hubselect.jsonable import finite, json_default
from hubselect.render import render_card

log = logging.getLogger(__name__)

RANKER_FILE = "ranker.json"
EVALUATION_FILE = "evaluation.json"

FEATURE_GROUPS = [
    ("model features", "the zoo's model columns: numeric as they are, categorical text as LightGBM categories"),
    ("dataset features", "image count, resolution, aspect and caption statistics of the dataset"),
    ("graph embeddings", "node2vec+ embeddings of the model and the dataset in the matching graph, and their interaction"),
    ("graph evidence", "how the model did on the dataset's most similar profiled datasets, weighted by similarity"),
]


def _feature_groups(info: dict) -> list[tuple[str, str]]:
    """:data:`FEATURE_GROUPS`, the model features saying which of the zoo's columns the ranker
    left out (``model_columns_left_out``; a ``ranker.json`` written before it was recorded says
    nothing of them, and its schema may name them)."""
    from hubselect.bench.throughput import BENCH_PREFIX

    left_out = info.get("model_columns_left_out")
    if left_out is None:
        return FEATURE_GROUPS
    (group, words), *rest = FEATURE_GROUPS
    if any(c.startswith(BENCH_PREFIX) for c in left_out):
        words += "; not the `bench_*` columns, how throughput was measured (device, dtype, steps, resolution, how long it ran), which say nothing of how a model fine-tunes"
    figures = [f"`{c}`" for c in left_out if not c.startswith(BENCH_PREFIX)]
    if figures == ["`peak_memory_mb`"]:
        words += "; not `peak_memory_mb`, measured two ways (`bench_memory_measure`) across the zoo's models"
    elif figures:
        words += f"; not {', '.join(figures)}, measured with different settings (device, dtype, steps, resolution, batch) across the zoo's models, so not comparable"
    return [(group, words), *rest]


def _left_out_words(left_out: dict[str, str]) -> str | None:
    """The targets an evaluation left out of its means, by why: ``d5: every model scores the same``."""
    by_why: dict[str, list[str]] = {}
    for target, why in left_out.items():
        by_why.setdefault(why, []).append(target)
    return "; ".join(f"{', '.join(targets)}: {why}" for why, targets in by_why.items()) or None


def _fmt(value: Any) -> str:
    # None in a report read from JSON, NaN in one passed straight from evaluate(): undefined either way.
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _evaluation_problem(report: Any) -> str | None:
    """What keeps ``report`` from filling the card's evaluation table; None if nothing."""
    from hubselect.rank.metrics import METRICS  # hubselect.rank loads the learner: only when a card is written

    if not isinstance(report, dict):
        return "not a JSON object"
    for key in ("baselines", "margins", "targets", "zoo", "config"):
        if not isinstance(report.get(key, {}), dict):
            return f"'{key}' is not an object"
    tables = {"method": report.get("method"), **{f"baselines.{name}": metrics for name, metrics in report.get("baselines", {}).items()}}
    for name, metrics in tables.items():
        if not isinstance(metrics, dict):
            return f"no '{name}' metrics"
        missing = [metric for metric in METRICS if metric not in metrics]
        if missing:
            return f"'{name}' lacks {', '.join(missing)}"
    if not all(isinstance(by_metric, dict) and all(isinstance(m, dict) for m in by_metric.values()) for by_metric in report.get("margins", {}).values()):
        return "'margins' is not {baseline: {metric: {mean, low, high}}}"
    if not report.get("targets"):  # the datasets it evaluated: what ties it to a ranker's zoo
        return "no 'targets'"
    return None


def _not_an_evaluation(source: str | Path, problem: str) -> InputError:
    return InputError(
        f"{source} is not an evaluation report from `hubselect evaluate --json FILE` ({problem}); write one with `hubselect evaluate ZOO --json FILE`"
    )


def check_evaluation(report: Any, source: str) -> dict:
    """``report`` if it is what ``hubselect evaluate`` writes, else a one-line :class:`InputError`."""
    problem = _evaluation_problem(report)
    if problem:
        raise _not_an_evaluation(source, problem)
    return report


def check_evaluation_of(report: dict, info: dict, source: str, *, write_to: str = "FILE") -> dict:
    """``report`` if it evaluates what the ranker ``info`` describes (its ``ranker.json``) was
    built on, else a one-line :class:`InputError` saying how they differ and how to evaluate the
    ranker's zoo (the report written to ``write_to``).

    The card publishes the report's figures as the ranker's. They are means over all of its
    targets: one target from elsewhere already makes them another zoo's, while a report on some
    of the ranker's datasets (``--targets``) is this zoo's. Dataset names alone do not tell a
    zoo scored by loglik from one scored by FID, the lora results from the full ones, or the
    zoo a ranker was rebuilt on from the older one that the ``evaluation.json`` kept beside it
    measured (push reads that file by default); so
    a report that records what it evaluated (``zoo`` and ``config``, which ``hubselect
    evaluate`` writes) must also match the ranker's score and direction, method, content
    (fingerprint) and configuration. Another revision with the same content (a commit that
    changed only the card) is the same zoo. An older report records none of it and is checked
    on its targets alone (:func:`evaluation_unchecked`).
    """
    targets = list(report.get("targets", {}))
    known = set(info.get("nodes", {}).get("datasets", []))
    unknown = [target for target in targets if target not in known]
    if unknown:
        raise InputError(
            f"{source} evaluates another zoo than this ranker's: {len(unknown)} of its {len(targets)} targets "
            f"(e.g. '{unknown[0]}') are not among the {len(known)} datasets the ranker was built on; "
            "push the report of `hubselect evaluate ZOO --json FILE` on the zoo the ranker was built from"
        )
    if evaluation_unchecked(report):
        return report
    difference = _difference(report["zoo"], info.get("zoo", {}), report.get("config"), info.get("config", {}))
    if difference:
        instead = f", or move {source} away to push the ranker without one" if write_to != "FILE" else ""
        raise InputError(f"{source} is an evaluation of {difference}; evaluate what the ranker was built on {_evaluate_advice(info, write_to)}{instead}")
    return report


def evaluation_unchecked(report: dict) -> bool:
    """Whether ``report`` does not say what it evaluated (an older hubselect wrote it): only its
    targets can be checked against a ranker, and the card says so."""
    return "zoo" not in report


def _difference(evaluated: dict, built: dict, evaluated_config: dict | None, built_config: dict) -> str | None:
    """How the zoo and configuration a report evaluated differ from a ranker's, in words; None: they do not."""

    def scored(zoo: dict) -> str:
        return f"{zoo.get('score')} ({'higher' if zoo.get('higher_is_better', True) else 'lower'} is better)"

    if scored(evaluated) != scored(built):
        return f"a zoo scored by {scored(evaluated)}, the ranker was built on one scored by {scored(built)}"
    if evaluated.get("method") != built.get("method"):
        return f"{evaluated.get('method') or 'unnamed'} results, the ranker was built on {built.get('method') or 'unnamed'} results"
    if evaluated.get("fingerprint") != built.get("fingerprint"):
        return f"{_zoo_words(evaluated)}, the ranker was built on {_zoo_words(built)}: other results (the zoo changed in between)"
    if evaluated_config is not None:
        ours, theirs = _settings(evaluated_config), _settings(built_config) or {}
        if ours is None:
            return "a ranker configuration this hubselect cannot read"
        changed = sorted(key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key))
        if changed:
            def listed(settings: dict) -> str:
                return ", ".join(f"{key} {settings.get(key, '–')}" for key in changed)

            return f"another ranker configuration ({listed(ours)}; the ranker was built with {listed(theirs)})"
    return None


def _zoo_words(zoo: dict) -> str:
    if zoo.get("repo"):
        return f"zoo {zoo['repo']} @ {(zoo.get('revision') or '?')[:12]} (fingerprint {zoo.get('fingerprint')})"
    return f"a local zoo with fingerprint {zoo.get('fingerprint')}"


def _settings(config: dict) -> dict[str, Any] | None:
    """A ranker configuration as ``{"learner": ..., "node2vec.seed": ...}``, defaults filled in,
    so that a report from Python (tuples) and one read from JSON (lists) compare equal; None if
    it is not one (a hand-edited report)."""
    from hubselect.jsonable import json_default
    from hubselect.rank import RankerConfig

    try:
        full = json.loads(json.dumps(RankerConfig.from_dict(config).to_dict(), default=json_default))
    except (HubselectError, TypeError, ValueError, AttributeError):
        return None
    flat: dict[str, Any] = {}
    for key, value in full.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def _evaluate_advice(info: dict, write_to: str) -> str:
    """How to evaluate what the ranker ``info`` was built on: the ``hubselect evaluate`` command
    line, where its flags make the ranker's configuration (``--learner``, ``--seed``), else from
    Python with that very configuration (a ranker fitted with, say, ``RankerConfig(seed=3)``
    keeps node2vec's seed at 0, which ``--seed 3`` also sets: no command line matches it)."""
    from hubselect.rank import RankerConfig

    config = info.get("config", {})
    try:
        made = RankerConfig.seeded(int(config.get("seed", 0)), str(config.get("learner", "lambdarank"))).to_dict()
    except (HubselectError, TypeError, ValueError):
        made = None
    if made is not None and _settings(json.loads(json.dumps(made, default=json_default))) == _settings(config):
        return f"with `{_evaluate_command(info, write_to)}`"
    return (
        "from Python, with its own configuration, which no command line makes: "
        "`push_ranker(folder, repo, evaluation=hubselect.rank.evaluate(zoo, config=Ranker.load(folder).config))`"
    )


def _evaluate_command(info: dict, write_to: str) -> str:
    """The ``hubselect evaluate`` command line that evaluates what the ranker ``info`` was built on."""
    zoo, config = info.get("zoo", {}), info.get("config", {})
    ref = f"{zoo['repo']}@{zoo['revision']}" if zoo.get("repo") and zoo.get("revision") else zoo.get("repo") or "ZOO"
    words = ["hubselect evaluate", ref]
    if zoo.get("method"):
        words += ["--method", zoo["method"]]
    if config.get("learner", "lambdarank") != "lambdarank":
        words += ["--learner", config["learner"]]
    if config.get("seed", 0):
        words += ["--seed", str(config["seed"])]
    return " ".join([*words, "--json", write_to])


def load_evaluation(path: str | Path) -> dict:
    """The report ``hubselect evaluate ZOO --json FILE`` wrote to ``path``, checked.

    >>> load_evaluation("evaluation.json")["method"]["top1_hit"]  # doctest: +SKIP
    0.75
    """
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_an_evaluation(path, f"not JSON: {exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text") from None
    return check_evaluation(report, str(path))


def ranker_card(info: dict, repo_id: str, evaluation: dict | None) -> str:
    """The model card of a ranker folder's ``ranker.json`` (+ its evaluation, when known)."""
    # hubselect.rank loads the learner: only when a card is written
    from hubselect.rank.evaluate import baseline_labels
    from hubselect.rank.metrics import margin_cells
    from hubselect.rank.prior import KernelPrior

    zoo = info.get("zoo", {})
    # What the folder holds: a ranker whose inner cross-validation kept the prior alone has no learner files.
    learners = len(info.get("files", {}).get("learners", {}))
    prior, tried = _prior_words(info.get("prior"))
    rows = labels = None
    if evaluation:
        labels = baseline_labels(evaluation)  # a row over fewer targets than the card's "means over N" says so
        rows = [("**hubselect**", evaluation["method"])] + [(labels[name], metrics) for name, metrics in evaluation.get("baselines", {}).items()]
    metadata = {
        "library_name": "hubselect",
        "tags": ["hubselect", "model-selection", "text-to-image", *(["lightgbm"] if learners else [])],
        "pipeline_tag": "tabular-classification",
    }
    if zoo.get("repo"):
        metadata["datasets"] = [zoo["repo"]]
    return render_card(
        "ranker_card.md.j2",
        metadata=metadata,
        filters={"fmt": _fmt},
        repo_id=repo_id,
        zoo_repo=zoo.get("repo"),
        zoo_link=f"{endpoint()}/datasets/{zoo['repo']}" if zoo.get("repo") else "#",
        zoo_revision=zoo.get("revision"),
        fingerprint=zoo.get("fingerprint"),
        method=zoo.get("method"),
        # What recommend can name; a ranker.json written before it was recorded counts those with results.
        models=zoo.get("models_ranked", zoo.get("models_with_results", zoo.get("models"))),
        flagged=zoo.get("models_with_results", 0) - zoo["models_ranked"] if "models_ranked" in zoo else 0,
        datasets=zoo.get("datasets"),
        score=zoo.get("score", "score"),
        higher_is_better=zoo.get("higher_is_better", True),
        learner=info.get("config", {}).get("learner", "lambdarank"),
        selected=info.get("selected", ""),
        feature_groups=_feature_groups(info),
        learners=learners,
        prior=prior,
        # Without a learner, neither its configuration (`selected`, at 0 rounds) nor its features are used: the prior is all.
        prior_label=KernelPrior.from_dict(info.get("prior") or {}).label(),
        tried=tried,
        embeddings=bool(info.get("files", {}).get("embeddings")),
        evaluation={
            "rows": rows,
            "targets": evaluation.get("targets", {}),
            "left_out": _left_out_words(evaluation.get("targets_left_out") or {}),
            "margins": [(labels.get(name, name), cells) for name, cells in margin_cells(evaluation.get("margins", {})).items()],
            "checked": not evaluation_unchecked(evaluation),
        } if evaluation else None,
    )


def _prior_words(prior: dict | None) -> tuple[str, str]:
    """What the ranker's prior (:class:`~hubselect.rank.prior.KernelPrior`) ranks by, in words,
    and what inner cross-validation tried in its place: the card says, once, that none of it
    improved on the prior."""
    from hubselect.rank.prior import KernelPrior

    label = KernelPrior.from_dict(prior or {}).label()
    if label == "average_best":
        return "each model's mean normalised result over the zoo's datasets (`average_best`)", "neither similarity weighting nor a learner's correction"
    return f"each model's results on the profiled datasets, weighted by their similarity to the new dataset (`{label}`)", "no learner's correction"


def push_ranker(
    folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False, evaluation: dict | str | Path | None = None
) -> str:
    """Upload a ranker folder to a Hub model repo with its card; returns the commit sha.

    The folder must load (:meth:`Ranker.load <hubselect.rank.Ranker.load>`): a published ranker
    that cannot be read fails every ``recommend`` on its zoo. ``evaluation`` (a report, or the
    path of one; default: the folder's ``evaluation.json``, if any) fills the card's table; it
    must be an evaluation of the zoo, method and configuration the ranker was built on
    (:func:`check_evaluation_of`). Both are checked before anything is pushed. Without one, an
    ``evaluation.json`` published before is kept if it evaluates this very ranker (a push done
    again), else deleted from the repo: its figures were another ranker's. Either is logged.

    >>> push_ranker("ranker", "my-org/my-zoo-ranker", evaluation="evaluation.json")  # doctest: +SKIP
    """
    from hubselect.rank import Ranker  # loads the learner: only when a ranker is pushed

    check_repo_id(repo_id, "model repo", owner=True)
    private = check_private(private)
    folder = Path(folder)
    info_file = folder / RANKER_FILE
    if not info_file.is_file():
        raise HubError(f"{folder} is not a ranker (no {RANKER_FILE}); build one with `hubselect build ZOO --out DIR`")
    info = Ranker.load(folder).describe()  # what ranker.json holds, of the ranker as it loads
    source, write_to = "the evaluation given", "FILE"
    if isinstance(evaluation, (str, Path)):
        source, evaluation = str(evaluation), load_evaluation(evaluation)
    elif evaluation is not None:
        check_evaluation(evaluation, source)
    elif (folder / EVALUATION_FILE).is_file():
        source = str(folder / EVALUATION_FILE)
        try:
            evaluation = load_evaluation(folder / EVALUATION_FILE)
        except InputError as exc:  # read by default: say so, and how to get past it
            raise InputError(
                str(exc).replace("write one with `hubselect evaluate ZOO --json FILE`",
                                 f"push reads it from the ranker folder by default: write it again with `hubselect evaluate ZOO --json {shlex.quote(source)}`, "
                                 "pass another with --evaluation FILE, or move it away")
            ) from None
        write_to = source  # a rebuild keeps it: the ranker's own report, to be written again
    if evaluation is not None:
        check_evaluation_of(evaluation, info, source, write_to=write_to)
        if evaluation_unchecked(evaluation):
            log.warning(
                "%s does not record the zoo, method and configuration it evaluated (an older hubselect wrote it): only its "
                "targets were checked against the ranker's, and the card says so; `hubselect evaluate` writes one that does",
                source,
            )
    api = hub_api(token)
    if evaluation is None:
        evaluation = _kept_evaluation(api, repo_id, info)
    with tempfile.TemporaryDirectory(prefix="hubselect-ranker-") as tmp:
        staged = Path(tmp) / "ranker"
        shutil.copytree(folder, staged)
        if evaluation is not None:
            # Strict JSON, as `evaluate --json` writes it: a report straight from evaluate() holds NaN (rel1).
            (staged / EVALUATION_FILE).write_text(json.dumps(finite(evaluation), indent=2, default=json_default) + "\n")
        (staged / "README.md").write_text(ranker_card(info, repo_id, evaluation), encoding="utf-8")
        with hub_errors(f"model repo {repo_id}"), warnings.catch_warnings():
            # The ranker carries the zoo tables it was fitted on: parquet in a model repo is intended.
            warnings.filterwarnings("ignore", message=".*commit a data file.*")
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=staged,
                repo_type="model",
                commit_message=f"hubselect: ranker for {info.get('zoo', {}).get('repo') or 'a local zoo'}",
                # A rebuilt ranker replaces the old files; the old ranker's evaluation goes with them
                # (one pushed with this ranker is uploaded, not deleted).
                delete_patterns=["*.npy", "*.txt", "zoo/**", EVALUATION_FILE],
            )
    return commit.oid


def _kept_evaluation(api: Any, repo_id: str, info: dict) -> dict | None:
    """The evaluation published at ``repo_id`` if it evaluates the ranker ``info`` describes, as
    push checks one it is given (:func:`check_evaluation_of`: an older report that records no zoo
    or configuration, on its targets alone), else None; logs which, and why: push keeps the
    first and deletes any other."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    where = f"the evaluation published at {repo_id}"
    # Into a cache of its own: from the HF cache, a repo this token cannot read was answered
    # with the copy an earlier download left there.
    with tempfile.TemporaryDirectory(prefix="hubselect-evaluation-") as cache, hub_errors(f"model repo {repo_id}"):
        try:
            path = api.hf_hub_download(repo_id, EVALUATION_FILE, repo_type="model", cache_dir=cache)
        except (EntryNotFoundError, RepositoryNotFoundError):
            return None
        try:
            published = load_evaluation(path)
        except InputError:
            log.warning("removed %s: it cannot be read as an evaluation report", where)
            return None
    try:
        check_evaluation_of(published, info, where)
    except InputError:
        log.warning(
            "removed %s: it is of another ranker; evaluate this one with `hubselect evaluate ZOO --json FILE` and push it with --evaluation FILE",
            where,
        )
        return None
    unchecked = " (it records no zoo or configuration: only its targets were checked, and the card says so)" if evaluation_unchecked(published) else ""
    log.warning("kept %s: it is of this ranker%s; --evaluation FILE replaces it", where, unchecked)
    return published


def pull_ranker(repo_id: str, *, revision: str | None = None, token: str | None = None) -> Path:
    """The local folder (in the HF cache) of a ranker published as a Hub model repo."""
    check_revision_arg(revision)
    with hub_errors(f"ranker {repo_id}"):
        folder = Path(snapshot_download(repo_id, repo_type="model", revision=revision, token=resolve_token(token)))
    if not (folder / RANKER_FILE).is_file():
        raise HubError(f"model repo {repo_id} holds no hubselect ranker ({RANKER_FILE} missing); publish one with `hubselect push`")
    return folder


def published_ranker(repo_id: str, *, token: str | None = None) -> Path | None:
    """The local folder of the ranker published at ``repo_id``, or ``None`` where the Hub says
    there is none (no such repo, or no ``ranker.json`` in it). Unlike :func:`ranker_exists`, a
    Hub that cannot answer is an error, not a guess from the cache.

    >>> published_ranker("org/zoo-ranker")  # doctest: +SKIP
    PosixPath('.../models--org--zoo-ranker/snapshots/3f5c...')
    """
    check_repo_id(repo_id, "ranker")
    with hub_errors(f"ranker {repo_id}"):
        if not hub_api(token).file_exists(repo_id, RANKER_FILE, repo_type="model"):
            return None
    return pull_ranker(repo_id, token=token)


def ranker_exists(repo_id: str, *, token: str | None = None) -> bool:
    """Whether ``repo_id`` is a Hub model repo holding a ranker; when the Hub cannot be asked
    (offline, unreachable, failing), whether the HF cache holds one."""
    from huggingface_hub import constants, try_to_load_from_cache

    def cached() -> bool:
        return isinstance(try_to_load_from_cache(repo_id, RANKER_FILE, repo_type="model"), str)

    if constants.HF_HUB_OFFLINE:
        return cached()
    try:
        return hub_api(token).file_exists(repo_id, RANKER_FILE, repo_type="model")
    except Exception as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and status < 500 and status != 429:
            # The Hub answered (no access, gone): no usable published ranker, cached or not.
            log.info("no published ranker at %s (the Hub answered %s)", repo_id, status)
            return False
        found = cached()  # it cannot answer (unreachable, failing): the cached copy, if there is one
        log.info("cannot ask the Hub about %s (%s): %s", repo_id, type(exc).__name__, "using the cached ranker" if found else "no published ranker")
        return found
