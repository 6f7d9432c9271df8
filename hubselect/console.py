"""The ``hubselect`` console script (and ``python -m hubselect``): :func:`hubselect.cli.run`, with a
Ctrl-C while the CLI's own modules load (click, rich: the first fraction of a second) said in the
CLI's one line, not a KeyboardInterrupt traceback."""

from __future__ import annotations

import os
import sys


def run() -> None:
    try:
        from hubselect.cli import run as run_cli
    except KeyboardInterrupt:
        from hubselect.errors import INTERRUPTED

        print(f"Interrupted: {INTERRUPTED}", file=sys.stderr, flush=True)
        # Not sys.exit: a KeyboardInterrupt that surfaced as an import ended can leave CPython
        # marked as stopped by SIGINT, and it then kills itself with SIGINT on exit (-2, not 130),
        # about one time in thirty. Nothing of hubselect's has run that an exit handler would finish.
        os._exit(130)
    run_cli()
