"""What a crawler plugin is, and how plugins are found.

A crawler turns one listed Hub repo into one typed record. It says which listing to ask for
(:meth:`Crawler.listing`) and how to read a repo into a record (:meth:`Crawler.record`), through a
reader that only exposes cheap reads (small JSON files, card text, safetensors headers) pinned
to the listed commit. The crawl driver (:mod:`hubselect.crawl`) owns everything else: paging,
the request budget, state, resuming and writing the zoo.

Plugins register under the entry-point group ``hubselect.crawlers``::

    [project.entry-points."hubselect.crawlers"]
    t2i = "crawlers.t2i:T2ICrawler"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Mapping, Protocol

from hubselect.errors import InputError
from hubselect.zoo import ModelRecord

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hubselect.crawlers"


class RepoReader(Protocol):
    """Cheap reads of one repo at one revision (:class:`hubselect.hub.models.HubRepoReader` or a local folder)."""

    repo_id: str
    revision: str | None
    files: frozenset[str]
    info: Any  # huggingface_hub.ModelInfo from the listing, or None for a local folder

    def read_json(self, path: str) -> dict[str, Any]: ...

    def read_text(self, path: str) -> str: ...

    def read_safetensors_header(self, path: str) -> Any: ...


@dataclass(frozen=True)
class Skipped:
    """A listed repo that is not the kind of thing this crawler records (not a failure)."""

    repo_id: str
    revision: str | None
    reason: str


class Crawler:
    """Base of crawler plugins: a listing query and a repo → record function."""

    #: Name used on the command line (``hubselect crawl --kind NAME``).
    name: ClassVar[str] = ""
    #: One line for ``--help`` and summaries.
    description: ClassVar[str] = ""

    def listing(self, *, search: str | None = None) -> Mapping[str, Any]:
        """Keyword arguments for :func:`hubselect.hub.models.list_model_pages`."""
        raise NotImplementedError

    def record(self, reader: RepoReader) -> ModelRecord | Skipped:
        """Read one repo into a record. Missing pieces become ``None`` with a logged reason, never an exception."""
        raise NotImplementedError


def available_crawlers() -> dict[str, str]:
    """Registered crawler names → ``module:Class``."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_crawler(name: str) -> Crawler:
    """An instance of the crawler registered as ``name``.

    >>> load_crawler("t2i").name
    't2i'
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()()
    known = ", ".join(sorted(available_crawlers())) or "(none: reinstall hubselect with `pip install -e .`)"
    raise InputError(f"no crawler called {name!r}; choose one of: {known}")


def note(notes: list[str], reason: str, repo_id: str) -> None:
    """Record why a feature is missing (kept in the record, and logged)."""
    log.warning("%s: %s", repo_id, reason)
    notes.append(reason)


def _base_models(card: Mapping[str, Any], tags: list[str]) -> tuple[str | None, str | None]:
    """(base model ids joined by ',', relation) from card data, else from ``base_model:`` tags."""
    base = card.get("base_model")
    if isinstance(base, str) and base.strip():
        bases = [base.strip()]
    elif isinstance(base, (list, tuple)):
        bases = [str(b).strip() for b in base if str(b).strip()]
    else:
        bases = []
    relation = card.get("base_model_relation")
    for tag in tags:
        parts = tag.split(":")
        if parts[0] != "base_model" or len(parts) < 2:
            continue
        if len(parts) == 3:  # base_model:<relation>:<repo>
            relation = relation or parts[1]
        if not bases or len(parts) == 2:
            candidate = parts[-1]
            if candidate and candidate not in bases:
                bases.append(candidate)
    return (",".join(bases) or None), (str(relation) if relation else None)


def listing_features(info: Any) -> dict[str, Any]:
    """Features every Hub model record carries, taken from the listing (no extra request).

    ``info`` is a ``huggingface_hub.ModelInfo`` (``None`` for a local folder gives ``{}``).
    """
    if info is None:
        return {}
    card = info.card_data.to_dict() if info.card_data is not None else {}
    tags = list(info.tags or [])
    license_ = card.get("license") or next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)
    base_model, relation = _base_models(card, tags)
    gated = info.gated
    return {
        "license": str(license_) if license_ else None,
        "gated": None if gated is None else bool(gated),
        "private": info.private,
        "downloads": info.downloads,
        "likes": info.likes,
        "created_at": info.created_at.isoformat() if info.created_at else None,
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
        "library_name": info.library_name,
        "pipeline_tag": info.pipeline_tag,
        "base_model": base_model,
        "base_model_relation": relation,
    }
