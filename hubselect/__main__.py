"""``python -m hubselect`` runs the CLI."""

from hubselect.cli import run

run()
