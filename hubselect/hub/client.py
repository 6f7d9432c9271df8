"""The one door to the Hub: a client factory, token resolution and error mapping.

No module outside ``hubselect.hub`` talks to the network. Everything here is real
``huggingface_hub`` code; its own retry/backoff (429 with Retry-After, 5xx) is relied on, not
re-written.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Iterator

import httpx2  # huggingface_hub's HTTP client; its transport errors mean 'no network'
from huggingface_hub import HfApi, constants
from huggingface_hub import get_token as cached_token
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import HFValidationError, parse_hf_uri, validate_repo_id

from hubselect import __version__
from hubselect.errors import HubError, InputError, RepoUnavailable

log = logging.getLogger(__name__)


#: A full commit sha: a revision that names itself (a branch or tag moves).
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit sha (not a branch, a tag or a short sha).

    >>> is_commit("3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"), is_commit("main")
    (True, False)
    """
    return revision is not None and COMMIT_SHA.fullmatch(revision) is not None


def resolve_token(token: str | None = None) -> str | None:
    """The token to use: the explicit one, else ``HF_TOKEN``, else the cached ``hf auth login``.

    ``None`` means anonymous, which is fine for public repos.
    """
    return token or cached_token()


def hub_api(token: str | None = None) -> HfApi:
    """The Hub client every hubselect call goes through.

    >>> api = hub_api()  # doctest: +SKIP
    >>> api.dataset_info("org/zoo").sha  # doctest: +SKIP
    """
    return HfApi(endpoint=constants.ENDPOINT, token=resolve_token(token), library_name="hubselect", library_version=__version__)


def endpoint() -> str:
    return constants.ENDPOINT


def _repo_id_in(text: str) -> str | None:
    """The ORG/NAME inside a Hub URL or an ``hf://``/``datasets/ORG/NAME`` path, else None."""
    candidates = [text]
    if text.split("/", 1)[0] in constants.HF_URI_TYPE_PREFIXES:
        candidates.append(constants.HF_PROTOCOL + text)
    for candidate in candidates:
        try:
            return parse_hf_uri(candidate, endpoint=constants.ENDPOINT).id
        except ValueError:  # HfUriError: not a URL or URI
            continue
    return None


