"""The image-encoder interface every probe implements.

A probe turns images into fixed-size embeddings. It is identified by ``(id, revision)`` —
a Hub repo id and commit sha, or a local folder's name and content hash — which keys every
cached embedding and every distance measured with it.

:meth:`Probe.embed` is the end-to-end path (PIL images in, float32 embeddings out). It is
split into :meth:`Probe.preprocess` and :meth:`Probe.forward` so the next batch is prepared
on a background thread while the current one runs through the model, and so benchmarks can
time the raw forward pass on the very same batches.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

ProbeKind = Literal["clip", "backbone", "inception"]


@dataclass(frozen=True)
class ProbeRef:
    """A resolved probe: what it is and where its files are, before any weights are loaded.

    >>> ProbeRef("openai/clip-vit-base-patch32", "3d74acf9", "clip").key
    'openai/clip-vit-base-patch32@3d74acf9'
    """

    id: str
    revision: str
    #: None: not read yet (:func:`~hubselect.probes.registry.probe_identity` reads no file).
    kind: ProbeKind | None
    path: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.id}@{self.revision}"

    def load(self, *, device: str = "auto", batch_size: int | None = None) -> "Probe":
        """Load the weights (on ``device``: ``auto`` picks CUDA, then MPS, then CPU)."""
        from hubselect.probes.registry import load_resolved

        return load_resolved(self, device=device, batch_size=batch_size)


def pick_device(device: str = "auto", *, option: str = "--device"):
    """The torch device for ``device`` (``auto``: CUDA, then MPS, then CPU).

    A device torch does not know, one this machine lacks, or one hubselect does not run on
    (torch also names ``xla``, ``xpu``, ``meta``, ...: the models here are loaded and trained
    with CPU, CUDA and MPS code paths only) is an :class:`InputError` naming ``option`` (before
    any weights are loaded) rather than torch's error from deep inside a load.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    import torch

    from hubselect.errors import InputError

    if device != "auto":
        try:
            chosen = torch.device(device)
        except (RuntimeError, ValueError):
            raise InputError(f"{option} {device}: not a device; use cpu, cuda, cuda:N, mps or auto") from None
        if chosen.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if not count:
                raise InputError(f"{option} {device}: torch sees no CUDA device here; use {option} cpu")
            if chosen.index is not None and chosen.index >= count:
                raise InputError(f"{option} {device}: torch sees {count} CUDA device(s); use cuda:0 to cuda:{count - 1}")
        elif chosen.type not in ("cpu", "mps"):
            raise InputError(f"{option} {device}: hubselect runs models on cpu, cuda or mps only; use cpu, cuda, cuda:N, mps or auto")
        elif chosen.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise InputError(f"{option} {device}: torch sees no MPS device here; use {option} cpu")
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Probe(ABC):
    """An image encoder: ``embed(images) -> (n, dim) float32``.

    >>> probe = load_probe("openai/clip-vit-base-patch32")  # doctest: +SKIP
    >>> probe.embed(sample.images).shape  # doctest: +SKIP
    (500, 512)
    """

    ref: ProbeRef
    dim: int
    device: Any
    batch_size: int = 32

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def revision(self) -> str:
        return self.ref.revision

    @property
    def key(self) -> str:
        return self.ref.key

    @abstractmethod
    def preprocess(self, images: Sequence[Image.Image]):
        """A batch of RGB images as the model's input tensor, already on the probe's device."""

    @abstractmethod
    def forward(self, pixel_values):
        """Embeddings ``(batch, dim)`` of a preprocessed batch (call under ``torch.inference_mode``)."""

    def embed(self, images: Sequence[Image.Image], *, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Embeddings of ``images`` as a float32 array ``(len(images), dim)``.

        The next batch is preprocessed on a background thread while the current one runs
        through the model (image resizing releases the GIL, and so does the forward pass).
        """
        import torch
        from huggingface_hub.utils import tqdm

        size = batch_size or self.batch_size
        batches = [images[i : i + size] for i in range(0, len(images), size)]
        if not batches:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        bar = tqdm(total=len(images), desc=f"Embedding with {self.id}", unit="img", disable=not progress, leave=False)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubselect-preprocess") as pool, bar, torch.inference_mode():
            pending = pool.submit(self.preprocess, batches[0])
            for index in range(len(batches)):
                pixel_values = pending.result()
                if index + 1 < len(batches):
                    pending = pool.submit(self.preprocess, batches[index + 1])
                features = self.forward(pixel_values)
                out.append(features.float().cpu().numpy())
                bar.update(len(batches[index]))
        return np.concatenate(out).astype(np.float32, copy=False)

    def clean_fid_extractor(self) -> Callable:
        """This probe as a clean-fid ``custom_feat_extractor``.

        clean-fid hands extractors a float tensor batch ``(B, 3, H, W)`` in 0..255 (after its
        own resize); this converts it back to images and runs the probe's own preprocessing.
        Pass ``custom_fn_resize=lambda x: x`` to clean-fid to skip its 299 px resize.

        >>> from cleanfid import fid  # doctest: +SKIP
        >>> fid.compute_fid("gen/", "ref/", custom_feat_extractor=probe.clean_fid_extractor())  # doctest: +SKIP
        """
        import torch

        def extractor(batch: "torch.Tensor") -> "torch.Tensor":
            arrays = batch.detach().clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            images = [Image.fromarray(a, "RGB") for a in arrays]
            with torch.inference_mode():
                return self.forward(self.preprocess(images)).float()

        return extractor

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, dim={self.dim}, device={self.device})"
