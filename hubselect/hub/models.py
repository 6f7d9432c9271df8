"""Model repos on the Hub, read cheaply: listings, small JSON files, card text, safetensors headers.

Crawling reads metadata, never weights. Every read is pinned to the exact commit sha the
listing reported, so a record's features and its ``revision`` always agree.

Retries: listings page through huggingface_hub's ``paginate``, which already retries 429 (honouring
``Retry-After``) and 5xx with exponential backoff. ``model_info``, ``hf_hub_download``'s metadata
HEAD and ``parse_safetensors_file_metadata`` do *not* retry, so the per-file reads below are
single GETs sent through huggingface_hub's own ``http_backoff`` (same policy, same session) instead
of a hand-written retry loop.

Why not ``parse_safetensors_file_metadata``: besides not retrying, it always fetches the first
100 kB of a file. Diffusers component headers are mostly far smaller (a CLIP text encoder's is
~21 kB, an SD-1.5 VAE's ~28 kB), so :data:`HEADER_PREFETCH` bytes are read first and the rest of a
longer header (an SD-1.5 UNet's is ~83 kB) with one more ranged GET; parsing goes into
huggingface_hub's own ``SafetensorsFileMetadata``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import httpx2
from huggingface_hub import HfApi, ModelInfo, constants, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import (
    SafetensorsFileMetadata,
    TensorInfo,
    build_hf_headers,
    hf_raise_for_status,
    http_backoff,
    set_client_factory,
)

from hubselect import __version__
from hubselect.hub.client import hub_api, hub_errors

log = logging.getLogger(__name__)

#: Listing fields asked for with ``expand=``, so one listing call serves a whole page of models.
LISTING_EXPAND = [
    "sha",
    "siblings",
    "cardData",
    "config",
    "gated",
    "private",
    "downloads",
    "likes",
    "createdAt",
    "lastModified",
    "library_name",
    "pipeline_tag",
    "tags",
]

#: Bytes read first from a safetensors file; a longer header costs one more ranged GET.
HEADER_PREFETCH = 32 * 1024


class HeaderSizeHints:
    """Header lengths seen so far per component folder, so later reads prefetch the right amount.

    Repos of one family share header sizes (every SD-1.5 UNet header is ~83 kB): after the first,
    one GET of about that size replaces a 32 kB guess plus a second GET.

    >>> hints = HeaderSizeHints()
    >>> hints.prefetch("unet/diffusion_pytorch_model.safetensors")
    32768
    >>> hints.observe("unet/diffusion_pytorch_model.safetensors", 85_000)
    >>> hints.prefetch("unet/diffusion_pytorch_model.safetensors")
    94208
    """

    def __init__(self) -> None:
        self._longest: dict[str, int] = {}

    @staticmethod
    def _key(path: str) -> str:
        return path.rsplit("/", 1)[0] if "/" in path else ""

    def prefetch(self, path: str) -> int:
        seen = self._longest.get(self._key(path))
        if seen is None:
            return HEADER_PREFETCH
        # 10% margin, rounded up to 4 kB; never more than 4 MB at once.
        return min(-(-int(seen * 1.1) // 4096) * 4096, 4 * 2**20)

    def observe(self, path: str, header_bytes: int) -> None:
        key = self._key(path)
        self._longest[key] = max(self._longest.get(key, 0), header_bytes)


#: Extensions of weights that are pickled (loading them can run code).
PICKLE_EXTENSIONS = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")


# -- request accounting -----------------------------------------------------------------------------


@dataclass
class RequestMeter:
    """Counts every HTTP request huggingface_hub sends while it is active (retries included)."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)

    def on_response(self, response: httpx2.Response) -> None:
        self.requests += 1
        self.statuses[response.status_code] += 1


@contextlib.contextmanager
def metered_requests() -> Iterator[RequestMeter]:
    """Count the Hub requests made inside the block (huggingface_hub's client-factory hook).

    >>> with metered_requests() as meter:  # doctest: +SKIP
    ...     hub_api().model_info("org/m")
    >>> meter.requests  # doctest: +SKIP
    1
    """
    from huggingface_hub.utils import _http

    meter = RequestMeter()
    # huggingface_hub offers a setter but no getter: read the factory in place to restore it after.
    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

    def factory() -> httpx2.Client:
        client = previous()
        client.event_hooks["response"] = [*client.event_hooks.get("response", []), meter.on_response]
        return client

    set_client_factory(factory)
    try:
        yield meter
    finally:
        set_client_factory(previous)


