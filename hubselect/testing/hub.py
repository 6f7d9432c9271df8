"""A loopback HTTP server that speaks the Hugging Face Hub API, for tests and offline demos.

The real ``huggingface_hub`` and ``datasets`` clients talk to it unchanged: point ``HF_ENDPOINT`` at
:attr:`LoopbackHub.url` *before* importing them (both read it at import time) and set
``HF_HUB_DISABLE_XET=1`` (uploads otherwise go through the Xet protocol, which this server does not
speak). The server is filled through the public API (``create_repo``, ``upload_folder``, ...);
a few seeding helpers cover what the public API cannot do (download counts, gating, org membership).

Everything lives under ``root``: restarting a server on the same root serves the same repos.

Example::

    with LoopbackHub(tmp_path) as hub:          # port 0: a free port is picked
        print(hub.url)                           # http://127.0.0.1:PORT
        hub.inject_fault(r"/preupload/", "429", times=2)
        ...                                       # run client code against hub.url
        assert [e.status for e in hub.request_log].count(429) == 2

Run it standalone with ``python -m hubselect.testing.hub --port 8123 --root /tmp/hub``.

What the client expects, and so what this server mimics (read from huggingface_hub 2.4):

* Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``,
  ``GatedRepo``) and a JSON body ``{"error": ...}``; the client maps them to its exceptions.
* ``HEAD /{repo}/resolve/{rev}/{path}`` must answer ``X-Repo-Commit``, ``ETag`` (git blob oid, or
  the sha256 for LFS files), ``X-Linked-Etag``/``X-Linked-Size`` for LFS files and
  ``Content-Length``. Files are served directly: the client does not need the Hub's CDN redirect.
* Listing endpoints paginate with ``Link: <absolute url>; rel="next"``.
* LFS uploads use the basic transfer: the batch endpoint hands out pre-signed PUT urls (the client
  sends no Authorization header on the PUT), then the commit references the sha256.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fnmatch
import hashlib
import hmac
import json
import logging
import math
import mimetypes
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

__all__ = ["Fault", "LoopbackHub", "RequestLogEntry", "main"]

logger = logging.getLogger(__name__)

REPO_TYPES = ("model", "dataset")
# Files above this size must go through LFS (the Hub rejects larger regular files).
REGULAR_FILE_MAX_SIZE = 10 * 1024 * 1024
# Bodies above this size are spooled to disk while being read.
_SPOOL_MAX_SIZE = 8 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REPO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_FRONT_MATTER = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")
_USER_TOKEN = re.compile(r"hf_([A-Za-z0-9][A-Za-z0-9-]*)(?:_.*)?", re.DOTALL)

# The .gitattributes the Hub writes in the initial commit of a new repo. The Hub decides
# "lfs" vs "regular" in the preupload call from these patterns, so we do the same.
_GITATTRIBUTES_COMMON = [
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
    "*.lfs.*", "*.lz4", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx",
    "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar",
    "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm",
    "*.xz", "*.zip", "*.zst", "*tfevents*",
]  # fmt: skip
_GITATTRIBUTES_DATASET_EXTRA = [
    "*.mds", "*.mp3", "*.ogg", "*.wav", "*.flac", "*.jpg", "*.jpeg", "*.png", "*.gif",
    "*.webp", "*.mp4", "*.webm",
]  # fmt: skip

# Fields of the info JSON, as the Hub returns them by default (single repo) or when listing.
_MODEL_INFO_FIELDS = (
    "_id", "id", "private", "pipeline_tag", "library_name", "tags", "downloads", "likes",
    "modelId", "author", "sha", "lastModified", "gated", "disabled", "model-index", "config",
    "cardData", "siblings", "spaces", "createdAt", "safetensors", "usedStorage",
)  # fmt: skip
_MODEL_LIST_FIELDS = (
    "_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
    "library_name", "createdAt", "modelId",
)  # fmt: skip
_MODEL_LIST_FULL_EXTRA = ("author", "sha", "lastModified", "gated", "disabled", "siblings")
_DATASET_INFO_FIELDS = (
    "_id", "id", "author", "sha", "lastModified", "private", "gated", "disabled", "tags",
    "description", "downloads", "likes", "cardData", "siblings", "createdAt", "usedStorage",
)  # fmt: skip
_DATASET_LIST_FIELDS = (
    "_id", "id", "author", "sha", "lastModified", "private", "gated", "disabled", "downloads",
    "likes", "trendingScore", "tags", "createdAt",
)  # fmt: skip
_DATASET_LIST_FULL_EXTRA = ("cardData", "siblings", "description")
# What `expand=` may ask for (huggingface_hub's ExpandModelProperty_T / ExpandDatasetProperty_T).
# Properties this server cannot compute (gguf, inference, ...) are accepted and left out.
_MODEL_EXPAND = frozenset(
    "author baseModels cardData childrenModelCount config createdAt disabled downloads "
    "downloadsAllTime evalResults gated gguf inference inferenceProviderMapping lastModified "
    "library_name likes mask_token model-index pipeline_tag private resourceGroup safetensors "
    "sha siblings spaces tags transformersInfo trendingScore usedStorage widgetData".split()
)
_DATASET_EXPAND = frozenset(
    "author cardData citation createdAt description disabled downloads downloadsAllTime gated "
    "lastModified likes mainSize paperswithcode_id private resourceGroup sha siblings tags "
    "trendingScore usedStorage".split()
)
_SORT_KEYS = ("downloads", "likes", "lastModified", "createdAt", "trendingScore", "id")


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLogEntry:
    """One request the server answered.

    ``path`` includes the query string; ``bytes_sent`` counts response body bytes (0 for HEAD),
    ``bytes_received`` request body bytes; ``time`` is the wall-clock time the request arrived
    (``time.time()``) and ``duration`` how long the server took to produce the answer (body
    transfer excluded). ``headers`` holds the request headers with lower-cased names
    (Authorization redacted), e.g. to check ``range``. Entries are logged before the response is
    sent, so a client that has its answer always finds the entry in the log.
    """

    method: str
    path: str
    status: int
    bytes_sent: int
    bytes_received: int
    time: float
    duration: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Fault:
    """A fault injected with :meth:`LoopbackHub.inject_fault`.

    Every request whose method matches (``None``: any) and whose path (query included) matches
    the regex ``pattern`` consumes one of ``times``; ``hits`` counts them.
    """

    pattern: str
    kind: Literal["429", "500", "delay"]
    times: int = 1
    retry_after: float | None = 1
    delay: float = 0.5
    method: str | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("429", "500", "delay"):
            raise ValueError(f"Unknown fault kind {self.kind!r}: expected '429', '500' or 'delay'.")
        if self.times < 0:
            raise ValueError("`times` must be >= 0.")
        self._regex = re.compile(self.pattern)

    @property
    def remaining(self) -> int:
        """How many more matching requests this fault will hit."""
        return max(self.times - self.hits, 0)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request would be hit (ignores ``remaining``)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._regex.search(path) is not None


# --------------------------------------------------------------------------------------------
# Small helpers: git hashing, time, YAML front matter, safetensors headers
# --------------------------------------------------------------------------------------------


def _git_hash(kind: bytes, data: bytes) -> str:
    """The git object id of ``data`` (sha1 over the ``"<kind> <size>\\0"`` header and data)."""
    return hashlib.sha1(kind + b" " + str(len(data)).encode() + b"\0" + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that git stores in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _iso_to_epoch(value: str) -> int:
    return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp())


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """(YAML text or None, body) of a README."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text
    return match.group(2), text[match.end() :]


def _parse_card(text: str) -> tuple[dict | None, str]:
    """(card data, body) of a README; card data is None when absent or not valid YAML."""
    yaml_text, body = _split_front_matter(text)
    if yaml_text is None:
        return None, body
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError:
        return None, body
    return (data if isinstance(data, dict) else None), body