def repo_id_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a Hub repo id, and what to pass instead; None if it is one.

    >>> repo_id_problem("https://huggingface.co/datasets/alice/zoo")
    'not a Hub repo id; pass alice/zoo (ORG/NAME), not a URL'
    """
    try:
        validate_repo_id(text)
        return None
    except HFValidationError:
        pass
    meant = _repo_id_in(text)
    if "://" in text or text.startswith(("huggingface.co/", "hf.co/")):
        return f"not a Hub repo id; pass {meant} (ORG/NAME), not a URL" if meant else "not a Hub repo id; pass ORG/NAME (e.g. alice/zoo), not a URL"
    if meant:
        return f"not a Hub repo id; pass {meant} (ORG/NAME, without {text.split('/', 1)[0]}/)"
    return "not a Hub repo id; pass ORG/NAME: letters, digits, '-', '_' and '.', no '--' or '..' (e.g. alice/zoo)"


def check_repo_id(repo_id: str, what: str, *, owner: bool = False) -> str:
    """``repo_id``, checked before any request: a one-line :class:`InputError` if it is not a Hub id.

    ``owner=True`` (repos hubselect writes) also refuses a bare NAME: the Hub would create it
    under the token's user, while every later read of NAME looks for a canonical repo.

    >>> check_repo_id("myzoo", "dataset repo", owner=True)
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: dataset repo myzoo: say whose repo it is, as ORG/NAME (e.g. your-user-name/myzoo)
    """
    if not isinstance(repo_id, str):  # from Python: the CLI's arguments are str
        raise InputError(f"{what} {repo_id!r}: not a Hub repo id; pass ORG/NAME as a str (e.g. alice/zoo)")
    problem = repo_id_problem(repo_id)
    if problem:
        raise InputError(f"{what} {repo_id!r}: {problem}")
    if owner and "/" not in repo_id:
        raise InputError(f"{what} {repo_id}: say whose repo it is, as ORG/NAME (e.g. your-user-name/{repo_id})")
    return repo_id


def check_revision_arg(revision: object) -> None:
    """Refuse a ``revision`` that is neither None (main) nor a branch, tag or commit sha, before any request.

    From Python (``--revision`` refuses these while parsing): ``3`` failed inside the HTTP
    client's URL quoting, and ``""`` was sent, its 404 reported as a Hub failure to retry later.

    >>> check_revision_arg("")
    Traceback (most recent call last):
    ...
    hubselect.errors.InputError: revision must be a branch, tag or commit sha (a str), or None for main, got ''
    """
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        raise InputError(f"revision must be a branch, tag or commit sha (a str), or None for main, got {revision!r}")


def check_commit_message(message: object) -> None:
    """Refuse a commit ``message`` that is not a str (None: hubselect writes one) before any request:
    ``create_commit`` fails on it only after the repo was created and the files uploaded."""
    if message is not None and not isinstance(message, str):
        raise InputError(f"message must be a commit message (a str), or None for hubselect's own, got {message!r}")


def check_private(private: object) -> bool:
    """``private`` as a bool, refused before any request unless it is True or False (a numpy bool
    too, read from a table): ``"false"`` (from a config file or an environment variable) is true,
    and made the repo private."""
    import numpy as np

    if not isinstance(private, (bool, np.bool_)):
        raise InputError(f"private must be True or False, got {private!r} ({type(private).__name__}); pass True for a private repo, False for a public one")
    return bool(private)


def _server_message(exc: HfHubHTTPError) -> str:
    message = (exc.server_message or "").strip().splitlines()
    return message[0] if message else str(exc).splitlines()[0]


@contextlib.contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Turn Hub and network failures inside the block into one-line :class:`HubError`\\ s.

    ``what`` names the thing being accessed, e.g. ``"dataset org/zoo"``.

    >>> with hub_errors("dataset org/zoo"):  # doctest: +SKIP
    ...     hub_api().dataset_info("org/zoo")
    """
    try:
        yield
    except HFValidationError:  # an id no caller checked up front; huggingface_hub refused it before any request
        raise InputError(f"{what}: not a Hub repo id; pass ORG/NAME (e.g. alice/zoo), not a URL or a path") from None
    except GatedRepoError:
        raise RepoUnavailable(f"{what} is gated: request access on its Hub page, then pass a token that has access (--token or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise RepoUnavailable(
            f"{what} was not found on {endpoint()} (or it is private): check the id, or pass a token with access (--token or HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise HubError(f"{what}: that revision does not exist; check the branch, tag or commit sha") from None
    except DisabledRepoError:
        raise RepoUnavailable(f"{what} has been disabled on the Hub; choose another repo") from None
    # The exception says whether the cache could still help. huggingface_hub's cached downloads
    # (snapshot_download, hf_hub_download) fall back to the cache by themselves when the Hub
    # cannot be reached, and raise LocalEntryNotFoundError only for files never fetched. A
    # request with no cache behind it (a write, a listing, an info query) raises
    # OfflineModeIsEnabled under HF_HUB_OFFLINE=1, and a transport error when the Hub is down
    # (as pull_zoo does once the cache had nothing either).
    except LocalEntryNotFoundError:
        raise HubError(
            f"{what} is not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE=1 or no network): "
            "run once with network access, or unset HF_HUB_OFFLINE"
        ) from None
    except OfflineModeIsEnabled:
        raise HubError(f"{what}: this needs the Hub, and HF_HUB_OFFLINE=1 is set; unset HF_HUB_OFFLINE and rerun with network access") from None
    except EntryNotFoundError as exc:
        raise HubError(f"{what}: file not found ({str(exc).splitlines()[0]})") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            raise HubError(f"{what}: not authorised; pass a valid token with --token or HF_TOKEN, or run `hf auth login`") from None
        if status == 403:
            raise HubError(f"{what}: forbidden ({_server_message(exc)}); use a token with write access to that namespace") from None
        if status == 429:
            raise HubError(f"{what}: the Hub is rate-limiting requests even after retries; wait a few minutes and rerun") from None
        raise HubError(f"{what}: the Hub answered {status} ({_server_message(exc)}); rerun later or with --debug") from None
    except (httpx2.TransportError, ConnectionError) as exc:
        raise HubError(f"cannot reach the Hub at {endpoint()} for {what} ({type(exc).__name__}); check the network (and HF_ENDPOINT) and rerun") from None
