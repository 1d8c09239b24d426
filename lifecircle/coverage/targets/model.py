"""The target model: types and their keys, trajectories, targets, gap reports, contexts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import PlanError

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
POPULATIONS = ("pop60", "pop")
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
