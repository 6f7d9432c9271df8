"""Test helpers: a loopback server that speaks the Hugging Face Hub HTTP API.

See :mod:`hubselect.testing.hub`; the pytest fixtures live in :mod:`hubselect.testing.pytest_plugin`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubselect.testing.hub import Fault, LoopbackHub, RequestLogEntry

__all__ = ["Fault", "LoopbackHub", "RequestLogEntry"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m hubselect.testing.hub` does not find the module
    # already imported by its package (runpy warns about that).
    if name in __all__:
        from hubselect.testing import hub

        return getattr(hub, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
