"""Shared pytest configuration."""

pytest_plugins = ["hubselect.testing.pytest_plugin"]
