"""Plan targets: the model, parsing and validation, and evaluation into a gap report.

A target is one row of a five-year plan that a facility map can check (see docs/targets.md):

``presence``
    every unit (township by default, or a unit level such as ``village``) of a kind has at least
    ``min_count`` facilities of a category (or subtype); the area is judged by the share of units
    that do, against ``target_pct`` (default 100).
``unit_coverage``
    the share of units with at least one facility, against ``target_pct``.
``count``
    at least ``min_count`` facilities of a category/subtype in the whole area.
``district_presence``
    the area has at least ``min_count``; with ``towns = [...]`` each named township too.
``service_circle``
    share of seniors (``population = "pop60"``) or of everyone (``"pop"``) within
    ``threshold_min`` minutes of a category, per township, unit and area.
``ratio``
    ``beds_per_1000_seniors``, ``nursing_beds_per_1000_seniors`` or ``nursing_bed_share_pct``
    against ``min_value``.
``colocation``
    share of one category's facilities hosting a service (``service``, from the ``services``
    column) or lying within ``within_m`` of a facility of ``near_category``.
``new_facilities``
    facilities with ``opened == year`` against a yearly quota ``min_count``; with
    ``measure = "beds"``, ``"nursing_beds"`` or ``"floor_area_m2"`` the quota is in that capacity
    (张 / ㎡), summed over the facilities opened in the year.
``floor_area``
    floor area (m²) per 100 households per unit against ``min_m2_per_100_households``.
``staffing``
    staff per township against a requirement bracketed by population.

Every numeric target may be a trajectory ``{2021 = 55, ..., 2025 = 70}``; the evaluation year is
the plan's (or the target's own ``year``). Preset rows whose input is missing evaluate to
not-applicable with the missing input named; a user's own target naming an unknown key, category,
kind or year fails at once with a :class:`~lifecircle.errors.PlanError` naming it.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import PlanError

log = logging.getLogger(__name__)

TARGET_TYPES = (
    "presence", "unit_coverage", "count", "district_presence", "service_circle", "ratio",
    "colocation", "new_facilities", "floor_area", "staffing",
)
RATIO_MEASURES = ("beds_per_1000_seniors", "nursing_beds_per_1000_seniors", "nursing_bed_share_pct")
# What a new_facilities quota counts: (register column or None for a count, value unit, Chinese
# name of the attribute, Chinese unit in notes).
NEW_MEASURES: dict[str, tuple[str | None, str, str, str]] = {
    "count": (None, "facilities", "设施数", "处"),
    "beds": ("beds", "beds", "床位数", "张"),
    "nursing_beds": ("nursing_beds", "nursing beds", "护理型床位数", "张护理型床位"),
    "floor_area_m2": ("floor_area_m2", "m²", "建筑面积", "㎡"),
}
KINDS = ("street", "town")
KIND_ZH = {"street": "街道", "town": "镇/乡"}
POPULATIONS = ("pop60", "pop")
STATUS_ZH = {"met": "达标", "not_met": "未达标", "na": "不适用"}
LEVEL_ZH = {"township": "乡镇（街道）", "district": "全区", "village": "村（社区）",
            "community": "社区", "year": "年度"}
ROW_COLUMNS = (
    "target_id", "indicator", "document", "target_type", "level", "unit_code", "unit_name",
    "parent_code", "kind", "value", "target_value", "unit", "status", "status_zh", "shortfall",
    "shortfall_unit", "note", "note_en", "target_level", "year", "trajectory",
)
SUMMARY_COLUMNS = (*ROW_COLUMNS, "met_units", "total_units")

_COMMON_KEYS = ("id", "type", "indicator", "document", "level", "kind", "unit_kind", "year",
                "binding", "note")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "presence": ("category", "subtype", "service", "min_count", "target_pct"),
    "unit_coverage": ("category", "subtype", "service", "min_count", "target_pct"),
    "count": ("category", "subtype", "service", "min_count"),
    "district_presence": ("category", "subtype", "service", "min_count", "towns"),
    "service_circle": ("category", "threshold_min", "population", "target_pct"),
    "ratio": ("category", "subtype", "measure", "min_value"),
    "colocation": ("category", "subtype", "service", "near_category", "within_m", "target_pct"),
    "new_facilities": ("category", "subtype", "service", "min_count", "measure"),
    "floor_area": ("category", "subtype", "service", "min_m2_per_100_households", "target_pct"),
    "staffing": ("staff_key", "brackets", "population", "category", "target_pct"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "presence": ("category",),
    "unit_coverage": ("category", "target_pct"),
    "count": ("category", "min_count"),
    "district_presence": ("category",),
    "service_circle": ("category", "threshold_min", "target_pct"),
    "ratio": ("measure", "min_value"),
    "colocation": ("category", "target_pct"),
    "new_facilities": ("category", "min_count"),
    "floor_area": ("category", "min_m2_per_100_households"),
    "staffing": ("staff_key", "brackets"),
}
# Types judged over the whole area only (their level is always "district").
_AREA_TYPES = ("count", "district_presence", "new_facilities")
# Types evaluated per township only (no unit level below it).
_TOWNSHIP_TYPES = ("ratio", "colocation", "staffing")
_PRESET_KEYS = ("preset", "year", "only")

# The value/shortfall units, in English; report.py translates them.
UNIT_ZH = {
    "facilities": "处", "%": "%", "beds/1000 seniors": "张/千名老人",
    "m²/100 households": "㎡/百户", "staff": "名", "seniors": "人（老年人）", "people": "人",
    "beds": "张", "nursing beds": "张（护理型）", "m²": "㎡", "units": "个",
}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Trajectory:
    """A target value per year, e.g. ``{2021: 55, 2025: 70}``."""

    values: tuple[tuple[int, float], ...]

    def at(self, year: int) -> float:
        """The value for ``year`` (raises :class:`PlanError` when the year is not on the path)."""
        for y, v in self.values:
            if y == year:
                return v
        years = [y for y, _ in self.values]
        raise PlanError(
            f"year {year} is outside the trajectory {self.describe()} — set the plan's "
            f"[study].year or the target's year to one of {years}"
        )

    @property
    def years(self) -> list[int]:
        return [y for y, _ in self.values]

    def describe(self) -> str:
        return " → ".join(f"{y}:{v:g}" for y, v in self.values)


Value = float | Trajectory


@dataclass(frozen=True)
class Target:
    """One plan target (see the module docstring for the types and their keys)."""

    id: str
    type: str
    indicator: str = ""
    document: str = ""
    level: str = "township"
    category: str | None = None
    subtype: tuple[str, ...] = ()
    service: str | None = None
    kind: str | None = None
    unit_kind: str | None = None
    min_count: Value | None = None
    target_pct: Value | None = None
    min_value: Value | None = None
    min_m2_per_100_households: Value | None = None
    measure: str | None = None
    threshold_min: float | Mapping[str, float] | None = None
    population: str = "pop60"
    towns: tuple[str, ...] = ()
    near_category: str | None = None
    within_m: float | None = None
    staff_key: str | None = None
    brackets: tuple[tuple[float, float, float], ...] = ()
    year: int | None = None
    binding: bool | None = None
    note: str = ""
    preset: str | None = None

    def value_at(self, key: str, year: int) -> float | None:
        """The numeric target ``key`` for ``year`` (trajectories resolved), or ``None``."""
        value = getattr(self, key)
        if isinstance(value, Trajectory):
            return value.at(year)
        return None if value is None else float(value)

    @property
    def trajectory(self) -> Trajectory | None:
        """The first trajectory among the target's values, if any."""
        for key in ("target_pct", "min_count", "min_value", "min_m2_per_100_households"):
            value = getattr(self, key)
            if isinstance(value, Trajectory):
                return value
        return None

    @property
    def categories(self) -> list[str]:
        """Every facility category the target reads."""
        names = [self.category, self.near_category]
        return [c for c in names if c]


