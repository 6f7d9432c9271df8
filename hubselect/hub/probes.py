"""Fetch probe weights: a Hub model snapshot, or clean-fid's Inception weights.

Only the files an image encoder needs are downloaded (configs, preprocessor, safetensors
weights), through the HF cache, so a probe fetched once works offline
(``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hubselect import constants
from hubselect.errors import HubError
from hubselect.hub.client import hub_errors, resolve_token

log = logging.getLogger(__name__)

#: The file clean-fid's Inception (the TF-FID network as TorchScript) is stored as.
INCEPTION_FILE = "inception-2015-12-05.pt"

_CONFIG_PATTERNS = ["*.json", "*.txt"]


def probe_snapshot(repo_id: str, revision: str | None = None, *, token: str | None = None) -> tuple[Path, str]:
    """Download (or find in the cache) an image encoder's files; returns ``(folder, commit sha)``.

    Prefers safetensors weights and falls back to ``pytorch_model.bin`` for old repos.

    >>> folder, sha = probe_snapshot("openai/clip-vit-base-patch32")  # doctest: +SKIP
    """
    from huggingface_hub import snapshot_download

    token = resolve_token(token)
    with hub_errors(f"probe model {repo_id}"):
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=_CONFIG_PATTERNS + ["*.safetensors"], token=token))
        if not any(folder.glob("*.safetensors")):
            folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=_CONFIG_PATTERNS + ["pytorch_model.bin"], token=token))
    if not (folder / "config.json").is_file():
        raise HubError(f"probe model {repo_id} has no config.json; choose a transformers vision model (e.g. openai/clip-vit-base-patch32)")
    # The HF cache names each snapshot folder by its commit sha.
    return folder, folder.name


def inception_weights(*, download: bool = True) -> Path:
    """The folder holding clean-fid's ``inception-2015-12-05.pt``, downloading it if allowed.

    Looks in ``HUBSELECT_INCEPTION_DIR``, ``CACHE_DIR/inception`` and clean-fid's own default
    (``/tmp``) first.
    """
    candidates = [Path(p) for p in (os.environ.get("HUBSELECT_INCEPTION_DIR"),) if p]
    candidates += [constants.CACHE_DIR / "inception", Path("/tmp")]
    for folder in candidates:
        if (folder / INCEPTION_FILE).is_file():
            return folder
    target = constants.CACHE_DIR / "inception"
    from huggingface_hub import constants as hf_constants

    if not download or hf_constants.HF_HUB_OFFLINE:
        raise HubError(
            f"clean-fid's Inception weights ({INCEPTION_FILE}) are not available offline: put the file in {target} "
            "(or HUBSELECT_INCEPTION_DIR), or choose another --probe"
        )
    from cleanfid.downloads_helper import check_download_inception

    target.mkdir(parents=True, exist_ok=True)
    try:
        check_download_inception(fpath=str(target))
    except Exception as exc:  # urllib raises URLError, OSError, HTTPError...
        partial = target / INCEPTION_FILE
        if partial.exists():
            partial.unlink()
        raise HubError(
            f"cannot download clean-fid's Inception weights ({type(exc).__name__}): put {INCEPTION_FILE} in {target}, or choose another --probe"
        ) from None
    return target
