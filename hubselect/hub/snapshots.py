"""Download a text-to-image model to fine-tune it: configs and safetensors weights only, never code.

Before a byte of weights is fetched, the repo's file list and ``model_index.json`` are checked
with the crawler's safety rules (:mod:`hubselect.crawl.safety`): a repo whose weights exist only
as pickles, or that needs custom code, is refused with a one-line error naming the model and the
reason. Nothing is ever loaded with ``trust_remote_code``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from hubselect.errors import HubError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSnapshot:
    """A pipeline's files on local disk, and exactly which revision they are."""

    model: str
    revision: str
    path: Path
    pipeline_class: str
    #: What those files hold (:func:`~hubselect.hub.models.pipeline_content`): the same at a
    #: commit that changed none of them. ``None`` for a local folder, whose revision already is one.
    content: str | None = None


def local_folder(ref: str, revision: str | None = None) -> Path | None:
    """The local pipeline folder ``ref`` names, or ``None`` when it names a Hub repo.

    A folder that exists wins over a Hub id spelled the same (``./org/name`` over ``org/name``),
    as everywhere in hubselect, but not when a revision is asked for: a folder has no commits,
    and silently dropping the revision would measure or profile other weights than the commit
    asked for (a crawl benchmarks the commit it read, whatever folders the working directory
    holds). A revision for a folder that cannot be a Hub id is a mistake, said in one line.

    >>> local_folder("org/sd-tiny", "9e08b363") is None
    True
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    folder = Path(ref).expanduser()
    if not folder.is_dir():
        return None
    if revision is None:
        return folder
    try:
        validate_repo_id(ref)
    except HFValidationError:
        raise InputError(f"model {ref} is a local folder, which has no revisions; drop the revision ({revision}) or pass a Hub id") from None
    return None


def check_model(repo_id: str, revision: str | None = None, *, token: str | None = None, purpose: str = "profiled") -> tuple[Any, dict]:
    """``(reader, model_index)`` of a diffusers pipeline that is safe to load; one-line errors otherwise.

    ``repo_id`` is a Hub model id or a local pipeline folder (as :func:`local_folder` tells them
    apart); ``purpose`` completes the error message ("... is not profiled").
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from hubselect.crawl.safety import unsafe_reasons
    from hubselect.hub.models import HubRepoReader, LocalRepoReader, RepoReadError, model_info

    folder = local_folder(repo_id, revision)
    card: dict | None = None
    if folder is not None:
        reader = LocalRepoReader(folder)
    elif Path(repo_id).expanduser().is_file():
        raise InputError(f"model {repo_id} is a file; pass a diffusers pipeline folder (with model_index.json) or a Hub id like org/name")
    else:
        try:
            validate_repo_id(repo_id)  # not a folder, and not a Hub id either: a typo'd path
        except HFValidationError:
            raise InputError(f"model {repo_id}: no such folder, and not a Hub id; pass a diffusers pipeline folder or a Hub id like org/name") from None
        # With the files' content ids: what the pipeline reads, by content, at no extra request.
        info = model_info(repo_id, revision=revision, token=token, files_metadata=True)
        reader = HubRepoReader(info, token=token)
        card = info.card_data.to_dict() if info.card_data is not None else None
    if "model_index.json" not in reader.files:
        raise InputError(f"model {repo_id} is not a diffusers pipeline (no model_index.json); pass a text-to-image pipeline repo")
    try:
        index = reader.read_json("model_index.json")
    except RepoReadError as exc:
        raise HubError(f"model {repo_id}: cannot read model_index.json ({exc.reason}); rerun later") from None
    problems = unsafe_reasons(reader.files, index, card)
    if problems:
        flag, reason = problems[0]
        why = "pick another model or revision" if flag == "missing_config" else "hubselect never runs repo code or unpickles weights"
        raise InputError(f"model {repo_id} is flagged {flag} and is not {purpose}: {reason} ({why})")
    return reader, index


def download_model(repo_id: str, revision: str | None = None, *, token: str | None = None) -> tuple[Path, str]:
    """Check, then download (or find in the HF cache) a pipeline's configs and safetensors weights.

    Returns ``(folder, revision)``: the commit sha for a Hub repo, a content hash (``local-…``)
    for a local folder.

    >>> folder, sha = download_model("org/sd-tiny")  # doctest: +SKIP
    """
    return _snapshot(repo_id, revision, token=token)[:2]


def model_snapshot(
    repo_id: str, revision: str | None = None, *, token: str | None = None, accept: Callable[[str], None] | None = None
) -> ModelSnapshot:
    """:func:`download_model` with the pipeline class, as a record.

    ``accept`` is called with the pipeline class (``model_index.json``'s ``_class_name``) before
    any weights are downloaded, and raises to refuse it: an SDXL repo the caller cannot use is
    refused after one small file, not after gigabytes of weights.
    """
    path, sha, index, content = _snapshot(repo_id, revision, token=token, accept=accept)
    return ModelSnapshot(repo_id, sha, path, str(index.get("_class_name")), content)