@dataclass
class GapReport:
    """Per unit × target rows and one area row per target (columns in docs/architecture.md)."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    year: int | None = None
    targets: list[Target] = field(default_factory=list)


@dataclass
class EvaluationContext:
    """Everything evaluation reads (all in memory; no I/O).

    Attributes
    ----------
    townships
        ``code, name, kind, kind_zh`` plus ``pop, pop60`` (summed from demand by the pipeline) and
        optional ``households`` and ``staff_<key>`` columns.
    units
        Unit layers below the township by level (``code, name, parent_code, unit_kind`` and
        optional ``households, pop, pop60``).
    facilities
        Facilities of every category (``category, subtype, township_code, beds, nursing_beds,
        floor_area_m2, opened, services`` and ``unit_code__<level>`` or ``unit_code``).
    coverage
        The coverage result (its ``demand`` carries ``time_min__<category>``), or ``None``.
    walk
        The walk model (default thresholds of service circles per township kind).
    year
        The evaluation year.
    layers_present
        Categories the user gave a register for.
    """

    townships: gpd.GeoDataFrame
    units: dict[str, gpd.GeoDataFrame]
    facilities: gpd.GeoDataFrame
    coverage: Any
    walk: WalkModel
    year: int
    district_name: str = ""
    layers_present: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- parsing


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def _parse_value(raw: Any, key: str, where: str) -> Value:
    if isinstance(raw, Mapping):
        pairs = []
        for year, value in raw.items():
            try:
                year_int = int(year)
            except ValueError:
                raise PlanError(f"{where}: {key} has key {year!r}, which is not a year — "
                                f"write {key} = {{2021 = 55, 2025 = 70}}") from None
            pairs.append((year_int, _number(value, f"{key}.{year}", where)))
        if not pairs:
            raise PlanError(f"{where}: {key} is an empty trajectory — give at least one year")
        return Trajectory(tuple(sorted(pairs)))
    return _number(raw, key, where)


def _number(raw: Any, key: str, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PlanError(f"{where}: {key} must be a number, got {raw!r}")
    return float(raw)


def _values(value: Value) -> list[float]:
    return [v for _, v in value.values] if isinstance(value, Trajectory) else [value]


def _str_tuple(raw: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list | tuple) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise PlanError(f"{where}: {key} must be a name or a list of names, got {raw!r}")


def _parse_brackets(raw: Any, where: str) -> tuple[tuple[float, float, float], ...]:
    fix = "write brackets = [[0, 20000, 1], [20000, 50000, 2], [50000, inf, 3]]"
    if not isinstance(raw, list) or not raw:
        raise PlanError(f"{where}: brackets must be a list of [from, to, required] — {fix}")
    rows = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 3:
            raise PlanError(f"{where}: bracket {item!r} is not [from, to, required] — {fix}")
        lo, hi, need = (_number(v, "brackets", where) for v in item)
        if not hi > lo:
            raise PlanError(f"{where}: bracket {item!r} has to ≤ from — {fix}")
        rows.append((lo, hi, need))
    rows.sort()
    for (_, hi, _), (lo, _, _) in itertools.pairwise(rows):
        if lo != hi:
            raise PlanError(f"{where}: brackets leave a gap or overlap at {hi:g}/{lo:g} — "
                            f"each bracket must start where the previous one ends ({fix})")
    return tuple(rows)


def _parse_one(raw: Mapping[str, Any], *, where: str, default_id: str,
               preset: str | None) -> Target:
    if "type" not in raw:
        raise PlanError(f"{where}: missing key 'type' (one of {', '.join(TARGET_TYPES)}) — "
                        "or write preset = \"<name>\" to include a preset")
    kind_of_target = raw["type"]
    if kind_of_target not in TARGET_TYPES:
        raise PlanError(f"{where}: unknown target type {kind_of_target!r}"
                        f"{_suggest(kind_of_target, TARGET_TYPES)} "
                        f"(known: {', '.join(TARGET_TYPES)})")
    allowed = (*_COMMON_KEYS, *_TYPE_KEYS[kind_of_target])
    for key in raw:
        if key not in allowed:
            other = [t for t in TARGET_TYPES if key in _TYPE_KEYS[t]]
            hint = f"; {key!r} belongs to type(s) {', '.join(other)}" if other else ""
            raise PlanError(f"{where}: unknown key {key!r} for a {kind_of_target} target"
                            f"{_suggest(key, allowed)}{hint} (allowed: {', '.join(allowed)})")
    for key in _REQUIRED[kind_of_target]:
        if key not in raw:
            raise PlanError(f"{where}: a {kind_of_target} target needs key {key!r} — see "
                            "docs/targets.md for an example")
    target_id = str(raw.get("id", default_id))
    where = f"{where} (id {target_id!r})"
    values: dict[str, Any] = {"id": target_id, "type": kind_of_target, "preset": preset}
    for key in ("indicator", "document", "note", "category", "service", "near_category",
                "staff_key", "measure", "unit_kind"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise PlanError(f"{where}: {key} must be a non-empty text, got {raw[key]!r}")
            values[key] = raw[key]
    level = raw.get("level", "district" if kind_of_target in _AREA_TYPES else "township")
    if not isinstance(level, str) or not level:
        raise PlanError(f"{where}: level must be a text such as 'township' or 'village'")
    if kind_of_target in _AREA_TYPES and level != "district":
        raise PlanError(f"{where}: a {kind_of_target} target counts the whole area, so its level "
                        f"is 'district', not {level!r} — use type = \"presence\" for a count per "
                        "unit")
    if kind_of_target in _TOWNSHIP_TYPES and level != "township":
        raise PlanError(f"{where}: a {kind_of_target} target is evaluated per township "
                        f"(level = 'township'), not {level!r}")
    if kind_of_target not in _AREA_TYPES and level == "district":
        raise PlanError(f"{where}: level 'district' is for count, district_presence and "
                        "new_facilities targets; a per-unit target uses 'township' or a unit level")
    values["level"] = level
    if "kind" in raw:
        if raw["kind"] not in KINDS:
            raise PlanError(f"{where}: kind {raw['kind']!r} is not a township kind"
                            f"{_suggest(raw['kind'], KINDS)} "
                            "(use 'street' for 街道 or 'town' for 镇/乡)")
        values["kind"] = raw["kind"]
    if "subtype" in raw:
        values["subtype"] = _str_tuple(raw["subtype"], "subtype", where)
    if "towns" in raw:
        values["towns"] = _str_tuple(raw["towns"], "towns", where)
    for key in ("min_count", "target_pct", "min_value", "min_m2_per_100_households"):
        if key in raw:
            values[key] = _parse_value(raw[key], key, where)
    if "measure" in values:
        measures = tuple(NEW_MEASURES) if kind_of_target == "new_facilities" else RATIO_MEASURES
        if values["measure"] not in measures:
            raise PlanError(f"{where}: unknown measure {values['measure']!r} for a "
                            f"{kind_of_target} target{_suggest(values['measure'], measures)} "
                            f"(allowed: {', '.join(measures)})")
    if values.get("measure") == "floor_area_m2":
        # a floor-area quota (m²) need not be whole
        if any(not v > 0 for v in _values(values["min_count"])):
            raise PlanError(f"{where}: min_count (m² of floor area) must be positive, got "
                            f"{raw['min_count']!r} (a threshold of 0 is always met)")
    elif "min_count" in values and any(v < 1 or v != int(v) for v in _values(values["min_count"])):
        raise PlanError(f"{where}: min_count must be a whole number ≥ 1, got {raw['min_count']!r} "
                        "(a threshold of 0 is always met)")
    if "target_pct" in values and any(not 1 <= v <= 100 for v in _values(values["target_pct"])):
        # below 1 is almost always a fraction written for a percentage
        raise PlanError(f"{where}: target_pct must be a percentage in [1, 100], got "
                        f"{raw['target_pct']!r} (write 90 for 90 %, not 0.9; 0 is always met)")
    for key in ("min_value", "min_m2_per_100_households"):
        if key in values and any(not v > 0 for v in _values(values[key])):
            raise PlanError(f"{where}: {key} must be positive, got {raw[key]!r} "
                            "(a threshold of 0 is always met)")
    if "threshold_min" in raw:
        values["threshold_min"] = _parse_threshold(raw["threshold_min"], where)
    if "population" in raw:
        if raw["population"] not in POPULATIONS:
            raise PlanError(f"{where}: population must be 'pop60' (seniors) or 'pop' (everyone), "
                            f"got {raw['population']!r}{_suggest(raw['population'], POPULATIONS)}")
        values["population"] = raw["population"]
    elif kind_of_target == "staffing":
        values["population"] = "pop"
    if kind_of_target == "ratio":
        values.setdefault("category", "elder_care_centre")
    if "within_m" in raw:
        values["within_m"] = _number(raw["within_m"], "within_m", where)
        if not values["within_m"] > 0:
            raise PlanError(f"{where}: within_m must be positive metres, got {raw['within_m']!r}")
    if kind_of_target == "colocation":
        has_service = "service" in values
        has_near = "near_category" in values
        if has_service == has_near:
            raise PlanError(f"{where}: a colocation target needs exactly one of service = "
                            "\"<key>\" (from the services column) or near_category = "
                            "\"<category>\" with within_m")
        if has_near and "within_m" not in values:
            raise PlanError(f"{where}: near_category needs within_m (metres), e.g. within_m = 100")
    if "brackets" in raw:
        values["brackets"] = _parse_brackets(raw["brackets"], where)
    if "year" in raw:
        if isinstance(raw["year"], bool) or not isinstance(raw["year"], int):
            raise PlanError(f"{where}: year must be a whole year such as 2025, got {raw['year']!r}")
        values["year"] = raw["year"]
    if "binding" in raw:
        values["binding"] = bool(raw["binding"])
    target = Target(**values)
    if target.year is not None:
        _check_year(target, target.year, where)
    return target


def _parse_threshold(raw: Any, where: str) -> float | dict[str, float]:
    if isinstance(raw, Mapping):
        out = {}
        for kind, value in raw.items():
            if kind not in KINDS:
                raise PlanError(f"{where}: threshold_min.{kind} is not a township kind"
                                f"{_suggest(kind, KINDS)} (use street or town)")
            out[kind] = _number(value, f"threshold_min.{kind}", where)
        values = list(out.values())
    else:
        out = _number(raw, "threshold_min", where)
        values = [out]
    if any(not v > 0 for v in values):
        raise PlanError(f"{where}: threshold_min must be positive minutes, got {raw!r} "
                        "(a 0-minute circle covers nobody)")
    return out


def _check_year(target: Target, year: int, where: str) -> None:
    for key in ("min_count", "target_pct", "min_value", "min_m2_per_100_households"):
        value = getattr(target, key)
        if isinstance(value, Trajectory) and year not in value.years:
            raise PlanError(f"{where}: evaluation year {year} is outside the trajectory of {key} "
                            f"({value.describe()}) — set year = one of {value.years} on the target "
                            "(or the preset entry), or change [study].year")


def parse_targets(raw: list[Mapping[str, Any]], *, source: str = "plan",
                  categories: Collection[str] | None = None) -> list[Target]:
    """Parse the ``[[targets]]`` array of a plan file, expanding preset entries.

    Parameters
    ----------
    raw
        The TOML array: full target tables, or ``{preset = "name", year = 2025, only = [ids]}``.
    source
        The plan file's name, used in messages.
    categories
        Known category keys; when given, a user target naming another category fails.

    Raises
    ------
    PlanError
        Naming the entry, the key and the fix.
    """
    from lifecircle.coverage.presets import load_preset, preset_names

    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise PlanError(f"{source}: targets must be an array of tables ([[targets]])")
    targets: list[Target] = []
    for i, item in enumerate(raw):
        where = f"{source}: [[targets]] #{i + 1}"
        if not isinstance(item, Mapping):
            raise PlanError(f"{where} must be a table, got {item!r}")
        if "preset" in item:
            for key in item:
                if key not in _PRESET_KEYS:
                    raise PlanError(f"{where}: unknown key {key!r} in a preset entry"
                                    f"{_suggest(key, _PRESET_KEYS)} (allowed: preset, year, only)")
            name = item["preset"]
            if name not in preset_names():
                raise PlanError(f"{where}: unknown preset {name!r}{_suggest(name, preset_names())} "
                                f"(known: {', '.join(preset_names())})")
            rows = load_preset(name)
            ids = [str(r["id"]) for r in rows]
            only = item.get("only")
            if only is not None:
                only = _str_tuple(only, "only", where)
                for wanted in only:
                    if wanted not in ids:
                        raise PlanError(f"{where}: preset {name!r} has no row {wanted!r}"
                                        f"{_suggest(wanted, ids)} (rows: {', '.join(ids)})")
                rows = [r for r in rows if str(r["id"]) in only]
            for j, row in enumerate(rows):
                row = dict(row)
                if "year" in item:
                    row["year"] = item["year"]
                row["id"] = f"{name}.{row['id']}"
                targets.append(_parse_one(row, where=f"{where} preset {name!r} row {j + 1}",
                                          default_id=f"{name}-{j + 1}", preset=name))
        else:
            targets.append(_parse_one(item, where=where, default_id=f"target-{i + 1}", preset=None))
    seen: set[str] = set()
    for target in targets:
        if target.id in seen:
            raise PlanError(f"{source}: target id {target.id!r} is used twice — give each "
                            "[[targets]] entry its own id (or include a preset only once)")
        seen.add(target.id)
    if categories is not None:
        validate_targets(targets, categories=categories, source=source)
    return targets


def validate_targets(targets: Iterable[Target], *, categories: Collection[str] | None = None,
                     kinds: Collection[str] | None = None, levels: Collection[str] | None = None,
                     year: int | None = None, towns: Collection[str] | None = None,
                     source: str = "plan") -> list[str]:
    """Check targets against what the run knows; user targets fail, preset rows are noted.

    Parameters
    ----------
    categories
        Known category keys (the registry). A user target naming another one fails.
    kinds
        Township kinds present (``street``/``town``). A user target asking for another fails.
    levels
        Unit levels present besides ``township``/``district``.
    year
        The plan's evaluation year (trajectories must contain it).
    towns
        Township names (for ``towns = [...]``).

    Returns
    -------
    list of str
        Notes on preset rows that will evaluate to not-applicable.
    """
    notes = []
    for target in targets:
        where = f"{source}: target {target.id!r}"
        problems = []
        if categories is not None:
            for cat in target.categories:
                if cat not in categories:
                    problems.append(f"unknown category {cat!r}{_suggest(cat, categories)} "
                                    f"(known: {', '.join(sorted(categories))}; add new ones under "
                                    "[categories.<key>])")
        if kinds is not None and target.kind and target.kind not in kinds:
            problems.append(f"kind {target.kind!r} ({KIND_ZH[target.kind]}) — no township has this "
                            f"kind (present: {', '.join(sorted(kinds)) or 'none'}); remove kind or "
                            "check the townships' kind column")
        if levels is not None and target.level not in ("township", "district", *levels):
            problems.append(f"level {target.level!r} — no unit layer at this level"
                            f"{_suggest(target.level, levels)} (add [[inputs.units]] with "
                            f"level = {target.level!r}; present: {', '.join(levels) or 'none'})")
        if towns is not None:
            for town in target.towns:
                if town not in towns:
                    problems.append(f"town {town!r} is not a township name{_suggest(town, towns)}")
        if year is not None and target.year is None:
            if target.preset is None:
                _check_year(target, year, where)
            else:
                try:
                    _check_year(target, year, where)
                except PlanError as exc:
                    raise PlanError(f"{exc} [preset {target.preset!r}: write "
                                    f"{{preset = {target.preset!r}, year = …}}]") from None
        if problems:
            if target.preset is None:
                raise PlanError(f"{where}: " + "; ".join(problems))
            notes.append(f"{where}: " + "; ".join(problems))
    return notes


# --------------------------------------------------------------------------- evaluation helpers


def _status(value: float, target: float) -> str:
    if value is None or target is None or not np.isfinite(value) or not np.isfinite(target):
        return "na"
    # exactly at target is met; a relative tolerance absorbs float noise (e.g. 0.7 * 100)
    return "met" if value >= target - 1e-9 * max(1.0, abs(target)) else "not_met"


def _services_has(services: pd.Series, key: str) -> pd.Series:
    parts = services.fillna("").astype(str).str.replace(r"[；,，、\s]+", ";", regex=True)
    return parts.map(lambda s: key in {p for p in s.split(";") if p})


def _select(facilities: pd.DataFrame, target: Target, category: str | None = None) -> pd.DataFrame:
    category = category or target.category
    if facilities is None or len(facilities) == 0 or "category" not in facilities:
        return facilities.iloc[0:0] if facilities is not None else pd.DataFrame()
    mask = facilities["category"] == category
    if target.subtype and category == target.category:
        subtype = facilities.get("subtype", pd.Series("", facilities.index))
        mask &= subtype.fillna("").astype(str).isin(target.subtype)
    if target.service and target.type != "colocation":
        if "services" not in facilities:
            mask &= False
        else:
            mask &= _services_has(facilities["services"], target.service)
    return facilities[mask]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def _township_table(context: EvaluationContext) -> pd.DataFrame:
    t = pd.DataFrame(context.townships.drop(columns="geometry", errors="ignore")).copy()
    t["code"] = t["code"].map(_text)
    out = pd.DataFrame({
        "code": t["code"],
        "name": t.get("name", t["code"]).astype(str),
        "parent_code": t["county_code"].map(_text) if "county_code" in t else "",
        "kind": t.get("kind", pd.Series("", t.index)).fillna("").astype(str),
        "unit_kind": t.get("kind_zh", pd.Series("", t.index)).fillna("").astype(str),
    })
    for column in ("households", "pop", "pop60"):
        out[column] = pd.to_numeric(t[column], errors="coerce") if column in t else np.nan
    if "pop" not in t and "population" in t:
        out["pop"] = pd.to_numeric(t["population"], errors="coerce")
    if "pop60" not in t and "population_60" in t:
        out["pop60"] = pd.to_numeric(t["population_60"], errors="coerce")
    for column in t.columns:
        if str(column).startswith("staff_"):
            out[column] = pd.to_numeric(t[column], errors="coerce")
    return out.set_index("code", drop=False)


def _unit_table(context: EvaluationContext, level: str) -> pd.DataFrame | None:
    if level == "township":
        return _township_table(context)
    frame = context.units.get(level)
    if frame is None:
        return None
    u = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).copy()
    townships = _township_table(context)
    parent = u["parent_code"].map(_text) if "parent_code" in u else pd.Series("", u.index)
    out = pd.DataFrame({
        "code": u["code"].map(_text),
        "name": u.get("name", u["code"]).astype(str),
        "parent_code": parent,
        "kind": parent.map(townships["kind"]).fillna(""),
        "unit_kind": u.get("unit_kind", pd.Series("", u.index)).fillna("").astype(str),
    })
    for column, fallback in (("households", None), ("pop", "population"),
                             ("pop60", "population_60")):
        source = column if column in u else fallback if fallback in u else None
        out[column] = pd.to_numeric(u[source], errors="coerce") if source else np.nan
    return out.set_index("code", drop=False)


def _facility_units(context: EvaluationContext, facilities: pd.DataFrame, level: str) -> pd.Series:
    """The unit code of each facility at ``level`` ('' when outside every unit)."""
    if len(facilities) == 0:
        return pd.Series([], dtype=object, index=facilities.index)
    if level == "township":
        column = "township_code"
    elif f"unit_code__{level}" in facilities:
        column = f"unit_code__{level}"
    elif "unit_code" in facilities and len(context.units) == 1:
        column = "unit_code"
    else:
        column = None
    if column is not None and column in facilities:
        return facilities[column].map(_text)
    zones = context.townships if level == "township" else context.units.get(level)
    if zones is None or not isinstance(facilities, gpd.GeoDataFrame):
        return pd.Series("", index=facilities.index, dtype=object)
    # no precomputed unit code: place the points in the unit polygons directly
    joined = gpd.sjoin(facilities[["geometry"]], zones[["code", "geometry"]].to_crs(facilities.crs),
                       how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["code"].map(_text).reindex(facilities.index).fillna("")


def _filter_units(table: pd.DataFrame, target: Target) -> pd.DataFrame:
    if target.kind:
        table = table[table["kind"] == target.kind]
    if target.unit_kind:
        table = table[table["unit_kind"] == target.unit_kind]
    return table


class _Builder:
    """Collects rows and summary rows for one target."""

    def __init__(self, target: Target, year: int) -> None:
        self.target = target
        self.year = year
        self.rows: list[dict[str, Any]] = []
        self.summary: dict[str, Any] | None = None
        trajectory = target.trajectory
        self.trajectory = trajectory.describe() if trajectory else ""

    def _base(self, level: str) -> dict[str, Any]:
        t = self.target
        return {"target_id": t.id, "indicator": t.indicator or t.id, "document": t.document,
                "target_type": t.type, "level": level, "target_level": t.level, "year": self.year,
                "trajectory": self.trajectory}

    def row(self, level: str, *, unit_code: str = "", unit_name: str = "", parent_code: str = "",
            kind: str = "", value: float = np.nan, target_value: float = np.nan, unit: str = "",
            shortfall: float = np.nan, shortfall_unit: str = "", note: str = "", note_en: str = "",
            status: str | None = None, summary: bool = False, met_units: float = np.nan,
            total_units: float = np.nan) -> None:
        status = status or _status(value, target_value)
        if status == "met":
            shortfall = 0.0
        record = {**self._base(level), "unit_code": unit_code, "unit_name": unit_name,
                  "parent_code": parent_code, "kind": kind, "value": _round(value),
                  "target_value": target_value, "unit": unit, "status": status,
                  "status_zh": STATUS_ZH[status], "shortfall": _round(shortfall),
                  "shortfall_unit": shortfall_unit, "note": note, "note_en": note_en or note}
        if summary:
            record.update(met_units=met_units, total_units=total_units)
            self.summary = record
        else:
            self.rows.append(record)

    def na(self, note: str, note_en: str, *, units: pd.DataFrame | None = None,
           target_value: float = np.nan, unit: str = "") -> None:
        """Every unit row and the summary not applicable, with the missing input named."""
        level = self.target.level
        if units is not None:
            for u in units.itertuples():
                self.row(level, unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
                         kind=u.kind, target_value=target_value, unit=unit, status="na",
                         note=note, note_en=note_en)
        self.row("district", unit_name="", target_value=target_value, unit=unit, status="na",
                 note=note, note_en=note_en, summary=True)


def _round(value: float) -> float:
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return np.nan


def _missing_layer(target: Target, context: EvaluationContext,
                   category: str | None = None) -> tuple[str, str] | None:
    category = category or target.category
    present = set(context.layers_present)
    if context.facilities is not None and "category" in context.facilities:
        present |= set(context.facilities["category"].dropna().unique())
    if category and category not in present:
        return (f"缺少输入：没有类别 {category} 的设施图层（请在 [[layers]] 中加入 category = "
                f"\"{category}\" 的登记表）",
                f"missing input: no facility layer of category {category!r} (add a [[layers]] "
                f"entry with category = {category!r})")
    return None


def _share_shortfall(shortfalls: np.ndarray, met: np.ndarray, pct: float) -> float:
    """Facilities needed so that ``pct`` % of units meet (the cheapest unmet units first)."""
    total = len(met)
    need = math.ceil(pct / 100.0 * total - 1e-9) - int(met.sum())
    if need <= 0:
        return 0.0
    return float(np.sort(shortfalls[~met])[:need].sum())


# --------------------------------------------------------------------------- evaluators


def _eval_presence(target: Target, context: EvaluationContext, b: _Builder) -> None:
    year = b.year
    pct = target.value_at("target_pct", year)
    pct = 100.0 if pct is None else pct
    min_count = target.value_at("min_count", year) or 1.0
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(f"缺少输入：没有 {target.level} 级单元图层（请在 [[inputs.units]] 中加入 "
                    f"level = \"{target.level}\"）",
                    f"missing input: no unit layer at level {target.level!r} (add [[inputs.units]] "
                    f"with level = {target.level!r})", target_value=pct, unit="%")
    table = _filter_units(table, target)
    if len(table) == 0:
        scope = KIND_ZH.get(target.kind or "", target.unit_kind or "")
        return b.na(f"区内没有{scope}单元",
                    f"no {target.kind or target.unit_kind} units in the area",
                    target_value=pct, unit="%")
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_count, unit="facilities")
    selected = _select(context.facilities, target)
    codes = _facility_units(context, selected, target.level)
    counts = codes.value_counts().reindex(table.index, fill_value=0).astype(float)
    shortfall = np.maximum(min_count - counts.to_numpy(), 0.0)
    met = counts.to_numpy() >= min_count
    for u, count, short in zip(table.itertuples(), counts, shortfall, strict=True):
        b.row(target.level, unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
              kind=u.kind, value=count, target_value=min_count, unit="facilities",
              shortfall=short, shortfall_unit="facilities")
    if target.level != "township":
        _rollup_shares(target, context, b, table, met, shortfall, pct, "facilities")
    b.row("district", unit_name=context.district_name, value=100.0 * met.mean(), target_value=pct,
          unit="%", shortfall=_share_shortfall(shortfall, met, pct), shortfall_unit="facilities",
          summary=True, met_units=int(met.sum()), total_units=len(met),
          note=f"{int(met.sum())}/{len(met)} 个单元达到 ≥{min_count:g} 处",
          note_en=f"{int(met.sum())}/{len(met)} units have ≥{min_count:g}")


def _rollup_shares(target: Target, context: EvaluationContext, b: _Builder, table: pd.DataFrame,
                   met: np.ndarray, shortfall: np.ndarray, pct: float, shortfall_unit: str) -> None:
    """Township rows from unit rows: the share of each township's units that meet."""
    townships = _township_table(context)
    parents = table["parent_code"].to_numpy()
    for code in pd.unique(parents):
        mask = parents == code
        row = townships.loc[code] if code in townships.index else None
        n_met, n = int(met[mask].sum()), int(mask.sum())
        b.row("township", unit_code=code, unit_name=row["name"] if row is not None else "未定归属",
              parent_code=row["parent_code"] if row is not None else "",
              kind=row["kind"] if row is not None else "", value=100.0 * n_met / n,
              target_value=pct, unit="%",
              shortfall=_share_shortfall(shortfall[mask], met[mask], pct),
              shortfall_unit=shortfall_unit,
              note=f"{n_met}/{n} 个{LEVEL_ZH.get(target.level, target.level)}达标",
              note_en=f"{n_met}/{n} {target.level} units met")


