"""The facility category registry: keys, names, aliases, subtypes, OSM tags, icons and colours.

The registry is data (``categories.toml`` beside this module); a plan file can add or extend
categories under ``[categories.<key>]`` without code changes.

Examples
--------
>>> registry = load_registry()
>>> registry["columbarium"].name_zh
'公益性骨灰安放设施'
>>> registry.match_subtype("elder_care_centre", "农村区域性养老服务中心")
'regional_rural'
>>> registry = load_registry({"my_key": {"name_zh": "某设施", "aliases": ["某站"]}})
>>> "my_key" in registry
True
"""

from __future__ import annotations

import logging
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecircle.errors import PlanError

logger = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).with_name("categories.toml")

_CATEGORY_KEYS = ("name_zh", "name_en", "aliases", "icon", "color", "osm", "subtypes")
_SUBTYPE_KEYS = ("name_zh", "name_en", "aliases")
# Colours handed to plan-added categories that do not name one (ColorBrewer Set1/Dark2).
_PALETTE = (
    "#1b9e77",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#e41a1c",
    "#377eb8",
    "#4daf4a",
    "#984ea3",
)


def normalise_text(text: object) -> str:
    """Fold full-width characters (NFKC), lower-case and drop whitespace, for alias matching.

    >>> normalise_text("  村（居）社工室 ")
    '村(居)社工室'
    """
    folded = unicodedata.normalize("NFKC", str(text)).lower()
    return "".join(folded.split())


