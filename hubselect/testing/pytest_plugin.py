"""pytest fixtures for tests that talk to the loopback Hub through the real client.

Enable with ``pytest_plugins = ["hubselect.testing.pytest_plugin"]`` in ``conftest.py``.

``huggingface_hub`` and ``datasets`` read ``HF_ENDPOINT`` (and the cache paths) when they are
imported, so this module sets the environment *when it is imported*, which pytest does while
loading conftest.py, before any test module imports them:

* ``HF_ENDPOINT`` points at a free loopback port, on which ``loopback_hub_server`` starts;
* ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_DATASETS_CACHE`` and ``HF_TOKEN_PATH`` point into a temp
  dir made once per process, and ``HF_TOKEN`` is removed, so no test sees the user's cache or token;
* ``HF_HUB_DISABLE_XET=1`` (the loopback Hub speaks the LFS upload protocol, not Xet),
  ``HF_HUB_DISABLE_TELEMETRY=1`` and ``HF_HUB_DISABLE_PROGRESS_BARS=1``.

Fixtures: ``loopback_hub_server`` (session), ``hub`` (the same server, log and faults cleared),
``hub_token`` (a write token for user ``tester``) and ``hub_repo_id`` (a fresh ``tester/repo-<n>``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubselect.testing.hub import LoopbackHub

HUB_USER = "tester"
HUB_TOKEN = f"hf_{HUB_USER}_loopback_write_token"


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _configure_environment() -> tuple[Path, int]:
    """Point the HF client at the loopback port and at private caches (runs at import)."""
    if "huggingface_hub" in sys.modules or "datasets" in sys.modules:
        warnings.warn(
            "hubselect.testing.pytest_plugin was imported after huggingface_hub/datasets: they already "
            "read HF_ENDPOINT, so tests may reach the wrong Hub. Load the plugin from the root conftest.py.",
            stacklevel=2,
        )
    tmp = Path(tempfile.mkdtemp(prefix="hubselect-loopback-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    port = _free_port()
    hf_home = tmp / "hf-home"
    os.environ.update(
        {
            "HF_ENDPOINT": f"http://127.0.0.1:{port}",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HOME": str(hf_home),
            "HF_HUB_CACHE": str(hf_home / "hub"),
            "HF_DATASETS_CACHE": str(hf_home / "datasets"),
            "HF_TOKEN_PATH": str(hf_home / "token"),
        }
    )
    os.environ.pop("HF_TOKEN", None)
    os.environ.pop("HF_HUB_OFFLINE", None)
    return tmp, port


_TMP, _PORT = _configure_environment()
_repo_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def loopback_hub_server() -> Iterator[LoopbackHub]:
    """The loopback Hub of this test session, serving on ``HF_ENDPOINT``."""
    hub = LoopbackHub(_TMP / "hub-root", port=_PORT)
    with hub:
        yield hub


@pytest.fixture
def hub(loopback_hub_server: LoopbackHub) -> Iterator[LoopbackHub]:
    """The session's loopback Hub with an empty request log and no faults left over."""
    loopback_hub_server.clear_faults()
    loopback_hub_server.clear_log()
    loopback_hub_server.page_size = 50
    loopback_hub_server.tree_page_size = 1000
    yield loopback_hub_server
    loopback_hub_server.clear_faults()


@pytest.fixture
def hub_token() -> str:
    """A write token for user ``tester`` (any ``hf_<user>...`` token is accepted as ``<user>``)."""
    return HUB_TOKEN


@pytest.fixture
def hub_repo_id() -> str:
    """A repo id no other test of the session uses: ``tester/repo-<n>`` (not created)."""
    return f"{HUB_USER}/repo-{next(_repo_numbers)}"