def _eval_count(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_count = target.value_at("min_count", b.year)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, target_value=min_count, unit="facilities")
    count = float(len(_select(context.facilities, target)))
    b.row("district", unit_name=context.district_name, value=count, target_value=min_count,
          unit="facilities", shortfall=max(min_count - count, 0.0), shortfall_unit="facilities",
          summary=True, met_units=np.nan, total_units=np.nan)


def _eval_district_presence(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_count = target.value_at("min_count", b.year) or 1.0
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, target_value=min_count, unit="facilities")
    selected = _select(context.facilities, target)
    townships = _township_table(context)
    by_name = {name: code for code, name in zip(townships["code"], townships["name"], strict=True)}
    codes = _facility_units(context, selected, "township")
    unmet_towns = []
    met_towns = 0
    short = 0.0
    for town in target.towns:
        if town not in by_name:
            if target.preset is None:
                raise PlanError(f"target {target.id!r}: town {town!r} is not a township name"
                                f"{_suggest(town, by_name)}")
            b.row("township", unit_name=town, target_value=1.0, unit="facilities", status="na",
                  note=f"区内没有名为 {town} 的乡镇", note_en=f"no township named {town!r}")
            continue
        code = by_name[town]
        count = float((codes == code).sum())
        row = townships.loc[code]
        b.row("township", unit_code=code, unit_name=town, parent_code=row["parent_code"],
              kind=row["kind"], value=count, target_value=1.0, unit="facilities",
              shortfall=max(1.0 - count, 0.0), shortfall_unit="facilities")
        if count >= 1:
            met_towns += 1
        else:
            unmet_towns.append(town)
            short += 1.0
    count = float(len(selected))
    area_short = max(min_count - count, 0.0)
    status = _status(count, min_count)
    if status == "met" and unmet_towns:
        status = "not_met"
    note = f"未覆盖的乡镇：{'、'.join(unmet_towns)}" if unmet_towns else ""
    note_en = f"named towns without one: {', '.join(unmet_towns)}" if unmet_towns else ""
    b.row("district", unit_name=context.district_name, value=count, target_value=min_count,
          unit="facilities", status=status, shortfall=max(area_short, short),
          shortfall_unit="facilities", note=note, note_en=note_en, summary=True,
          met_units=met_towns if target.towns else np.nan,
          total_units=len(target.towns) if target.towns else np.nan)


