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
    "presence",
    "unit_coverage",
    "count",
    "district_presence",
    "service_circle",
    "ratio",
    "colocation",
    "new_facilities",
    "floor_area",
    "staffing",
    "facility_share",
)
RATIO_MEASURES = (
    "beds_per_1000_seniors",
    "nursing_beds_per_1000_seniors",
    "nursing_bed_share_pct",
    "public_bed_share_pct",
)
# Which register year a new_facilities target counts: the opening, the renovation (改建/改造提升),
# or either (新（改）建).
EVENTS = ("opened", "renovated", "opened_or_renovated")
# What a new_facilities quota counts: (register column or None for a count, value unit, Chinese
# name of the attribute, Chinese unit in notes).
NEW_MEASURES: dict[str, tuple[str | None, str, str, str]] = {
    "count": (None, "facilities", "设施数", "处"),
    "beds": ("beds", "beds", "床位数", "张"),
    "nursing_beds": ("nursing_beds", "nursing beds", "护理型床位数", "张护理型床位"),
    "floor_area_m2": ("floor_area_m2", "m²", "建筑面积", "㎡"),
    "dementia_beds": (
        "dementia_beds",
        "dementia-care beds",
        "认知障碍照护床位数",
        "张认知障碍照护床位",
    ),
}
KINDS = ("street", "town")
POPULATIONS = ("pop60", "pop")
# Staffing may also count the registered (户籍) population, from the townships' or units'
# population_registered column.
STAFF_POPULATIONS = (*POPULATIONS, "registered")
ROW_COLUMNS = (
    "target_id",
    "indicator",
    "document",
    "target_type",
    "level",
    "unit_code",
    "unit_name",
    "parent_code",
    "kind",
    "value",
    "target_value",
    "unit",
    "status",
    "status_zh",
    "shortfall",
    "shortfall_unit",
    "note",
    "note_en",
    "target_level",
    "year",
    "trajectory",
    "category",
    "threshold_min",
)
SUMMARY_COLUMNS = (*ROW_COLUMNS, "met_units", "total_units")

_COMMON_KEYS = (
    "id",
    "type",
    "indicator",
    "document",
    "level",
    "kind",
    "unit_kind",
    "year",
    "binding",
    "note",
    "source_quote",
    "source_ref",
    "approximate",
    "counties",
)
# Facility filters beside category/subtype/service: a minimum floor area per facility (单处面积)
# and a minimum grade (等级, 1 = 一级 … 5 = 五级).
_FILTER_KEYS = ("category", "subtype", "service", "min_floor_area_m2", "min_grade", "opened_since")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "presence": (*_FILTER_KEYS, "min_count", "target_pct"),
    "unit_coverage": (*_FILTER_KEYS, "min_count", "target_pct"),
    "count": (*_FILTER_KEYS, "min_count"),
    "district_presence": (*_FILTER_KEYS, "min_count", "towns"),
    "service_circle": (
        "category",
        "subtype",
        "threshold_min",
        "max_distance_m",
        "population",
        "target_pct",
    ),
    "ratio": ("category", "subtype", "measure", "min_value"),
    "colocation": ("category", "subtype", "service", "near_category", "within_m", "target_pct"),
    "new_facilities": (*_FILTER_KEYS, "min_count", "measure", "event", "towns"),
    "floor_area": (*_FILTER_KEYS, "min_m2_per_100_households", "target_pct"),
    "staffing": ("staff_key", "brackets", "per_1000", "population", "category", "target_pct"),
    "facility_share": (*_FILTER_KEYS, "target_pct"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "presence": ("category",),
    "unit_coverage": ("category", "target_pct"),
    "count": ("category", "min_count"),
    "district_presence": ("category",),
    "service_circle": ("category", "target_pct"),
    "ratio": ("measure", "min_value"),
    "colocation": ("category", "target_pct"),
    "new_facilities": ("category", "min_count"),
    "floor_area": ("category", "min_m2_per_100_households"),
    "staffing": ("staff_key",),
    "facility_share": ("category", "target_pct"),
}
# Types judged over the whole area only (their level is always "district").
_AREA_TYPES = ("count", "district_presence", "new_facilities")
# Types evaluated per township only (no unit level below it).
_TOWNSHIP_TYPES = ("ratio", "colocation", "facility_share")
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
    per_1000: float | None = None
    max_distance_m: float | None = None
    min_floor_area_m2: float | None = None
    min_grade: float | None = None
    opened_since: int | None = None
    counties: tuple[str, ...] = ()
    event: str = "opened"
    year: int | None = None
    binding: bool | None = None
    note: str = ""
    source_quote: str = ""
    source_ref: str = ""
    approximate: str = ""
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
    def coverage_key(self) -> str | None:
        """The walking-time column key of a service circle: the category, or
        ``<category>.<subtype>[+<subtype>…]`` when the circle counts some subtypes only."""
        if not self.category or not self.subtype:
            return self.category
        return f"{self.category}.{'+'.join(sorted(self.subtype))}"

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
