"""Shared evaluation helpers: statuses, facility selection, unit tables and the row builder."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle.coverage.targets.labels import LEVEL_ZH, STATUS_ZH
from lifecircle.coverage.targets.model import EvaluationContext, Target


def _status(value: float, target: float) -> str:
    if value is None or target is None or not np.isfinite(value) or not np.isfinite(target):
        return "na"
    # exactly at target is met; a relative tolerance absorbs float noise (e.g. 0.7 * 100)
    return "met" if value >= target - 1e-9 * max(1.0, abs(target)) else "not_met"


def _services_has(services: pd.Series, key: str) -> pd.Series:
    parts = services.fillna("").astype(str).str.replace(r"[；,，、\s]+", ";", regex=True)
    return parts.map(lambda s: key in {p for p in s.split(";") if p})


_GRADE_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_GRADE = re.compile(r"([1-5一二三四五])\s*(?:级|星)")


def _grade_level(grades: pd.Series) -> pd.Series:
    """The numeric grade of a register's 等级 text (``二级`` / ``2级`` / ``三星级`` -> 2, 2, 3).

    A bare number is taken as the grade; text without a grade is ``nan``.
    """

    def one(text: object) -> float:
        text = _text(text)
        match = _GRADE.search(text)
        if match:
            return float(_GRADE_WORDS.get(match.group(1), match.group(1)))
        try:
            return float(text)
        except ValueError:
            return np.nan

    return grades.map(one).astype(float)


def _meets(facilities: pd.DataFrame, target: Target) -> pd.Series:
    """Whether each facility meets the target's attribute conditions: ``service``,
    ``min_floor_area_m2`` (单处面积) and ``min_grade`` (等级); a missing value does not meet."""
    mask = pd.Series(True, index=facilities.index)
    if target.service:
        mask &= (
            _services_has(facilities["services"], target.service)
            if "services" in facilities
            else False
        )
    if target.min_floor_area_m2 is not None:
        area = (
            pd.to_numeric(facilities["floor_area_m2"], errors="coerce")
            if "floor_area_m2" in facilities
            else pd.Series(np.nan, facilities.index)
        )
        mask &= area >= target.min_floor_area_m2 - 1e-9
    if target.min_grade is not None:
        grade = (
            _grade_level(facilities["grade"])
            if "grade" in facilities
            else pd.Series(np.nan, facilities.index)
        )
        mask &= grade >= target.min_grade
    if target.opened_since is not None:
        opened = (
            pd.to_numeric(facilities["opened"], errors="coerce")
            if "opened" in facilities
            else pd.Series(np.nan, facilities.index)
        )
        mask &= opened >= target.opened_since
    return mask


def _select(facilities: pd.DataFrame, target: Target, category: str | None = None) -> pd.DataFrame:
    """The facilities a target counts: its category and subtypes, and (except for colocation and
    facility_share, which judge these as conditions) its service, 单处面积 and 等级 filters."""
    category = category or target.category
    if facilities is None or len(facilities) == 0 or "category" not in facilities:
        return facilities.iloc[0:0] if facilities is not None else pd.DataFrame()
    mask = facilities["category"] == category
    if target.subtype and category == target.category:
        subtype = facilities.get("subtype", pd.Series("", facilities.index))
        mask &= subtype.fillna("").astype(str).isin(target.subtype)
    if target.service and target.type not in ("colocation", "facility_share"):
        if "services" not in facilities:
            mask &= False
        else:
            mask &= _services_has(facilities["services"], target.service)
    if (
        category == target.category
        and target.type != "facility_share"
        and (
            target.min_floor_area_m2 is not None
            or target.min_grade is not None
            or target.opened_since is not None
        )
    ):
        mask &= _meets(facilities, replace(target, service=None))
    return facilities[mask]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def _texts(values: pd.Series) -> pd.Series:
    """:func:`_text` of each value, worked out once per distinct value (a county's 200,000
    cells share 40 township codes)."""
    codes, distinct = pd.factorize(values)
    texts = np.array([*map(_text, distinct), ""], dtype=object)  # code -1: missing
    return pd.Series(texts[codes], index=values.index)


def _township_table(context: EvaluationContext) -> pd.DataFrame:
    t = pd.DataFrame(context.townships.drop(columns="geometry", errors="ignore")).copy()
    t["code"] = t["code"].map(_text)
    out = pd.DataFrame(
        {
            "code": t["code"],
            "name": t.get("name", t["code"]).astype(str),
            "parent_code": t["county_code"].map(_text) if "county_code" in t else "",
            "kind": t.get("kind", pd.Series("", t.index)).fillna("").astype(str),
            "unit_kind": t.get("kind_zh", pd.Series("", t.index)).fillna("").astype(str),
        }
    )
    for column in ("households", "pop", "pop60"):
        out[column] = pd.to_numeric(t[column], errors="coerce") if column in t else np.nan
    out["pop_registered"] = (
        pd.to_numeric(t["population_registered"], errors="coerce")
        if "population_registered" in t
        else np.nan
    )
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
    out = pd.DataFrame(
        {
            "code": u["code"].map(_text),
            "name": u.get("name", u["code"]).astype(str),
            "parent_code": parent,
            "kind": parent.map(townships["kind"]).fillna(""),
            "unit_kind": u.get("unit_kind", pd.Series("", u.index)).fillna("").astype(str),
        }
    )
    for column, fallback in (
        ("households", None),
        ("pop", "population"),
        ("pop60", "population_60"),
        ("pop_registered", "population_registered"),
    ):
        source = column if column in u else fallback if fallback in u else None
        out[column] = pd.to_numeric(u[source], errors="coerce") if source else np.nan
    for column in u.columns:
        if str(column).startswith("staff_"):
            out[column] = pd.to_numeric(u[column], errors="coerce").to_numpy()
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
    joined = gpd.sjoin(
        facilities[["geometry"]],
        zones[["code", "geometry"]].to_crs(facilities.crs),
        how="left",
        predicate="within",
    )
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
        return {
            "target_id": t.id,
            "indicator": t.indicator or t.id,
            "document": t.document,
            "target_type": t.type,
            "level": level,
            "target_level": t.level,
            "year": self.year,
            "trajectory": self.trajectory,
            "category": t.category or "",
        }

    def row(
        self,
        level: str,
        *,
        unit_code: str = "",
        unit_name: str = "",
        parent_code: str = "",
        kind: str = "",
        value: float = np.nan,
        target_value: float = np.nan,
        unit: str = "",
        shortfall: float = np.nan,
        shortfall_unit: str = "",
        note: str = "",
        note_en: str = "",
        status: str | None = None,
        summary: bool = False,
        met_units: float = np.nan,
        total_units: float = np.nan,
        threshold_min: float = np.nan,
    ) -> None:
        status = status or _status(value, target_value)
        if status == "met":
            shortfall = 0.0
        record = {
            **self._base(level),
            "unit_code": unit_code,
            "unit_name": unit_name,
            "parent_code": parent_code,
            "kind": kind,
            "value": _round(value),
            "target_value": target_value,
            "unit": unit,
            "status": status,
            "status_zh": STATUS_ZH[status],
            "shortfall": _round(shortfall),
            "shortfall_unit": shortfall_unit,
            "note": note,
            "note_en": note_en or note,
            "threshold_min": threshold_min,
        }
        if summary:
            record.update(met_units=met_units, total_units=total_units)
            self.summary = record
        else:
            self.rows.append(record)

    def na(
        self,
        note: str,
        note_en: str,
        *,
        units: pd.DataFrame | None = None,
        target_value: float = np.nan,
        unit: str = "",
    ) -> None:
        """Every unit row and the summary not applicable, with the missing input named."""
        level = self.target.level
        if units is not None:
            for u in units.itertuples():
                self.row(
                    level,
                    unit_code=u.code,
                    unit_name=u.name,
                    parent_code=u.parent_code,
                    kind=u.kind,
                    target_value=target_value,
                    unit=unit,
                    status="na",
                    note=note,
                    note_en=note_en,
                )
        self.row(
            "district",
            unit_name="",
            target_value=target_value,
            unit=unit,
            status="na",
            note=note,
            note_en=note_en,
            summary=True,
        )


def _round(value: float) -> float:
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return np.nan


def _missing_layer(
    target: Target, context: EvaluationContext, category: str | None = None
) -> tuple[str, str] | None:
    category = category or target.category
    present = set(context.layers_present)
    if context.facilities is not None and "category" in context.facilities:
        present |= set(context.facilities["category"].dropna().unique())
    if category and category not in present:
        return (
            f"缺少输入：没有类别 {category} 的设施图层（请在 [[layers]] 中加入 category = "
            f'"{category}" 的登记表）',
            f"missing input: no facility layer of category {category!r} (add a [[layers]] "
            f"entry with category = {category!r})",
        )
    return None


def _missing_service(target: Target, context: EvaluationContext) -> tuple[str, str] | None:
    """A service filter no facility of the category carries: the register does not record it
    (a 服务内容 column without the word), so the row cannot be judged."""
    if not target.service or target.type == "colocation" or context.facilities is None:
        return None
    frame = context.facilities
    if "category" in frame:
        frame = frame[frame["category"] == target.category]
    if "services" in frame and _services_has(frame["services"], target.service).any():
        return None
    return (
        f"缺少输入：{target.category} 登记表没有任何设施标注 {target.service}（服务内容列）",
        f"missing input: no {target.category} facility lists {target.service} in its "
        "services column",
    )


def _share_shortfall(shortfalls: np.ndarray, met: np.ndarray, pct: float) -> float:
    """Facilities needed so that ``pct`` % of units meet (the cheapest unmet units first)."""
    total = len(met)
    need = math.ceil(pct / 100.0 * total - 1e-9) - int(met.sum())
    if need <= 0:
        return 0.0
    return float(np.sort(shortfalls[~met])[:need].sum())


def _rollup_shares(
    target: Target,
    context: EvaluationContext,
    b: _Builder,
    table: pd.DataFrame,
    met: np.ndarray,
    shortfall: np.ndarray,
    pct: float,
    shortfall_unit: str,
) -> None:
    """Township rows from unit rows: the share of each township's units that meet."""
    townships = _township_table(context)
    parents = table["parent_code"].to_numpy()
    for code in pd.unique(parents):
        mask = parents == code
        row = townships.loc[code] if code in townships.index else None
        n_met, n = int(met[mask].sum()), int(mask.sum())
        b.row(
            "township",
            unit_code=code,
            unit_name=row["name"] if row is not None else "未定归属",
            parent_code=row["parent_code"] if row is not None else "",
            kind=row["kind"] if row is not None else "",
            value=100.0 * n_met / n,
            target_value=pct,
            unit="%",
            shortfall=_share_shortfall(shortfall[mask], met[mask], pct),
            shortfall_unit=shortfall_unit,
            note=f"{n_met}/{n} 个{LEVEL_ZH.get(target.level, target.level)}达标",
            note_en=f"{n_met}/{n} {target.level} units met",
        )
