"""Evaluators that count facilities: presence, unit coverage, area counts, named towns."""

from __future__ import annotations

import numpy as np

from lifecircle.coverage.targets.helpers import (
    _Builder,
    _facility_units,
    _filter_units,
    _missing_layer,
    _missing_service,
    _rollup_shares,
    _select,
    _share_shortfall,
    _status,
    _township_table,
    _unit_table,
)
from lifecircle.coverage.targets.labels import KIND_ZH
from lifecircle.coverage.targets.model import EvaluationContext, Target
from lifecircle.coverage.targets.parse import _suggest
from lifecircle.errors import PlanError


def _eval_presence(target: Target, context: EvaluationContext, b: _Builder) -> None:
    year = b.year
    pct = target.value_at("target_pct", year)
    pct = 100.0 if pct is None else pct
    min_count = target.value_at("min_count", year) or 1.0
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(
            f"缺少输入：没有 {target.level} 级单元图层（请在 [[inputs.units]] 中加入 "
            f'level = "{target.level}"）',
            f"missing input: no unit layer at level {target.level!r} (add [[inputs.units]] "
            f"with level = {target.level!r})",
            target_value=pct,
            unit="%",
        )
    table = _filter_units(table, target)
    if len(table) == 0:
        scope = KIND_ZH.get(target.kind or "", target.unit_kind or "")
        return b.na(
            f"区内没有{scope}单元",
            f"no {target.kind or target.unit_kind} units in the area",
            target_value=pct,
            unit="%",
        )
    missing = _missing_layer(target, context) or _missing_service(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_count, unit="facilities")
    selected = _select(context.facilities, target)
    codes = _facility_units(context, selected, target.level)
    counts = codes.value_counts().reindex(table.index, fill_value=0).astype(float)
    shortfall = np.maximum(min_count - counts.to_numpy(), 0.0)
    met = counts.to_numpy() >= min_count
    for u, count, short in zip(table.itertuples(), counts, shortfall, strict=True):
        b.row(
            target.level,
            unit_code=u.code,
            unit_name=u.name,
            parent_code=u.parent_code,
            kind=u.kind,
            value=count,
            target_value=min_count,
            unit="facilities",
            shortfall=short,
            shortfall_unit="facilities",
        )
    if target.level != "township":
        _rollup_shares(target, context, b, table, met, shortfall, pct, "facilities")
    b.row(
        "district",
        unit_name=context.district_name,
        value=100.0 * met.mean(),
        target_value=pct,
        unit="%",
        shortfall=_share_shortfall(shortfall, met, pct),
        shortfall_unit="facilities",
        summary=True,
        met_units=int(met.sum()),
        total_units=len(met),
        note=f"{int(met.sum())}/{len(met)} 个单元达到 ≥{min_count:g} 处",
        note_en=f"{int(met.sum())}/{len(met)} units have ≥{min_count:g}",
    )


def _eval_count(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_count = target.value_at("min_count", b.year)
    missing = _missing_layer(target, context) or _missing_service(target, context)
    if missing:
        return b.na(*missing, target_value=min_count, unit="facilities")
    count = float(len(_select(context.facilities, target)))
    b.row(
        "district",
        unit_name=context.district_name,
        value=count,
        target_value=min_count,
        unit="facilities",
        shortfall=max(min_count - count, 0.0),
        shortfall_unit="facilities",
        summary=True,
        met_units=np.nan,
        total_units=np.nan,
    )


def _eval_district_presence(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_count = target.value_at("min_count", b.year) or 1.0
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, target_value=min_count, unit="facilities")
    selected = _select(context.facilities, target)
    townships = _township_table(context)
    by_name = {name: code for code, name in zip(townships["code"], townships["name"], strict=True)}
    if target.towns and target.preset is not None and not set(target.towns) & set(by_name):
        # a preset row about a named township elsewhere (e.g. 京泰路街道's columbarium)
        return b.na(
            f"区内没有 {'、'.join(target.towns)}，本指标不适用",
            f"no township {', '.join(target.towns)} in the area",
            target_value=min_count,
            unit="facilities",
        )
    codes = _facility_units(context, selected, "township")
    unmet_towns = []
    met_towns = 0
    short = 0.0
    for town in target.towns:
        if town not in by_name:
            if target.preset is None:
                raise PlanError(
                    f"target {target.id!r}: town {town!r} is not a township name"
                    f"{_suggest(town, by_name)}"
                )
            b.row(
                "township",
                unit_name=town,
                target_value=1.0,
                unit="facilities",
                status="na",
                note=f"区内没有名为 {town} 的乡镇",
                note_en=f"no township named {town!r}",
            )
            continue
        code = by_name[town]
        count = float((codes == code).sum())
        row = townships.loc[code]
        b.row(
            "township",
            unit_code=code,
            unit_name=town,
            parent_code=row["parent_code"],
            kind=row["kind"],
            value=count,
            target_value=1.0,
            unit="facilities",
            shortfall=max(1.0 - count, 0.0),
            shortfall_unit="facilities",
        )
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
    b.row(
        "district",
        unit_name=context.district_name,
        value=count,
        target_value=min_count,
        unit="facilities",
        status=status,
        shortfall=max(area_short, short),
        shortfall_unit="facilities",
        note=note,
        note_en=note_en,
        summary=True,
        met_units=met_towns if target.towns else np.nan,
        total_units=len(target.towns) if target.towns else np.nan,
    )