def _threshold_for(target: Target, walk: WalkModel, kinds: pd.Series) -> np.ndarray:
    if isinstance(target.threshold_min, Mapping):
        default = max(walk.thresholds_min)
        return kinds.map(lambda k: target.threshold_min.get(k, max(walk.for_kind(k).thresholds_min))
                         if k else default).to_numpy(dtype=float)
    return np.full(len(kinds), float(target.threshold_min))


def _eval_service_circle(target: Target, context: EvaluationContext, b: _Builder) -> None:
    pct = target.value_at("target_pct", b.year)
    pop_col = target.population
    people = "seniors" if pop_col == "pop60" else "people"
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(f"缺少输入：没有 {target.level} 级单元图层", f"missing input: no unit layer at "
                    f"level {target.level!r}", target_value=pct, unit="%")
    table = _filter_units(table, target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=pct, unit="%")
    demand = getattr(context.coverage, "demand", None)
    column = f"time_min__{target.category}"
    if demand is None or column not in demand:
        return b.na(f"缺少输入：没有 {target.category} 的步行时间（未计算覆盖）",
                    f"missing input: no walking times to {target.category} (coverage not computed)",
                    units=table, target_value=pct, unit="%")
    key = "township_code" if target.level == "township" else f"unit_code__{target.level}"
    if key not in demand:
        return b.na(f"缺少输入：人口格网没有 {key} 列",
                    f"missing input: demand has no {key} column",
                    units=table, target_value=pct, unit="%")
    d = pd.DataFrame({
        "zone": demand[key].map(_text),
        "kind": demand["kind"].fillna("").astype(str) if "kind" in demand else "",
        "pop": pd.to_numeric(demand[pop_col], errors="coerce").fillna(0.0),
        "time": pd.to_numeric(demand[column], errors="coerce").fillna(np.inf),
    })
    d["covered"] = np.where(d["time"].to_numpy() <= _threshold_for(target, context.walk, d["kind"])
                            + 1e-9, d["pop"], 0.0)
    # residents farther than max_snap_m from any walkable way have no walking time at all
    snap_m = pd.to_numeric(demand["snap_m"], errors="coerce").to_numpy(dtype=float) \
        if "snap_m" in demand else np.zeros(len(d))
    d["off_road"] = np.where(snap_m <= context.walk.max_snap_m, 0.0, d["pop"])
    d = d[d["zone"].isin(table.index)]
    sums = d.groupby("zone")[["pop", "covered", "off_road"]].sum().reindex(table.index,
                                                                           fill_value=0.0)
    max_snap = f"{context.walk.max_snap_m:g}"

    def emit(level: str, code: str, name: str, parent: str, kind: str, pop: float, covered: float,
             off_road: float = 0.0, summary: bool = False, **extra: Any) -> None:
        if pop > 0 and off_road >= pop:  # nobody can reach a road: no time to judge
            b.row(level, unit_code=code, unit_name=name, parent_code=parent, kind=kind,
                  target_value=pct, unit="%", status="na",
                  note="无法计算步行时间：单元内没有可步行道路，"
                       f"所有居民距道路都超过 {max_snap} 米",
                  note_en=f"walking times cannot be computed: no walkable road, every resident "
                          f"is farther than {max_snap} m from one", summary=summary, **extra)
            return
        value = 100.0 * covered / pop if pop > 0 else np.nan
        short = math.ceil(pct / 100.0 * pop - covered - 1e-9) if pop > 0 else np.nan
        note, note_en = ("", "") if pop > 0 else ("单元内没有人口", "no population in the unit")
        if off_road > 0:
            note += f"（{off_road:.0f} 人距道路超过 {max_snap} 米，计为圈外）"
            note_en += f" ({off_road:.0f} farther than {max_snap} m from a road count as outside)"
        b.row(level, unit_code=code, unit_name=name, parent_code=parent, kind=kind, value=value,
              target_value=pct, unit="%", shortfall=max(short, 0.0) if pop > 0 else np.nan,
              shortfall_unit=people, note=f"{covered:.0f}/{pop:.0f} 人在圈内" + note
              if pop > 0 else note, note_en=f"{covered:.0f} of {pop:.0f} within" + note_en
              if pop > 0 else note_en, summary=summary, **extra)

    for u, (pop, covered, off_road) in zip(table.itertuples(), sums.itertuples(index=False),
                                           strict=True):
        emit(target.level, u.code, u.name, u.parent_code, u.kind, pop, covered, off_road)
    if target.level != "township":
        townships = _township_table(context)
        by_parent = sums.assign(parent=table["parent_code"]).groupby("parent")
        parents = by_parent[["pop", "covered", "off_road"]].sum()
        for code, (pop, covered, off_road) in parents.iterrows():
            row = townships.loc[code] if code in townships.index else None
            emit("township", code, row["name"] if row is not None else "未定归属",
                 row["parent_code"] if row is not None else "",
                 row["kind"] if row is not None else "", pop, covered, off_road)
    # the area figure leaves out the units whose walking times cannot be computed
    applicable = ~((sums["pop"] > 0) & (sums["off_road"] >= sums["pop"]))
    left_out = [str(n) for n in table.loc[~applicable.to_numpy(), "name"]]
    sums = sums[applicable]
    with np.errstate(invalid="ignore", divide="ignore"):
        met = (100.0 * sums["covered"] / sums["pop"]).to_numpy() >= pct - 1e-9
    emit("district", "", context.district_name, "", "", float(sums["pop"].sum()),
         float(sums["covered"].sum()), summary=True, met_units=int(met.sum()),
         total_units=len(met))
    if left_out and b.summary is not None:
        b.summary["note"] += "；不含无法计算步行时间的单元：" + "、".join(left_out)
        b.summary["note_en"] += "; leaves out units without walking times: " + ", ".join(left_out)


