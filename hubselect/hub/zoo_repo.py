"""A zoo ⇄ a Hub dataset repo.

Pushing is safe with several writers: each attempt reads the repo's head, merges the zoo found
there with ours by record key, and commits with ``parent_commit`` = that head. If another writer
committed in between, the Hub refuses the commit (412) and we start over from the new head, so
no writer silently overwrites another. Nor does a stale copy pushed later: results and model
rows the repo holds in a later copy than ours (a rerun, a recrawl at a new commit since we
pulled) are kept (:meth:`~hubselect.zoo.Zoo.merge`), and the push says how many. Datasets we
profiled and the repo lacks get their distances to the datasets the repo's writers profiled
and we lack (:func:`~hubselect.data.profile.distances_apart`), which neither writer could
compute alone; a folder that brings no dataset the repo lacks computes none.
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import time
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client; its transport errors mean 'no network'
from huggingface_hub import CommitOperationAdd, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

from hubselect.errors import HubError
from hubselect.hub.client import check_commit_message, check_private, check_repo_id, check_revision_arg, endpoint, hub_api, hub_errors
from hubselect.plots import score_heatmap
from hubselect.render import render_card
from hubselect.zoo.store import ARTEFACTS_DIR, META_FILE, TABLES, Zoo, describe_kept

log = logging.getLogger(__name__)

#: Commit attempts before a push gives up on a busy repo.
MAX_PUSH_ATTEMPTS = 8

TABLE_DESCRIPTIONS = {
    "records": "one fine-tuning result per model × dataset × method × config (score, score before fine-tuning, metrics, provenance)",
    "models": "candidate models and their features (parameters, architecture, resolution, license, throughput, ...)",
    "datasets": "profiled datasets and their features (image count, resolution, caption statistics, probe embedding, ...)",
    "distances": "dataset × dataset distances (lower = more similar) and the probe that measured them",
    "failed_jobs": "profiling jobs that made no result: the model and dataset revisions they were tried at, the last error, since when, how many times",
}


#: The score-matrix picture pushed beside the card.
HEATMAP_FILE = "coverage.png"

#: A zoo's own files in its repo. Exact top-level names: the pattern ``*.parquet`` also matches
#: a dataset's ``data/train-00000.parquet``, which would all be downloaded.
ZOO_FILES = [META_FILE, *(f"{name}.parquet" for name in TABLES)]


def zoo_card(zoo: Zoo, repo_id: str, *, heatmap: str | None = None) -> str:
    """The dataset card: summary, and ``configs:`` so ``load_dataset(repo, name)`` loads each table."""
    tables = [name for name in TABLES if not getattr(zoo, name).empty]
    metadata = {
        "pretty_name": f"hubselect zoo {repo_id}",
        "tags": ["hubselect", "model-selection", "text-to-image"],
        "configs": [{"config_name": name, "data_files": [{"split": "train", "path": f"{name}.parquet"}]} for name in tables],
    }
    return render_card(
        "zoo_card.md.j2",
        metadata=metadata,
        repo_id=repo_id,
        summary=zoo.summary(),
        tables=[(name, TABLE_DESCRIPTIONS[name]) for name in tables],
        heatmap=heatmap,
    )


def _read_remote(api, repo_id: str, revision: str | None, *, artefacts: bool = False) -> Zoo | None:
    """The zoo stored at ``revision`` (its artefacts too, with ``artefacts``), or None for a
    repo that holds no zoo yet."""
    if revision is None:
        return None
    try:
        hf_hub_download(repo_id, META_FILE, repo_type="dataset", revision=revision, token=api.token)
    except EntryNotFoundError:
        return None
    files = [*ZOO_FILES, f"{ARTEFACTS_DIR}/*"] if artefacts else ZOO_FILES
    folder = snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=files, token=api.token)
    return Zoo.load(folder, repo=repo_id)


#: Files uploaded per step of a push's progress bar.
UPLOAD_BATCH = 50


def _commit(api, repo_id: str, operations: list[CommitOperationAdd], **commit_options):
    """``api.create_commit`` of ``operations`` to the dataset repo, with one progress bar for the
    whole upload.

    huggingface_hub draws a bar per LFS file, and a profiled zoo has an artefact per dataset: a
    push of 200 datasets printed 200 bars, burying any warning. The files are uploaded ahead of
    the commit in batches, under one bar, with the library's own bars off; the commit then sends
    only what is left (the non-LFS files). ``HF_HUB_DISABLE_PROGRESS_BARS=1`` turns this bar off
    too; ``=0`` keeps every per-file bar, as it asks.
    """
    from huggingface_hub.utils import disable_progress_bars, tqdm

    with tqdm(total=len(operations), desc=f"Uploading {len(operations)} file{'s' if len(operations) != 1 else ''}", unit="file") as bar:
        per_file = contextlib.nullcontext() if constants.HF_HUB_DISABLE_PROGRESS_BARS is False else disable_progress_bars()
        with per_file:
            for start in range(0, len(operations), UPLOAD_BATCH):
                batch = operations[start : start + UPLOAD_BATCH]
                api.preupload_lfs_files(repo_id, additions=batch, repo_type="dataset", free_memory=False)
                bar.update(len(batch))
            return api.create_commit(repo_id, operations, repo_type="dataset", **commit_options)


def push_zoo(zoo: Zoo, repo_id: str, *, token: str | None = None, private: bool = False, message: str | None = None) -> str:
    """Merge ``zoo`` into the dataset repo ``repo_id`` (created if missing); returns the commit sha.

    >>> push_zoo(Zoo.load("my-zoo"), "org/zoo")  # doctest: +SKIP
    '3f5c...'
    """
    from hubselect.data.profile import PROFILES_DIR, complete_distances, distances_apart

    check_repo_id(repo_id, "dataset repo", owner=True)
    check_commit_message(message)
    private = check_private(private)
    api = hub_api(token)
    dataset_profiles = zoo.artefact_names(f"{PROFILES_DIR}/")
    with hub_errors(f"dataset repo {repo_id}"):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
            info = api.dataset_info(repo_id)
            _refuse_other_files(repo_id, info)
            head = info.sha
            # The repo's dataset profiles are read (through the HF cache, which a `zoo pull`
            # filled) only to pair them with ours: a zoo without profiles adds no dataset to pair.
            remote = _read_remote(api, repo_id, head, artefacts=bool(dataset_profiles))
            merged = remote.merge(zoo) if remote is not None else zoo
            if remote is not None and dataset_profiles:
                # Only datasets one side holds and the other lacks are paired: a folder pulled
                # from the repo, or pushed before, brings none.
                distances = complete_distances(merged, distances_apart(merged, remote, zoo), progress=True)
                if distances:
                    log.info("%s: computed %d distances between datasets profiled apart", repo_id, len(distances))
                # The repo's own artefacts stay in it as they are (a commit only adds files): only ours are committed.
                merged.artefacts = dict(zoo.artefacts)
            with tempfile.TemporaryDirectory(prefix="hubselect-push-") as tmp:
                folder = merged.save(tmp)
                heatmap = None
                if not merged.records.empty:
                    heatmap = score_heatmap(merged, folder / HEATMAP_FILE).name
                (folder / "README.md").write_text(zoo_card(merged, repo_id, heatmap=heatmap), encoding="utf-8")
                # Artefacts live in a subfolder; the remote ones this zoo did not load stay
                # in the repo untouched (a commit only adds files).
                operations = [
                    CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
                    for p in sorted(folder.rglob("*"))
                    if p.is_file()
                ]
                summary = merged.summary()
                try:
                    info = _commit(
                        api,
                        repo_id,
                        operations,
                        commit_message=message or f"hubselect: zoo with {summary['records']} records, {summary['models']} models",
                        parent_commit=head,
                    )
                except HfHubHTTPError as exc:
                    status = exc.response.status_code if exc.response is not None else None
                    if status in (409, 412) and attempt < MAX_PUSH_ATTEMPTS:
                        # Someone committed since we read the head: merge again on top of theirs.
                        wait = min(0.2 * 2**attempt, 5.0) * (0.5 + random.random())
                        log.info("%s moved while pushing (attempt %d); merging again in %.1fs", repo_id, attempt, wait)
                        time.sleep(wait)
                        continue
                    raise
            if merged.kept_later:
                log.warning(
                    "%s holds %s made later than the copies pushed: kept those; `hubselect zoo pull %s --out DIR` brings them into DIR",
                    repo_id, describe_kept(merged.kept_later), repo_id,
                )
            return info.oid
    raise HubError(f"dataset repo {repo_id} kept changing under {MAX_PUSH_ATTEMPTS} push attempts; rerun the push in a minute")


def pull_zoo(repo_id: str, *, revision: str | None = None, token: str | None = None, missing_ok: bool = False) -> Zoo | None:
    """Read the zoo of a Hub dataset repo through the HF cache (works offline once cached).

    The Hub is asked first which commit ``revision`` is, and its refusal (not found, private,
    gated, bad token) is an error even when an older copy is cached. Only when it cannot answer
    (unreachable, 5xx, 429) is the cached copy read, with a warning naming its revision; with
    ``HF_HUB_OFFLINE=1`` the cache is read without asking. The returned zoo's ``meta.repo`` and
    ``meta.revision`` name the exact commit it was read at.

    ``missing_ok=True`` returns ``None`` where the Hub says the repo does not exist (or this
    token cannot see it) or that it holds no zoo yet: a zoo that is still to be pushed for the
    first time. Every other failure (the Hub down, a bad token, a missing revision) still raises,
    and so does a repo that holds other files but no zoo: a dataset, not a zoo to start.

    >>> pull_zoo("org/zoo").meta.revision  # doctest: +SKIP
    '3f5c...'
    """
    check_repo_id(repo_id, "zoo")
    check_revision_arg(revision)
    api = hub_api(token)
    files = [*ZOO_FILES, f"{ARTEFACTS_DIR}/*"]
    with hub_errors(f"zoo {repo_id}"):
        try:
            if constants.HF_HUB_OFFLINE:
                folder = _cached_snapshot(repo_id, revision, files)
            else:
                folder = _download_zoo(api, repo_id, revision, files)
        except RepositoryNotFoundError as exc:
            if not missing_ok or isinstance(exc, GatedRepoError):  # a gated repo exists: not ours to start
                raise
            folder = None
    if folder is None or not (folder / META_FILE).is_file():
        if missing_ok:
            return None
        raise _no_zoo(repo_id)
    zoo = Zoo.load(folder, repo=repo_id)
    zoo.meta.repo = repo_id
    # The HF cache names each snapshot folder by its commit sha.
    zoo.meta.revision = folder.name
    return zoo


def _download_zoo(api, repo_id: str, revision: str | None, files: list[str]) -> Path | None:
    """The snapshot of the commit the Hub names for ``revision``; the cached one if it cannot
    answer; ``None`` if that commit holds no zoo."""
    # snapshot_download alone reads the cache on any failure, a 401 or 404 included, silently.
    try:
        info = api.dataset_info(repo_id, revision=revision)
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status != 429 and (status or 0) < 500:
            raise  # the Hub answered: not found, private, gated, bad token
        return _cached_snapshot(repo_id, revision, files, failure=exc, why=f"the Hub answered {status}")
    except httpx2.TransportError as exc:
        return _cached_snapshot(repo_id, revision, files, failure=exc, why=f"cannot reach the Hub at {endpoint()} ({type(exc).__name__})")
    if META_FILE not in {sibling.rfilename for sibling in info.siblings or ()}:
        _refuse_other_files(repo_id, info)
        return None  # holds no zoo: known before downloading anything
    # By name, so that the HF cache also records which commit the branch or tag is (an
    # offline run reads that); snapshot_download resolves the name again.
    folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=files, token=api.token))
    if folder.name != info.sha:
        # The repo moved, or the Hub failed and the cache answered, since dataset_info: read
        # the commit the Hub named.
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=info.sha, allow_patterns=files, token=api.token))
    return folder


def _cached_snapshot(repo_id: str, revision: str | None, files: list[str], *, failure: Exception | None = None, why: str = "") -> Path:
    """The cached snapshot of ``revision``; a warning says why and which, unless offline by choice.

    Nothing cached: ``failure`` is raised, or, offline, huggingface_hub's LocalEntryNotFoundError.
    """
    try:
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=files, local_files_only=True))
    except LocalEntryNotFoundError:
        if failure is None:
            raise
        raise failure from None
    if failure is not None:
        log.warning("zoo %s: %s; using the cached copy at revision %s, which may be out of date", repo_id, why, folder.name)
    return folder


def _no_zoo(repo_id: str) -> HubError:
    return HubError(f"dataset repo {repo_id} holds no zoo ({META_FILE} missing); push one with `hubselect zoo push`")


#: What a dataset repo holds before its first zoo is pushed: created empty, or with a card.
_EMPTY_REPO_FILES = {".gitattributes", "README.md"}


def _refuse_other_files(repo_id: str, info) -> None:
    """Refuse a dataset repo that holds no zoo but other files (someone's images or parquet
    shards): it is a dataset, not a zoo still to be pushed, and a zoo pushed there would land
    among its files and replace its card. A repo holding nothing else may become a zoo."""
    names = {sibling.rfilename for sibling in info.siblings or ()}
    if META_FILE in names:
        return
    others = sorted(names - _EMPTY_REPO_FILES)
    if others:
        raise HubError(
            f"dataset repo {repo_id} holds no zoo ({META_FILE} missing) but {len(others)} other file{'s' if len(others) > 1 else ''} "
            f"({', '.join(others[:2])}{', ...' if len(others) > 2 else ''}): it is a dataset, not a zoo; "
            "pass the id of a zoo repo, or a new one (`hubselect zoo push` creates it)"
        )