# -- listing ----------------------------------------------------------------------------------------


def list_model_pages(
    *,
    filter: str | list[str] | None = None,
    pipeline_tag: str | None = None,
    search: str | None = None,
    author: str | None = None,
    sort: str | None = "downloads",
    limit: int | None = None,
    page_size: int = 50,
    expand: list[str] | None = None,
    token: str | None = None,
) -> Iterator[list[ModelInfo]]:
    """Models matching a query, ``page_size`` at a time, with the ``expand`` fields filled in.

    Pages are fetched lazily: a caller that stops early never requests the rest.

    >>> for page in list_model_pages(filter="diffusers", pipeline_tag="text-to-image", limit=10):  # doctest: +SKIP
    ...     print([m.id for m in page])
    """
    api = hub_api(token)
    models = api.list_models(
        filter=filter,
        pipeline_tag=pipeline_tag,
        search=search,
        author=author,
        sort=sort,
        limit=limit,
        expand=expand or LISTING_EXPAND,
    )
    iterator = iter(models)
    while True:
        page: list[ModelInfo] = []
        with hub_errors("model listing"):
            for info in iterator:
                page.append(info)
                if len(page) >= page_size:
                    break
        if not page:
            return
        yield page
        if len(page) < page_size:
            return


def _headers(api: HfApi, extra: dict[str, str] | None = None) -> dict[str, str]:
    return build_hf_headers(token=api.token, library_name="hubselect", library_version=__version__, headers=extra)


def _get(url: str, headers: dict[str, str], params: dict[str, Any] | None = None) -> httpx2.Response:
    # huggingface_hub's backoff: retries 408/429/5xx and network errors, honours Retry-After.
    response = http_backoff("GET", url, headers=headers, params=params, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT)
    hf_raise_for_status(response)
    return response


def model_info(
    repo_id: str, *, revision: str | None = None, token: str | None = None, gone_ok: bool = False, files_metadata: bool = False
) -> ModelInfo | None:
    """One model's listing fields (used when a listing did not carry them), with retries.

    ``gone_ok=True`` answers ``None`` for a repo that no longer exists, or is private to this
    token (the Hub does not tell them apart), instead of raising; a gated repo still answers.
    ``files_metadata=True`` asks for the Hub's default fields instead (the siblings, card data
    and sha among them, not the download counts), with each sibling's size and content id
    (:func:`pipeline_content`), which cannot be asked for with ``expand``.
    """
    api = hub_api(token)
    path = f"{api.endpoint}/api/models/{repo_id}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
    with hub_errors(f"model {repo_id}"):
        try:
            response = _get(path, _headers(api), params={"blobs": True} if files_metadata else {"expand": LISTING_EXPAND})
        except RepositoryNotFoundError as exc:
            if gone_ok and not isinstance(exc, GatedRepoError):
                return None
            raise
    return ModelInfo(**response.json())


# -- reading one repo at one revision ---------------------------------------------------------------