def _validate_card(text: str, repo_type: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a README's metadata, like the Hub's ``/api/validate-yaml``."""
    yaml_text, _ = _split_front_matter(text)
    if yaml_text is None or not yaml_text.strip():
        return [], ["empty or missing yaml metadata in repo card"]
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as err:
        return [f"Invalid YAML in README.md metadata: {err}".replace("\n", " ")], []
    if data is None:
        return [], ["empty or missing yaml metadata in repo card"]
    if not isinstance(data, dict):
        return ['"metadata" must be a YAML mapping'], []
    errors: list[str] = []
    for key in ("tags", "datasets", "language"):
        value = data.get(key)
        if value is not None and not isinstance(value, (str, list)):
            errors.append(f'"{key}" must be a string or a list of strings')
    for key in ("license", "library_name", "pipeline_tag"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f'"{key}" must be a string')
    if repo_type == "dataset" and "configs" in data:
        errors.extend(_validate_configs(data["configs"]))
    return errors, []


def _validate_configs(configs: Any) -> list[str]:
    """Check a dataset card's ``configs:`` entries (the shape ``datasets`` reads)."""
    if not isinstance(configs, list):
        return ['"configs" must be a list']
    errors: list[str] = []
    names: set[str] = set()
    defaults = 0
    for i, config in enumerate(configs):
        where = f'"configs[{i}]"'
        if not isinstance(config, dict):
            errors.append(f"{where} must be a mapping")
            continue
        name = config.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append(f'{where}."config_name" is required and must be a non-empty string')
        elif name in names:
            errors.append(f'{where}."config_name" must be unique, "{name}" is repeated')
        else:
            names.add(name)
        if config.get("default") is True:
            defaults += 1
        elif "default" in config and not isinstance(config["default"], bool):
            errors.append(f'{where}."default" must be a boolean')
        if "data_files" in config:
            errors.extend(_validate_data_files(config["data_files"], f'{where}."data_files"'))
        if "data_dir" in config and not isinstance(config["data_dir"], str):
            errors.append(f'{where}."data_dir" must be a string')
    if defaults > 1:
        errors.append('"configs": only one config can be the default')
    return errors


def _validate_data_files(data_files: Any, where: str) -> list[str]:
    def is_pattern(value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))

    if is_pattern(data_files):
        return []
    if not isinstance(data_files, list):
        return [f"{where} must be a string, a list of strings or a list of {{split, path}} mappings"]
    errors = []
    for j, item in enumerate(data_files):
        if not (isinstance(item, dict) and isinstance(item.get("split"), str) and is_pattern(item.get("path"))):
            errors.append(f"{where}[{j}] must be a mapping with a string `split` and a string or list `path`")
    return errors


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _safetensors_parameters(read_prefix: Callable[[int, int], bytes]) -> dict[str, int] | None:
    """Parameter counts per dtype from a safetensors header, or None if the file is not one."""
    try:
        (header_size,) = struct.unpack("<Q", read_prefix(0, 8))
        if header_size > 100_000_000:
            return None
        header = json.loads(read_prefix(8, header_size))
    except (struct.error, ValueError, UnicodeDecodeError):
        return None
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__" or not isinstance(tensor, dict):
            continue
        numel = 1
        for dim in tensor.get("shape", []):
            numel *= int(dim)
        dtype = str(tensor.get("dtype", "unknown"))
        counts[dtype] = counts.get(dtype, 0) + numel
    return counts


# --------------------------------------------------------------------------------------------
# Persisted state: repos, commits, blobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileEntry:
    """A file in a commit. ``oid`` is the git blob oid (of the LFS pointer for LFS files)."""

    oid: str
    size: int
    lfs_sha256: str | None = None
    pointer_size: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict) -> _FileEntry:
        return cls(**data)