@dataclass(frozen=True)
class Subtype:
    """One subtype of a category (e.g. ``comprehensive`` elder-care centre)."""

    key: str
    name_zh: str
    name_en: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    """One facility category: names, aliases, subtypes, OSM tag sets, map icon and colour."""

    key: str
    name_zh: str
    name_en: str = ""
    aliases: tuple[str, ...] = ()
    icon: str = "circle"
    color: str = "#3388ff"
    osm: tuple[dict[str, str], ...] = ()
    subtypes: dict[str, Subtype] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (``key, name_zh, name_en, aliases, icon, color, osm, subtypes``)."""
        return {
            "key": self.key,
            "name_zh": self.name_zh,
            "name_en": self.name_en or self.key,
            "aliases": list(self.aliases),
            "icon": self.icon,
            "color": self.color,
            "osm": [dict(tags) for tags in self.osm],
            "subtypes": {
                k: {"name_zh": s.name_zh, "name_en": s.name_en, "aliases": list(s.aliases)}
                for k, s in self.subtypes.items()
            },
        }

    def display_name(self, lang: str = "zh") -> str:
        """The Chinese or English name (falling back to the other, then the key)."""
        if lang == "en":
            return self.name_en or self.name_zh or self.key
        return self.name_zh or self.name_en or self.key


class CategoryRegistry(Mapping[str, Category]):
    """Read-only mapping ``key -> Category`` with alias matching helpers."""

    def __init__(self, categories: Mapping[str, Category]) -> None:
        self._categories = dict(categories)
        # Folded aliases, longest first, so a match is one scan (registers have many rows).
        self._subtype_aliases = {
            key: sorted(
                {
                    (normalise_text(alias), sub_key)
                    for sub_key, sub in cat.subtypes.items()
                    for alias in (sub.name_zh, sub_key, *sub.aliases)
                    if alias
                },
                key=lambda pair: (-len(pair[0]), pair),
            )
            for key, cat in self._categories.items()
        }
        self._category_aliases = sorted(
            {
                (normalise_text(alias), key)
                for key, cat in self._categories.items()
                for alias in (cat.name_zh, key, *cat.aliases)
                if alias
            },
            key=lambda pair: (-len(pair[0]), pair),
        )

    def __getitem__(self, key: str) -> Category:
        try:
            return self._categories[key]
        except KeyError:
            raise KeyError(
                f"unknown category {key!r} (known: {', '.join(self._categories)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._categories)

    def __len__(self) -> int:
        return len(self._categories)

    def __repr__(self) -> str:
        return f"CategoryRegistry({', '.join(self._categories)})"

    def osm_tags(self) -> dict[str, list[dict[str, str]]]:
        """OSM tag sets by category key (a feature matching all tags of one set belongs there)."""
        return {key: [dict(tags) for tags in cat.osm] for key, cat in self._categories.items()}

    def match_subtype(self, category: str, text: object) -> str:
        """The subtype key whose longest alias (or name) occurs in ``text``; ``""`` if none.

        Matching folds full-width brackets and spaces: ``村（居）社工室`` matches
        ``村(居)社工室``.
        """
        if text is None or category not in self._categories:
            return ""
        target = normalise_text(text)
        if not target or target == "nan":
            return ""
        for alias, key in self._subtype_aliases[category]:
            if alias in target:
                return key
        return ""

    def subtype_aliases(self, category: str) -> list[tuple[str, str]]:
        """``(folded alias, subtype key)`` pairs of a category, longest alias first: the order in
        which :meth:`match_subtype` tries them (for matching whole columns at once)."""
        return list(self._subtype_aliases.get(category, ()))

    def match_category(self, text: object) -> str:
        """The category key whose longest alias (or name, or key) occurs in ``text``; ``""``."""
        target = normalise_text(text)
        if not target:
            return ""
        for alias, key in self._category_aliases:
            if alias in target:
                return key
        return ""


def _as_str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PlanError(f'{where} must be a list of strings, e.g. ["儿童之家", "村居儿童之家"]')
    return tuple(value)


def _check_table(table: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PlanError(f"{where} must be a table, got {type(table).__name__}")
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise PlanError(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(allowed)})"
        )
    return table


def _build_subtypes(raw: Any, where: str, base: Mapping[str, Subtype]) -> dict[str, Subtype]:
    subtypes = dict(base)
    for key, table in _check_table(raw, tuple(raw) if isinstance(raw, dict) else (), where).items():
        sub_where = f"{where}.{key}"
        table = _check_table(table, _SUBTYPE_KEYS, sub_where)
        old = subtypes.get(key)
        name_zh = table.get("name_zh", old.name_zh if old else "")
        if not name_zh:
            raise PlanError(f"{sub_where} needs name_zh (the Chinese name of the subtype)")
        aliases = _as_str_tuple(table.get("aliases", []), f"{sub_where}.aliases")
        subtypes[key] = Subtype(
            key=key,
            name_zh=str(name_zh),
            name_en=str(table.get("name_en", old.name_en if old else "")),
            aliases=tuple(dict.fromkeys((*(old.aliases if old else ()), *aliases))),
        )
    return subtypes


def _build_category(
    key: str, table: Any, base: Category | None, where: str, colour_index: int
) -> Category:
    table = _check_table(table, _CATEGORY_KEYS, where)
    if not key.isidentifier():
        raise PlanError(
            f"{where}: category key {key!r} must be a plain identifier such as "
            "'children_home' (letters, digits, underscores)"
        )
    name_zh = table.get("name_zh", base.name_zh if base else "")
    if not name_zh:
        raise PlanError(f'{where} needs name_zh, e.g. name_zh = "儿童之家"')
    aliases = _as_str_tuple(table.get("aliases", []), f"{where}.aliases")
    osm_raw = table.get("osm", None)
    if osm_raw is None:
        osm = base.osm if base else ()
    else:
        if isinstance(osm_raw, dict):
            osm_raw = [osm_raw]
        if not isinstance(osm_raw, list) or not all(isinstance(t, dict) for t in osm_raw):
            raise PlanError(
                f"{where}.osm must be a list of tag tables, e.g. "
                'osm = [{ amenity = "social_facility" }]'
            )
        osm = tuple({str(k): str(v) for k, v in tags.items()} for tags in osm_raw)
    return Category(
        key=key,
        name_zh=str(name_zh),
        name_en=str(table.get("name_en", base.name_en if base else "")),
        aliases=tuple(dict.fromkeys((*(base.aliases if base else ()), *aliases))),
        icon=str(table.get("icon", base.icon if base else "circle")),
        color=str(
            table.get("color", base.color if base else _PALETTE[colour_index % len(_PALETTE)])
        ),
        osm=osm,
        subtypes=_build_subtypes(
            table.get("subtypes", {}), f"{where}.subtypes", base.subtypes if base else {}
        ),
    )


def load_registry(
    extra: Mapping[str, Any] | None = None, *, path: str | Path | None = None
) -> CategoryRegistry:
    """Load the built-in category registry and merge a plan's ``[categories]`` table into it.

    Parameters
    ----------
    extra
        The plan's ``[categories]`` table: ``{key: {name_zh, name_en, aliases, icon, color, osm,
        subtypes}}``. A new key adds a category (``name_zh`` required); an existing key overrides
        the fields it names and appends aliases and subtypes.
    path
        Another registry TOML file instead of the built-in ``categories.toml``.

    Raises
    ------
    PlanError
        When a table is malformed (unknown key, missing ``name_zh``, aliases not a list ...).
    """
    source = Path(path) if path is not None else REGISTRY_PATH
    try:
        doc = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PlanError(f"cannot read the category registry {source}: {exc}") from None
    categories: dict[str, Category] = {}
    for key, table in doc.get("categories", {}).items():
        categories[key] = _build_category(
            key, table, None, f"{source.name} [categories.{key}]", len(categories)
        )
    if extra:
        if not isinstance(extra, Mapping):
            raise PlanError("[categories] must be a table of [categories.<key>] tables")
        for key, table in extra.items():
            base = categories.get(key)
            categories[key] = _build_category(
                key, table, base, f"[categories.{key}]", len(categories)
            )
            logger.debug("category %s %s by the plan", key, "extended" if base else "added")
    logger.debug("category registry: %d categories", len(categories))
    return CategoryRegistry(categories)
