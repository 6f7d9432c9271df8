"""``python -m hubselect`` runs the CLI."""

from hubselect.console import run

run()
