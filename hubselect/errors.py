"""The one exception type users see.

Every failure a user can act on is raised as a :class:`HubselectError` whose message is one
line: what happened and what to do next. The CLI prints it without a traceback (unless
``--debug``) and exits with :attr:`HubselectError.exit_code`.
"""

from __future__ import annotations


class HubselectError(Exception):
    """An error with a one-line, actionable message.

    >>> raise HubselectError("zoo 'x' not found: pass a folder or an org/name id")
    Traceback (most recent call last):
    ...
    hubselect.errors.HubselectError: zoo 'x' not found: pass a folder or an org/name id
    """

    exit_code = 1


class InputError(HubselectError):
    """The user's input (a file, an id, an option) is wrong."""

    exit_code = 2


class HubError(HubselectError):
    """The Hub refused or failed a request."""

    exit_code = 3
