"""Where the bundled demo artefacts live, and the demo probe's identity.

Light on purpose (standard library only): :mod:`hubselect.probes.registry` and
:mod:`hubselect.zoo.resolve` import it to resolve ``hubselect/demo-probe`` and ``demo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The id the demo zoo's dataset profiles name their probe by. It resolves to the probe
#: folder shipped in the package (never to the Hub), with a content-hash revision, so a
#: dataset embedded for ``recommend --zoo demo`` goes through exactly the zoo's probe.
DEMO_PROBE_ID = "hubselect/demo-probe"

#: The zoo name that opens the bundled demo zoo.
DEMO_ZOO = "demo"

#: A demo run's working folder inside its --out (the loopback Hub, caches, the zoo being built).
WORK_FOLDER = ".work"

#: Written into the working folder before a run starts: what marks the folder of an interrupted
#: run (no demo.json yet) as a demo's own, which a rerun may replace. ``.work`` alone is too
#: common a name to prove it.
RUN_MARKER = "hubselect-demo-run"

#: Written into the working folder beside the marker: the settings of the run whose work it holds.
#: A rerun reuses the work only when its settings are the same (see ``hubselect.demo.run.start_work``).
WORK_SETTINGS = "settings.json"

_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DemoPaths:
    """The bundled demo: a zoo folder, the ranker built on it, its probe, and example datasets.

    >>> paths = bundled_paths()
    >>> paths.zoo.name, paths.ranker.name, paths.probe.name
    ('zoo', 'ranker', 'probe')
    """

    zoo: Path
    ranker: Path
    probe: Path
    examples: Path
    #: What the bundle was built from and how it evaluated (written by the bundle builder).
    manifest: Path

    def example(self, name: str | None = None) -> Path:
        """An example image folder (the first one, by name, when ``name`` is None)."""
        folders = sorted(p for p in self.examples.iterdir() if p.is_dir()) if self.examples.is_dir() else []
        if name is None:
            if not folders:
                raise FileNotFoundError(f"no example folder in {self.examples}")
            return folders[0]
        return self.examples / name


def bundled_paths(root: str | Path | None = None) -> DemoPaths:
    """Paths of the demo artefacts shipped inside the package (or under ``root``)."""
    base = Path(root) if root is not None else _ROOT
    return DemoPaths(base / "zoo", base / "ranker", base / "probe", base / "examples", base / "bundle.json")


def demo_probe_ref(folder: str | Path | None = None):
    """The demo probe as a resolved :class:`~hubselect.probes.ProbeRef`: id :data:`DEMO_PROBE_ID`,
    revision the content hash of its config and weights (as for any local probe folder).

    >>> demo_probe_ref().id
    'hubselect/demo-probe'
    """
    from hubselect.data.fingerprint import content_hash
    from hubselect.errors import HubselectError
    from hubselect.probes.base import ProbeRef

    path = Path(folder) if folder is not None else bundled_paths().probe
    files = [f for f in path.iterdir() if f.is_file() and f.suffix in (".json", ".safetensors")] if path.is_dir() else []
    if not any(f.suffix == ".safetensors" for f in files):
        raise HubselectError(f"the demo probe is missing from {path}; reinstall hubselect (the demo artefacts ship with the package)")
    return ProbeRef(DEMO_PROBE_ID, content_hash(path, files), "clip", path)


__all__ = ["DEMO_PROBE_ID", "DEMO_ZOO", "DemoPaths", "bundled_paths", "demo_probe_ref"]
