"""LoRA adapters for text-to-image models: base model, trigger words, tags and card text.

The catalog that adapter retrieval searches later. Per repo the crawler reads, at the listed
commit, the card (``README.md``: its text is what retrieval matches against) and the header of
the adapter's safetensors file (rank, size, which components it adapts). Base model, license,
tags and the rest come from the listing.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, Mapping

from crawlers.base import Crawler, RepoReader, Skipped, listing_features, note
from hubselect.crawl.safety import NOT_FLAGGED, remote_code_reasons
from hubselect.hub.models import PICKLE_EXTENSIONS, RepoReadError
from hubselect.zoo import ModelRecord

log = logging.getLogger(__name__)

#: Card text kept per adapter (enough for retrieval, bounded for the zoo table).
CARD_TEXT_MAX = 4000

#: Card metadata keys that hold trigger words on the Hub (diffusers/AutoTrain, ai-toolkit, kohya exports).
TRIGGER_KEYS = ("instance_prompt", "trigger_words", "trigger_word", "trigger", "activation_text")

_TRIGGER_LINE = re.compile(r"trigger(?:\s+words?)?\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*(.+)", re.IGNORECASE)
_TAGS_HIDDEN = ("base_model:", "license:", "region:", "dataset:", "diffusers:")

#: Preferred adapter file names, most common first.
LORA_FILES = ("pytorch_lora_weights.safetensors", "adapter_model.safetensors", "lora.safetensors")


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if str(v).strip()]
        return ", ".join(parts) or None
    return None


def trigger_words(card: Mapping[str, Any], body: str) -> str | None:
    """Trigger words from the card's metadata, else from a "Trigger words: ..." line of its text.

    >>> trigger_words({"instance_prompt": "a photo of sks dog"}, "")
    'a photo of sks dog'
    >>> trigger_words({}, "You should use `pixel art` to trigger the image generation.")
    >>> trigger_words({}, "## Trigger words\\nTrigger words: `pxl style`")
    'pxl style'
    """
    for key in TRIGGER_KEYS:
        text = _as_text(card.get(key))
        if text:
            return text
    for line in body.splitlines():
        match = _TRIGGER_LINE.search(line)
        if match:
            text = match.group(1).strip().strip("`*_ ").strip()
            if text:
                return text
    return None


def widget_prompts(card: Mapping[str, Any]) -> str | None:
    widget = card.get("widget")
    if not isinstance(widget, list):
        return None
    texts = [str(w.get("text")).strip() for w in widget if isinstance(w, Mapping) and w.get("text")]
    return " | ".join(texts[:5]) or None


def card_body(readme: str) -> str:
    """The card's text without its YAML front matter."""
    if readme.startswith("---"):
        end = readme.find("\n---", 3)
        if end != -1:
            return readme[end + 4 :].lstrip("\r\n")
    return readme


def adapter_features(header: Any) -> dict[str, Any]:
    """Rank, size, format and adapted components of a LoRA from its safetensors header."""
    ranks: Counter = Counter()
    components: set[str] = set()
    params = 0
    fmt = None
    for name, tensor in header.tensors.items():
        if not tensor.dtype.startswith(("F", "BF")):
            continue
        params += tensor.parameter_count
        lowered = name.lower()
        if "lora_a" in lowered or "lora_down" in lowered or "lora.down" in lowered:
            fmt = fmt or ("kohya" if "lora_down" in lowered else "peft")
            if len(tensor.shape) >= 2:
                ranks[tensor.shape[0]] += 1
        head = name.split(".", 1)[0]
        if head.startswith("lora_unet") or head == "unet":
            components.add("unet")
        elif head.startswith("lora_te") or head.startswith("text_encoder"):
            components.add("text_encoder")
        elif head == "transformer" or head.startswith("lora_transformer"):
            components.add("transformer")
    return {
        "lora_rank": ranks.most_common(1)[0][0] if ranks else None,
        "lora_params": params,
        "lora_format": fmt,
        "lora_components": ",".join(sorted(components)) or None,
        "lora_layers": sum(ranks.values()) or None,
    }


def adapter_file(files: frozenset[str]) -> str | None:
    """The adapter's safetensors file: a well-known name, else the only root-level ``.safetensors``."""
    for name in LORA_FILES:
        if name in files:
            return name
    root = sorted(f for f in files if "/" not in f and f.endswith(".safetensors"))
    return root[0] if len(root) == 1 else (next((f for f in root if "lora" in f.lower()), root[0]) if root else None)


class LoraCrawler(Crawler):
    """LoRA adapters for text-to-image models (tag ``lora``, ``pipeline_tag=text-to-image``)."""

    name = "lora"
    description = "LoRA adapters: base model, trigger words, tags, card text and rank"

    def listing(self, *, search: str | None = None) -> Mapping[str, Any]:
        return {"filter": "lora", "pipeline_tag": "text-to-image", "search": search, "sort": "downloads"}

    def record(self, reader: RepoReader) -> ModelRecord | Skipped:
        repo = reader.repo_id
        files = reader.files
        if "model_index.json" in files:
            return Skipped(repo, reader.revision, "a full diffusers pipeline, not an adapter")
        weights = adapter_file(files)
        pickles = sorted(f for f in files if f.endswith(PICKLE_EXTENSIONS))
        if weights is None and not pickles:
            return Skipped(repo, reader.revision, "no adapter weights file")
        info = reader.info
        card = info.card_data.to_dict() if info is not None and info.card_data is not None else {}
        tags = [t for t in (info.tags if info is not None else None) or [] if not t.startswith(_TAGS_HIDDEN)]
        notes: list[str] = []
        transient = False
        features: dict[str, Any] = {
            "kind": "lora",
            **listing_features(info),
            "tags": ",".join(tags) or None,
            "safety_flag": NOT_FLAGGED,
            "excluded_reason": NOT_FLAGGED,
            "adapter_file": weights,
        }

        def done() -> ModelRecord:
            features["crawl_complete"] = not transient
            features["crawl_notes"] = "; ".join(notes) or None
            return ModelRecord(repo, revision=reader.revision, features=features)

        code = remote_code_reasons(files, None, card)
        if code:
            features["safety_flag"] = "remote_code"
            features["excluded_reason"] = "needs custom code: " + "; ".join(code)
        elif weights is None:
            features["safety_flag"] = "pickle_only"
            features["excluded_reason"] = f"adapter only as pickle files ({', '.join(pickles[:3])}): loading it can run code"
        if features["excluded_reason"]:
            log.warning("%s: %s", repo, features["excluded_reason"])

        body = ""
        if "README.md" in files:
            try:
                body = card_body(reader.read_text("README.md"))
            except RepoReadError as exc:
                if exc.gated:
                    features["safety_flag"] = features["safety_flag"] or "gated"
                    features["excluded_reason"] = features["excluded_reason"] or exc.reason
                    return done()
                transient |= exc.transient
                note(notes, f"card unreadable: {exc.reason}", repo)
        else:
            note(notes, "no model card (README.md)", repo)
        features["instance_prompt"] = _as_text(card.get("instance_prompt"))
        features["trigger_words"] = trigger_words(card, body)
        features["widget_prompts"] = widget_prompts(card)
        features["card_text"] = body.strip()[:CARD_TEXT_MAX] or None
        if features["base_model"] is None:
            note(notes, "no base_model in the card", repo)

        if weights is not None and not features["excluded_reason"]:
            try:
                features.update(adapter_features(reader.read_safetensors_header(weights)))
            except RepoReadError as exc:
                transient |= exc.transient
                note(notes, f"adapter header unreadable: {exc.reason}", repo)
        return done()
