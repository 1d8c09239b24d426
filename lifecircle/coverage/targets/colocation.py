"""The colocation evaluator: facilities hosting a service or lying near another category."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.coverage.targets.helpers import (
    _Builder,
    _facility_units,
    _filter_units,
    _meets,
    _missing_layer,
    _missing_service,
    _select,
    _services_has,
    _township_table,
)
from lifecircle.coverage.targets.model import EvaluationContext, Target


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
            return b.na(
                f"缺少输入：{target.category} 登记表没有 services 列（所含服务）",
                f"missing input: the {target.category} register has no services column",
                units=table,
                target_value=pct,
                unit="%",
            )
        hosting = _services_has(hosts["services"], target.service).to_numpy(dtype=bool)
        how, how_en = f"含 {target.service}", f"hosting {target.service}"
    else:
        others = _select(context.facilities, target, category=target.near_category)
        hosting = _within(hosts, others, target.within_m)
        how = f"{target.within_m:g} 米内有 {target.near_category}"
        how_en = f"within {target.within_m:g} m of {target.near_category}"
    _share_rows(target, context, b, table, hosts, hosting, how, how_en, pct)


def _eval_facility_share(target: Target, context: EvaluationContext, b: _Builder) -> None:
    """Share of a category's (subtypes') facilities meeting a condition: a service, a minimum
    floor area per facility (单处面积) or a minimum grade (等级), per township and area."""
    pct = target.value_at("target_pct", b.year)
    table = _filter_units(_township_table(context), target)
    missing = _missing_layer(target, context) or _missing_service(target, context)
    if missing:
        return b.na(*missing, units=table, target_value=pct, unit="%")
    hosts = _select(context.facilities, target)
    # a register without the attribute at all cannot be judged (every facility would fail)
    category = context.facilities[context.facilities["category"] == target.category]
    needs = [
        ("floor_area_m2", target.min_floor_area_m2, "建筑面积"),
        ("grade", target.min_grade, "等级"),
    ]
    for column, wanted, name_zh in needs:
        if wanted is not None and (
            column not in category or not category[column].replace("", np.nan).notna().any()
        ):
            return b.na(
                f"缺少输入：{target.category} 登记表没有 {column} 列（{name_zh}）",
                f"missing input: the {target.category} register has no {column} values",
                units=table,
                target_value=pct,
                unit="%",
            )
    hosting = _meets(hosts, target).to_numpy(dtype=bool)
    parts_zh, parts_en = [], []
    if target.service:
        parts_zh.append(f"含 {target.service}")
        parts_en.append(f"hosting {target.service}")
    if target.min_floor_area_m2 is not None:
        parts_zh.append(f"建筑面积 ≥{target.min_floor_area_m2:g} ㎡")
        parts_en.append(f"floor area ≥{target.min_floor_area_m2:g} m²")
    if target.min_grade is not None:
        parts_zh.append(f"等级 ≥{target.min_grade:g} 级")
        parts_en.append(f"grade ≥{target.min_grade:g}")
    _share_rows(
        target, context, b, table, hosts, hosting, "、".join(parts_zh), ", ".join(parts_en), pct
    )


def _share_rows(
    target: Target,
    context: EvaluationContext,
    b: _Builder,
    table: pd.DataFrame,
    hosts: pd.DataFrame,
    hosting: np.ndarray,
    how: str,
    how_en: str,
    pct: float,
) -> None:
    """Township and area rows of a share of facilities (``hosting`` marks those that count)."""
    codes = _facility_units(context, hosts, "township").to_numpy()
    n_met = 0
    for u in table.itertuples():
        mask = codes == u.code
        n, k = int(mask.sum()), int(hosting[mask].sum())
        value = 100.0 * k / n if n else np.nan
        b.row(
            "township",
            unit_code=u.code,
            unit_name=u.name,
            parent_code=u.parent_code,
            kind=u.kind,
            value=value,
            target_value=pct,
            unit="%",
            shortfall=math.ceil(pct / 100.0 * n - k - 1e-9) if n else np.nan,
            shortfall_unit="facilities",
            note=f"{k}/{n} 处{how}" if n else f"没有 {target.category}",
            note_en=f"{k}/{n} {how_en}" if n else f"no {target.category}",
        )
        n_met += b.rows[-1]["status"] == "met"
    in_scope = np.isin(codes, table.index.to_numpy())
    n, k = int(in_scope.sum()), int(hosting[in_scope].sum())
    b.row(
        "district",
        unit_name=context.district_name,
        value=100.0 * k / n if n else np.nan,
        target_value=pct,
        unit="%",
        shortfall=math.ceil(pct / 100.0 * n - k - 1e-9) if n else np.nan,
        shortfall_unit="facilities",
        note=f"{k}/{n} 处{how}" if n else f"没有 {target.category}",
        note_en=f"{k}/{n} {how_en}" if n else f"no {target.category}",
        summary=True,
        met_units=n_met,
        total_units=len(table),
    )


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
    pts = gpd.GeoSeries(
        list(hosts.geometry[host_ok]) + list(others.geometry[other_ok]), crs="EPSG:4326"
    )
    crs = metric_crs_for(pts.x.to_numpy(), pts.y.to_numpy())
    metric = pts.to_crs(crs)
    xy = np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])
    n_hosts = int(host_ok.sum())
    dist, _ = cKDTree(xy[n_hosts:]).query(xy[:n_hosts], k=1)
    result[host_ok] = dist <= within_m + 1e-6
    return result
