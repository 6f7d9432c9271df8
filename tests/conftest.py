"""Shared pytest configuration."""

import pytest

pytest_plugins = ["hubselect.testing.pytest_plugin"]

LIVE_SKIP_REASON = (
    "live tier (real Hub, needs network): run it with HUBSELECT_LIVE_HUB=1 python -m pytest -m live"
)


def pytest_collection_modifyitems(config, items):
    """Skip the ``live`` tier unless ``HUBSELECT_LIVE_HUB=1``: ``-m live`` alone must not reach the network."""
    # Imported here, not at the top: hubselect.constants reads HF_HOME, which the loopback plugin
    # only sets once it is loaded (after this module's top level ran).
    from hubselect.constants import LIVE_HUB

    if LIVE_HUB:
        return
    skip = pytest.mark.skip(reason=LIVE_SKIP_REASON)
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
