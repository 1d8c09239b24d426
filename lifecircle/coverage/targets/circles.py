"""The service-circle evaluator: shares of people within a walking time of a category."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.coverage.targets.helpers import (
    _Builder,
    _filter_units,
    _missing_layer,
    _texts,
    _township_table,
    _unit_table,
)
from lifecircle.coverage.targets.model import EvaluationContext, Target
from lifecircle.coverage.walk import WalkModel


def _threshold_for(target: Target, walk: WalkModel, kinds: pd.Series) -> np.ndarray:
    if isinstance(target.threshold_min, Mapping):
        default = max(walk.thresholds_min)
        codes, distinct = pd.factorize(kinds)
        minutes = [
            target.threshold_min.get(k, max(walk.for_kind(k).thresholds_min)) if k else default
            for k in distinct
        ]
        return np.asarray(minutes, dtype=float)[codes]
    return np.full(len(kinds), float(target.threshold_min))


def _eval_service_circle(target: Target, context: EvaluationContext, b: _Builder) -> None:
    pct = target.value_at("target_pct", b.year)
    pop_col = target.population
    people = "seniors" if pop_col == "pop60" else "people"
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(
            f"缺少输入：没有 {target.level} 级单元图层",
            f"missing input: no unit layer at level {target.level!r}",
            target_value=pct,
            unit="%",
        )
    table = _filter_units(table, target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=pct, unit="%")
    demand = getattr(context.coverage, "demand", None)
    # a subtype circle reads the walking times to those subtypes only (the pipeline computes
    # them under <category>.<subtype>); a distance circle reads network metres, not minutes
    by_distance = target.max_distance_m is not None
    column = f"{'dist_m' if by_distance else 'time_min'}__{target.coverage_key}"
    if demand is None or column not in demand:
        what = "步行距离" if by_distance else "步行时间"
        return b.na(
            f"缺少输入：没有 {target.coverage_key} 的{what}（未计算覆盖）",
            f"missing input: no walking {'distances' if by_distance else 'times'} to "
            f"{target.coverage_key} (coverage not computed)",
            units=table,
            target_value=pct,
            unit="%",
        )
    key = "township_code" if target.level == "township" else f"unit_code__{target.level}"
    if key not in demand:
        return b.na(
            f"缺少输入：人口格网没有 {key} 列",
            f"missing input: demand has no {key} column",
            units=table,
            target_value=pct,
            unit="%",
        )
    d = pd.DataFrame(
        {
            "zone": _texts(demand[key]),
            "kind": demand["kind"].fillna("").astype(str) if "kind" in demand else "",
            "pop": pd.to_numeric(demand[pop_col], errors="coerce").fillna(0.0),
            "reach": pd.to_numeric(demand[column], errors="coerce").fillna(np.inf),
        }
    )
    bound = (
        np.full(len(d), target.max_distance_m)
        if by_distance
        else _threshold_for(target, context.walk, d["kind"])
    )
    d["covered"] = np.where(d["reach"].to_numpy() <= bound + 1e-9, d["pop"], 0.0)
    # residents farther than max_snap_m from any walkable way have no walking time at all
    snap_m = (
        pd.to_numeric(demand["snap_m"], errors="coerce").to_numpy(dtype=float)
        if "snap_m" in demand
        else np.zeros(len(d))
    )
    d["off_road"] = np.where(snap_m <= context.walk.max_snap_m, 0.0, d["pop"])
    d = d[d["zone"].isin(table.index)]
    if by_distance:
        within, within_en = (
            f"步行 {target.max_distance_m:g} 米内",
            f"within {target.max_distance_m:g} m walk",
        )
    else:
        within, within_en = "在圈内", "within"
    sums = (
        d.groupby("zone")[["pop", "covered", "off_road"]].sum().reindex(table.index, fill_value=0.0)
    )
    max_snap = f"{context.walk.max_snap_m:g}"

    def emit(
        level: str,
        code: str,
        name: str,
        parent: str,
        kind: str,
        pop: float,
        covered: float,
        off_road: float = 0.0,
        summary: bool = False,
        **extra: Any,
    ) -> None:
        # the walk this row was judged at (maps draw its service area and uncovered seniors);
        # none for distance circles and for an area mixing kinds' walks
        if not by_distance and (kind or not isinstance(target.threshold_min, Mapping)):
            extra["threshold_min"] = float(
                _threshold_for(target, context.walk, pd.Series([kind]))[0]
            )
        if pop > 0 and off_road >= pop:  # nobody can reach a road: no time to judge
            b.row(
                level,
                unit_code=code,
                unit_name=name,
                parent_code=parent,
                kind=kind,
                target_value=pct,
                unit="%",
                status="na",
                note=f"无法计算步行时间：单元内没有可步行道路，所有居民距道路都超过 {max_snap} 米",
                note_en=f"walking times cannot be computed: no walkable road, every resident "
                f"is farther than {max_snap} m from one",
                summary=summary,
                **extra,
            )
            return
        value = 100.0 * covered / pop if pop > 0 else np.nan
        short = math.ceil(pct / 100.0 * pop - covered - 1e-9) if pop > 0 else np.nan
        note, note_en = ("", "") if pop > 0 else ("单元内没有人口", "no population in the unit")
        if off_road > 0:
            note += f"（{off_road:.0f} 人距道路超过 {max_snap} 米，计为圈外）"
            note_en += f" ({off_road:.0f} farther than {max_snap} m from a road count as outside)"
        b.row(
            level,
            unit_code=code,
            unit_name=name,
            parent_code=parent,
            kind=kind,
            value=value,
            target_value=pct,
            unit="%",
            shortfall=max(short, 0.0) if pop > 0 else np.nan,
            shortfall_unit=people,
            note=f"{covered:.0f}/{pop:.0f} 人{within}" + note if pop > 0 else note,
            note_en=f"{covered:.0f} of {pop:.0f} {within_en}" + note_en if pop > 0 else note_en,
            summary=summary,
            **extra,
        )

    for u, (pop, covered, off_road) in zip(
        table.itertuples(), sums.itertuples(index=False), strict=True
    ):
        emit(target.level, u.code, u.name, u.parent_code, u.kind, pop, covered, off_road)
    if target.level != "township":
        townships = _township_table(context)
        by_parent = sums.assign(parent=table["parent_code"]).groupby("parent")
        parents = by_parent[["pop", "covered", "off_road"]].sum()
        for code, (pop, covered, off_road) in parents.iterrows():
            row = townships.loc[code] if code in townships.index else None
            emit(
                "township",
                code,
                row["name"] if row is not None else "未定归属",
                row["parent_code"] if row is not None else "",
                row["kind"] if row is not None else "",
                pop,
                covered,
                off_road,
            )
    # the area figure leaves out the units whose walking times cannot be computed
    applicable = ~((sums["pop"] > 0) & (sums["off_road"] >= sums["pop"]))
    left_out = [str(n) for n in table.loc[~applicable.to_numpy(), "name"]]
    sums = sums[applicable]
    with np.errstate(invalid="ignore", divide="ignore"):
        met = (100.0 * sums["covered"] / sums["pop"]).to_numpy() >= pct - 1e-9
    emit(
        "district",
        "",
        context.district_name,
        "",
        "",
        float(sums["pop"].sum()),
        float(sums["covered"].sum()),
        summary=True,
        met_units=int(met.sum()),
        total_units=len(met),
    )
    if left_out and b.summary is not None:
        b.summary["note"] += "；不含无法计算步行时间的单元：" + "、".join(left_out)
        b.summary["note_en"] += "; leaves out units without walking times: " + ", ".join(left_out)
