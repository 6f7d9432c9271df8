"""Crawl state: what a crawl has seen, saved atomically after every page.

The zoo's models table is the source of truth for recorded models (their ``revision`` is the
sha they were read at). The state adds what the zoo does not hold: repos that were listed but
skipped (with the sha and the reason), and how far the last crawl got. It lives next to the zoo
as ``crawl_state.json`` and is never pushed with it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hubselect.errors import HubselectError
from hubselect.zoo.store import atomic_write

STATE_FILE = "crawl_state.json"
STATE_VERSION = 1


@dataclass
class KindState:
    """State of the crawls of one kind (``t2i``, ``lora``, ...)."""

    #: repo id -> {"sha": ..., "reason": ...} for listed repos this crawler does not record.
    skipped: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: Pages finished by the last crawl, and whether it reached the end of its listing.
    pages: int = 0
    finished: bool = False
    updated_at: str | None = None


@dataclass
class CrawlState:
    """All kinds' states of one zoo folder.

    >>> state = CrawlState()
    >>> state.kind("t2i").pages
    0
    """

    kinds: dict[str, KindState] = field(default_factory=dict)
    version: int = STATE_VERSION

    def kind(self, name: str) -> KindState:
        return self.kinds.setdefault(name, KindState())

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "CrawlState":
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise HubselectError(f"{path} is damaged (not JSON); delete it and rerun the crawl (recorded models are kept)") from None
        if data.get("version") != STATE_VERSION:
            raise HubselectError(f"{path} has state version {data.get('version')!r}; delete it and rerun the crawl")
        return cls(kinds={name: KindState(**value) for name, value in data.get("kinds", {}).items()})

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``crawl_state.json`` atomically (a crash leaves the previous state, never half a file)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / STATE_FILE
        data: dict[str, Any] = {"version": self.version, "kinds": {k: asdict(v) for k, v in sorted(self.kinds.items())}}

        def write(path: str) -> None:
            with open(path, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())

        atomic_write(target, write)
        return target


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