def model_revision(repo_id: str, revision: str | None = None, *, token: str | None = None) -> str:
    """The revision :func:`model_snapshot` would read ``repo_id`` at now, without reading any
    weights: the commit sha ``revision`` (default: main) points at, one Hub request; for a local
    folder, its content hash (``local-…``).

    >>> model_revision("org/sd-tiny")  # doctest: +SKIP
    'c046f9df669f7795e1a86f67d9b5569d18b943dd'
    """
    from hubselect.hub.client import hub_api, hub_errors
    from hubselect.hub.models import LocalRepoReader

    folder = local_folder(repo_id, revision)
    if folder is not None:
        return _content_hash(folder, LocalRepoReader(folder).files)
    with hub_errors(f"model {repo_id}"):
        return hub_api(token).model_info(repo_id, revision=revision).sha


def model_content(repo_id: str, revision: str | None = None, *, token: str | None = None) -> tuple[str, str | None]:
    """``(commit sha, content)`` of the files :func:`model_snapshot` would read from Hub repo
    ``repo_id`` at ``revision`` (default: main), without reading any: one request.

    Two commits of the same content (a card edit between them) load the same pipeline, so a
    result made from one needs no redoing at the other.

    >>> model_content("org/sd-tiny")  # doctest: +SKIP
    ('c046f9df669f7795e1a86f67d9b5569d18b943dd', 'files-3b8e...')
    """
    from hubselect.hub.models import model_info, pipeline_content

    info = model_info(repo_id, revision=revision, token=token, files_metadata=True)
    return info.sha, pipeline_content(info)


def _check_weights(folder: Path, model: str) -> None:
    """One-line error for a weights file diffusers would fail on with a bare ``OSError``: its
    safetensors header broken, implausibly large, or longer than the file."""
    from hubselect.hub.models import LocalRepoReader, RepoReadError

    reader = LocalRepoReader(folder)
    for path in sorted(f for f in reader.files if f.endswith(".safetensors")):
        try:
            reader.read_safetensors_header(path)
        except RepoReadError as exc:
            raise InputError(f"model {model} cannot be loaded: {exc.reason}; pick another model or revision") from None


@contextlib.contextmanager
def loading_pipeline(folder: Path, model: str) -> Iterator[None]:
    """Check the weights in ``folder`` (:func:`_check_weights`), then turn diffusers' ``OSError``
    while loading the pipeline there into a one-line error naming ``model``.

    A repo can pass every check before the load and still be unloadable (weights cut off after
    their header, a config that is not JSON): that is the repo's fault, not a bug to rerun
    with ``--debug``. Bench and the profiler load the same repos, so they say it alike.

    >>> with loading_pipeline(folder, "org/sd-tiny"):  # doctest: +SKIP
    ...     pipe = DiffusionPipeline.from_pretrained(str(folder), use_safetensors=True, local_files_only=True)
    """
    _check_weights(folder, model)
    try:
        yield
    except OSError as exc:
        # diffusers' message names files by their path in the HF cache: say it relative to the pipeline.
        reason = str(exc).splitlines()[0].replace(f"{folder}/", "").replace(str(folder), ".").removeprefix("Error ").rstrip(". ")
        raise InputError(f"model {model} cannot be loaded: {reason}; pick another model or revision") from None


def _content_hash(folder: Path, files) -> str:
    """A local pipeline's revision: the hash of its configs, weights and vocabularies."""
    from hubselect.data.fingerprint import content_hash

    return content_hash(folder, [folder / f for f in files if f.endswith((".json", ".safetensors", ".txt"))])


def _snapshot(
    repo_id: str, revision: str | None, *, token: str | None, accept: Callable[[str], None] | None = None
) -> tuple[Path, str, dict, str | None]:
    """``(folder, revision, model_index, content)``: see :class:`ModelSnapshot`."""
    from hubselect.hub.models import download_pipeline, pipeline_content

    reader, index = check_model(repo_id, revision, token=token)
    if accept is not None:
        accept(str(index.get("_class_name")))
    folder = local_folder(repo_id, revision)
    if folder is not None:
        return folder.resolve(), _content_hash(folder, reader.files), index, None
    sha = reader.revision
    path = download_pipeline(repo_id, revision=sha, token=token)
    if not any(path.rglob("*.safetensors")):
        raise InputError(f"model {repo_id} has no safetensors weights at {sha[:12]}; hubselect loads safetensors only")
    return path, sha, index, pipeline_content(reader.info)


__all__ = ["ModelSnapshot", "check_model", "download_model", "loading_pipeline", "local_folder", "model_content", "model_revision", "model_snapshot"]
