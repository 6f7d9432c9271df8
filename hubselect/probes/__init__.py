"""Image encoders ("probes") that turn a dataset's images into embeddings.

``--probe`` selects one: a transformers CLIP model (Hub id or local folder; the default is
``openai/clip-vit-base-patch32``, image embeddings from ``CLIPVisionModelWithProjection``), any
transformers vision backbone with a pooled output (e.g. DINOv2), or ``inception`` (clean-fid's
Inception-v3, where its weights are available).
"""

from hubselect.probes.base import Probe, ProbeRef, pick_device
from hubselect.probes.registry import DEFAULT_PROBE, INCEPTION_ID, load_probe, resolve_probe

__all__ = ["DEFAULT_PROBE", "INCEPTION_ID", "Probe", "ProbeRef", "load_probe", "pick_device", "resolve_probe"]