def _eval_ratio(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_value = target.value_at("min_value", b.year)
    measure = target.measure
    unit = "%" if measure == "nursing_bed_share_pct" else "beds/1000 seniors"
    table = _filter_units(_township_table(context), target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_value, unit=unit)
    selected = _select(context.facilities, target)
    need_col = "beds" if measure == "beds_per_1000_seniors" else "nursing_beds"
    for column in {need_col, "beds"} if measure == "nursing_bed_share_pct" else {need_col}:
        if column not in selected or selected[column].notna().sum() == 0:
            return b.na(f"缺少输入：{target.category} 登记表没有 {column} 列（床位数）",
                        f"missing input: the {target.category} register has no {column} values",
                        units=table, target_value=min_value, unit=unit)
    codes = _facility_units(context, selected, "township")
    beds = pd.to_numeric(selected["beds"], errors="coerce").fillna(0.0) if "beds" in selected \
        else pd.Series(0.0, selected.index)
    nursing = pd.to_numeric(selected["nursing_beds"], errors="coerce").fillna(0.0) \
        if "nursing_beds" in selected else pd.Series(0.0, selected.index)
    sums = pd.DataFrame({"zone": codes, "beds": beds, "nursing": nursing}).groupby("zone").sum()
    sums = sums.reindex(table.index, fill_value=0.0)
    pop60 = table["pop60"].astype(float)

    def emit(level: str, code: str, name: str, parent: str, kind: str, n_beds: float,
             n_nursing: float, seniors: float, summary: bool = False, **extra: Any) -> None:
        if measure == "nursing_bed_share_pct":
            denom, num, short_unit = n_beds, n_nursing, "nursing beds"
            value = 100.0 * num / denom if denom > 0 else np.nan
            short = math.ceil(min_value / 100.0 * denom - num - 1e-9) if denom > 0 else np.nan
            note_na = ("没有床位", "no beds")
        else:
            num = n_beds if measure == "beds_per_1000_seniors" else n_nursing
            short_unit = "beds" if measure == "beds_per_1000_seniors" else "nursing beds"
            value = 1000.0 * num / seniors if seniors > 0 else np.nan
            short = math.ceil(min_value * seniors / 1000.0 - num - 1e-9) if seniors > 0 else np.nan
            note_na = ("缺少输入：老年人口（pop60）为 0 或缺失",
                       "missing input: no seniors (pop60)")
        na = not np.isfinite(value)
        b.row(level, unit_code=code, unit_name=name, parent_code=parent, kind=kind, value=value,
              target_value=min_value, unit=unit, shortfall=max(short, 0.0) if not na else np.nan,
              shortfall_unit=short_unit, note=note_na[0] if na else
              f"床位 {n_beds:.0f}，护理型 {n_nursing:.0f}，老年人 {seniors:.0f}",
              note_en=note_na[1] if na else
              f"beds {n_beds:.0f}, nursing {n_nursing:.0f}, seniors {seniors:.0f}",
              summary=summary, **extra)

    met = 0
    for u, (n_beds, n_nursing), seniors in zip(table.itertuples(),
                                               sums[["beds", "nursing"]].itertuples(index=False),
                                               pop60, strict=True):
        emit("township", u.code, u.name, u.parent_code, u.kind, n_beds, n_nursing,
             seniors if np.isfinite(seniors) else 0.0)
        met += b.rows[-1]["status"] == "met"
    total_beds = float(sums["beds"].sum())
    if table["pop60"].notna().any():
        seniors = float(table["pop60"].sum())
    else:
        seniors = 0.0
    emit("district", "", context.district_name, "", "", total_beds, float(sums["nursing"].sum()),
         seniors, summary=True, met_units=met, total_units=len(table))


def _eval_colocation(target: Target, context: EvaluationContext, b: _Builder) -> None:
    pct = target.value_at("target_pct", b.year)
    table = _filter_units(_township_table(context), target)
    missing = _missing_layer(target, context)
    if missing is None and target.near_category:
        missing = _missing_layer(target, context, target.near_category)
    if missing:
        return b.na(*missing, units=table, target_value=pct, unit="%")
    hosts = _select(context.facilities, target)
    if target.service:
        if "services" not in hosts:
            return b.na(f"缺少输入：{target.category} 登记表没有 services 列（所含服务）",
                        f"missing input: the {target.category} register has no services column",
                        units=table, target_value=pct, unit="%")
        hosting = _services_has(hosts["services"], target.service).to_numpy(dtype=bool)
        how, how_en = f"含 {target.service}", f"hosting {target.service}"
    else:
        others = _select(context.facilities, target, category=target.near_category)
        hosting = _within(hosts, others, target.within_m)
        how = f"{target.within_m:g} 米内有 {target.near_category}"
        how_en = f"within {target.within_m:g} m of {target.near_category}"
    codes = _facility_units(context, hosts, "township").to_numpy()
    n_met = 0
    for u in table.itertuples():
        mask = codes == u.code
        n, k = int(mask.sum()), int(hosting[mask].sum())
        value = 100.0 * k / n if n else np.nan
        b.row("township", unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
              kind=u.kind, value=value, target_value=pct, unit="%",
              shortfall=math.ceil(pct / 100.0 * n - k - 1e-9) if n else np.nan,
              shortfall_unit="facilities",
              note=f"{k}/{n} 处{how}" if n else f"没有 {target.category}",
              note_en=f"{k}/{n} {how_en}" if n else f"no {target.category}")
        n_met += b.rows[-1]["status"] == "met"
    in_scope = np.isin(codes, table.index.to_numpy())
    n, k = int(in_scope.sum()), int(hosting[in_scope].sum())
    b.row("district", unit_name=context.district_name, value=100.0 * k / n if n else np.nan,
          target_value=pct, unit="%",
          shortfall=math.ceil(pct / 100.0 * n - k - 1e-9) if n else np.nan,
          shortfall_unit="facilities", note=f"{k}/{n} 处{how}" if n else f"没有 {target.category}",
          note_en=f"{k}/{n} {how_en}" if n else f"no {target.category}", summary=True,
          met_units=n_met, total_units=len(table))


def _located(frame: pd.DataFrame) -> np.ndarray:
    """Facilities with a usable point (register rows without coordinates have none)."""
    geometry = np.asarray(frame.geometry, dtype=object)
    return ~shapely.is_missing(geometry) & ~shapely.is_empty(geometry)


def _within(hosts: pd.DataFrame, others: pd.DataFrame, within_m: float) -> np.ndarray:
    """Whether each host lies within ``within_m`` of any of ``others`` (metric distances).

    Hosts without coordinates are never within; others without coordinates are ignored.
    """
    result = np.zeros(len(hosts), dtype=bool)
    if len(hosts) == 0 or len(others) == 0:
        return result
    from scipy.spatial import cKDTree

    from lifecircle.geo.crs import metric_crs_for

    host_ok, other_ok = _located(hosts), _located(others)
    if not host_ok.any() or not other_ok.any():
        return result
    pts = gpd.GeoSeries(list(hosts.geometry[host_ok]) + list(others.geometry[other_ok]),
                        crs="EPSG:4326")
    crs = metric_crs_for(pts.x.to_numpy(), pts.y.to_numpy())
    metric = pts.to_crs(crs)
    xy = np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])
    n_hosts = int(host_ok.sum())
    dist, _ = cKDTree(xy[n_hosts:]).query(xy[:n_hosts], k=1)
    result[host_ok] = dist <= within_m + 1e-6
    return result


