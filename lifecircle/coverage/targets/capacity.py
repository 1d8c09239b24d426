"""Evaluators of capacity: bed ratios, yearly additions, floor area and staffing."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.coverage.targets.helpers import (
    _Builder,
    _facility_units,
    _filter_units,
    _missing_layer,
    _rollup_shares,
    _select,
    _share_shortfall,
    _township_table,
    _unit_table,
)
from lifecircle.coverage.targets.labels import KIND_ZH, LEVEL_ZH
from lifecircle.coverage.targets.model import NEW_MEASURES, EvaluationContext, Target, Trajectory


def _eval_ratio(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_value = target.value_at("min_value", b.year)
    measure = target.measure
    share = measure in ("nursing_bed_share_pct", "public_bed_share_pct")
    unit = "%" if share else "beds/1000 seniors"
    part = "public_beds" if measure == "public_bed_share_pct" else "nursing_beds"
    part_zh, part_en = ("公益性", "public") if part == "public_beds" else ("护理型", "nursing")
    table = _filter_units(_township_table(context), target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_value, unit=unit)
    selected = _select(context.facilities, target)
    need_col = "beds" if measure == "beds_per_1000_seniors" else part
    for column in {need_col, "beds"} if share else {need_col}:
        if column not in selected or selected[column].notna().sum() == 0:
            return b.na(
                f"缺少输入：{target.category} 登记表没有 {column} 列（床位数）",
                f"missing input: the {target.category} register has no {column} values",
                units=table,
                target_value=min_value,
                unit=unit,
            )
    codes = _facility_units(context, selected, "township")
    beds = (
        pd.to_numeric(selected["beds"], errors="coerce").fillna(0.0)
        if "beds" in selected
        else pd.Series(0.0, selected.index)
    )
    nursing = (
        pd.to_numeric(selected[part], errors="coerce").fillna(0.0)
        if part in selected
        else pd.Series(0.0, selected.index)
    )
    sums = pd.DataFrame({"zone": codes, "beds": beds, "nursing": nursing}).groupby("zone").sum()
    sums = sums.reindex(table.index, fill_value=0.0)
    pop60 = table["pop60"].astype(float)

    def emit(
        level: str,
        code: str,
        name: str,
        parent: str,
        kind: str,
        n_beds: float,
        n_nursing: float,
        seniors: float,
        summary: bool = False,
        **extra: Any,
    ) -> None:
        if share:
            denom, num = n_beds, n_nursing
            short_unit = "public beds" if part == "public_beds" else "nursing beds"
            value = 100.0 * num / denom if denom > 0 else np.nan
            short = math.ceil(min_value / 100.0 * denom - num - 1e-9) if denom > 0 else np.nan
            note_na = ("没有床位", "no beds")
        else:
            num = n_beds if measure == "beds_per_1000_seniors" else n_nursing
            short_unit = "beds" if measure == "beds_per_1000_seniors" else "nursing beds"
            value = 1000.0 * num / seniors if seniors > 0 else np.nan
            short = math.ceil(min_value * seniors / 1000.0 - num - 1e-9) if seniors > 0 else np.nan
            note_na = (
                "缺少输入：老年人口（pop60）为 0 或缺失",
                "missing input: no seniors (pop60)",
            )
        na = not np.isfinite(value)
        b.row(
            level,
            unit_code=code,
            unit_name=name,
            parent_code=parent,
            kind=kind,
            value=value,
            target_value=min_value,
            unit=unit,
            shortfall=max(short, 0.0) if not na else np.nan,
            shortfall_unit=short_unit,
            note=note_na[0]
            if na
            else f"床位 {n_beds:.0f}，{part_zh} {n_nursing:.0f}，老年人 {seniors:.0f}",
            note_en=note_na[1]
            if na
            else f"beds {n_beds:.0f}, {part_en} {n_nursing:.0f}, seniors {seniors:.0f}",
            summary=summary,
            **extra,
        )

    met = 0
    for u, (n_beds, n_nursing), seniors in zip(
        table.itertuples(), sums[["beds", "nursing"]].itertuples(index=False), pop60, strict=True
    ):
        emit(
            "township",
            u.code,
            u.name,
            u.parent_code,
            u.kind,
            n_beds,
            n_nursing,
            seniors if np.isfinite(seniors) else 0.0,
        )
        met += b.rows[-1]["status"] == "met"
    total_beds = float(sums["beds"].sum())
    if table["pop60"].notna().any():
        seniors = float(table["pop60"].sum())
    else:
        seniors = 0.0
    emit(
        "district",
        "",
        context.district_name,
        "",
        "",
        total_beds,
        float(sums["nursing"].sum()),
        seniors,
        summary=True,
        met_units=met,
        total_units=len(table),
    )


def _eval_new(target: Target, context: EvaluationContext, b: _Builder) -> None:
    quota = target.value_at("min_count", b.year)
    measure = target.measure or "count"
    column, unit, name_zh, unit_zh = NEW_MEASURES[measure]
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, target_value=quota, unit=unit)
    # the inputs are judged over the whole category: a subtype with no openings is 0, not n/a
    category = _select(
        context.facilities,
        replace(target, subtype=(), service=None, min_floor_area_m2=None, min_grade=None),
    )
    # which register years count: the opening, the renovation (改建/改造提升) or either
    events = ("opened", "renovated") if target.event == "opened_or_renovated" else (target.event,)
    event_zh = {"opened": "新增", "renovated": "改建", "opened_or_renovated": "新（改）建"}[
        target.event
    ]

    def dated(frame: pd.DataFrame, column: str) -> bool:
        return column in frame and pd.to_numeric(frame[column], errors="coerce").notna().any()

    if not dated(category, events[0]):
        name = "开业年份" if events[0] == "opened" else "改建（改造提升）年份"
        return b.na(
            f"缺少输入：{target.category} 登记表没有{name}（{events[0]}）",
            f"missing input: the {target.category} register has no {events[0]} year",
            target_value=quota,
            unit=unit,
        )
    if column is not None and (
        column not in category
        or pd.to_numeric(category[column], errors="coerce").notna().sum() == 0
    ):
        return b.na(
            f"缺少输入：{target.category} 登记表没有 {column} 值（{name_zh}）",
            f"missing input: the {target.category} register has no {column} values",
            target_value=quota,
            unit=unit,
        )
    selected = _select(context.facilities, target)
    townships = _township_table(context)
    if target.towns or target.kind:
        # a project in named townships (or in townships of one kind) only
        scope = townships[townships["name"].isin(target.towns)] if target.towns else townships
        if target.kind:
            scope = scope[scope["kind"] == target.kind]
        if len(scope) == 0:
            return b.na(
                f"区内没有 {'、'.join(target.towns) or KIND_ZH[target.kind]}，本指标不适用",
                f"no township {', '.join(target.towns) or target.kind} in the area",
                target_value=quota,
                unit=unit,
            )
        selected = selected[_facility_units(context, selected, "township").isin(scope.index)]
        townships = scope
    years_of = [pd.to_numeric(selected[c], errors="coerce") for c in events if c in selected]
    opened = years_of[0]
    if column is None:
        amount = pd.Series(1.0, index=selected.index)
    else:
        amount = pd.to_numeric(selected[column], errors="coerce")
    added = amount.fillna(0.0)

    def happened(year: int) -> pd.Series:
        mask = years_of[0] == year
        for other in years_of[1:]:
            mask |= other == year
        return mask

    def total(year: int) -> float:
        return float(added[happened(year)].sum())

    this_year = happened(b.year)
    value = total(b.year)
    years = (
        target.trajectory.years
        if isinstance(target.min_count, Trajectory)
        else list(range(b.year - 4, b.year + 1))
    )
    path = "，".join(f"{y}:{total(y):.0f}" for y in years)
    # one row per year of the path, so the sheet shows the whole trajectory of openings
    met_years = []
    for y in years:
        quota_y = target.min_count.at(y) if isinstance(target.min_count, Trajectory) else quota
        if y > b.year:
            b.row(
                "year",
                unit_code=str(y),
                unit_name=f"{y}年",
                value=total(y),
                target_value=quota_y,
                unit=unit,
                status="na",
                note="晚于评估年份",
                note_en="after the evaluation year",
            )
            continue
        b.row(
            "year",
            unit_code=str(y),
            unit_name=f"{y}年",
            value=total(y),
            target_value=quota_y,
            unit=unit,
            shortfall=max(quota_y - total(y), 0.0),
            shortfall_unit=unit,
        )
        met_years.append(b.rows[-1]["status"] == "met")
    # where the year's additions lie; the quota is the area's, so township rows are not judged
    codes = _facility_units(context, selected[this_year], "township")
    by_code = added[this_year].groupby(codes).sum()
    for u in townships.itertuples():
        amount_u = float(by_code.get(u.code, 0.0))
        b.row(
            "township",
            unit_code=u.code,
            unit_name=u.name,
            parent_code=u.parent_code,
            kind=u.kind,
            value=amount_u,
            unit=unit,
            status="na",
            note=f"全区年度指标，不按乡镇考核；本乡镇 {b.year} 年{event_zh} {amount_u:.0f} "
            f"{unit_zh}",
            note_en=f"area-wide quota, not judged per township; {amount_u:.0f} {unit} added "
            f"here in {b.year}",
        )
    outside = float(by_code[~by_code.index.isin(townships.index)].sum())
    if outside > 0:
        b.row(
            "township",
            unit_name="未定归属",
            value=outside,
            unit=unit,
            status="na",
            note=f"不在任何乡镇内的 {b.year} 年{event_zh} {outside:.0f} {unit_zh}",
            note_en=f"{outside:.0f} {unit} added in {b.year} outside every township",
        )
    notes_zh = [f"{b.year} 年{event_zh} {value:.0f} {unit_zh}", f"各年{event_zh} {path}"]
    notes_en = [f"{value:.0f} {unit} added in {b.year}", f"per year {path}"]
    if column is not None:
        blank = int((this_year & amount.isna()).sum())
        if blank:
            notes_zh.append(f"其中 {blank} 处缺 {column} 值，按 0 计")
            notes_en.append(f"{blank} opened without a {column} value, counted as 0")
    if target.event == "opened_or_renovated" and not dated(category, "renovated"):
        notes_zh.append("登记表没有改建年份（renovated），只计新建")
        notes_en.append("no renovated years in the register: openings only")
    undated = int(opened.isna().sum()) if target.event == "opened" else 0
    if undated:
        notes_zh.append(f"{undated} 处无开业年份，未计入")
        notes_en.append(f"{undated} without an opened year, not counted")
    b.row(
        "district",
        unit_name=context.district_name,
        value=value,
        target_value=quota,
        unit=unit,
        shortfall=max(quota - value, 0.0),
        shortfall_unit=unit,
        note="；".join(notes_zh),
        note_en="; ".join(notes_en),
        summary=True,
        met_units=int(sum(met_years)),
        total_units=len(met_years),
    )


def _eval_floor_area(target: Target, context: EvaluationContext, b: _Builder) -> None:
    min_area = target.value_at("min_m2_per_100_households", b.year)
    pct = target.value_at("target_pct", b.year)
    unit = "m²/100 households"
    table = _unit_table(context, target.level)
    if table is None:
        return b.na(
            f"缺少输入：没有 {target.level} 级单元图层",
            f"missing input: no unit layer at level {target.level!r}",
            target_value=min_area,
            unit=unit,
        )
    table = _filter_units(table, target)
    missing = _missing_layer(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=min_area, unit=unit)
    if table["households"].notna().sum() == 0:
        return b.na(
            f"缺少输入：{target.level} 单元没有户数（households）",
            f"missing input: no households for the {target.level} units (households_field)",
            units=table,
            target_value=min_area,
            unit=unit,
        )
    selected = _select(context.facilities, target)
    if "floor_area_m2" not in selected or selected["floor_area_m2"].notna().sum() == 0:
        return b.na(
            f"缺少输入：{target.category} 登记表没有建筑面积（floor_area_m2）",
            f"missing input: the {target.category} register has no floor_area_m2",
            units=table,
            target_value=min_area,
            unit=unit,
        )
    codes = _facility_units(context, selected, target.level)
    area = pd.to_numeric(selected["floor_area_m2"], errors="coerce").fillna(0.0)
    sums = area.groupby(codes).sum().reindex(table.index, fill_value=0.0)
    households = table["households"].astype(float)

    def emit(
        level: str,
        code: str,
        name: str,
        parent: str,
        kind: str,
        m2: float,
        hh: float,
        summary: bool = False,
        **extra: Any,
    ) -> None:
        ok = np.isfinite(hh) and hh > 0
        value = 100.0 * m2 / hh if ok else np.nan
        short = min_area * hh / 100.0 - m2 if ok else np.nan
        b.row(
            level,
            unit_code=code,
            unit_name=name,
            parent_code=parent,
            kind=kind,
            value=value,
            target_value=min_area,
            unit=unit,
            shortfall=max(short, 0.0) if ok else np.nan,
            shortfall_unit="m²",
            note=f"{m2:.0f} ㎡ / {hh:.0f} 户" if ok else "缺少输入：户数（households）",
            note_en=f"{m2:.0f} m² / {hh:.0f} households" if ok else "missing input: households",
            summary=summary,
            **extra,
        )

    for u, m2, hh in zip(table.itertuples(), sums, households, strict=True):
        emit(target.level, u.code, u.name, u.parent_code, u.kind, m2, hh)
    unit_rows = b.rows[-len(table) :]
    met = np.array([r["status"] == "met" for r in unit_rows])
    shorts = np.array([r["shortfall"] if np.isfinite(r["shortfall"]) else 0.0 for r in unit_rows])
    known = households.notna().to_numpy()
    if pct is not None:
        # judged as the share of units meeting the standard (e.g. 面积达标率 90 %)
        if target.level != "township":
            _rollup_shares(target, context, b, table[known], met[known], shorts[known], pct, "m²")
        b.row(
            "district",
            unit_name=context.district_name,
            value=100.0 * met[known].mean(),
            target_value=pct,
            unit="%",
            shortfall=_share_shortfall(shorts[known], met[known], pct),
            shortfall_unit="m²",
            summary=True,
            met_units=int(met.sum()),
            total_units=int(known.sum()),
            note=f"{int(met.sum())}/{int(known.sum())} 个单元达到 {min_area:g} ㎡/百户",
            note_en=f"{int(met.sum())}/{int(known.sum())} units reach {min_area:g} "
            "m²/100 households",
        )
        return
    if target.level != "township":
        agg = pd.DataFrame({"m2": sums, "hh": households, "parent": table["parent_code"]})[known]
        townships = _township_table(context)
        for code, grp in agg.groupby("parent"):
            row = townships.loc[code] if code in townships.index else None
            emit(
                "township",
                code,
                row["name"] if row is not None else "未定归属",
                row["parent_code"] if row is not None else "",
                row["kind"] if row is not None else "",
                grp["m2"].sum(),
                grp["hh"].sum(),
            )
    emit(
        "district",
        "",
        context.district_name,
        "",
        "",
        float(sums[known].sum()),
        float(households[known].sum()),
        summary=True,
        met_units=int(met.sum()),
        total_units=int(known.sum()),
    )


_POPULATION_COLUMNS = {
    "pop": ("pop", "常住人口"),
    "pop60": ("pop60", "老年人口"),
    "registered": ("pop_registered", "户籍人口"),
}


def _eval_staffing(target: Target, context: EvaluationContext, b: _Builder) -> None:
    pct = target.value_at("target_pct", b.year)
    pct = 100.0 if pct is None else pct
    level = target.level
    table = _unit_table(context, level)
    if table is None:
        return b.na(
            f"缺少输入：没有 {level} 级单元图层",
            f"missing input: no unit layer at level {level!r}",
            target_value=np.nan,
            unit="staff",
        )
    table = _filter_units(table, target)
    column = f"staff_{target.staff_key}"
    where_zh = "乡镇表" if level == "township" else f"{level} 单元图层"
    if column in table and table[column].notna().any():
        staff = table[column].astype(float)
        source_zh, source_en = f"{where_zh} {column} 列", f"{level} column {column}"
    elif context.facilities is not None and column in context.facilities:
        facilities = context.facilities
        if target.category:
            facilities = facilities[facilities["category"] == target.category]
        codes = _facility_units(context, facilities, level)
        values = pd.to_numeric(facilities[column], errors="coerce").fillna(0.0)
        staff = values.groupby(codes).sum().reindex(table.index, fill_value=0.0)
        source_zh, source_en = f"登记表 {column} 列", f"register column {column}"
    else:
        return b.na(
            f"缺少输入：{where_zh}或登记表没有 {column} 列（在岗人数）",
            f"missing input: no {column} column in the {level} table or registers",
            units=table,
            target_value=np.nan,
            unit="staff",
        )
    pop_column, pop_zh = _POPULATION_COLUMNS[target.population]
    pop = table[pop_column].astype(float)
    if (
        len(target.brackets) == 1
        and pop.isna().all()
        and target.brackets[0][0] <= 0
        and target.brackets[0][1] == np.inf
    ):
        pop = pop.fillna(0.0)  # one bracket for every unit: the population does not matter
    met, shorts = [], []
    for u, n_staff, people in zip(table.itertuples(), staff, pop, strict=True):
        if not np.isfinite(people):
            b.row(
                level,
                unit_code=u.code,
                unit_name=u.name,
                parent_code=u.parent_code,
                kind=u.kind,
                value=n_staff,
                unit="staff",
                status="na",
                note=f"缺少输入：{pop_zh}（{pop_column}）",
                note_en=f"missing input: population ({pop_column})",
            )
            met.append(None)
            shorts.append(np.nan)
            continue
        if target.per_1000 is not None:
            need = float(math.ceil(people * target.per_1000 / 1000.0 - 1e-9))
            rule, rule_en = f"每千人 {target.per_1000:g} 名", f"{target.per_1000:g} per 1,000"
        else:
            need = next((n for lo, hi, n in target.brackets if lo <= people < hi), np.nan)
            rule, rule_en = "按人口档次", "by population bracket"
        value = n_staff if np.isfinite(n_staff) else np.nan
        b.row(
            level,
            unit_code=u.code,
            unit_name=u.name,
            parent_code=u.parent_code,
            kind=u.kind,
            value=value,
            target_value=need,
            unit="staff",
            shortfall=max(need - value, 0.0) if np.isfinite(value) else np.nan,
            shortfall_unit="staff",
            note=f"{pop_zh} {people:.0f}，{rule}应配 ≥{need:g} 名（{source_zh}）"
            if np.isfinite(value)
            else f"缺少输入：{column}",
            note_en=f"population {people:.0f} needs ≥{need:g} ({rule_en}; {source_en})"
            if np.isfinite(value)
            else f"missing input: {column}",
        )
        status = b.rows[-1]["status"]
        met.append(None if status == "na" else status == "met")
        shorts.append(b.rows[-1]["shortfall"])
    known = np.array([m is not None for m in met], dtype=bool)
    met_arr = np.array([bool(m) for m in met], dtype=bool)[known]
    short_arr = np.array(shorts, dtype=float)[known]
    if level != "township" and known.any():
        _rollup_shares(target, context, b, table[known], met_arr, short_arr, pct, "staff")
    level_zh = LEVEL_ZH.get(level, level)
    if not len(met_arr):
        return b.na(
            f"缺少输入：{pop_zh}（{pop_column}）或 {column}",
            f"missing input: population ({pop_column}) or {column}",
            target_value=pct,
            unit="%",
        )
    b.row(
        "district",
        unit_name=context.district_name,
        value=100.0 * met_arr.mean() if len(met_arr) else np.nan,
        target_value=pct,
        unit="%",
        shortfall=_share_shortfall(short_arr, met_arr, pct) if len(met_arr) else np.nan,
        shortfall_unit="staff",
        summary=True,
        met_units=int(met_arr.sum()),
        total_units=len(met_arr),
        note=f"{int(met_arr.sum())}/{len(met_arr)} 个{level_zh}配足",
        note_en=f"{int(met_arr.sum())}/{len(met_arr)} {level} units staffed",
    )
