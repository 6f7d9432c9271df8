"""Inception-v3 for FID, through clean-fid: its "clean" resize (PIL bicubic to 299 px, no
quantisation) and its TorchScript port of the TensorFlow FID network (2048-d pool features)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from hubselect.probes.base import Probe, ProbeRef, pick_device


class InceptionProbe(Probe):
    """clean-fid's Inception feature extractor as a probe (``--probe inception``)."""

    dim = 2048

    def __init__(self, ref: ProbeRef, model, *, device, batch_size: int = 32) -> None:
        from cleanfid.resize import build_resizer

        self.ref = ref
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._resize = build_resizer("clean")

    def preprocess(self, images: Sequence[Image.Image]):
        import torch

        resized = np.stack([self._resize(np.asarray(image.convert("RGB"))) for image in images]).astype(np.float32)
        return torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous().to(self.device, non_blocking=True)

    def forward(self, pixel_values):
        return self.model(pixel_values)

    def clean_fid_extractor(self):
        """The Inception network itself: clean-fid's batches (299 px, 0..255 floats) go straight in."""
        import torch

        def extractor(batch: "torch.Tensor") -> "torch.Tensor":
            with torch.inference_mode():
                return self.model(batch.to(self.device))

        return extractor


def load_inception_probe(ref: ProbeRef, *, device: str = "auto", batch_size: int | None = None) -> InceptionProbe:
    from cleanfid.inception_torchscript import InceptionV3W

    import warnings

    target = pick_device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # clean-fid ships the network as TorchScript
        model = InceptionV3W(str(ref.path), download=False, resize_inside=False).to(target).eval()
    return InceptionProbe(ref, model, device=target, batch_size=batch_size or 32)