class RepoReadError(Exception):
    """A file of a repo could not be read. ``transient`` failures are worth retrying on a later run."""

    def __init__(self, reason: str, *, transient: bool = False, gated: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.gated = gated


def _read_error(path: str, exc: Exception) -> RepoReadError:
    if isinstance(exc, GatedRepoError):
        return RepoReadError("gated repo: this token has no access (request access on its Hub page)", gated=True)
    if isinstance(exc, DisabledRepoError):
        return RepoReadError("repo disabled on the Hub")
    if isinstance(exc, RevisionNotFoundError):
        return RepoReadError("revision no longer exists (force-pushed?)", transient=True)
    if isinstance(exc, RepositoryNotFoundError):
        return RepoReadError("repo not found or private")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 404:
            return RepoReadError(f"{path}: not found")
        return RepoReadError(f"{path}: the Hub answered {status} after retries", transient=status is None or status >= 429)
    if isinstance(exc, (httpx2.TransportError, ConnectionError)):
        return RepoReadError(f"{path}: network error ({type(exc).__name__})", transient=True)
    return RepoReadError(f"{path}: {exc}")


def _parse_header(raw: bytes, where: str) -> SafetensorsFileMetadata:
    try:
        header = json.loads(raw.decode("utf-8", errors="replace"))
        return SafetensorsFileMetadata(
            metadata=header.pop("__metadata__", None) or {},
            tensors={
                name: TensorInfo(dtype=t["dtype"], shape=t["shape"], data_offsets=tuple(t["data_offsets"])) for name, t in header.items()
            },
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RepoReadError(f"{where}: not a valid safetensors header ({type(exc).__name__})") from None


def _header_length(first: bytes, where: str) -> int:
    if len(first) < 8:
        raise RepoReadError(f"{where}: too small to be a safetensors file")
    length = struct.unpack("<Q", first[:8])[0]
    if length > constants.SAFETENSORS_MAX_HEADER_LENGTH:
        raise RepoReadError(f"{where}: safetensors header of {length} bytes is implausibly large")
    return length


def _truncated(where: str, length: int) -> RepoReadError:
    # A fact of the file at this commit, not a Hub failure: not worth retrying.
    return RepoReadError(f"{where}: the file is shorter than its safetensors header claims ({8 + length} bytes): truncated")


class _RepoFiles:
    """Text and JSON reads on top of a reader's ``read_bytes``."""

    def read_bytes(self, path: str) -> bytes:
        raise NotImplementedError

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_json(self, path: str) -> dict[str, Any]:
        try:
            data = json.loads(self.read_text(path))
        except ValueError:
            raise RepoReadError(f"{path}: not valid JSON") from None
        if not isinstance(data, dict):
            raise RepoReadError(f"{path}: expected a JSON object")
        return data


class HubRepoReader(_RepoFiles):
    """Reads small files of one Hub repo at one exact commit (the sha the listing reported).

    >>> reader = HubRepoReader(info)  # doctest: +SKIP
    >>> reader.read_json("model_index.json")["_class_name"]  # doctest: +SKIP
    'StableDiffusionPipeline'
    """

    def __init__(self, info: ModelInfo, *, token: str | None = None, hints: HeaderSizeHints | None = None) -> None:
        self.info = info
        self.repo_id = info.id
        self.revision = info.sha
        self.files = frozenset(s.rfilename for s in info.siblings or ())
        self._api = hub_api(token)
        self._hints = hints or HeaderSizeHints()

    def _url(self, path: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=self.revision, endpoint=self._api.endpoint)

    def read_bytes(self, path: str) -> bytes:
        try:
            return _get(self._url(path), _headers(self._api)).content
        except Exception as exc:
            raise _read_error(path, exc) from None

    def read_safetensors_header(self, path: str) -> SafetensorsFileMetadata:
        """The header of a safetensors file: one ranged GET, two when the header is long."""
        url = self._url(path)
        prefetch, length = self._hints.prefetch(path), None
        try:
            first = _get(url, _headers(self._api, {"Range": f"bytes=0-{prefetch - 1}"})).content
            length = _header_length(first, path)
            self._hints.observe(path, 8 + length)
            if len(first) < 8 + length:
                if len(first) < prefetch:  # the whole file came back, and it ends inside its header
                    raise _truncated(path, length)
                rest = _get(url, _headers(self._api, {"Range": f"bytes={len(first)}-{8 + length - 1}"})).content
                first += rest
        except RepoReadError:
            raise
        except HfHubHTTPError as exc:
            # 416: the range asked for starts past the end of the file (an empty file, or one
            # that ends before its header does).
            if exc.response is not None and exc.response.status_code == 416:
                raise (_truncated(path, length) if length is not None else RepoReadError(f"{path}: too small to be a safetensors file")) from None
            raise _read_error(path, exc) from None
        except Exception as exc:
            raise _read_error(path, exc) from None
        if len(first) < 8 + length:
            raise _truncated(path, length)
        return _parse_header(first[8 : 8 + length], path)


class LocalRepoReader(_RepoFiles):
    """The same reads as :class:`HubRepoReader`, from a local diffusers folder (tests, local checkpoints)."""

    def __init__(self, folder: str | os.PathLike, repo_id: str | None = None, revision: str | None = None) -> None:
        self.folder = Path(folder)
        self.repo_id = repo_id or str(self.folder)
        self.revision = revision
        self.info = None
        self.files = frozenset(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())

    def read_bytes(self, path: str) -> bytes:
        try:
            return (self.folder / path).read_bytes()
        except OSError:
            raise RepoReadError(f"{path}: not found") from None

    def read_safetensors_header(self, path: str) -> SafetensorsFileMetadata:
        try:
            with open(self.folder / path, "rb") as fh:
                length = _header_length(fh.read(8), path)
                raw = fh.read(length)
        except OSError:
            raise RepoReadError(f"{path}: not found") from None
        if len(raw) < length:
            raise _truncated(path, length)
        return _parse_header(raw, path)


# -- weights, for benchmarking ----------------------------------------------------------------------


def download_pipeline(
    repo_id: str,
    *,
    revision: str | None = None,
    variant: str | None = None,
    token: str | None = None,
) -> Path:
    """Download what a diffusers pipeline needs to load with ``use_safetensors=True`` (no pickles, no code).

    Root-level single-file checkpoints and other variants are left out.

    >>> download_pipeline("org/sd-tiny")  # doctest: +SKIP
    PosixPath('.../snapshots/3f2a...')
    """
    allow, ignore = _pipeline_patterns(variant)
    with hub_errors(f"model {repo_id}"):
        folder = snapshot_download(
            repo_id, revision=revision, allow_patterns=allow, ignore_patterns=ignore, token=hub_api(token).token
        )
    return Path(folder)


def _pipeline_patterns(variant: str | None = None) -> tuple[list[str], list[str]]:
    """``(allow, ignore)`` patterns of the files :func:`download_pipeline` fetches."""
    weights = f"*/*.{variant}.safetensors" if variant else "*/*.safetensors"
    allow = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", weights]
    if variant:
        allow.append(f"*/*.{variant}.safetensors.index.json")
    ignore = [f"*{ext}" for ext in PICKLE_EXTENSIONS] + ["*.py"]
    if not variant:
        ignore += ["*/*.fp16.safetensors", "*/*.bf16.safetensors", "*/*.fp32.safetensors"]
    return allow, ignore


def pipeline_content(info: ModelInfo) -> str | None:
    """What a pipeline loaded from a repo at ``info.sha`` reads, as one hash of its files' paths
    and content ids (``info`` asked with ``files_metadata``; ``None`` without them).

    The files are those :func:`download_pipeline` fetches, and nothing else: model_index.json,
    the components' configs, weights and tokenizer files. The card (README.md), .gitattributes,
    sample images, other weight variants, pickles and code are never read by a fine-tuning job,
    so a commit that changes only those gives the same content, and the job's result stands.

    >>> pipeline_content(model_info("org/sd-tiny", files_metadata=True))  # doctest: +SKIP
    'files-3b8e...'
    """
    from huggingface_hub.utils import filter_repo_objects

    from hubselect.data.fingerprint import hub_file_id, hub_files_hash

    allow, ignore = _pipeline_patterns()
    read = filter_repo_objects(info.siblings or (), allow_patterns=allow, ignore_patterns=ignore, key=lambda s: s.rfilename)
    return hub_files_hash((s.rfilename, hub_file_id(s)) for s in read)


def files_under(files: Iterable[str], folder: str) -> list[str]:
    """The files of a repo inside one top-level folder (a pipeline component)."""
    prefix = folder.rstrip("/") + "/"
    return sorted(f for f in files if f.startswith(prefix))


__all__ = [
    "HEADER_PREFETCH",
    "LISTING_EXPAND",
    "HeaderSizeHints",
    "PICKLE_EXTENSIONS",
    "HubRepoReader",
    "LocalRepoReader",
    "RepoReadError",
    "RequestMeter",
    "download_pipeline",
    "files_under",
    "list_model_pages",
    "metered_requests",
    "model_info",
    "pipeline_content",
]
