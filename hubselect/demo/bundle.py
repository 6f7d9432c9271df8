"""Rebuild the demo artefacts shipped in the package (for maintainers).

``python -m hubselect.demo.bundle [--out DIR] [--retrain-probe]`` runs the full demo with the
default config (fixed seeds) and copies its zoo, ranker and example folders into
``hubselect/demo/`` with a manifest (``bundle.json``: config, probe, evaluation, sizes).
``--retrain-probe`` first retrains the demo probe (:func:`hubselect.demo.encoder.train_probe`)
in place; the zoo is then profiled with the new probe, so zoo and probe stay consistent.
``hubselect demo --update-bundle`` does the copy after a run.

>>> update_bundle(run_demo("demo-out"))  # doctest: +SKIP
{'path': '.../hubselect/demo', 'bytes': 812345}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from hubselect.crawl.state import STATE_FILE
from hubselect.demo.paths import bundled_paths
from hubselect.errors import InputError
from hubselect.profile.journal import JOURNAL_FILE
from hubselect.zoo.store import LOCK_FILE

#: Files of a run's zoo folder that are working state, not the zoo.
_NOT_SHIPPED = (JOURNAL_FILE, LOCK_FILE, STATE_FILE)


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _copy_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    # copyfile, not copy2: the package's files get ordinary permissions, whatever the run's have.
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*_NOT_SHIPPED, ".*"), copy_function=shutil.copyfile)


def update_bundle(result: Any, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Copy a demo run's zoo, ranker and examples into the package (or ``root``); returns
    ``{"path", "bytes"}``. The run must have used the bundled probe (it always does)."""
    paths = bundled_paths(root)
    base = paths.zoo.parent
    if not os.access(base, os.W_OK):
        raise InputError(f"cannot write the bundled demo in {base}: use an editable install (pip install -e .) to update the bundle")
    out = Path(result.out)
    probe = result.summary["probe"]
    from hubselect.demo.paths import demo_probe_ref

    shipped = demo_probe_ref(paths.probe)
    if shipped.revision != probe["revision"]:
        raise InputError(
            f"the run profiled with probe revision {probe['revision'][:18]} but the bundled probe is {shipped.revision[:18]}; "
            "rerun the demo with the bundled probe"
        )
    _copy_tree(out / "zoo", paths.zoo)
    _copy_tree(out / "ranker", paths.ranker)
    _copy_tree(out / "examples", paths.examples)
    summary = result.summary
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": summary["config"],
        "probe": probe,
        "models": summary["models"],
        "datasets": summary["datasets"],
        "zoo": {k: summary["zoo"].get(k) for k in ("models", "datasets", "records", "distances", "score", "higher_is_better")},
        "evaluation": summary["evaluation"],
        "wins": result.wins(),
        "recommendations": summary.get("recommendations", []),
        "build_seconds": {"wall": round(result.wall_seconds, 1), "cpu": round(result.cpu_seconds, 1)},
        "machine": summary.get("machine"),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(_tree_bytes(p) for p in (paths.zoo, paths.ranker, paths.examples, paths.probe)) + paths.manifest.stat().st_size
    return {"path": str(base), "bytes": total}


def main(argv: list[str] | None = None) -> int:
    from hubselect.demo.config import DemoConfig
    from hubselect.demo.encoder import train_probe
    from hubselect.demo.run import run_demo

    parser = argparse.ArgumentParser(prog="python -m hubselect.demo.bundle", description="Rebuild the bundled demo zoo.")
    parser.add_argument("--out", type=Path, default=Path("hubselect-demo-bundle"), help="Where the demo run writes (default: %(default)s)")
    parser.add_argument("--retrain-probe", action="store_true", help="Retrain the demo probe first (changes its revision)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.retrain_probe:
        probe = bundled_paths().probe
        if probe.exists():
            shutil.rmtree(probe)
        train_probe(probe)
        print(f"retrained the demo probe in {probe}", file=sys.stderr)
    result = run_demo(args.out, DemoConfig(workers=args.workers))
    info = update_bundle(result)
    print(json.dumps({"bundle": info, "wins": result.wins(), "wall_seconds": round(result.wall_seconds, 1), "cpu_seconds": round(result.cpu_seconds, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
