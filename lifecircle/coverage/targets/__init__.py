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

Modules: ``model`` (types, :class:`Target`, :class:`GapReport`, :class:`EvaluationContext`),
``parse`` (:func:`parse_targets`, :func:`validate_targets`), ``helpers`` (shared evaluation
helpers), the evaluators by family (``presence``, ``circles``, ``capacity``, ``colocation``),
``evaluate`` (:func:`evaluate_targets`) and ``labels`` (Chinese labels).
"""

from lifecircle.coverage.targets.evaluate import evaluate_targets, with_year
from lifecircle.coverage.targets.helpers import _share_shortfall
from lifecircle.coverage.targets.labels import KIND_ZH, LEVEL_ZH, STATUS_ZH, UNIT_ZH
from lifecircle.coverage.targets.model import (
    KINDS,
    NEW_MEASURES,
    POPULATIONS,
    RATIO_MEASURES,
    ROW_COLUMNS,
    SUMMARY_COLUMNS,
    TARGET_TYPES,
    EvaluationContext,
    GapReport,
    Target,
    Trajectory,
    Value,
)
from lifecircle.coverage.targets.parse import parse_targets, validate_targets

__all__ = [
    "KINDS",
    "KIND_ZH",
    "LEVEL_ZH",
    "NEW_MEASURES",
    "POPULATIONS",
    "RATIO_MEASURES",
    "ROW_COLUMNS",
    "STATUS_ZH",
    "SUMMARY_COLUMNS",
    "TARGET_TYPES",
    "UNIT_ZH",
    "EvaluationContext",
    "GapReport",
    "Target",
    "Trajectory",
    "Value",
    "_share_shortfall",
    "evaluate_targets",
    "parse_targets",
    "validate_targets",
    "with_year",
]
