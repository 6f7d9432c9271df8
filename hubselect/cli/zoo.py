"""``hubselect zoo ...``: import, show, push and pull zoos."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from hubselect.cli import SETTINGS, NonEmptyPath, check_revision, cli, common_options, note_new_zoo_folder
from hubselect.cli.output import table
from hubselect.zoo import Zoo, ZooMeta, check_zoo_folder, import_bundle, merge_into, update_zoo
from hubselect.zoo.bundle import BUNDLE_FILES, unread_files
from hubselect.zoo.store import describe_kept


@cli.group()
@common_options
def zoo() -> None:
    """Create, inspect and share zoos (models × datasets fine-tuning results)."""


@zoo.command("import")
@click.argument("bundle_dir", type=NonEmptyPath(path_type=Path))
@click.option("--higher-is-better/--lower-is-better", "higher_is_better", default=None,
              help="Score direction: accuracy is higher-is-better, FID lower-is-better.")
@click.option("--score-name", default="score", show_default=True, help="What the score is, e.g. accuracy or fid.")
@click.option("--method", default="default", show_default=True, help="Name of the fine-tuning method the records come from.")
@click.option("--out", "out", required=True, type=NonEmptyPath(path_type=Path), help="Zoo folder to write (merged if it exists).")
@common_options
def import_(bundle_dir: Path, higher_is_better: bool | None, score_name: str, method: str, out: Path) -> None:
    """Import a bundle of CSV files (records.csv, models.csv, datasets.csv, distances.csv).

    records.csv holds model, dataset, score and optionally score_before, for one method
    (--method): another column is refused, as rows of one model and dataset are averaged.

    Into a zoo already in --out, a record replaces the one with the same key, and a model's or
    dataset's features merge column by column: values the bundle gives replace the zoo's, while
    columns it leaves out or empty keep theirs (crawled, benchmarked or profiled ones included).
    """
    if higher_is_better is None:
        raise click.UsageError("say which way the score points: --higher-is-better (accuracy) or --lower-is-better (FID)")
    check_zoo_folder(out, "--out")
    imported = import_bundle(bundle_dir, higher_is_better=higher_is_better, score_name=score_name, method=method)
    note_new_zoo_folder(out, "--out")
    added = imported.summary()
    # A bundle holds no dataset profiles: it brings no dataset profiled apart, no distance to compute.
    merged, held = merge_into(out, imported)
    summary = merged.summary()
    unread = unread_files(bundle_dir)
    if unread:
        SETTINGS.output.info(
            f"note: not read: {', '.join(unread)} (a bundle is read from {', '.join(BUNDLE_FILES)}); "
            "import other results as a bundle of their own, e.g. with --method NAME"
        )

    def human(console) -> None:
        # Every file's count, so that a file the import did not take shows as a 0.
        line = (f"Imported {added['records']} records ({added['models']} models, "
                f"{added['datasets_with_records']} datasets with records), features of {added['models_with_features']} models "
                f"and {added['datasets_with_features']} datasets, and {added['distances']} distances into {out}")
        if held is not None:
            line += f"; it now holds {summary['records']} records ({summary['models']} models, {summary['datasets_with_records']} datasets with records)"
        console.print(line)

    # The zoo's counts at the top level (as `zoo show` prints them), the bundle's under "imported".
    SETTINGS.output.result({"zoo": str(out), **summary, "imported": {k: added[k] for k in ("records", "models", "datasets_with_records", "models_with_features", "datasets_with_features", "distances")}, "not_read": unread}, human)


@zoo.command("show")
@click.argument("zoo_ref", metavar="ZOO")
@click.option("--datasets", "list_datasets", is_flag=True,
              help="Also list the zoo's datasets (the names `dataset similar` takes): each one's records and the probes "
                   "it is profiled with (in --format json: dataset_list).")
@common_options
def show(zoo_ref: str, list_datasets: bool) -> None:
    """Counts and coverage of a zoo (a local folder or a Hub dataset id).

    Coverage is over models × datasets with records: the share of those pairs that hold a
    result of any method (a pair counts once whatever its methods).

    The score range is that of the results rankings read, each method's where there are
    several (rankings read one method at a time): results scored with another probe than most
    of their method's (FIDs on another scale) are counted apart, as left out.
    """
    from hubselect.zoo.resolve import open_zoo

    opened = open_zoo(zoo_ref, token=SETTINGS.token)
    summary = opened.summary()
    if list_datasets:
        summary["dataset_list"] = _dataset_list(opened)

    def human(console):
        rows = [
            ("models", summary["models"]),
            *([("LoRA adapters (catalogued, not ranked)", summary["adapters"])] if summary["adapters"] else []),
            ("datasets", summary["datasets"]),
            ("datasets with records", summary["datasets_with_records"]),
            ("records", summary["records"]),
            ("distances", summary["distances"]),
            ("coverage of models × datasets with records", _coverage(summary)),
            ("score", f"{summary['score']} ({'higher' if summary['higher_is_better'] else 'lower'} is better)"),
            ("score range", _score_range(summary)),
            # Results that the score range and rankings leave out: FIDs of two probes are on two scales.
            *([("left out of rankings", f"{left_out} record{'s' if left_out > 1 else ''} (scored with another probe than their method's)")]
              if (left_out := summary["records_left_out"]) else []),
            ("methods", ", ".join(summary["methods"]) or "–"),
        ]
        if summary["failed_jobs"]:
            # Not results: profiling jobs that made none, which --zoo-models tries after the models never tried.
            models = summary["models_with_failed_jobs"]
            rows.append(("failed profiling jobs", f"{summary['failed_jobs']} ({models} model{'s' if models > 1 else ''})"))
        if summary["repo"]:
            rows.append(("source", f"{summary['repo']} @ {summary['revision']}"))
        console.print(table(f"zoo {zoo_ref}", ["", "value"], rows))
        if list_datasets:
            console.print(table(f"datasets of zoo {zoo_ref}", ["dataset", "records", "profiled with"],
                                [(d["dataset"], d["records"], ", ".join(d["profiled_with"]) or "–") for d in summary["dataset_list"]]))

    SETTINGS.output.result(summary, human)


def _dataset_list(zoo: Zoo) -> list[dict]:
    """Each of the zoo's datasets, with its records and the probes of its profiles (none for one
    only imported): what `dataset similar` compares a name with."""
    from hubselect.data.profile import zoo_profiles

    records = zoo.records["dataset"].value_counts()
    probes: dict[str, set[str]] = {}
    for entry in zoo_profiles(zoo):
        probes.setdefault(entry.dataset, set()).add(entry.probe)
    return [{"dataset": name, "records": int(records.get(name, 0)), "profiled_with": sorted(probes.get(name, ()))}
            for name in sorted({*zoo.dataset_ids, *probes})]


@zoo.command("ranker-status")
@click.argument("repo_id", metavar="ORG/NAME")
@click.option("--ranker", "ranker_repo", default=None, metavar="ORG/NAME", help="The ranker's model repo (default: ORG/NAME-ranker, where `recommend` looks).")
@click.option("--method", default=None,
              help="Fine-tuning method the ranker is to be built on, as `build --method` (default: the zoo's only method, or any of several).")
@common_options
def ranker_status(repo_id: str, ranker_repo: str | None, method: str | None) -> None:
    """Whether the ranker published beside a Hub zoo was built on the zoo as it is now.

    The check `recommend` makes: a ranker built on another revision (or other content) of the
    zoo is stale, and so is one this hubselect cannot load (an older format, a missing file),
    or, with --method, one built on another method's results. Status (and "rebuild" in
    --format json): current; stale or missing (rebuild it with `hubselect build ORG/NAME`, with
    --method on a zoo of several methods and --probe on one whose dataset distances several
    probes measured, and `hubselect push`); no-results (no dataset has
    results of the method for two or more models yet: there is nothing to build a ranker on,
    and `build` would refuse). Exits 0 whatever the status.

    The bundled `demo` zoo is no Hub repo and has no published ranker: its ranker ships with
    it, built on it as it is (the one `recommend --zoo demo` ranks with).
    """
    from hubselect.cli.selection import unrankable_because
    from hubselect.errors import InputError
    from hubselect.hub.client import check_repo_id
    from hubselect.hub.ranker_repo import published_ranker
    from hubselect.recommendation import RANKER_REPO_SUFFIX
    from hubselect.zoo.resolve import names_bundled_demo

    # Before any request: a bare name (the bundled zoo's included) would reach the Hub as a
    # repo of nobody's and come back as "not in the cache" or a 404, which no retry mends.
    if names_bundled_demo(repo_id):
        raise InputError(
            f"zoo {repo_id} is the demo zoo bundled with hubselect, not a Hub repo: its ranker ships with it, built on it as it is, "
            "so there is no published ranker to check; pass a Hub zoo repo, ORG/NAME"
        )
    check_repo_id(repo_id, "zoo", owner=True)
    if ranker_repo is not None:  # as `push --repo` names it: a bare name is nobody's repo on the Hub
        check_repo_id(ranker_repo, "--ranker", owner=True)
    ranker_repo = ranker_repo or repo_id + RANKER_REPO_SUFFIX
    hub_zoo = Zoo.pull(repo_id, token=SETTINGS.token)
    build = _build_advice(repo_id, hub_zoo, method)
    reason = unrankable_because(hub_zoo, repo_id, method, f"hubselect build {repo_id}{_probe_option(hub_zoo, method)} --out ranker")
    if reason:
        status = "no-results"
    else:
        folder = published_ranker(ranker_repo, token=SETTINGS.token)
        if folder is None:
            status = "missing"
            reason = f"no ranker is published at {ranker_repo}"
        else:
            reason = _stale_because(folder, ranker_repo, hub_zoo, repo_id, method)
            status = "stale" if reason else "current"
    rebuild = status in ("stale", "missing")

    def human(console):
        if status == "current":
            line = f"current: the published ranker {ranker_repo} was built on {repo_id} as it is now (@ {hub_zoo.meta.revision[:12]})"
        elif status == "missing":
            line = f"missing: {reason}; build one with {build} and publish it with `hubselect push ranker --repo {ranker_repo}`"
        else:
            line = f"{status}: {reason}"
        console.print(line, markup=False, highlight=False)

    SETTINGS.output.result(
        {"zoo": repo_id, "revision": hub_zoo.meta.revision, "ranker": ranker_repo, "method": method, "status": status, "rebuild": rebuild, "reason": reason},
        human,
    )


def _stale_because(folder: Path, ranker_repo: str, hub_zoo: Zoo, repo_id: str, wanted: str | None = None) -> str | None:
    """Why the ranker in ``folder`` is not built on ``hub_zoo`` as it is now (None: it is):
    recommend's own check, so that this command and recommend never disagree.

    A ranker this hubselect cannot load (an older format, a missing file) is stale too: rebuilt,
    it can be (and recommend ranks with one built from the zoo until then). So is one built on a
    method the zoo holds no results of, or on another than ``wanted`` (``--method``: the one the
    refresh workflow builds on): said here, naming the methods it does hold. Every advice is the
    build that works on this zoo (with --method where it holds several) and the push that mends it.
    """
    from hubselect.recommendation import load_published_ranker, ranker_staleness

    methods = hub_zoo.methods
    push = f"`hubselect push ranker --repo {ranker_repo}`"
    ranker, problem = load_published_ranker(folder, ranker_repo, repo_id, build=_build_advice(repo_id, hub_zoo, wanted))
    if ranker is None:
        return problem
    method = ranker.zoo_info.get("method")
    probe = ranker.zoo_info.get("probe")  # whose dataset distances it was built on: compared on those
    rebuild = f"{_build_advice(repo_id, hub_zoo, wanted, probe)} and push it with {push}"
    built = f"the published ranker {ranker_repo} was built on {method or 'unnamed'} results"
    if wanted is not None and method is not None and method != wanted:
        return f"{built}, not {wanted} results; rebuild it with {rebuild}"
    # A ranker that names no method is checked on a zoo of one method as recommend checks it.
    if method not in methods and (len(methods) > 1 or method is not None):
        holds = f"{methods[0]} results" if len(methods) == 1 else f"none of those but {', '.join(methods)} results"
        return f"{built}, zoo {repo_id} holds {holds} (the ranker was built on another zoo or method); rebuild it with {rebuild}"
    zoo = hub_zoo.for_method(method if method in methods else wanted)
    # Rebuilt on the same method and probe: those it was built on, where the zoo holds several.
    same = _build_advice(repo_id, hub_zoo, wanted or (method if len(methods) > 1 else None), probe)
    return ranker_staleness(
        ranker, f"the published ranker {ranker_repo}", zoo.for_probe(probe) if probe else zoo, repo_id, rebuild=f"{same} and push it with {push}"
    )


def _needs_probe(zoo: Zoo) -> bool:
    """Whether `build` on ``zoo`` needs --probe: several probes measured its dataset distances,
    and its default (openai/clip-vit-base-patch32) is none of them."""
    from hubselect.probes.registry import DEFAULT_PROBE

    return len(zoo.distance_probes) > 1 and DEFAULT_PROBE not in zoo.distance_probes


def _chosen_probe(zoo: Zoo, method: str | None, probe: str | None = None) -> str | None:
    """The probe a build on ``zoo`` that needs one (:func:`_needs_probe`) is advised: ``probe``
    (the published ranker's), else the one the method's results were scored with, where it
    measured the zoo's distances; None where neither did."""
    probes = [p for p in zoo.distance_probes if p]
    scored = zoo.results_probe(method) if method else None
    return next((p for p in (probe, scored) if p and p in probes), None)


def _probe_option(zoo: Zoo, method: str | None) -> str:
    """`` --probe P`` for a build on ``zoo`` that needs one (:func:`_needs_probe`): the probe
    :func:`_chosen_probe` advises, else the first that measured distances."""
    if not _needs_probe(zoo):
        return ""
    return f" --probe {_chosen_probe(zoo, method) or next(p for p in zoo.distance_probes if p)}"


def _build_advice(repo_id: str, zoo: Zoo, method: str | None = None, probe: str | None = None) -> str:
    """The build command for the zoo's ranker, as it works when printed: one method's results, so
    ``--method`` where the zoo holds several, or where one is asked for (``zoo ranker-status
    --method``); one probe's dataset distances, so ``--probe`` where several measured them and
    `build` cannot pick one (none is its default): :func:`_chosen_probe`, else a choice."""
    methods = zoo.methods
    options, choices = "", []
    if method is not None:
        options = f" --method {method}"
    elif len(methods) > 1:
        options = " --method M"
        choices.append(f"M: one of {', '.join(methods)}")
    elif methods:
        method = methods[0]
    if _needs_probe(zoo):
        chosen = _chosen_probe(zoo, method, probe)
        options += f" --probe {chosen or 'P'}"
        if chosen is None:
            choices.append(f"P: one of {', '.join(p for p in zoo.distance_probes if p)}")
    return f"`hubselect build {repo_id}{options} --out ranker`" + (f" ({'; '.join(choices)})" if choices else "")


@zoo.command("push")
@click.argument("zoo_dir", type=NonEmptyPath(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="Hub dataset repo, ORG/NAME (created if missing).")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--message", default=None, help="Commit message.")
@common_options
def push(zoo_dir: Path, repo_id: str, private: bool, message: str | None) -> None:
    """Push a local zoo to a Hub dataset repo (merged with what the repo already holds).

    Results, model rows and failed jobs the repo holds in a later copy than the folder's (a
    rerun, a recrawl, or failures at a model's new commit pushed since the folder was pulled)
    are kept, and the push says how many. Datasets profiled apart (some only in the folder,
    others only in the repo) get the distances between them, computed from their stored
    statistics; a folder bringing no dataset the repo lacks computes none. A repo holding other
    files but no zoo (a dataset) is refused.
    """
    sha = Zoo.load(zoo_dir).push(repo_id, token=SETTINGS.token, private=private, message=message)
    SETTINGS.output.result({"repo": repo_id, "revision": sha}, lambda c: c.print(f"Pushed {zoo_dir} to {repo_id} @ {sha}"))


@zoo.command("pull")
@click.argument("repo_id", metavar="ORG/NAME")
@click.option("--revision", default=None, callback=check_revision, help="Branch, tag or commit sha (default: main).")
@click.option("--out", "out", required=True, type=NonEmptyPath(path_type=Path),
              help="Zoo folder to write (merged into the zoo there, if it holds one).")
@click.option("--new-if-missing", is_flag=True,
              help="If ORG/NAME does not exist yet or holds no zoo, start a new, empty zoo in --out (or keep the zoo there) "
                   "instead of failing; `zoo push` creates the repo. Any other failure still fails, and so does a repo "
                   "holding other files (a dataset, not a zoo).")
@common_options
def pull(repo_id: str, revision: str | None, out: Path, new_if_missing: bool) -> None:
    """Download a zoo from a Hub dataset repo into a local folder.

    A zoo already in the folder keeps its records and gets the pulled ones merged in (a pulled
    record or failed job replaces a local one with the same key, unless the local one was made
    later; a model's or dataset's features merge column by column, and a model row read at a later
    commit is kept), as `zoo import --out` does, so pulling again updates a pulled copy.
    Datasets profiled apart (some only in the folder, others only in the repo) get the distances
    between them, computed from their stored statistics, as a zoo profiled in one place would
    pair them; pulling into a copy of the repo's zoo computes none. A file, or a folder holding
    anything but a zoo, is refused.
    """
    from hubselect.hub.zoo_repo import pull_zoo

    check_zoo_folder(out, "--out")  # before downloading anything
    pulled = pull_zoo(repo_id, revision=revision, token=SETTINGS.token, missing_ok=new_if_missing)
    if pulled is None:
        _start_new(repo_id, out)
        return
    distances: list = []
    merged, held = merge_into(out, pulled, then=_complete_distances(distances))
    merging = held is not None
    summary = merged.summary()
    _note_distances(distances)
    if merged.kept_later:
        SETTINGS.output.info(
            f"note: kept {describe_kept(merged.kept_later)} of {out} made later than the pulled copies; "
            f"`hubselect zoo push {shlex.quote(str(out))} --repo {repo_id}` puts them on the Hub"
        )
    pulled_records = len(pulled.records)
    new_records = summary["records"] - (held or 0)
    counts = f"{summary['records']} records ({summary['models']} models, {summary['datasets_with_records']} datasets with records)"

    def human(console):
        if not merging:
            console.print(f"Pulled {repo_id} @ {pulled.meta.revision} into {out}: {counts}")
        else:
            console.print(
                f"Merged {repo_id} @ {pulled.meta.revision} into the zoo in {out}: {pulled_records} records pulled, "
                f"{new_records} new; it now holds {counts}"
            )

    SETTINGS.output.result(
        _pull_result(repo_id, pulled.meta.revision, out, merging, pulled_records, new_records, summary, merged.kept_later, len(distances)),
        human,
    )


def _complete_distances(added: list):
    """What ``merge_into`` runs on a merged zoo: the distances between the datasets only the
    folder held and those only the pulled zoo held (two writers' zoos), computed from their
    stored statistics; they go to ``added``."""
    def complete(zoo: Zoo, local: Zoo, incoming: Zoo) -> None:
        from hubselect.data.profile import complete_distances, distances_apart

        added.extend(complete_distances(zoo, distances_apart(zoo, local, incoming), progress=SETTINGS.output.human))

    return complete


def _note_distances(added: list) -> None:
    if added:
        SETTINGS.output.info(
            f"note: computed {len(added)} distance{'s' if len(added) > 1 else ''} between datasets profiled apart "
            "(only in the folder or only in the pulled zoo) from their stored statistics"
        )


def _start_new(repo_id: str, out: Path) -> None:
    """``zoo pull --new-if-missing`` of a repo that holds no zoo yet: a new, empty zoo in ``out``
    (scored as every zoo hubselect profiles into, until results scored otherwise are merged into
    it: :meth:`Zoo.merge`), or the zoo already there, untouched."""
    from hubselect.profile.journal import PROFILE_HIGHER_IS_BETTER, PROFILE_SCORE
    from hubselect.zoo.store import META_FILE

    held = (out / META_FILE).is_file()
    if held:
        zoo = Zoo.load(out)
    else:
        zoo = Zoo(ZooMeta(score=PROFILE_SCORE, higher_is_better=PROFILE_HIGHER_IS_BETTER, description=f"text-to-image fine-tuning results ({repo_id})"))
        update_zoo(out, lambda current: current, create=lambda: zoo)
    summary = zoo.summary()

    def human(console):
        if held:
            console.print(f"{repo_id} does not exist or holds no zoo yet: nothing pulled; the zoo in {out} is kept as it is ({summary['records']} records)")
        else:
            console.print(f"{repo_id} does not exist or holds no zoo yet: started a new, empty zoo in {out}; "
                          f"`hubselect zoo push {shlex.quote(str(out))} --repo {repo_id}` publishes it")

    SETTINGS.output.result(_pull_result(repo_id, None, out, held, 0, 0, summary), human)


def _pull_result(repo_id: str, revision: str | None, out: Path, merged: bool, pulled_records: int, new_records: int, summary: dict,
                 kept_later: dict[str, int] | None = None, distances_added: int = 0) -> dict:
    return {
        "repo": repo_id,
        # None: the repo does not exist or holds no zoo yet (--new-if-missing)
        "revision": revision,
        "out": str(out),
        "merged": merged,
        "pulled_records": pulled_records,
        "new_records": new_records,
        "records": summary["records"],
        "models": summary["models"],
        "datasets_with_records": summary["datasets_with_records"],
        # table -> rows of --out kept over the pulled copies, made later (Zoo.merge)
        "kept_later": kept_later or {},
        # distances between datasets profiled apart, computed from their stored statistics
        "distances_added": distances_added,
    }


def _coverage(summary: dict) -> str:
    """The coverage figure with what it counts: ``62.5% (5 of 8 pairs hold a result of any method)``."""
    pairs = summary["models"] * summary["datasets_with_records"]
    return f"{summary['coverage']:.1%} ({summary['pairs_with_results']} of {pairs} pairs hold a result of any method)"


def _score_range(summary: dict) -> str:
    """The score range ``zoo show`` prints: each method's where there are several (two methods'
    results may be on two probes' scales, and rankings read one method at a time)."""
    ranges = summary.get("score_ranges") or {}
    if not summary["records"] or not ranges:
        return "–"
    if len(ranges) == 1:
        return f"{summary['score_min']:.4g} … {summary['score_max']:.4g}"
    return "; ".join(f"{method}: {low:.4g} … {high:.4g}" for method, (low, high) in sorted(ranges.items()))
