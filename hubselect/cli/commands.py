"""Imports every command module so that their commands register on the ``cli`` group."""

from hubselect.cli import zoo  # noqa: F401