def _eval_new(target: Target, context: EvaluationContext, b: _Builder) -> None:
    quota = target.value_at("min_count", b.year)
    measure = target.measure or "count"
    column, unit, name_zh, unit_zh = NEW_MEASURES[measure]
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, target_value=quota, unit=unit)
    # the inputs are judged over the whole category: a subtype with no openings is 0, not n/a
    category = _select(context.facilities, replace(target, subtype=(), service=None))
    if "opened" not in category or pd.to_numeric(category["opened"],
                                                 errors="coerce").notna().sum() == 0:
        return b.na(f"缺少输入：{target.category} 登记表没有开业年份（opened）",
                    f"missing input: the {target.category} register has no opened year",
                    target_value=quota, unit=unit)
    if column is not None and (column not in category or pd.to_numeric(
            category[column], errors="coerce").notna().sum() == 0):
        return b.na(f"缺少输入：{target.category} 登记表没有 {column} 值（{name_zh}）",
                    f"missing input: the {target.category} register has no {column} values",
                    target_value=quota, unit=unit)
    selected = _select(context.facilities, target)
    opened = pd.to_numeric(selected["opened"], errors="coerce")
    if column is None:
        amount = pd.Series(1.0, index=selected.index)
    else:
        amount = pd.to_numeric(selected[column], errors="coerce")
    added = amount.fillna(0.0)

    def total(year: int) -> float:
        return float(added[opened == year].sum())

    this_year = opened == b.year
    value = total(b.year)
    years = target.trajectory.years if isinstance(target.min_count, Trajectory) else \
        list(range(b.year - 4, b.year + 1))
    path = "，".join(f"{y}:{total(y):.0f}" for y in years)
    # one row per year of the path, so the sheet shows the whole trajectory of openings
    met_years = []
    for y in years:
        quota_y = target.min_count.at(y) if isinstance(target.min_count, Trajectory) else quota
        if y > b.year:
            b.row("year", unit_code=str(y), unit_name=f"{y}年", value=total(y),
                  target_value=quota_y, unit=unit, status="na",
                  note="晚于评估年份", note_en="after the evaluation year")
            continue
        b.row("year", unit_code=str(y), unit_name=f"{y}年", value=total(y), target_value=quota_y,
              unit=unit, shortfall=max(quota_y - total(y), 0.0), shortfall_unit=unit)
        met_years.append(b.rows[-1]["status"] == "met")
    # where the year's additions lie; the quota is the area's, so township rows are not judged
    townships = _township_table(context)
    codes = _facility_units(context, selected[this_year], "township")
    by_code = added[this_year].groupby(codes).sum()
    for u in townships.itertuples():
        amount_u = float(by_code.get(u.code, 0.0))
        b.row("township", unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
              kind=u.kind, value=amount_u, unit=unit, status="na",
              note=f"全区年度指标，不按乡镇考核；本乡镇 {b.year} 年新增 {amount_u:.0f} {unit_zh}",
              note_en=f"area-wide quota, not judged per township; {amount_u:.0f} {unit} added "
              f"here in {b.year}")
    outside = float(by_code[~by_code.index.isin(townships.index)].sum())
    if outside > 0:
        b.row("township", unit_name="未定归属", value=outside, unit=unit, status="na",
              note=f"不在任何乡镇内的 {b.year} 年新增 {outside:.0f} {unit_zh}",
              note_en=f"{outside:.0f} {unit} added in {b.year} outside every township")
    notes_zh = [f"{b.year} 年新增 {value:.0f} {unit_zh}", f"各年新增 {path}"]
    notes_en = [f"{value:.0f} {unit} added in {b.year}", f"per year {path}"]
    if column is not None:
        blank = int((this_year & amount.isna()).sum())
        if blank:
            notes_zh.append(f"其中 {blank} 处缺 {column} 值，按 0 计")
            notes_en.append(f"{blank} opened without a {column} value, counted as 0")
    undated = int(opened.isna().sum())
    if undated:
        notes_zh.append(f"{undated} 处无开业年份，未计入")
        notes_en.append(f"{undated} without an opened year, not counted")
    b.row("district", unit_name=context.district_name, value=value, target_value=quota,
          unit=unit, shortfall=max(quota - value, 0.0), shortfall_unit=unit,
          note="；".join(notes_zh), note_en="; ".join(notes_en), summary=True,
          met_units=int(sum(met_years)), total_units=len(met_years))


