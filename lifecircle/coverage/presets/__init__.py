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


def _describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return " → ".join(f"{y}:{v:g}" for y, v in value.items())
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _counts(row: dict[str, Any]) -> str:
    """What a row counts: category, subtypes and filters, in one cell."""
    if row["type"] == "staffing":
        parts = [f"staff_{row['staff_key']}"]
    else:
        parts = [row.get("category", "elder_care_centre")]
    subtype = row.get("subtype")
    if subtype:
        parts[0] += " / " + ", ".join([subtype] if isinstance(subtype, str) else subtype)
    for key, label in (
        ("service", "service"),
        ("kind", "kind"),
        ("unit_kind", "unit_kind"),
        ("min_floor_area_m2", "单处 ≥ {} ㎡"),
        ("min_grade", "等级 ≥ {}"),
        ("opened_since", "opened ≥ {}"),
        ("event", "event"),
        ("towns", "towns"),
        ("counties", "counties"),
    ):
        if key in row:
            value = row[key]
            text = "、".join(value) if isinstance(value, list) else _describe_value(value)
            parts.append(label.format(text) if "{}" in label else f"{label} {text}")
    return "; ".join(parts)


def _target(row: dict[str, Any]) -> str:
    """The row's target values, in one cell."""
    parts = []
    for key in (
        "measure",
        "target_pct",
        "min_count",
        "min_value",
        "min_m2_per_100_households",
        "threshold_min",
        "max_distance_m",
        "per_1000",
        "population",
        "year",
    ):
        if key in row:
            parts.append(f"{key} {_describe_value(row[key])}")
    if "brackets" in row:
        parts.append(
            "brackets " + "; ".join(f"{lo:g}–{hi:g}: {n:g}" for lo, hi, n in row["brackets"])
        )
    return ", ".join(parts)


def presets_reference_markdown() -> str:
    """Every preset row as Markdown tables with its seed quote (docs/targets.md is made with this).

    >>> "`gb50180.circle_5min_culture`" in presets_reference_markdown()
    True
    """
    out = []
    for name in preset_names():
        info = preset_info(name)
        out += [
            f"### `{name}` — {info.get('document', name)}",
            "",
            info.get("note", ""),
            "",
            "| id | 指标 (indicator) | 原文 (source quote) | 出处 (where) | type, level "
            "| counts | target | 说明 (note) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in load_preset(name):
            level = row.get(
                "level",
                "district"
                if row["type"] in ("count", "district_presence", "new_facilities")
                else "township",
            )
            where = row.get("source_ref", "")
            if row["document"] != info.get("document"):
                where = f"{row['document']}：{where}"
            note = f"近似：{row['approximate']}" if "approximate" in row else row.get("note", "")
            cells = [
                f"`{name}.{row['id']}`",
                row["indicator"],
                row.get("source_quote", ""),
                where,
                f"{row['type']}, {level}",
                _counts(row),
                _target(row),
                note,
            ]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
