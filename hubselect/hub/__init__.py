"""Every network call of hubselect: the client factory, error mapping, and typed Hub I/O."""

from hubselect.hub.client import hub_api, hub_errors, resolve_token

__all__ = ["hub_api", "hub_errors", "resolve_token"]
