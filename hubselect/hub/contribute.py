"""Contribute profile records to a shared zoo on the Hub, as a pull request.

Anyone can profile models on their own hardware and offer the results to a shared zoo: the
records are merged into the zoo read at the repo's head and committed to a new pull request
(``create_commit(..., create_pr=True)``), which the zoo's maintainers review and merge. Only the
records table and the card change; nothing is pushed to ``main``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from typing import Iterable

from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from hubselect.errors import HubError, InputError
from hubselect.hub.client import (
    check_commit_message,
    check_repo_id,
    endpoint,
    hub_api,
    hub_errors,
)
from hubselect.zoo import ProfileRecord, Zoo
from hubselect.zoo.store import META_FILE, describe_kept

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contribution:
    """An opened pull request (or ``url=None`` when the repo already held every record)."""

    repo_id: str
    url: str | None
    revision: str | None
    records: int


def _same(a: ProfileRecord, b: ProfileRecord) -> bool:
    return a.to_row() == b.to_row()


#: Open pull requests looked at (newest first) before proposing the same records again.
PR_LOOKBACK = 20


def _proposed_in(api, repo_id: str, records: list[ProfileRecord]) -> str | None:
    """The URL of a pull request that already holds every one of ``records``, if any."""
    from hubselect.hub.zoo_repo import _read_remote

    refs = api.list_repo_refs(repo_id, repo_type="dataset", include_pull_requests=True).pull_requests or []
    numbered = sorted(((int(r.ref.rsplit("/", 1)[1]), r) for r in refs if r.ref.rsplit("/", 1)[-1].isdigit()), reverse=True)
    for number, ref in numbered[:PR_LOOKBACK]:
        zoo = _read_remote(api, repo_id, ref.target_commit)
        if zoo is None or zoo.records.empty:
            continue
        held = {r.key: r for r in zoo.profile_records()}
        if all(r.key in held and _same(held[r.key], r) for r in records):
            return f"{api.endpoint}/datasets/{repo_id}/discussions/{number}"
    return None


def _head(api, repo_id: str) -> str:
    """The commit sha of the zoo repo's main branch; a missing repo says how to create one."""
    with hub_errors(f"zoo repo {repo_id}"):
        try:
            return api.dataset_info(repo_id).sha
        except GatedRepoError:
            raise  # hub_errors says how to get access
        except RepositoryNotFoundError:
            raise HubError(
                f"zoo repo {repo_id} was not found on {endpoint()} (or this token cannot read it): create it from a zoo folder "
                f"with `hubselect zoo push ZOO --repo {repo_id}`, or check the id and pass a token with access (--token or HF_TOKEN)"
            ) from None


def check_zoo_repo(repo_id: str, *, token: str | None = None) -> str:
    """Check, with one request, that the zoo repo ``repo_id`` exists and this token can read it;
    its head commit sha. ``profile --push`` asks before fine-tuning, not after hours of it.

    >>> check_zoo_repo("org/t2i-zoo")  # doctest: +SKIP
    '5d1e0c...'
    """
    check_repo_id(repo_id, "zoo repo", owner=True)
    return _head(hub_api(token), repo_id)


def contribute_profiles(records: Iterable[ProfileRecord], repo_id: str, *, token: str | None = None, message: str | None = None) -> Contribution:
    """Open a pull request on the zoo dataset repo ``repo_id`` adding ``records``.

    Records the repo already holds unchanged are left out, and so are those it holds from a
    later run (``details["finished_at"]``: :meth:`~hubselect.zoo.Zoo.merge`, with a warning);
    with none left, no pull request is opened, and when an earlier pull request already
    proposes all of them, its URL is returned instead of opening another. The repo must hold a
    zoo scored the same way as the records.

    >>> contribute_profiles(summary.records, "org/t2i-zoo").url  # doctest: +SKIP
    'https://huggingface.co/datasets/org/t2i-zoo/discussions/3'
    """
    from hubselect.hub.zoo_repo import _read_remote, zoo_card
    from hubselect.profile.journal import check_meta

    check_repo_id(repo_id, "zoo repo", owner=True)
    check_commit_message(message)
    records = list(records)
    api = hub_api(token)
    head = _head(api, repo_id)
    with hub_errors(f"zoo repo {repo_id}"):
        remote = _read_remote(api, repo_id, head)
        if remote is None:
            raise InputError(f"dataset repo {repo_id} holds no zoo ({META_FILE} missing); create it first with `hubselect zoo push`")
        check_meta(remote, f"zoo repo {repo_id}")
        held = {r.key: r for r in remote.profile_records()} if not remote.records.empty else {}
        new = [r for r in records if r.key not in held or not _same(held[r.key], r)]
        # The merge a maintainer's `zoo push` makes: a result the repo holds from a later run
        # stays (Zoo.merge), so it is not proposed either.
        proposal = Zoo(replace(remote.meta))
        proposal.add_profiles(new)
        merged = remote.merge(proposal)
        if merged.kept_later:
            kept = {r.key: r for r in merged.profile_records()}
            new = [r for r in new if _same(kept[r.key], r)]
            log.warning("%s holds %s made later than this zoo's copies: those are not proposed; "
                        "`hubselect zoo pull %s --out DIR` brings them into DIR", repo_id, describe_kept(merged.kept_later), repo_id)
        if not new:
            log.info("%s already holds all %d records; no pull request opened", repo_id, len(records))
            return Contribution(repo_id, None, None, 0)
        proposed = _proposed_in(api, repo_id, new)
        if proposed is not None:
            log.info("%s: pull request %s already proposes these records; no new one opened", repo_id, proposed)
            return Contribution(repo_id, proposed, None, 0)
        with tempfile.TemporaryDirectory(prefix="hubselect-contribute-") as tmp:
            folder = merged.save(tmp)
            (folder / "README.md").write_text(zoo_card(merged, repo_id), encoding="utf-8")
            operations = [
                CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in ("records.parquet", "README.md")
            ]
            models = sorted({r.model for r in new})
            info = api.create_commit(
                repo_id,
                operations,
                repo_type="dataset",
                commit_message=message or f"hubselect: {len(new)} profile records ({', '.join(models[:3])}{', ...' if len(models) > 3 else ''})",
                commit_description="Profile records from `hubselect profile --push`: fine-tuning results (FID after/before, CLIP-I, CLIP-T, DINO, cost) with everything needed to reproduce them in `details`.",
                create_pr=True,
                parent_commit=head,
            )
    if not info.pr_url:
        raise HubError(f"zoo repo {repo_id}: the Hub did not open a pull request; rerun later")
    return Contribution(repo_id, info.pr_url, info.oid, len(new))


__all__ = ["Contribution", "check_zoo_repo", "contribute_profiles"]
