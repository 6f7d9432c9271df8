"""Environment settings, read in one place.

huggingface_hub reads its own variables (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE``,
``HF_HUB_OFFLINE``, ``HF_TOKEN``) when it is imported; hubselect only adds its own.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The zoo used when ``--zoo`` is not given.
DEFAULT_ZOO = os.environ.get("HUBSELECT_ZOO", "demo")

#: Where hubselect keeps its own caches (dataset profiles, built rankers, class images: README, "hubselect's cache").
CACHE_DIR = Path(
    os.environ.get("HUBSELECT_CACHE", Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hubselect")
)

#: Opt-in test tier against the real Hub (tests/test_live_hub.py; tests/conftest.py skips it otherwise).
LIVE_HUB = os.environ.get("HUBSELECT_LIVE_HUB", "") == "1"
