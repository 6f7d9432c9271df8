"""The ``hubselect`` console script (and ``python -m hubselect``): :func:`hubselect.cli.run`, with a
Ctrl-C while the CLI's own modules load (click, rich: the first fraction of a second) said in the
CLI's one line, not a KeyboardInterrupt traceback."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from hubselect.cli import run as run_cli
    except KeyboardInterrupt:
        from hubselect.errors import INTERRUPTED

        print(f"Interrupted: {INTERRUPTED}", file=sys.stderr)
        sys.exit(130)
    run_cli()