def _eval_floor_area(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_area = target.value_at("min_m2_per_100_households", b.year)
    pct = target.value_at("target_pct", b.year)
    unit = "m²/100 households"
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(f"缺少输入：没有 {target.level} 级单元图层", f"missing input: no unit layer at "
                    f"level {target.level!r}", target_value=min_area, unit=unit)
    table = _filter_units(table, target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_area, unit=unit)
    if table["households"].notna().sum() == 0:
        return b.na(f"缺少输入：{target.level} 单元没有户数（households）",
                    f"missing input: no households for the {target.level} units (households_field)",
                    units=table, target_value=min_area, unit=unit)
    selected = _select(context.facilities, target)
    if "floor_area_m2" not in selected or selected["floor_area_m2"].notna().sum() == 0:
        return b.na(f"缺少输入：{target.category} 登记表没有建筑面积（floor_area_m2）",
                    f"missing input: the {target.category} register has no floor_area_m2",
                    units=table, target_value=min_area, unit=unit)
    codes = _facility_units(context, selected, target.level)
    area = pd.to_numeric(selected["floor_area_m2"], errors="coerce").fillna(0.0)
    sums = area.groupby(codes).sum().reindex(table.index, fill_value=0.0)
    households = table["households"].astype(float)

    def emit(level: str, code: str, name: str, parent: str, kind: str, m2: float, hh: float,
             summary: bool = False, **extra: Any) -> None:
        ok = np.isfinite(hh) and hh > 0
        value = 100.0 * m2 / hh if ok else np.nan
        short = min_area * hh / 100.0 - m2 if ok else np.nan
        b.row(level, unit_code=code, unit_name=name, parent_code=parent, kind=kind, value=value,
              target_value=min_area, unit=unit, shortfall=max(short, 0.0) if ok else np.nan,
              shortfall_unit="m²",
              note=f"{m2:.0f} ㎡ / {hh:.0f} 户" if ok else "缺少输入：户数（households）",
              note_en=f"{m2:.0f} m² / {hh:.0f} households" if ok else "missing input: households",
              summary=summary, **extra)

    for u, m2, hh in zip(table.itertuples(), sums, households, strict=True):
        emit(target.level, u.code, u.name, u.parent_code, u.kind, m2, hh)
    unit_rows = b.rows[-len(table):]
    met = np.array([r["status"] == "met" for r in unit_rows])
    shorts = np.array([r["shortfall"] if np.isfinite(r["shortfall"]) else 0.0 for r in unit_rows])
    known = households.notna().to_numpy()
    if pct is not None:
        # judged as the share of units meeting the standard (e.g. 面积达标率 90 %)
        if target.level != "township":
            _rollup_shares(target, context, b, table[known], met[known], shorts[known], pct, "m²")
        b.row("district", unit_name=context.district_name, value=100.0 * met[known].mean(),
              target_value=pct, unit="%",
              shortfall=_share_shortfall(shorts[known], met[known], pct), shortfall_unit="m²",
              summary=True, met_units=int(met.sum()), total_units=int(known.sum()),
              note=f"{int(met.sum())}/{int(known.sum())} 个单元达到 {min_area:g} ㎡/百户",
              note_en=f"{int(met.sum())}/{int(known.sum())} units reach {min_area:g} "
              "m²/100 households")
        return
    if target.level != "township":
        agg = pd.DataFrame({"m2": sums, "hh": households, "parent": table["parent_code"]})[known]
        townships = _township_table(context)
        for code, grp in agg.groupby("parent"):
            row = townships.loc[code] if code in townships.index else None
            emit("township", code, row["name"] if row is not None else "未定归属",
                 row["parent_code"] if row is not None else "",
                 row["kind"] if row is not None else "", grp["m2"].sum(), grp["hh"].sum())
    emit("district", "", context.district_name, "", "", float(sums[known].sum()),
         float(households[known].sum()), summary=True, met_units=int(met.sum()),
         total_units=int(known.sum()))


def _eval_staffing(target: Target, context: EvaluationContext, b: _Builder) -> None:
    pct = target.value_at("target_pct", b.year)
    pct = 100.0 if pct is None else pct
    table = _filter_units(_township_table(context), target)
    column = f"staff_{target.staff_key}"
    if column in table and table[column].notna().any():
        staff = table[column].astype(float)
        source_zh, source_en = f"乡镇表 {column} 列", f"township column {column}"
    elif context.facilities is not None and column in context.facilities:
        facilities = context.facilities
        if target.category:
            facilities = facilities[facilities["category"] == target.category]
        codes = _facility_units(context, facilities, "township")
        values = pd.to_numeric(facilities[column], errors="coerce").fillna(0.0)
        staff = values.groupby(codes).sum().reindex(table.index, fill_value=0.0)
        source_zh, source_en = f"登记表 {column} 列", f"register column {column}"
    else:
        return b.na(f"缺少输入：乡镇表或登记表没有 {column} 列（在岗人数）",
                    f"missing input: no {column} column in the townships or registers",
                    units=table, target_value=np.nan, unit="staff")
    pop = table[target.population].astype(float)
    met, shorts = [], []
    for u, n_staff, people in zip(table.itertuples(), staff, pop, strict=True):
        if not np.isfinite(people):
            b.row("township", unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
                  kind=u.kind, value=n_staff, unit="staff", status="na",
                  note=f"缺少输入：人口（{target.population}）",
                  note_en=f"missing input: population ({target.population})")
            continue
        need = next((n for lo, hi, n in target.brackets if lo <= people < hi), np.nan)
        value = n_staff if np.isfinite(n_staff) else np.nan
        b.row("township", unit_code=u.code, unit_name=u.name, parent_code=u.parent_code,
              kind=u.kind, value=value, target_value=need, unit="staff",
              shortfall=max(need - value, 0.0) if np.isfinite(value) else np.nan,
              shortfall_unit="staff",
              note=f"人口 {people:.0f}，应配 ≥{need:g} 名（{source_zh}）" if np.isfinite(value)
              else f"缺少输入：{column}",
              note_en=f"population {people:.0f} needs ≥{need:g} ({source_en})" if np.isfinite(value)
              else f"missing input: {column}")
        if b.rows[-1]["status"] != "na":
            met.append(b.rows[-1]["status"] == "met")
            shorts.append(b.rows[-1]["shortfall"])
    met_arr, short_arr = np.array(met, dtype=bool), np.array(shorts, dtype=float)
    b.row("district", unit_name=context.district_name,
          value=100.0 * met_arr.mean() if len(met_arr) else np.nan, target_value=pct, unit="%",
          shortfall=_share_shortfall(short_arr, met_arr, pct) if len(met_arr) else np.nan,
          shortfall_unit="staff", summary=True, met_units=int(met_arr.sum()),
          total_units=len(met_arr), note=f"{int(met_arr.sum())}/{len(met_arr)} 个乡镇配足",
          note_en=f"{int(met_arr.sum())}/{len(met_arr)} townships staffed")


_EVALUATORS = {
    "presence": _eval_presence, "unit_coverage": _eval_presence, "count": _eval_count,
    "district_presence": _eval_district_presence, "service_circle": _eval_service_circle,
    "ratio": _eval_ratio, "colocation": _eval_colocation, "new_facilities": _eval_new,
    "floor_area": _eval_floor_area, "staffing": _eval_staffing,
}


def _path_note(target: Target, value: float) -> tuple[str, str]:
    """Where the area stands on a trajectory: the last year whose value it reaches."""
    trajectory = target.trajectory
    if trajectory is None or not np.isfinite(value):
        return "", ""
    reached = [y for y, v in trajectory.values if _status(value, v) == "met"]
    if not reached:
        return (f"路径 {trajectory.describe()}：尚未达到 {trajectory.values[0][0]} 年目标",
                f"path {trajectory.describe()}: below the {trajectory.values[0][0]} value")
    return (f"路径 {trajectory.describe()}：已达到 {max(reached)} 年目标",
            f"path {trajectory.describe()}: reaches the {max(reached)} value")


def evaluate_targets(targets: Iterable[Target], context: EvaluationContext) -> GapReport:
    """Evaluate every target into per-unit rows and an area summary.

    Parameters
    ----------
    targets
        Parsed targets (:func:`parse_targets`).
    context
        The run's townships, units, facilities, coverage, walk model and year.

    Returns
    -------
    GapReport
        ``rows`` (per unit × target, plus township roll-ups of lower levels) and ``summary``
        (one area row per target); columns as in docs/architecture.md plus ``note_en``,
        ``target_level``, ``year`` and ``trajectory``.

    Raises
    ------
    PlanError
        When a user target asks for a kind no township has, a level without a unit layer or a
        town that does not exist, or the year is off its trajectory.
    """
    targets = list(targets)
    townships = _township_table(context)
    kinds = set(townships["kind"]) - {""}
    notes = validate_targets(targets, kinds=kinds, levels=list(context.units), year=context.year,
                             towns=set(townships["name"]), source=context.district_name or "plan")
    for note in notes:
        log.info("preset row not applicable here: %s", note)
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for target in targets:
        year = target.year or context.year
        b = _Builder(target, year)
        try:
            target.value_at("target_pct", year)
            target.value_at("min_count", year)
        except PlanError as exc:
            raise PlanError(f"target {target.id!r}: {exc}") from None
        if target.kind and target.kind not in kinds:
            # only preset rows reach here (validate_targets raised for the user's own)
            b.na(f"区内没有{KIND_ZH[target.kind]}，本指标不适用",
                 f"no {target.kind} townships in the area")
        else:
            _EVALUATORS[target.type](target, context, b)
        if b.summary is None:  # every evaluator ends with a summary row; guard against silence
            b.na("未能评估", "not evaluated")
        path_zh, path_en = _path_note(target, b.summary["value"])
        if path_zh:
            b.summary["note"] = "；".join(s for s in (b.summary["note"], path_zh) if s)
            b.summary["note_en"] = "; ".join(s for s in (b.summary["note_en"], path_en) if s)
        rows.extend(b.rows)
        summary.append(b.summary)
        log.info("target %s: %s (%d unit rows)", target.id, b.summary["status"], len(b.rows))
    rows_frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    summary_frame = pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS))
    return GapReport(rows=rows_frame, summary=summary_frame, year=context.year, targets=targets)


def with_year(targets: Iterable[Target], year: int) -> list[Target]:
    """The targets with their evaluation year set (for evaluating one plan in several years)."""
    return [replace(t, year=year) for t in targets]
