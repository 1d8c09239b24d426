"""Built-in target presets: the spatial rows of the seed plans, as plan-file fragments.

Each preset is a TOML file beside this module with a ``[preset]`` table (``title``, ``document``
— the Chinese title of the source — and ``note``) and ``[[targets]]`` rows written exactly as in
a plan file, each citing its ``indicator`` (Chinese name). A plan includes one with
``[[targets]] preset = "taizhou_14th"`` (optionally ``year = 2023`` and ``only = ["…"]``).

>>> "gb50180" in preset_names()
True
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from lifecircle.errors import PlanError


@cache
def preset_names() -> tuple[str, ...]:
    """Names of the shipped presets (file stems), sorted."""
    folder = resources.files(__name__)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


@cache
def _load(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise PlanError(f"unknown preset {name!r} (known: {', '.join(preset_names())})")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def preset_info(name: str) -> dict[str, Any]:
    """The preset's ``[preset]`` table (title, document, note)."""
    return dict(_load(name).get("preset", {}))


def load_preset(name: str) -> list[dict[str, Any]]:
    """The preset's target rows as plan-file tables (``document`` filled in from the preset).

    Raises
    ------
    PlanError
        When no preset has that name.
    """
    doc = _load(name)
    document = doc.get("preset", {}).get("document", "")
    rows = []
    for row in doc.get("targets", []):
        row = dict(row)
        row.setdefault("document", document)
        rows.append(row)
    return rows
