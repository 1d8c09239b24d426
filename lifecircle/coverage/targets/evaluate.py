"""Evaluation of targets into a gap report (dispatch to the evaluators of each family)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.coverage.targets.capacity import (
    _eval_floor_area,
    _eval_new,
    _eval_ratio,
    _eval_staffing,
)
from lifecircle.coverage.targets.circles import _eval_service_circle
from lifecircle.coverage.targets.colocation import _eval_colocation, _eval_facility_share
from lifecircle.coverage.targets.helpers import _Builder, _status, _township_table
from lifecircle.coverage.targets.labels import KIND_ZH
from lifecircle.coverage.targets.model import (
    ROW_COLUMNS,
    SUMMARY_COLUMNS,
    EvaluationContext,
    GapReport,
    Target,
)
from lifecircle.coverage.targets.parse import validate_targets
from lifecircle.coverage.targets.presence import (
    _eval_count,
    _eval_district_presence,
    _eval_presence,
)
from lifecircle.errors import PlanError

log = logging.getLogger("lifecircle.coverage.targets")

_EVALUATORS = {
    "presence": _eval_presence,
    "unit_coverage": _eval_presence,
    "count": _eval_count,
    "district_presence": _eval_district_presence,
    "service_circle": _eval_service_circle,
    "ratio": _eval_ratio,
    "colocation": _eval_colocation,
    "new_facilities": _eval_new,
    "floor_area": _eval_floor_area,
    "staffing": _eval_staffing,
    "facility_share": _eval_facility_share,
}


def _path_note(target: Target, value: float) -> tuple[str, str]:
    """Where the area stands on a trajectory: the last year whose value it reaches."""
    trajectory = target.trajectory
    if trajectory is None or not np.isfinite(value):
        return "", ""
    reached = [y for y, v in trajectory.values if _status(value, v) == "met"]
    if not reached:
        return (
            f"路径 {trajectory.describe()}：尚未达到 {trajectory.values[0][0]} 年目标",
            f"path {trajectory.describe()}: below the {trajectory.values[0][0]} value",
        )
    return (
        f"路径 {trajectory.describe()}：已达到 {max(reached)} 年目标",
        f"path {trajectory.describe()}: reaches the {max(reached)} value",
    )


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
    notes = validate_targets(
        targets,
        kinds=kinds,
        levels=list(context.units),
        year=context.year,
        towns=set(townships["name"]),
        source=context.district_name or "plan",
    )
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
        counties = set(townships["parent_code"])
        if target.counties and not counties & set(target.counties):
            b.na(
                f"本指标只适用于区划代码 {'、'.join(target.counties)} 的县（市、区）",
                f"applies only to county code(s) {', '.join(target.counties)}",
            )
        elif target.kind and target.kind not in kinds:
            # only preset rows reach here (validate_targets raised for the user's own)
            b.na(
                f"区内没有{KIND_ZH[target.kind]}，本指标不适用",
                f"no {target.kind} townships in the area",
            )
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
