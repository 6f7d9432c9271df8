"""The offline demo zoo: the whole hubselect pipeline on one CPU machine, in minutes.

``hubselect demo`` (:func:`run_demo`) builds a micro zoo from nothing: tiny text-to-image
models of different architectures, each briefly pre-trained on its own mix of procedural image
domains; small captioned datasets; all published to a loopback Hub through the normal upload
path, then crawled, profiled (LoRA fine-tuning, FID before and after), probed, built into a
ranker and evaluated leave-one-dataset-out — with the same library calls the commands make.

The result of one such run ships inside the package as the zoo named ``demo``
(:func:`bundled_paths`, :func:`load_demo_zoo`), so ``hubselect recommend ./images --zoo demo``
works offline right after ``pip install``. Its models are tiny and for trying the tool only.

>>> load_demo_zoo().summary()["models"] >= 6  # doctest: +SKIP
True
>>> result = run_demo("demo-out")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubselect.demo.paths import (
    DEMO_PROBE_ID,
    DEMO_ZOO,
    DemoPaths,
    bundled_paths,
    demo_probe_ref,
)

if TYPE_CHECKING:
    from hubselect.demo.config import DemoConfig
    from hubselect.demo.run import DemoResult, run_demo
    from hubselect.zoo import Zoo


def load_demo_zoo() -> Zoo:
    """The bundled demo zoo (read from the package; nothing is fetched).

    >>> load_demo_zoo().meta.score  # doctest: +SKIP
    'fid_after_finetune'
    """
    from hubselect.errors import HubselectError
    from hubselect.zoo import Zoo
    from hubselect.zoo.store import META_FILE

    folder = bundled_paths().zoo
    if not (folder / META_FILE).is_file():
        raise HubselectError(
            f"the demo zoo is not in this install ({folder} is missing); reinstall hubselect, "
            "or rebuild it with `hubselect demo --out DIR --update-bundle`"
        )
    return Zoo.load(folder)


def __getattr__(name: str) -> Any:
    # The runner pulls in torch and diffusers: imported on first use only.
    if name in ("run_demo", "DemoResult"):
        from hubselect.demo import run

        return getattr(run, name)
    if name == "DemoConfig":
        from hubselect.demo.config import DemoConfig

        return DemoConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEMO_PROBE_ID",
    "DEMO_ZOO",
    "DemoConfig",
    "DemoPaths",
    "DemoResult",
    "bundled_paths",
    "demo_probe_ref",
    "load_demo_zoo",
    "run_demo",
]