@dataclass
class _Commit:
    id: str
    tree: str
    parents: list[str]
    author: str
    date: str
    title: str
    message: str
    files: dict[str, _FileEntry]

    def to_json(self) -> dict:
        data = asdict(self)
        data["files"] = {path: entry.to_json() for path, entry in self.files.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> _Commit:
        files = {path: _FileEntry.from_json(entry) for path, entry in data.pop("files").items()}
        return cls(files=files, **data)


@dataclass
class _Repo:
    type: str
    id: str
    mongo_id: str
    created_at: str
    seq: int
    private: bool = False
    gated: str | bool = False
    disabled: bool = False
    downloads: int = 0
    downloads_all_time: int = 0
    likes: int = 0
    trending_score: int = 0
    next_pr: int = 1
    refs: dict[str, str] = field(default_factory=dict)
    granted: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def url_prefix(self) -> str:
        """Path prefix of the repo's web and resolve urls: ``/org/name`` or ``/datasets/org/name``."""
        return f"/{self.id}" if self.type == "model" else f"/{self.type}s/{self.id}"


@dataclass
class _Derived:
    """What the Hub derives from a revision's files (card, tags, config, ...)."""

    card: dict | None
    card_body: str
    tags: list[str]
    pipeline_tag: str | None
    library_name: str | None
    config: dict | None
    safetensors: dict | None
    used_storage: int


class _Store:
    """Repos, commits and blobs on disk under ``root``, with an in-memory index.

    Layout::

        root/repos/{type}s/{namespace}/{name}/repo.json      repo settings, refs, stats
        root/repos/{type}s/{namespace}/{name}/commits/*.json  one file per commit (full file map)
        root/blobs/git/{oid[:2]}/{oid}                        regular files, by git blob oid
        root/blobs/lfs/{sha256[:2]}/{sha256}                  LFS objects, by sha256
        root/orgs.json                                        org -> members
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()
        self._tmp = self.root / "tmp"
        for sub in ("repos", "blobs/git", "blobs/lfs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.orgs: dict[str, list[str]] = {}
        self._commits: dict[str, _Commit] = {}
        self._trees: dict[str, dict[str, str]] = {}
        self._derived: dict[tuple[str, str], _Derived] = {}
        self._safetensors: dict[str, dict[str, int] | None] = {}
        self._load()

    # ---- loading and saving ----

    def _load(self) -> None:
        for path in sorted(self.root.glob("repos/*/*/*/repo.json")):
            repo = _Repo(**json.loads(path.read_text()))
            self.repos[(repo.type, repo.id.lower())] = repo
        orgs = self.root / "orgs.json"
        if orgs.exists():
            self.orgs = json.loads(orgs.read_text())

    def _write_json(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f"{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written file

    def repo_dir(self, repo: _Repo) -> Path:
        return self.root / "repos" / f"{repo.type}s" / repo.id

    def save_repo(self, repo: _Repo) -> None:
        with self.lock:
            self._write_json(self.repo_dir(repo) / "repo.json", asdict(repo))

    def save_orgs(self) -> None:
        with self.lock:
            self._write_json(self.root / "orgs.json", self.orgs)

    # ---- repos ----

    def get_repo(self, repo_type: str, repo_id: str) -> _Repo | None:
        return self.repos.get((repo_type, repo_id.lower()))

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool, author: str) -> _Repo:
        with self.lock:
            repo = _Repo(
                type=repo_type,
                id=repo_id,
                mongo_id=secrets.token_hex(12),
                created_at=_now_iso(),
                seq=max((r.seq for r in self.repos.values()), default=0) + 1,
                private=private,
            )
            # Like the Hub: every repo starts with an "initial commit" holding .gitattributes.
            patterns = _GITATTRIBUTES_COMMON + (_GITATTRIBUTES_DATASET_EXTRA if repo_type == "dataset" else [])
            attributes = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in patterns).encode()
            files = {".gitattributes": self.store_git_blob(attributes)}
            commit = self.write_commit(repo, files, parents=[], author=author, title="initial commit", message="")
            repo.refs["refs/heads/main"] = commit.id
            self.repos[(repo_type, repo_id.lower())] = repo
            self.save_repo(repo)
            return repo

    def delete_repo(self, repo: _Repo) -> None:
        with self.lock:
            self.repos.pop((repo.type, repo.id.lower()), None)
            shutil.rmtree(self.repo_dir(repo), ignore_errors=True)

    def can_write(self, namespace: str, user: str | None) -> bool:
        if user is None:
            return False
        return user.lower() == namespace.lower() or user in self.orgs.get(namespace, [])

    def can_read(self, repo: _Repo, user: str | None) -> bool:
        return not repo.private or self.can_write(repo.namespace, user)

    def has_gated_access(self, repo: _Repo, user: str | None) -> bool:
        return not repo.gated or self.can_write(repo.namespace, user) or (user is not None and user in repo.granted)

    # ---- revisions and commits ----

    def resolve(self, repo: _Repo, revision: str | None) -> str | None:
        """The commit oid a revision (branch, tag, ``refs/...`` or commit oid) points to."""
        revision = revision or "main"
        if revision.startswith("refs/"):
            return repo.refs.get(revision)
        for ref in (f"refs/heads/{revision}", f"refs/tags/{revision}"):
            if ref in repo.refs:
                return repo.refs[ref]
        if _HEX40.fullmatch(revision) and (self.repo_dir(repo) / "commits" / f"{revision}.json").exists():
            return revision
        return None

    def commit(self, repo: _Repo, oid: str) -> _Commit:
        with self.lock:
            if oid not in self._commits:
                path = self.repo_dir(repo) / "commits" / f"{oid}.json"
                self._commits[oid] = _Commit.from_json(json.loads(path.read_text()))
            return self._commits[oid]

    def history(self, repo: _Repo, oid: str) -> list[_Commit]:
        """First-parent history, newest first."""
        commits = []
        current: str | None = oid
        while current:
            commit = self.commit(repo, current)
            commits.append(commit)
            current = commit.parents[0] if commit.parents else None
        return commits

    def write_commit(
        self,
        repo: _Repo,
        files: dict[str, _FileEntry],
        *,
        parents: list[str],
        author: str,
        title: str,
        message: str,
    ) -> _Commit:
        """Store a commit object whose oid is computed the way git does it."""
        tree = self.tree_oids(files)[""]
        date = _now_iso()
        signature = f"{author} <{author}@users.noreply.loopback> {_iso_to_epoch(date)} +0000"
        text = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
        text += f"author {signature}\ncommitter {signature}\n\n{title}\n"
        if message:
            text += f"\n{message}\n"
        # The date has millisecond precision but git signatures only seconds: add a nonce so
        # that two identical commits within a second still get distinct oids.
        text += f"\nloopback-nonce: {uuid.uuid4().hex}\n"
        commit = _Commit(
            id=_git_hash(b"commit", text.encode()),
            tree=tree,
            parents=parents,
            author=author,
            date=date,
            title=title,
            message=message,
            files=dict(sorted(files.items())),
        )
        with self.lock:
            self._write_json(self.repo_dir(repo) / "commits" / f"{commit.id}.json", commit.to_json())
            self._commits[commit.id] = commit
        return commit

    def tree_oids(self, files: dict[str, _FileEntry]) -> dict[str, str]:
        """Git tree oids of every directory ("" is the root), computed like git does."""
        root: dict[str, Any] = {}
        for path, entry in files.items():
            node = root
            *dirs, name = path.split("/")
            for part in dirs:
                node = node.setdefault(part, {})
            node[name] = entry
        oids: dict[str, str] = {}

        def visit(node: dict[str, Any], prefix: str) -> str:
            items = []
            for name, child in node.items():
                if isinstance(child, dict):
                    sub = visit(child, f"{prefix}{name}/")
                    # git sorts a directory as if its name ended with "/"
                    items.append((name + "/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(sub)))
                else:
                    items.append((name, b"100644 " + name.encode() + b"\0" + bytes.fromhex(child.oid)))
            items.sort(key=lambda item: item[0].encode())
            oid = _git_hash(b"tree", b"".join(body for _, body in items))
            oids[prefix.rstrip("/")] = oid
            return oid

        visit(root, "")
        return oids

    def commit_trees(self, commit: _Commit) -> dict[str, str]:
        with self.lock:
            if commit.id not in self._trees:
                self._trees[commit.id] = self.tree_oids(commit.files)
            return self._trees[commit.id]

    # ---- blobs ----

    def git_blob_path(self, oid: str) -> Path:
        return self.root / "blobs" / "git" / oid[:2] / oid

    def lfs_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "lfs" / sha256[:2] / sha256

    def blob_path(self, entry: _FileEntry) -> Path:
        return self.lfs_path(entry.lfs_sha256) if entry.lfs_sha256 else self.git_blob_path(entry.oid)

    def read_blob(self, entry: _FileEntry, offset: int = 0, length: int | None = None) -> bytes:
        with open(self.blob_path(entry), "rb") as f:
            f.seek(offset)
            return f.read() if length is None else f.read(length)

    def store_git_blob(self, content: bytes) -> _FileEntry:
        oid = _git_hash(b"blob", content)
        path = self.git_blob_path(oid)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp / uuid.uuid4().hex
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return _FileEntry(oid=oid, size=len(content))

    def lfs_size(self, sha256: str) -> int | None:
        """Size of a stored LFS object, None if there is none (or ``sha256`` is not a sha256)."""
        if not _HEX64.fullmatch(sha256):
            return None
        path = self.lfs_path(sha256)
        return path.stat().st_size if path.exists() else None

    def lfs_entry(self, sha256: str, size: int) -> _FileEntry:
        pointer = _lfs_pointer(sha256, size)
        return _FileEntry(oid=_git_hash(b"blob", pointer), size=size, lfs_sha256=sha256, pointer_size=len(pointer))

    def store_lfs(self, expected_sha256: str, source: IO[bytes]) -> int:
        """Copy an upload into the LFS store, checking its sha256. Returns its size."""
        digest = hashlib.sha256()
        size = 0
        tmp = self._tmp / uuid.uuid4().hex
        try:
            with open(tmp, "wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != expected_sha256:
                raise _HubError(400, f"sha256 mismatch: expected {expected_sha256}, got {digest.hexdigest()}")
            path = self.lfs_path(expected_sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    # ---- what the Hub derives from a revision ----

    def derived(self, repo: _Repo, commit: _Commit) -> _Derived:
        key = (repo.type, commit.id)
        with self.lock:
            if key not in self._derived:
                self._derived[key] = self._derive(repo.type, commit)
            return self._derived[key]

    def _read_json_file(self, commit: _Commit, path: str) -> dict | None:
        entry = commit.files.get(path)
        if entry is None or entry.size > REGULAR_FILE_MAX_SIZE:
            return None
        try:
            data = json.loads(self.read_blob(entry))
        except (ValueError, UnicodeDecodeError, OSError):
            return None
        return data if isinstance(data, dict) else None

    def _safetensors_of(self, entry: _FileEntry) -> dict[str, int] | None:
        key = entry.lfs_sha256 or entry.oid
        if key not in self._safetensors:
            self._safetensors[key] = _safetensors_parameters(lambda off, n: self.read_blob(entry, off, n))
        return self._safetensors[key]

    def _derive(self, repo_type: str, commit: _Commit) -> _Derived:
        card, body = None, ""
        readme = commit.files.get("README.md")
        if readme is not None and readme.size <= REGULAR_FILE_MAX_SIZE:
            card, body = _parse_card(self.read_blob(readme).decode("utf-8", errors="replace"))
        meta = card or {}
        paths = list(commit.files)
        tags: list[str] = []
        config: dict | None = None
        library = meta.get("library_name") if isinstance(meta.get("library_name"), str) else None
        pipeline = meta.get("pipeline_tag") if isinstance(meta.get("pipeline_tag"), str) else None
        safetensors = None

        if repo_type == "model":
            model_index = self._read_json_file(commit, "model_index.json")
            config_json = self._read_json_file(commit, "config.json")
            adapter = self._read_json_file(commit, "adapter_config.json")
            diffusers_class = None
            if model_index and isinstance(model_index.get("_class_name"), str):
                diffusers_class = model_index["_class_name"]
            elif (
                config_json and "_diffusers_version" in config_json and isinstance(config_json.get("_class_name"), str)
            ):
                diffusers_class = config_json["_class_name"]
            if diffusers_class:
                config = {"diffusers": {"_class_name": diffusers_class}}
                library = library or "diffusers"
                if pipeline is None and model_index is not None:
                    # The Hub infers the task of a diffusers pipeline from its class.
                    if "Img2Img" in diffusers_class or "Inpaint" in diffusers_class:
                        pipeline = "image-to-image"
                    elif "Video" in diffusers_class:
                        pipeline = "text-to-video"
                    else:
                        pipeline = "text-to-image"
            elif config_json is not None:
                config = {k: config_json[k] for k in ("architectures", "model_type") if k in config_json}
                if "model_type" in config_json:
                    library = library or "transformers"
            if adapter is not None:
                config = dict(config or {})
                config["peft"] = {k: adapter.get(k) for k in ("base_model_name_or_path", "task_type")}
                library = library or "peft"

            counts: dict[str, int] = {}
            for path in paths:
                if path.endswith(".safetensors"):
                    for dtype, n in (self._safetensors_of(commit.files[path]) or {}).items():
                        counts[dtype] = counts.get(dtype, 0) + n
            if counts:
                safetensors = {"parameters": counts, "total": sum(counts.values())}

            tags += _as_list(library)
            if any(p.endswith(".safetensors") for p in paths):
                tags.append("safetensors")
            tags += _as_list(pipeline)
            tags += _as_list(meta.get("tags"))
            tags += [f"dataset:{d}" for d in _as_list(meta.get("datasets"))]
            tags += _as_list(meta.get("language"))
            base_models = _as_list(meta.get("base_model"))
            relation = meta.get("base_model_relation")
            if not isinstance(relation, str):
                is_adapter = adapter is not None or any(
                    "lora" in p.lower() and p.endswith(".safetensors") for p in paths
                )
                relation = "adapter" if is_adapter else "finetune"
            for base in base_models:
                tags += [f"base_model:{base}", f"base_model:{relation}:{base}"]
            tags += [f"license:{lic}" for lic in _as_list(meta.get("license"))]
            if diffusers_class:
                tags.append(f"diffusers:{diffusers_class}")
        else:
            tags += _as_list(meta.get("tags"))
            for key in ("task_categories", "task_ids", "language", "size_categories", "license"):
                tags += [f"{key}:{v}" for v in _as_list(meta.get(key))]
            formats = {p.rsplit(".", 1)[-1] for p in paths if "." in p}
            for fmt in ("parquet", "csv", "json", "arrow", "webdataset"):
                if fmt in formats:
                    tags.append(f"format:{fmt}")
            if formats & {"parquet", "csv", "json", "jsonl", "arrow"}:
                tags.append("library:datasets")
        tags.append("region:us")
        return _Derived(
            card=card,
            card_body=body,
            tags=list(dict.fromkeys(tags)),
            pipeline_tag=pipeline,
            library_name=library,
            config=config,
            safetensors=safetensors,
            used_storage=sum(e.size for e in commit.files.values()),
        )


# --------------------------------------------------------------------------------------------
# HTTP plumbing: requests, responses, errors
# --------------------------------------------------------------------------------------------


class _HubError(Exception):
    """An error answered as JSON ``{"error": message}`` with the Hub's error headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def _repo_not_found() -> _HubError:
    return _HubError(404, "Repository not found", "RepoNotFound")


def _revision_not_found(revision: str) -> _HubError:
    return _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def _entry_not_found(message: str = "Entry not found", commit: str | None = None) -> _HubError:
    return _HubError(404, message, "EntryNotFound", {"X-Repo-Commit": commit} if commit else None)


@dataclass
class _Request:
    method: str
    target: str  # path and query, as sent
    path: str  # percent-encoded path, no query
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body_file: IO[bytes]
    user: str | None
    base_url: str
    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self.body_file.seek(0)
            self._body = self.body_file.read()
        return self._body

    def args(self, name: str) -> list[str]:
        """All values of a query parameter, accepting both ``name`` and ``name[]``."""
        return self.query.get(name, []) + self.query.get(f"{name}[]", [])

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.args(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise _HubError(400, f'"{name}" must be an integer') from None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise _HubError(400, "Request body is not valid JSON") from None


@dataclass
class _Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # (path, offset, length) to stream from a file instead of `body`
    file: tuple[Path, int, int] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> _Response:
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(status, [("Content-Type", "application/json; charset=utf-8"), *headers], body)

    @property
    def length(self) -> int:
        return self.file[2] if self.file else len(self.body)


def _read_chunked(rfile: IO[bytes], sink: IO[bytes]) -> int:
    """Decode a ``Transfer-Encoding: chunked`` body into ``sink``; returns the byte count."""
    total = 0
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("connection closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return total
        remaining = size
        while remaining:
            chunk = rfile.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise ConnectionError("connection closed inside a chunked body")
            sink.write(chunk)
            remaining -= len(chunk)
        total += size
        rfile.readline(3)  # CRLF after each chunk


class _Handler(BaseHTTPRequestHandler):
    """Reads a whole request, lets the hub answer it, writes the response, logs it."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub: every response has a Content-Length
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body would wait
    # for the client's delayed ACK (~40 ms per request on loopback).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _handle(self) -> None:
        hub = self.server.hub
        arrived, started = time.time(), time.monotonic()
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_SIZE) as body:
            # Always drain the body first, whatever the answer will be: unread bytes left on a
            # keep-alive connection would be parsed as the next request.
            try:
                received = self._read_body(body)
            except (ValueError, ConnectionError) as err:
                self.close_connection = True
                received = body.tell()
                response = _error_response(_HubError(400, f"Malformed request body: {err}"))
            else:
                response = hub._answer(self._make_request(body))
            # Log before answering: once the client has its response, the entry must be there.
            planned = 0 if self.command == "HEAD" else response.length
            logged_headers = {k.lower(): v for k, v in self.headers.items()}
            if "authorization" in logged_headers:
                logged_headers["authorization"] = "<redacted>"
            entry = RequestLogEntry(
                method=self.command,
                path=self.path,
                status=response.status,
                bytes_sent=planned,
                bytes_received=received,
                time=arrived,
                duration=time.monotonic() - started,
                headers=logged_headers,
            )
            hub._record(entry)
            sent = self._write(response)
            if sent != planned:  # the client went away mid-body
                hub._record(replace(entry, bytes_sent=sent), replacing=entry)

    def _read_body(self, sink: IO[bytes]) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile, sink)
        remaining = received = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise ConnectionError("connection closed inside the body")
            sink.write(chunk)
            remaining -= len(chunk)
        return received

    def _make_request(self, body: IO[bytes]) -> _Request:
        split = urlsplit(self.path)
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        body.seek(0)
        return _Request(
            method=self.command,
            target=self.path,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body_file=body,
            user=None,
            base_url=f"http://{host}",
        )

    def _write(self, response: _Response) -> int:
        """Send the response; returns the number of body bytes sent."""
        sent = 0
        try:
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            if "content-length" not in names:
                self.send_header("Content-Length", str(response.length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return 0
            if response.file is None:
                self.wfile.write(response.body)
                return len(response.body)
            path, offset, length = response.file
            with open(path, "rb") as f:
                f.seek(offset)
                while sent < length:
                    chunk = f.read(min(_COPY_CHUNK, length - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except OSError:  # the client went away (reset, broken pipe)
            self.close_connection = True
        return sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive handler threads must not block shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: LoopbackHub) -> None:
        self.hub = hub
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping connections is routine (e.g. at shutdown): no traceback on stderr.
        logger.debug("loopback hub: error on a connection from %s", client_address, exc_info=True)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so that clients reconnect to the next server."""
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


def _header_safe(value: str) -> str:
    """HTTP header values are latin-1 on the wire: escape anything else."""
    return value.encode("ascii", "backslashreplace").decode("ascii")


def _error_response(error: _HubError) -> _Response:
    headers = [("X-Error-Message", _header_safe(error.message.splitlines()[0][:500]))]
    if error.code:
        headers.append(("X-Error-Code", error.code))
    headers += list(error.headers.items())
    return _Response.json({"error": error.message, **error.extra}, status=error.status, headers=headers)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

_Route = tuple[frozenset[str], re.Pattern[str], str]
_TYPE = r"(?P<type>models|datasets)"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_PREFIX = r"(?:/(?P<prefix>datasets))?"


def _routes() -> list[_Route]:
    table = [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("GET", r"/api/agent-harnesses", "agent_harnesses"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", rf"/api/{_TYPE}", "list_repos"),
        ("GET", rf"/api/{_TYPE}/{_REPO}", "repo_info"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/revision/(?P<rest>.+)", "repo_info"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/tree/(?P<rest>.+)", "tree"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/paths-info/(?P<rest>.+)", "paths_info"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/refs", "refs"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/commits/(?P<rest>.+)", "commits"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/preupload/(?P<rest>.+)", "preupload"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/commit/(?P<rest>.+)", "commit"),
        ("PUT", rf"/api/{_TYPE}/{_REPO}/settings", "settings"),
        ("GET POST", rf"/api/{_TYPE}/{_REPO}/xet-(?:read|write)-token(?:/.*)?", "xet_token"),
        ("POST DELETE", rf"/api/{_TYPE}/{_REPO}/branch/(?P<rest>.+)", "branch"),
        ("POST DELETE", rf"/api/{_TYPE}/{_REPO}/tag/(?P<rest>.+)", "tag"),
        ("GET HEAD", rf"{_PREFIX}/{_REPO}/resolve/(?P<rest>.+)", "resolve"),
        ("POST", rf"{_PREFIX}/{_REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("POST", rf"{_PREFIX}/{_REPO}\.git/info/lfs/objects/verify", "lfs_verify"),
        ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
    ]
    return [(frozenset(methods.split()), re.compile(pattern + "/?"), handler) for methods, pattern, handler in table]


def _split_revision(rest: str) -> tuple[str, str]:
    """Split ``{rev}/{path}`` of a url, the revision being url-encoded or a bare ``refs/x/y``."""
    segments = rest.split("/")
    first = unquote(segments[0])
    if first == "refs" and len(segments) >= 3:  # unencoded "refs/pr/1/..."
        revision = "/".join(unquote(s) for s in segments[:3])
        segments = segments[3:]
    else:
        revision = first
        segments = segments[1:]
    return revision, unquote("/".join(segments)).strip("/")


def _check_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise _HubError(400, f"Invalid path in repo: {path!r}")
    return path


class LoopbackHub:
    """A Hugging Face Hub stand-in on a loopback port, backed by a folder.

    ``port=0`` picks a free port. ``page_size`` is the page length of ``/api/models`` and
    ``/api/datasets`` listings (and of commit listings), ``tree_page_size`` of tree listings
    (50 when ``expand`` is asked, like the Hub); tests may lower them to exercise pagination.

    Example::

        hub = LoopbackHub(Path("/tmp/hub")).start()
        api = HfApi(endpoint=hub.url, token="hf_alice")
        api.create_repo("alice/demo")
        hub.stop()
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        page_size: int = 50,
        tree_page_size: int = 1000,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port
        self.page_size = page_size
        self.tree_page_size = tree_page_size
        self._store = _Store(self.root)
        self._routes = _routes()
        self._log_lock = threading.Lock()
        self._entries: list[RequestLogEntry] = []
        self._faults: list[Fault] = []
        # Signs the LFS upload urls: the client PUTs without an Authorization header.
        self._secret = secrets.token_bytes(32)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----

    @property
    def url(self) -> str:
        """The endpoint to give the client (``HF_ENDPOINT``), e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackHub:
        """Bind the port and serve from a background thread."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"loopback-hub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections. The data stays under ``root``."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request log and faults ----

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """A copy of the log, oldest request first."""
        with self._log_lock:
            return list(self._entries)

    def clear_log(self) -> None:
        with self._log_lock:
            self._entries.clear()

    def _record(self, entry: RequestLogEntry, replacing: RequestLogEntry | None = None) -> None:
        with self._log_lock:
            if replacing is None:
                self._entries.append(entry)
                return
            for i in range(len(self._entries) - 1, -1, -1):
                if self._entries[i] is replacing:
                    self._entries[i] = entry
                    break

    def inject_fault(
        self,
        pattern: str,
        kind: Literal["429", "500", "delay"],
        *,
        times: int = 1,
        retry_after: float | None = 1,
        delay: float = 0.5,
        method: str | None = None,
    ) -> Fault:
        """Make the next ``times`` requests matching ``pattern`` fail or slow down.

        ``"429"`` answers 429 with ``Retry-After: <retry_after>`` (whole seconds, rounded up,
        since the client only reads integers; ``None`` leaves the header out). ``"500"`` answers
        a 500. ``"delay"`` sleeps ``delay`` seconds, then serves the request normally.
        """
        fault = Fault(pattern, kind, times=times, retry_after=retry_after, delay=delay, method=method)
        with self._log_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._log_lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._log_lock:
            for fault in self._faults:
                if fault.remaining and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    # ---- seeding helpers (what the client cannot do through the public API) ----

    def _seed_repo(self, repo_id: str, repo_type: str) -> _Repo:
        repo = self._store.get_repo(repo_type, repo_id)
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id!r} on the loopback hub")
        return repo

    def set_gated(self, repo_id: str, repo_type: str = "model", gated: bool | Literal["auto", "manual"] = True) -> None:
        """Gate a repo (``True`` means ``"auto"``): only its owners and granted users download files."""
        with self._store.lock:
            repo = self._seed_repo(repo_id, repo_type)
            repo.gated = "auto" if gated is True else gated
            self._store.save_repo(repo)

    def grant_access(self, repo_id: str, user: str, repo_type: str = "model") -> None:
        """Accept ``user``'s access request to a gated repo."""
        with self._store.lock:
            repo = self._seed_repo(repo_id, repo_type)
            if user not in repo.granted:
                repo.granted.append(user)
            self._store.save_repo(repo)

    def set_stats(
        self,
        repo_id: str,
        *,
        downloads: int | None = None,
        likes: int | None = None,
        trending_score: int | None = None,
        downloads_all_time: int | None = None,
        repo_type: str = "model",
    ) -> None:
        """Set the counters the Hub computes (listing ``sort=downloads`` etc. uses them)."""
        with self._store.lock:
            repo = self._seed_repo(repo_id, repo_type)
            if downloads is not None:
                repo.downloads = downloads
                repo.downloads_all_time = max(repo.downloads_all_time, downloads)
            if downloads_all_time is not None:
                repo.downloads_all_time = downloads_all_time
            if likes is not None:
                repo.likes = likes
            if trending_score is not None:
                repo.trending_score = trending_score
            self._store.save_repo(repo)

    def set_ref(self, repo_id: str, ref: str, revision: str, repo_type: str = "model") -> None:
        """Point a ref only the Hub itself writes at ``revision`` (a branch, tag or commit oid).

        E.g. ``refs/convert/parquet``, the dataset viewer's parquet conversion: upload it to a
        branch, then ``hub.set_ref(repo_id, "refs/convert/parquet", "that-branch", "dataset")``.
        """
        with self._store.lock:
            repo = self._seed_repo(repo_id, repo_type)
            oid = self._store.resolve(repo, revision)
            if oid is None:
                raise KeyError(f"No revision {revision!r} in {repo_type} repo {repo_id!r} on the loopback hub")
            repo.refs[ref] = oid
            self._store.save_repo(repo)

    def add_org(self, org: str, members: Iterable[str]) -> None:
        """Create (or extend) an organization: its members may write to repos under ``org/``."""
        with self._store.lock:
            current = self._store.orgs.setdefault(org, [])
            current.extend(m for m in members if m not in current)
            self._store.save_orgs()

    # ---- dispatch ----

    def _answer(self, request: _Request) -> _Response:
        try:
            fault = self._take_fault(request.method, request.target)
            if fault is not None:
                if fault.kind == "delay":
                    time.sleep(fault.delay)
                elif fault.kind == "429":
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
                    raise _HubError(429, "You have been rate-limited (injected fault).", headers=headers)
                else:
                    raise _HubError(500, "Internal Error (injected fault).")
            request.user = self._authenticate(request)
            for methods, pattern, name in self._routes:
                match = pattern.fullmatch(request.path)
                if match is not None:
                    if request.method not in methods:
                        raise _HubError(405, f"Method {request.method} not allowed on {request.path}")
                    return getattr(self, f"_api_{name}")(request, **match.groupdict())
            raise _HubError(404, f"Not found: {request.method} {request.path} (not served by the loopback hub)")
        except _HubError as error:
            return _error_response(error)
        except Exception as error:  # a bug in the server: answer 500 but keep serving
            logger.exception("loopback hub failed on %s %s", request.method, request.target)
            return _error_response(_HubError(500, f"Internal error in the loopback hub: {error!r}"))

    def _authenticate(self, request: _Request) -> str | None:
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        match = _USER_TOKEN.fullmatch(token.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            # The exact message matters: the client tells bad tokens from missing repos by it.
            raise _HubError(401, "Invalid credentials in Authorization header")
        return match.group(1)

    def _require_user(self, request: _Request) -> str:
        if request.user is None:
            raise _HubError(401, "You must be authenticated to access this resource (pass a token).")
        return request.user

    def _repo(self, request: _Request, type: str, ns: str, name: str) -> _Repo:
        """The repo of a route, if the caller may see it."""
        repo = self._store.get_repo(type.rstrip("s"), f"{ns}/{name}")
        if repo is None or not self._store.can_read(repo, request.user):
            raise _repo_not_found()
        return repo

    def _writable_repo(self, request: _Request, type: str, ns: str, name: str) -> _Repo:
        repo = self._repo(request, type, ns, name)
        user = self._require_user(request)
        if not self._store.can_write(repo.namespace, user):
            raise _HubError(403, f"You don't have the rights to write to {repo.type} {repo.id}.")
        return repo

    def _commit_at(self, repo: _Repo, revision: str) -> _Commit:
        oid = self._store.resolve(repo, revision)
        if oid is None:
            raise _revision_not_found(revision)
        return self._store.commit(repo, oid)

    def _repo_url(self, request: _Request, repo: _Repo) -> str:
        return request.base_url + repo.url_prefix

    def _paginate(self, request: _Request, items: list[Any], page_size: int) -> tuple[list[Any], list[tuple[str, str]]]:
        """One page of ``items`` and, if more remain, a ``Link: rel="next"`` header."""
        cursor = request.arg("cursor")
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except (ValueError, binascii.Error):
            raise _HubError(400, "Invalid cursor") from None
        page_size = max(page_size, 1)
        end = start + page_size
        if end >= len(items):
            return items[start:], []
        query = [(k, v) for k, values in request.query.items() if k != "cursor" for v in values]
        query.append(("cursor", base64.urlsafe_b64encode(str(end).encode()).decode()))
        link = f"{request.base_url}{request.path}?{urlencode(query)}"
        return items[start:end], [("Link", f'<{link}>; rel="next"')]

    # ---- users ----

    def _api_whoami(self, request: _Request) -> _Response:
        user = self._require_user(request)
        orgs = [
            {"type": "org", "name": org, "fullname": org, "roleInOrg": "write", "isEnterprise": False}
            for org, members in sorted(self._store.orgs.items())
            if user in members
        ]
        return _Response.json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "email": f"{user}@users.noreply.loopback",
                "emailVerified": True,
                "isPro": False,
                "canPay": False,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}},
            }
        )

    def _api_agent_harnesses(self, request: _Request) -> _Response:
        # huggingface_hub fetches this registry (once a day) to build its user agent.
        return _Response.json({"standardEnvVars": [], "harnesses": {}})

    # ---- repos ----

    def _api_create_repo(self, request: _Request) -> _Response:
        user = self._require_user(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise _HubError(400, f"Repo type {repo_type!r} is not supported by the loopback hub (models, datasets).")
        name = payload.get("name") or ""
        namespace = payload.get("organization") or user
        if not _REPO_NAME.fullmatch(name) or "--" in name or ".." in name:
            raise _HubError(400, f"Invalid repo name {name!r}")
        if not self._store.can_write(namespace, user):
            raise _HubError(403, f"You don't have the rights to create a {repo_type} under the namespace {namespace!r}")
        private = payload.get("visibility") == "private" if "visibility" in payload else bool(payload.get("private"))
        with self._store.lock:
            existing = self._store.get_repo(repo_type, f"{namespace}/{name}")
            if existing is not None:
                raise _HubError(
                    409, f"You already created this {repo_type} repo", extra={"url": self._repo_url(request, existing)}
                )
            repo = self._store.create_repo(repo_type, f"{namespace}/{name}", private=private, author=user)
        return _Response.json({"url": self._repo_url(request, repo), "name": repo.id, "id": repo.mongo_id})

    def _api_delete_repo(self, request: _Request) -> _Response:
        user = self._require_user(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or user}/{payload.get('name')}"
        repo = self._store.get_repo(repo_type, repo_id)
        if repo is None or not self._store.can_read(repo, user):
            raise _repo_not_found()
        if not self._store.can_write(repo.namespace, user):
            raise _HubError(403, f"You don't have the rights to delete {repo_type} {repo_id}")
        self._store.delete_repo(repo)
        return _Response.json({})

    def _api_settings(self, request: _Request, type: str, ns: str, name: str) -> _Response:
        repo = self._writable_repo(request, type, ns, name)
        payload = request.json()
        with self._store.lock:
            if "gated" in payload:
                if payload["gated"] not in ("auto", "manual", False):
                    raise _HubError(400, '"gated" must be "auto", "manual" or false')
                repo.gated = payload["gated"]
            if "visibility" in payload:
                repo.private = payload["visibility"] == "private"
            if "private" in payload:
                repo.private = bool(payload["private"])
            self._store.save_repo(repo)
        return _Response.json({})

    def _api_branch(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        repo = self._writable_repo(request, type, ns, name)
        ref = f"refs/heads/{unquote(rest)}"
        with self._store.lock:
            if request.method == "DELETE":
                if ref == "refs/heads/main":
                    raise _HubError(403, "The main branch cannot be deleted")
                if repo.refs.pop(ref, None) is None:
                    raise _revision_not_found(unquote(rest))
            else:
                if ref in repo.refs:
                    raise _HubError(409, f"Reference {ref} already exists")
                start = request.json().get("startingPoint") or "main"
                repo.refs[ref] = self._commit_at(repo, start).id
            self._store.save_repo(repo)
        return _Response.json({})

    def _api_tag(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        repo = self._writable_repo(request, type, ns, name)
        with self._store.lock:
            if request.method == "DELETE":
                if repo.refs.pop(f"refs/tags/{unquote(rest)}", None) is None:
                    raise _revision_not_found(unquote(rest))
            else:
                tag = request.json().get("tag")
                if not tag:
                    raise _HubError(400, '"tag" is required')
                if f"refs/tags/{tag}" in repo.refs:
                    raise _HubError(409, f"Tag {tag} already exists")
                repo.refs[f"refs/tags/{tag}"] = self._commit_at(repo, unquote(rest)).id
            self._store.save_repo(repo)
        return _Response.json({})

    # ---- repo info and listings ----

    def _info_value(self, request: _Request, repo: _Repo, commit: _Commit, key: str, blobs: bool) -> Any:
        derived = self._store.derived(repo, commit)
        card = derived.card or {}
        if key == "_id":
            return repo.mongo_id
        if key in ("id", "modelId"):
            return repo.id
        simple = {
            "author": repo.namespace,
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": repo.disabled,
            "downloads": repo.downloads,
            "downloadsAllTime": repo.downloads_all_time,
            "likes": repo.likes,
            "trendingScore": repo.trending_score,
            "tags": derived.tags,
            "usedStorage": derived.used_storage,
            "cardData": derived.card,
            "spaces": [],
            "securityRepoStatus": {"scansDone": True, "filesWithIssues": []},
        }
        if key in simple:
            return simple[key]
        if repo.type == "model":
            model_values = {
                "pipeline_tag": derived.pipeline_tag,
                "library_name": derived.library_name,
                "config": derived.config,
                "safetensors": derived.safetensors,
                "model-index": card.get("model-index"),
                "widgetData": card.get("widget"),
            }
            if key in model_values:
                return model_values[key]
        else:
            dataset_values = {
                "description": derived.card_body.strip()[:300] or None,
                "citation": card.get("citation"),
                "paperswithcode_id": card.get("paperswithcode_id"),
                "mainSize": derived.used_storage,
            }
            if key in dataset_values:
                return dataset_values[key]
        if key == "siblings":
            siblings = []
            for path, entry in commit.files.items():
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=entry.size, blobId=entry.oid)
                    if entry.lfs_sha256:
                        sibling["lfs"] = {
                            "sha256": entry.lfs_sha256,
                            "size": entry.size,
                            "pointerSize": entry.pointer_size,
                        }
                siblings.append(sibling)
            return siblings
        return None  # a property this server does not compute (gguf, inference, ...)

    def _info_json(
        self, request: _Request, repo: _Repo, commit: _Commit, keys: Iterable[str], *, blobs: bool = False
    ) -> dict[str, Any]:
        data = {}
        for key in keys:
            value = self._info_value(request, repo, commit, key, blobs)
            # Like the Hub, optional properties are left out rather than null.
            if value is not None:
                data[key] = value
        return data

    def _expand_keys(self, request: _Request, repo_type: str) -> list[str] | None:
        expand = request.args("expand")
        if not expand:
            return None
        allowed = _MODEL_EXPAND if repo_type == "model" else _DATASET_EXPAND
        unknown = [e for e in expand if e not in allowed]
        if unknown:
            raise _HubError(400, f'"expand" must be one of {sorted(allowed)}, got {unknown}')
        return ["_id", "id", *expand]

    def _api_repo_info(self, request: _Request, type: str, ns: str, name: str, rest: str | None = None) -> _Response:
        repo = self._repo(request, type, ns, name)
        revision = _split_revision(rest)[0] if rest else "main"
        commit = self._commit_at(repo, revision)
        keys = self._expand_keys(request, repo.type)
        if keys is None:
            keys = list(_MODEL_INFO_FIELDS if repo.type == "model" else _DATASET_INFO_FIELDS)
            if request.flag("securityStatus"):
                keys.append("securityRepoStatus")
        return _Response.json(self._info_json(request, repo, commit, keys, blobs=request.flag("blobs")))

    def _api_list_repos(self, request: _Request, type: str) -> _Response:
        repo_type = type.rstrip("s")
        with self._store.lock:
            repos = [r for (t, _), r in self._store.repos.items() if t == repo_type]
        repos = [r for r in repos if self._store.can_read(r, request.user)]
        heads = {r.id: self._store.commit(r, r.refs["refs/heads/main"]) for r in repos}

        def derived(r: _Repo) -> _Derived:
            return self._store.derived(r, heads[r.id])

        for term in request.args("search"):
            repos = [r for r in repos if term.lower() in r.id.lower()]
        if author := request.arg("author"):
            repos = [r for r in repos if r.namespace.lower() == author.lower()]
        for tag in request.args("filter"):
            repos = [r for r in repos if tag.lower() in {t.lower() for t in derived(r).tags}]
        if pipeline := request.arg("pipeline_tag"):
            repos = [r for r in repos if derived(r).pipeline_tag == pipeline]
        if library := request.arg("library"):
            repos = [r for r in repos if library in derived(r).tags or derived(r).library_name == library]
        if (gated := request.arg("gated")) is not None:
            repos = [r for r in repos if bool(r.gated) == (gated.lower() in ("1", "true"))]

        repos.sort(key=lambda r: r.seq)  # creation order: stable under pagination
        sort = request.arg("sort")
        if sort:
            if sort not in _SORT_KEYS:
                raise _HubError(400, f'"sort" must be one of {list(_SORT_KEYS)}')
            values: dict[str, Callable[[_Repo], Any]] = {
                "downloads": lambda r: r.downloads,
                "likes": lambda r: r.likes,
                "trendingScore": lambda r: r.trending_score,
                "createdAt": lambda r: r.created_at,
                "lastModified": lambda r: heads[r.id].date,
                "id": lambda r: r.id.lower(),
            }
            descending = request.arg("direction", "-1") != "1"
            repos.sort(key=values[sort], reverse=descending)

        keys = self._expand_keys(request, repo_type)
        if keys is None:
            if repo_type == "model":
                keys = list(_MODEL_LIST_FIELDS) + (list(_MODEL_LIST_FULL_EXTRA) if request.flag("full") else [])
            else:
                keys = list(_DATASET_LIST_FIELDS) + (list(_DATASET_LIST_FULL_EXTRA) if request.flag("full") else [])
            if request.flag("cardData") and "cardData" not in keys:
                keys.append("cardData")
            if request.flag("config") and "config" not in keys:
                keys.append("config")
        limit = request.int_arg("limit")
        page_size = min(limit, self.page_size) if limit else self.page_size
        page, link = self._paginate(request, repos, page_size)
        items = [self._info_json(request, r, heads[r.id], keys) for r in page]
        return _Response.json(items, headers=link)

    # ---- trees, paths, refs, commits ----

    def _last_commits(self, repo: _Repo, commit: _Commit) -> dict[str, _Commit]:
        """For every file and folder: the newest commit (first-parent history) that changed it."""
        result: dict[str, _Commit] = {}
        history = self._store.history(repo, commit.id)
        for current, parent in zip(history, [*history[1:], None], strict=True):
            before = parent.files if parent else {}
            changed = {p for p in set(current.files) | set(before) if current.files.get(p) != before.get(p)}
            for path in changed:
                parts = path.split("/")
                for i in range(1, len(parts) + 1):
                    result.setdefault("/".join(parts[:i]), current)
            result.setdefault("", current)
        return result

    def _path_entries(self, commit: _Commit) -> dict[str, dict[str, Any]]:
        """Tree entries (as the Hub's tree JSON) for every file and folder of a commit."""
        trees = self._store.commit_trees(commit)
        entries: dict[str, dict[str, Any]] = {}
        for path, oid in trees.items():
            if path:
                entries[path] = {"type": "directory", "oid": oid, "size": 0, "path": path}
        for path, entry in commit.files.items():
            item: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
            if entry.lfs_sha256:
                item["lfs"] = {"oid": entry.lfs_sha256, "size": entry.size, "pointerSize": entry.pointer_size}
            entries[path] = item
        return entries

    def _expand_entries(self, repo: _Repo, commit: _Commit, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        last = self._last_commits(repo, commit)
        expanded = []
        for item in items:
            item = dict(item)
            changed = last.get(item["path"], commit)
            item["lastCommit"] = {"id": changed.id, "title": changed.title, "date": changed.date}
            if item["type"] == "file":
                item["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
            expanded.append(item)
        return expanded

    def _api_tree(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        repo = self._repo(request, type, ns, name)
        revision, folder = _split_revision(rest)
        commit = self._commit_at(repo, revision)
        entries = self._path_entries(commit)
        if folder and entries.get(folder, {}).get("type") != "directory":
            raise _entry_not_found(f"{folder} does not exist on {revision!r}", commit.id)
        prefix = f"{folder}/" if folder else ""
        recursive = request.flag("recursive")
        items = [
            item
            for path, item in entries.items()
            if path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])
        ]
        # Folders first, then files, each by path (the order the Hub's web listing shows).
        items.sort(key=lambda item: (item["type"] != "directory", item["path"]))
        expand = request.flag("expand")
        page, link = self._paginate(request, items, min(self.tree_page_size, 50) if expand else self.tree_page_size)
        if expand:
            page = self._expand_entries(repo, commit, page)
        return _Response.json(page, headers=link)

    def _api_paths_info(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        repo = self._repo(request, type, ns, name)
        revision, _ = _split_revision(rest)
        commit = self._commit_at(repo, revision)
        if "json" in request.headers.get("Content-Type", ""):
            payload = request.json()
            paths, expand = _as_list(payload.get("paths")), bool(payload.get("expand"))
        else:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
            paths = form.get("paths", []) + form.get("paths[]", [])
            expand = (form.get("expand") or ["false"])[-1].lower() in ("1", "true")
        entries = self._path_entries(commit)
        items = [entries[p.strip("/")] for p in dict.fromkeys(paths) if p.strip("/") in entries]
        if expand:
            items = self._expand_entries(repo, commit, items)
        return _Response.json(items)

    def _api_refs(self, request: _Request, type: str, ns: str, name: str) -> _Response:
        repo = self._repo(request, type, ns, name)
        groups: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
        kinds = {"heads": "branches", "convert": "converts", "tags": "tags", "pr": "pullRequests"}
        for ref, oid in sorted(repo.refs.items()):
            kind = kinds.get(ref.split("/")[1])
            if kind:
                name_ = ref.split("/", 2)[2]
                groups[kind].append({"name": name_, "ref": ref, "targetCommit": oid})
        if not request.flag("include_prs"):
            del groups["pullRequests"]
        return _Response.json(groups)

    def _api_commits(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        repo = self._repo(request, type, ns, name)
        revision, _ = _split_revision(rest)
        commit = self._commit_at(repo, revision)
        items = [
            {
                "id": c.id,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": c.author, "avatar": None}],
                "date": c.date,
            }
            for c in self._store.history(repo, commit.id)
        ]
        page, link = self._paginate(request, items, self.page_size)
        if "formatted" in request.args("expand"):
            page = [{**c, "formatted": {"title": c["title"], "message": c["message"]}} for c in page]
        return _Response.json(page, headers=link)

    # ---- uploads ----

    def _lfs_patterns(self, commit: _Commit | None) -> list[str]:
        entry = commit.files.get(".gitattributes") if commit else None
        if entry is None:
            return list(_GITATTRIBUTES_COMMON)
        patterns = []
        for line in self._store.read_blob(entry).decode("utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
                patterns.append(parts[0])
        return patterns

    @staticmethod
    def _matches_any(path: str, patterns: Iterable[str]) -> bool:
        basename = path.rsplit("/", 1)[-1]
        for pattern in patterns:
            pattern = pattern.lstrip("/")
            if "/" in pattern:
                if fnmatch.fnmatchcase(path, pattern.replace("**/", "*").replace("/**", "/*")):
                    return True
            elif fnmatch.fnmatchcase(basename, pattern) or fnmatch.fnmatchcase(path, pattern):
                return True
        return False

    def _api_preupload(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        create_pr = request.flag("create_pr")
        repo = self._repo(request, type, ns, name) if create_pr else self._writable_repo(request, type, ns, name)
        self._require_user(request)
        revision, _ = _split_revision(rest)
        commit = self._commit_at(repo, revision)
        payload = request.json()
        files = payload.get("files")
        if not isinstance(files, list):
            raise _HubError(400, '"files" must be a list')
        lfs_patterns = self._lfs_patterns(commit)
        ignore_patterns = [
            line.strip()
            for line in (payload.get("gitIgnore") or "").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        answer = []
        for file in files:
            path = _check_path(str(file.get("path", "")))
            size = int(file.get("size") or 0)
            try:
                sample = base64.b64decode(file.get("sample") or "")
            except (binascii.Error, ValueError):
                raise _HubError(400, f"Invalid base64 sample for {path}") from None
            # The Hub's rule: LFS for large files, files matching .gitattributes, binary files.
            is_lfs = size > REGULAR_FILE_MAX_SIZE or self._matches_any(path, lfs_patterns) or b"\x00" in sample
            item: dict[str, Any] = {
                "path": path,
                "uploadMode": "lfs" if is_lfs else "regular",
                "shouldIgnore": self._matches_any(path, ignore_patterns),
            }
            existing = commit.files.get(path)
            if existing is not None:
                # The client compares this to its own oid to skip unchanged files.
                item["oid"] = existing.lfs_sha256 or existing.oid
            answer.append(item)
        return _Response.json({"files": answer, "commitOid": commit.id})

    def _api_lfs_batch(self, request: _Request, ns: str, name: str, prefix: str | None = None) -> _Response:
        repo = self._repo(request, prefix or "models", ns, name)
        user = self._require_user(request)
        payload = request.json()
        if payload.get("operation") != "upload":
            raise _HubError(400, "Only the 'upload' operation is supported by the loopback hub")
        if payload.get("ref") and not self._store.can_write(repo.namespace, user):
            # Without a ref (pull requests), any reader may upload objects.
            raise _HubError(403, f"You don't have the rights to push to {repo.type} {repo.id}.")
        objects = []
        for obj in payload.get("objects") or []:
            oid, size = obj.get("oid"), obj.get("size")
            if not (isinstance(oid, str) and _HEX64.fullmatch(oid) and isinstance(size, int) and size >= 0):
                error = {"code": 422, "message": "Invalid oid or size"}
                objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0, "error": error})
                continue
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if self._store.lfs_size(oid) != size:
                signature = self._sign(oid, size)
                item["actions"] = {
                    "upload": {"href": f"{request.base_url}/lfs-upload/{oid}?size={size}&sig={signature}"},
                    "verify": {"href": f"{self._repo_url(request, repo)}.git/info/lfs/objects/verify"},
                }
            objects.append(item)
        body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
        return _Response(200, [("Content-Type", "application/vnd.git-lfs+json")], body)

    def _sign(self, oid: str, size: int) -> str:
        return hmac.new(self._secret, f"{oid}:{size}".encode(), hashlib.sha256).hexdigest()

    def _api_lfs_upload(self, request: _Request, oid: str) -> _Response:
        size = request.int_arg("size", -1)
        if not hmac.compare_digest(self._sign(oid, size), request.arg("sig") or ""):
            raise _HubError(403, "Invalid or expired upload signature")
        request.body_file.seek(0)
        stored = self._store.store_lfs(oid, request.body_file)
        if stored != size:
            raise _HubError(400, f"Size mismatch: expected {size} bytes, got {stored}")
        return _Response(200, [("ETag", f'"{oid}"')])

    def _api_lfs_verify(self, request: _Request, ns: str, name: str, prefix: str | None = None) -> _Response:
        self._repo(request, prefix or "models", ns, name)
        payload = request.json()
        oid = str(payload.get("oid", ""))
        if self._store.lfs_size(oid) != payload.get("size"):
            raise _HubError(404, f"LFS object {oid} was not uploaded")
        return _Response.json({"success": True})

    def _api_commit(self, request: _Request, type: str, ns: str, name: str, rest: str) -> _Response:
        create_pr = request.flag("create_pr")
        repo = self._repo(request, type, ns, name) if create_pr else self._writable_repo(request, type, ns, name)
        user = self._require_user(request)
        revision, _ = _split_revision(rest)
        try:
            lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        except ValueError:
            raise _HubError(400, "Commit payload must be NDJSON") from None
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "The first line of a commit payload must be its header")
        header = lines[0].get("value") or {}
        title = str(header.get("summary") or "").strip()
        if not title:
            raise _HubError(400, "A commit summary is required")
        parent_commit = header.get("parentCommit")

        with self._store.lock:  # the parent check and the ref update must be atomic
            if create_pr:
                base = self._commit_at(repo, parent_commit or revision)
                ref = f"refs/pr/{repo.next_pr}"
            else:
                ref = revision if revision.startswith("refs/") else f"refs/heads/{revision}"
                if not (ref.startswith("refs/heads/") or ref.startswith("refs/pr/")):
                    raise _HubError(400, f"Cannot commit to {revision!r}: not a branch or a pull request")
                if ref not in repo.refs:
                    raise _revision_not_found(revision)
                base = self._store.commit(repo, repo.refs[ref])
                if parent_commit is not None and parent_commit != base.id:
                    raise _HubError(412, "A commit has happened since. Please refresh and try again.")
            files = self._apply_operations(dict(base.files), lines[1:])
            readme = files.get("README.md")
            if readme is not None and readme != base.files.get("README.md") and readme.size <= REGULAR_FILE_MAX_SIZE:
                errors, _ = _validate_card(self._store.read_blob(readme).decode("utf-8", errors="replace"), repo.type)
                if errors:
                    raise _HubError(400, "Invalid metadata in README.md.\n" + "\n".join(f"- {e}" for e in errors))
            commit = self._store.write_commit(
                repo, files, parents=[base.id], author=user, title=title, message=str(header.get("description") or "")
            )
            repo.refs[ref] = commit.id
            if create_pr:
                repo.next_pr += 1
            self._store.save_repo(repo)

        repo_url = self._repo_url(request, repo)
        answer = {
            "success": True,
            "commitOid": commit.id,
            "commitUrl": f"{repo_url}/commit/{commit.id}",
            "hookOutput": "",
        }
        if ref.startswith("refs/pr/"):
            answer["pullRequestUrl"] = f"{repo_url}/discussions/{ref.rsplit('/', 1)[1]}"
        return _Response.json(answer)

    def _apply_operations(self, files: dict[str, _FileEntry], operations: list[dict]) -> dict[str, _FileEntry]:
        for operation in operations:
            key, value = operation.get("key"), operation.get("value") or {}
            path = str(value.get("path", "")).strip("/") if key == "deletedFolder" else str(value.get("path", ""))
            _check_path(path)
            if key == "file":
                encoding = value.get("encoding", "base64")
                try:
                    content = (
                        base64.b64decode(value.get("content", ""))
                        if encoding == "base64"
                        else value["content"].encode()
                    )
                except (binascii.Error, ValueError, KeyError):
                    raise _HubError(400, f"Invalid content for {path}") from None
                if len(content) > REGULAR_FILE_MAX_SIZE:
                    raise _HubError(
                        400, f"{path} is larger than 10 MiB: files this large must be uploaded with git-lfs."
                    )
                files[path] = self._store.store_git_blob(content)
            elif key == "lfsFile":
                oid = str(value.get("oid", ""))
                stored = self._store.lfs_size(oid)
                if stored is None:
                    raise _HubError(400, f"LFS object {oid} for {path} was not uploaded")
                if value.get("size") is not None and value["size"] != stored:
                    raise _HubError(400, f"LFS object {oid} has size {stored}, not {value['size']}")
                files[path] = self._store.lfs_entry(oid, stored)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise _entry_not_found(f"A file with this name doesn't exist: {path}")
            elif key == "deletedFolder":
                doomed = [p for p in files if p.startswith(path + "/")]
                if not doomed:
                    raise _entry_not_found(f"A folder with this name doesn't exist: {path}")
                for p in doomed:
                    del files[p]
            else:
                raise _HubError(400, f"Unknown commit operation {key!r}")
        # Like git, a path cannot be both a file and a folder.
        folders = {path.rsplit("/", 1)[0] for path in files if "/" in path}
        folders |= {folder.rsplit("/", i)[0] for folder in folders for i in range(folder.count("/") + 1)}
        if clashes := sorted(folders & set(files)):
            raise _HubError(400, f"{clashes[0]!r} cannot be both a file and a folder")
        return files

    def _api_validate_yaml(self, request: _Request) -> _Response:
        payload = request.json()
        errors, warnings = _validate_card(str(payload.get("content", "")), payload.get("repoType") or "model")
        body = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
        return _Response.json(body, status=400 if errors else 200)

    def _api_xet_token(self, request: _Request, **_: str) -> _Response:
        # Asked for by clients with Xet enabled; say clearly what to do instead.
        raise _HubError(
            501,
            "The loopback hub does not speak the Xet protocol: set HF_HUB_DISABLE_XET=1 before importing "
            "huggingface_hub, so that uploads use git-lfs.",
        )

    # ---- downloads ----

    def _api_resolve(self, request: _Request, ns: str, name: str, rest: str, prefix: str | None = None) -> _Response:
        repo = self._repo(request, prefix or "models", ns, name)
        if not self._store.has_gated_access(repo, request.user):
            what = f"{repo.type} {repo.id}"
            if request.user is None:
                message = (
                    f"Access to {what} is restricted. You must have access to it and be authenticated to access it."
                )
                raise _HubError(401, message + " Please log in.", "GatedRepo")
            message = f"Access to {what} is restricted and you are not in the authorized list."
            raise _HubError(403, f"{message} Visit {self._repo_url(request, repo)} to ask for access.", "GatedRepo")
        revision, path = _split_revision(rest)
        commit = self._commit_at(repo, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise _entry_not_found(f"Entry not found: {path}", commit.id)

        etag = entry.lfs_sha256 or entry.oid
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if content_type.startswith("text/") or path.endswith((".json", ".md", ".yaml", ".yml")):
            content_type = (content_type if content_type.startswith("text/") else "text/plain") + "; charset=utf-8"
        filename = path.rsplit("/", 1)[-1]
        ascii_name = _header_safe(filename).replace('"', "")
        headers = [
            ("X-Repo-Commit", commit.id),
            ("ETag", f'"{etag}"'),
            ("Accept-Ranges", "bytes"),
            ("Content-Type", content_type),
            ("Content-Disposition", f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{ascii_name}\";"),
        ]
        if entry.lfs_sha256:
            headers += [("X-Linked-Etag", f'"{etag}"'), ("X-Linked-Size", str(entry.size))]

        start, length, status = 0, entry.size, 200
        range_header = request.headers.get("Range")
        match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", range_header or "")
        if match and (match.group(1) or match.group(2)):  # a single range; others are ignored (200)
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(int(last), entry.size - 1) if last else entry.size - 1
            else:  # suffix range: the last N bytes
                start = max(entry.size - int(last), 0)
                end = entry.size - 1
            if start >= entry.size or end < start:
                raise _HubError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{entry.size}"})
            length, status = end - start + 1, 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{entry.size}"))
        return _Response(status, headers, file=(self._store.blob_path(entry), start, length))

    # ---- foreground serving (CLI) ----

    def serve_forever(self) -> None:
        """Serve in the foreground until SIGINT or SIGTERM."""
        self.start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(f"loopback hub listening on {self.url} (root {self.root})", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m hubselect.testing.hub --port P --root DIR``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m hubselect.testing.hub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: pick a free one)")
    parser.add_argument("--root", type=Path, required=True, help="folder holding the repos (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    args = parser.parse_args(argv)
    LoopbackHub(args.root, host=args.host, port=args.port).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
