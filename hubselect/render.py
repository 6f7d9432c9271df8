"""Rendering of the Hub cards (templates live in the top-level ``cards/`` folder)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
import yaml


def render_card(template: str, *, metadata: dict, filters: dict | None = None, **context) -> str:
    """Render ``cards/<template>`` with ``metadata`` as the YAML front matter.

    >>> text = render_card("zoo_card.md.j2", metadata={"license": "mit"}, repo_id="org/zoo", summary={...})  # doctest: +SKIP
    """
    source = _template_text(template)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters.update(filters or {})
    header = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True).strip()
    return env.from_string(source).render(yaml_header=header, **context)


def _template_text(name: str) -> str:
    try:  # installed: cards/ ships as the package data ``hubselect.cards``
        return resources.files("hubselect.cards").joinpath(name).read_text(encoding="utf-8")
    except ModuleNotFoundError:  # editable install or source checkout: the top-level cards/ folder
        return (Path(__file__).resolve().parents[1] / "cards" / name).read_text(encoding="utf-8")
