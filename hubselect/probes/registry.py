"""``--probe`` values → probes: a Hub id, a local folder, or ``inception``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hubselect.demo.paths import DEMO_PROBE_ID
from hubselect.errors import InputError
from hubselect.probes.base import Probe, ProbeRef
from hubselect.probes.transformers_probes import CLIP_MODEL_TYPES

#: The probe used when ``--probe`` is not given.
DEFAULT_PROBE = "openai/clip-vit-base-patch32"

INCEPTION_ID = "clean-fid/inception-v3"
#: ``--probe`` values that select clean-fid's Inception; its id too (what a zoo's profiles name it
#: by, and so what a zoo profiled with it uses by default), which is no Hub repo.
INCEPTION_NAMES = frozenset({"inception", "clean-fid", "clean-fid:inception", "inception-v3", INCEPTION_ID})

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def resolve_probe(spec: str | os.PathLike = DEFAULT_PROBE, *, token: str | None = None) -> ProbeRef:
    """Find a probe's files and exact revision without loading its weights.

    ``spec`` is ``inception``, a local model folder (its revision is a content hash of its
    config and weights), or a Hub model id ``org/name[@revision]``.

    >>> resolve_probe("./tiny-clip")  # doctest: +SKIP
    ProbeRef(id='local:tiny-clip', revision='local-9c1f…', kind='clip', path=PosixPath('/…/tiny-clip'))
    """
    # Imported here: hubselect.data imports this package.
    from hubselect.data.fingerprint import content_hash

    spec = _probe_spec(spec)
    if not spec:  # as a path, the current folder: an unset variable, not a probe
        raise InputError(f"probe is empty; pass a Hub model id (e.g. {DEFAULT_PROBE}), a local model folder, or 'inception'")
    if spec.lower() in INCEPTION_NAMES:
        from hubselect.hub.probes import INCEPTION_FILE, inception_weights

        folder = inception_weights()
        return ProbeRef(INCEPTION_ID, content_hash(folder, [folder / INCEPTION_FILE], prefix="sha256-"), "inception", folder)
    if spec == DEMO_PROBE_ID:  # shipped with the demo zoo (hubselect.demo), never fetched
        from hubselect.demo.paths import demo_probe_ref

        return demo_probe_ref()
    path = Path(spec).expanduser()
    if path.is_dir():
        files = [f for f in path.iterdir() if f.is_file() and (f.suffix == ".json" or f.suffix in _WEIGHT_SUFFIXES)]
        if not any(f.suffix in _WEIGHT_SUFFIXES for f in files):
            raise InputError(f"{spec} holds no model weights (*.safetensors or *.bin); pass a saved transformers vision model folder")
        return ProbeRef(local_probe_id(path), content_hash(path, files), _kind(path, spec), path.resolve())
    if _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        from hubselect.hub.probes import probe_snapshot

        repo_id, _, revision = spec.partition("@")
        folder, sha = probe_snapshot(repo_id, revision or None, token=token)
        return ProbeRef(repo_id, sha, _kind(folder, repo_id), folder)
    raise InputError(f"probe {spec!r} not found: pass a Hub model id (e.g. {DEFAULT_PROBE}), a local model folder, or 'inception'")


def _probe_spec(spec: object) -> str:
    """``spec`` as a str: a local model folder may be given as a path, as every other path
    hubselect takes; anything else is refused (from Python: ``--probe`` is a str), before a str
    method fails on it."""
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise InputError(f"probe must be a Hub model id, a local model folder or 'inception' (a str or a path), got {spec!r}")
    return spec


def local_probe_id(folder: Path) -> str:
    """The id of the probe saved in ``folder`` (``local:`` and the folder's name), as zoos name it.

    >>> local_probe_id(Path("/models/tiny-clip"))
    'local:tiny-clip'
    """
    return f"local:{Path(folder).expanduser().resolve().name}"


def probe_id(spec: str | os.PathLike) -> str | None:
    """The id :func:`resolve_probe` gives ``spec``, where the spec alone tells: nothing is read or
    fetched. None for a local folder (its id needs its files) and for what is no probe.

    So a probe the zoo was not profiled with is refused as such, before a download that would
    fail for another reason (no network, a gated repo, Inception's weights missing).

    >>> probe_id("inception"), probe_id("openai/clip-vit-base-patch32@main")
    ('clean-fid/inception-v3', 'openai/clip-vit-base-patch32')
    """
    spec = _probe_spec(spec)
    if spec.lower() in INCEPTION_NAMES:
        return INCEPTION_ID
    if spec == DEMO_PROBE_ID:
        return spec
    if Path(spec).expanduser().is_dir():
        return None
    if _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        return spec.partition("@")[0]
    return None




def probe_identity(spec: str | os.PathLike, *, token: str | None = None) -> ProbeRef:
    """The probe ``spec`` names, at its exact revision, with as little read as it takes: a Hub
    probe pinned at a commit sha costs nothing, one at a branch (or none: main) one metadata
    request, and neither downloads a file (its ``path`` is None and its ``kind`` is not known
    yet: :func:`resolve_probe` it to load it). Other probes are identified by their files, so
    they are resolved, and so is a Hub probe offline (``HF_HUB_OFFLINE=1``: from the HF cache).

    Enough to tell whether a zoo already holds a dataset's profile with this probe
    (``dataset profile`` on a zoo that is up to date, each week on a fresh runner, would
    otherwise download a CLIP model's weights to do nothing).

    >>> probe_identity("openai/clip-vit-base-patch32@3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268").revision  # doctest: +SKIP
    '3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268'
    """
    from huggingface_hub import constants as hf_constants

    from hubselect.hub.client import is_commit

    spec = _probe_spec(spec)
    hub_id = probe_id(spec)
    # Offline, a branch or tag is read from the HF cache, as resolve_probe does.
    if hub_id is None or hub_id in (INCEPTION_ID, DEMO_PROBE_ID) or hf_constants.HF_HUB_OFFLINE:
        return resolve_probe(spec, token=token)
    revision = spec.partition("@")[2]
    if not is_commit(revision):
        from hubselect.hub.models import model_info

        revision = model_info(hub_id, revision=revision or None, token=token).sha
    return ProbeRef(hub_id, revision, None)


def _kind(folder: Path, name: str) -> str:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        raise InputError(f"probe {name} has no readable config.json; pass a saved transformers vision model") from None
    return "clip" if config.get("model_type") in CLIP_MODEL_TYPES else "backbone"


def load_resolved(ref: ProbeRef, *, device: str = "auto", batch_size: int | None = None) -> Probe:
    if ref.kind == "inception":
        from hubselect.probes.inception import load_inception_probe

        return load_inception_probe(ref, device=device, batch_size=batch_size)
    from hubselect.probes.transformers_probes import load_transformers_probe

    return load_transformers_probe(ref, device=device, batch_size=batch_size)


def load_probe(spec: str | os.PathLike = DEFAULT_PROBE, *, device: str = "auto", batch_size: int | None = None, token: str | None = None) -> Probe:
    """Resolve and load a probe.

    >>> probe = load_probe("openai/clip-vit-base-patch32")  # doctest: +SKIP
    >>> probe.embed(images).shape  # doctest: +SKIP
    (64, 512)
    """
    return resolve_probe(spec, token=token).load(device=device, batch_size=batch_size)
