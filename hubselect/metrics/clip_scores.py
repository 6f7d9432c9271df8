"""Image–image and image–text similarity of generated images: CLIP-I, CLIP-T and DINO.

As the DreamBooth paper defines them (and practitioners use them to score fine-tuned models):

- **CLIP-I** — subject fidelity: the mean cosine similarity between the CLIP image embeddings
  of every generated image and every real image (all pairs).
- **CLIP-T** — prompt fidelity: the mean cosine similarity between each generated image's CLIP
  image embedding and the CLIP text embedding of the prompt it was generated from.
- **DINO** — the same all-pairs mean as CLIP-I with a self-supervised backbone's embeddings
  (DINO/DINOv2), which tells apart images CLIP finds semantically alike.

The scores are pure functions of embedding arrays. CLIP-T needs CLIP's text tower in the same
embedding space as the image embeddings: :func:`load_text_tower` loads it from a probe folder
that holds a full ``CLIPModel`` (both towers) and a tokenizer, and says why not otherwise.

>>> import numpy as np
>>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> round(mean_pairwise_cosine(a, a), 3)
0.5
>>> round(paired_cosine(a, a), 3)
1.0
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (n, dim) array of embeddings, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def mean_pairwise_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity over all pairs (row of ``a``, row of ``b``): CLIP-I and DINO."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("similarity needs at least one embedding on each side")
    return float((_unit(a) @ _unit(b).T).mean())


def paired_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of row ``i`` of ``a`` with row ``i`` of ``b``: CLIP-T."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"paired similarity needs two non-empty arrays of the same length, got {len(a)} and {len(b)}")
    return float(np.sum(_unit(a) * _unit(b), axis=1).mean())


def clip_i(generated: np.ndarray, real: np.ndarray) -> float:
    """CLIP-I: mean cosine similarity of generated vs real image embeddings (all pairs)."""
    return mean_pairwise_cosine(generated, real)


def clip_t(image_embeddings: np.ndarray, prompt_embeddings: np.ndarray) -> float:
    """CLIP-T: mean cosine similarity of each generated image with the text of its prompt."""
    return paired_cosine(image_embeddings, prompt_embeddings)


def dino_similarity(generated: np.ndarray, real: np.ndarray) -> float:
    """DINO: mean cosine similarity of generated vs real backbone embeddings (all pairs)."""
    return mean_pairwise_cosine(generated, real)


@dataclass
class TextTower:
    """CLIP's text encoder (with its projection) and tokenizer: prompts → text embeddings in the
    space of the probe's image embeddings."""

    model: Any
    tokenizer: Any
    device: Any
    source: str

    def embed(self, prompts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                batch = list(prompts[start : start + batch_size])
                tokens = self.tokenizer(batch, padding=True, truncation=True, return_tensors="pt").to(self.device)
                out.append(self.model(input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask")).text_embeds.float().cpu().numpy())
        if not out:
            return np.zeros((0, int(self.model.config.projection_dim)), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)


def load_text_tower(folder: str | Path | None, *, device: Any = "cpu") -> tuple[TextTower | None, str | None]:
    """CLIP's text tower from a probe folder, or ``(None, why not)``.

    It loads when the folder holds a full ``CLIPModel`` (``model_type: clip``, text weights
    under ``text_model.``) and a tokenizer; a vision-only CLIP or a backbone has no text tower.

    >>> tower, reason = load_text_tower("tiny-clip-vision")  # doctest: +SKIP
    >>> reason  # doctest: +SKIP
    'the probe is a vision-only model (clip_vision_model): CLIP-T needs a full CLIP model with a text tower'
    """
    if folder is None:
        return None, "the probe has no local files (inception): CLIP-T needs a full CLIP model with a text tower"
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None, f"{folder} has no readable config.json"
    model_type = config.get("model_type")
    if model_type != "clip" or not config.get("text_config"):
        return None, f"the probe is a vision-only model ({model_type}): CLIP-T needs a full CLIP model with a text tower"
    if not _has_text_weights(folder):
        return None, "the probe's weights hold no text tower (text_model.*): CLIP-T needs a full CLIP checkpoint"
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPTextModelWithProjection
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError, TypeError) as exc:
            return None, f"the probe has no usable tokenizer ({str(exc).splitlines()[0]}): CLIP-T needs one"
        full = CLIPConfig.from_pretrained(folder)
        text_config = full.text_config
        # The projection size lives on the full config; the text sub-config may carry a stale default.
        text_config.projection_dim = full.projection_dim
        model = CLIPTextModelWithProjection.from_pretrained(folder, config=text_config, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model = model.to(device).eval()
    return TextTower(model, tokenizer, device, str(folder)), None


def _has_text_weights(folder: Path) -> bool:
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return any(folder.glob("pytorch_model*.bin"))  # old checkpoints: assume a full model
    for file in files:
        try:
            with safe_open(str(file), framework="np") as handle:
                if any(key.startswith(("text_model.", "clip.text_model.")) for key in handle.keys()):
                    return True
        except (OSError, ValueError):
            continue
    return False


__all__ = [
    "TextTower",
    "clip_i",
    "clip_t",
    "dino_similarity",
    "load_text_tower",
    "mean_pairwise_cosine",
    "paired_cosine",
]
